"""The rows where a peer was ahead (issue 26): ours and the fastest peer, same data, same run.

Rows (float64 inputs, fixed seeds):
  chamfer_d3     exact symmetric mean Chamfer, d = 3, N = M = 10,000, vs scipy cKDTree
  chamfer_d2048  the same at d = 2048, vs torch.cdist in float32 row chunks and scikit-learn brute
  prdc           precision/recall/density/coverage, k = 5, N = 5,000, d = 2048, vs the prdc package
  kid            KID, 100 subsets of 1,000, d = 2048, vs torchmetrics' poly_mmd (float32)

Every implementation runs with the same thread count (``--threads``, default 1: pin the process
to one core with ``taskset -c 0`` so that other jobs on the machine do not share it). Best of
``--repeats``; the ratio is peer time / our time (> 1: ours is faster).

    taskset -c 0 env OMP_NUM_THREADS=1 /work/venvs/bench-metrics/bin/python \
        benchmarks/bench_rows.py [--only chamfer_d3,kid] [--repeats 3]

The peers (prdc, torchmetrics) are installed in a separate venv that sees this checkout's
dependencies; they are never a dependency of the project.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import sys
import time

import numpy as np
import scipy
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import divergences as dv
import metrics


def timed(fn, repeats: int):
    best, out = math.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def report(row: str, ours: tuple, peers: list[tuple]) -> None:
    t_ours, v_ours, what = ours
    print(f"\n## {row}")
    print("| implementation | time (s) | peer / ours | value | rel. diff to ours |")
    print("|---|---|---|---|---|")
    print(f"| {what} | {t_ours:.3f} | 1.00 | {v_ours:.12g} | 0 |")
    for t, v, name in peers:
        rel = abs(v - v_ours) / max(abs(v_ours), 1e-300)
        print(f"| {name} | {t:.3f} | {t / t_ours:.2f} | {v:.12g} | {rel:.1e} |")
    sys.stdout.flush()


def gaussian(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


THREADS = 1  # cKDTree's workers: the same thread count as everyone else (set by --threads)


def row_chamfer_d3(repeats: int) -> None:
    from scipy.spatial import cKDTree

    x, y = gaussian(10_000, 3, 0.0, 0), gaussian(10_000, 3, 0.3, 1)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def ckdtree():
        dx = cKDTree(y).query(x, k=1, workers=THREADS)[0]
        dy = cKDTree(x).query(y, k=1, workers=THREADS)[0]
        return dx.mean() + dy.mean()

    t, v = timed(lambda: float(dv.chamfer(tx, ty)), repeats)
    tp, vp = timed(ckdtree, repeats)
    report(
        "Chamfer d = 3, N = M = 10,000 (float64)",
        (t, v, "dv.chamfer"),
        [(tp, float(vp), f"scipy cKDTree (two trees, workers={THREADS})")],
    )


def _cdist_f32(x: torch.Tensor, y: torch.Tensor, chunk: int = 1024) -> float:
    x32, y32 = x.float(), y.float()
    row_min = []
    col_min = torch.full((y.shape[0],), math.inf)
    for i in range(0, x.shape[0], chunk):
        d = torch.cdist(x32[i : i + chunk], y32)
        row_min.append(d.min(1).values)
        col_min = torch.minimum(col_min, d.min(0).values)
    return float(torch.cat(row_min).double().mean() + col_min.double().mean())


def row_chamfer_d2048(repeats: int) -> None:
    from sklearn.neighbors import NearestNeighbors

    x, y = gaussian(10_000, 2048, 0.0, 2), gaussian(10_000, 2048, 0.05, 3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def sklearn_brute():
        dx = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(y).kneighbors(x)[0]
        dy = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(x).kneighbors(y)[0]
        return dx.mean() + dy.mean()

    t, v = timed(lambda: float(dv.chamfer(tx, ty)), repeats)
    tc, vc = timed(lambda: _cdist_f32(tx, ty), repeats)
    ts, vs = timed(sklearn_brute, repeats)
    report(
        "Chamfer d = 2048, N = M = 10,000 (float64 in)",
        (t, v, "dv.chamfer (exact)"),
        [
            (tc, vc, "torch.cdist float32, 1024-row chunks (not exact)"),
            (ts, float(vs), "scikit-learn brute (float64)"),
        ],
    )


def row_prdc(repeats: int) -> None:
    x, y = gaussian(5_000, 2048, 0.0, 4), gaussian(5_000, 2048, 0.05, 5)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    t, r = timed(lambda: metrics.prdc(tx, ty, k=5), repeats)
    peers = []
    if importlib.util.find_spec("prdc"):
        import prdc as prdc_pkg

        tp, rp = timed(lambda: prdc_pkg.compute_prdc(x, y, nearest_k=5), repeats)
        diff = max(abs(float(rp[k]) - getattr(r, k)) for k in rp)
        peers.append((tp, float(rp["precision"]), f"prdc.compute_prdc (max abs diff {diff:.1e})"))
    report(
        "PRDC k = 5, N = 5,000, d = 2048 (value: precision)",
        (t, r.precision, "metrics.prdc"),
        peers,
    )


def row_kid(repeats: int) -> None:
    x, y = gaussian(10_000, 2048, 0.0, 6), gaussian(10_000, 2048, 0.02, 7)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    t, s = timed(lambda: metrics.kid(tx, ty, subsets=100, subset_size=1000, seed=0), repeats)
    peers = []
    if importlib.util.find_spec("torchmetrics"):
        from torchmetrics.image.kid import poly_mmd

        def tm():  # KernelInceptionDistance.compute on float32 features, same subsets
            gen = torch.Generator().manual_seed(0)
            a, b = tx.float(), ty.float()
            vals = []
            for _ in range(100):
                ia = torch.randperm(a.shape[0], generator=gen)[:1000]
                ib = torch.randperm(b.shape[0], generator=gen)[:1000]
                vals.append(poly_mmd(a[ia], b[ib]))
            return float(torch.stack(vals).mean())

        tp, vp = timed(tm, repeats)
        peers.append((tp, vp, "torchmetrics poly_mmd (float32)"))
    report("KID, 100 subsets of 1,000, d = 2048", (t, float(s.mean), "metrics.kid"), peers)


ROWS = {
    "chamfer_d3": row_chamfer_d3,
    "chamfer_d2048": row_chamfer_d2048,
    "prdc": row_prdc,
    "kid": row_kid,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(ROWS), help="comma-separated rows")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    global THREADS
    THREADS = args.threads
    torch.set_num_threads(args.threads)
    print(
        f"# python {platform.python_version()}, torch {torch.__version__}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}, threads {args.threads}, "
        f"cpu affinity {sorted(os.sched_getaffinity(0))}"
    )
    for name in args.only.split(","):
        ROWS[name](args.repeats)
    print(f"# load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
