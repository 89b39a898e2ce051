"""Exact Chamfer distance / 1-NN search: divergences.knn side by side with what users use today.

Each (case, method) runs in a fresh subprocess so that its peak memory (max RSS on CPU,
torch.cuda.max_memory_allocated on GPU) is its own. The quantity computed by every method is
the exact symmetric mean Chamfer distance (non-squared, p = 2), so agreement is comparable.

Peers (skipped when not installed): scipy cKDTree (workers=-1), scikit-learn NearestNeighbors
(its own algorithm choice, and brute), chunked torch.cdist (the common GPU recipe), pykeops
argKmin, POT ``ot.dist`` (dense, small cases only).

Usage:
    python benchmarks/bench_sets.py                 # CPU cases (and GPU cases when CUDA exists)
    python benchmarks/bench_sets.py --quick         # small sizes, a smoke run
    python benchmarks/bench_sets.py --device cuda   # GPU cases only
    python benchmarks/bench_sets.py --device cpu --paired 3 --only d64_20k   # same-process
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CPU_CASES = [  # (name, d, N = M, methods)
    ("d3_100k", 3, 100_000, ["ours", "ours_brute", "ckdtree", "sklearn", "cdist"]),
    ("d64_20k", 64, 20_000, ["ours", "ours_kdtree", "sklearn_brute", "cdist", "ckdtree"]),
    ("d2048_10k", 2048, 10_000, ["ours", "cdist", "sklearn_brute"]),
    ("d3_1M_memory", 3, 1_000_000, ["ours", "ckdtree"]),
]
GPU_CASES = [
    ("gpu_d3_2^20", 3, 2**20, ["ours", "ours_brute", "cdist", "keops"]),
    ("gpu_d3_65536", 3, 65_536, ["ours", "ours_brute", "cdist", "keops"]),
    ("gpu_d64_65536", 64, 65_536, ["ours", "ours_brute", "cdist", "keops"]),
    ("gpu_d2048_50000", 2048, 50_000, ["ours", "ours_brute", "cdist"]),
]
QUICK = {"d3_100k": 20_000, "d64_20k": 4_000, "d2048_10k": 2_000, "d3_1M_memory": 100_000}


def _data(d, n, device):
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    y = torch.randn(n, d, generator=g) + 0.1
    return x.to(device), y.to(device)


def _chamfer_from(dx, dy):
    return float(dx.double().mean() + dy.double().mean())


def prepare(method, d, n, device):
    """Imports and data outside the timing; returns a function computing the exact symmetric
    mean Chamfer distance (p = 2) by ``method``."""
    import torch

    x, y = _data(d, n, device)
    xn, yn = x.cpu().double().numpy(), y.cpu().double().numpy()
    if method.startswith("ours"):
        from divergences import chamfer

        engine = {"ours": "auto", "ours_brute": "brute", "ours_kdtree": "kdtree"}[method]
        return lambda: float(chamfer(x, y, engine=engine))
    if method == "ckdtree":
        from scipy.spatial import cKDTree

        def run():
            dx = cKDTree(yn).query(xn, k=1, workers=-1)[0]
            dy = cKDTree(xn).query(yn, k=1, workers=-1)[0]
            return float(dx.mean() + dy.mean())

        return run
    if method.startswith("sklearn"):
        from sklearn.neighbors import NearestNeighbors

        algo = "brute" if method == "sklearn_brute" else "auto"

        def run():
            nn = NearestNeighbors(n_neighbors=1, algorithm=algo, n_jobs=-1)
            dx = nn.fit(yn).kneighbors(xn)[0]
            dy = nn.fit(xn).kneighbors(yn)[0]
            return float(dx.mean() + dy.mean())

        return run
    if method == "cdist":  # the common recipe: row chunks of torch.cdist, then min
        chunk = 4096 if device == "cuda" else 1024

        def side(a, b):
            return torch.cat(
                [torch.cdist(a[i : i + chunk], b).amin(1) for i in range(0, len(a), chunk)]
            )

        return lambda: _chamfer_from(side(x, y), side(y, x))
    if method == "keops":
        from pykeops.torch import LazyTensor

        def side_k(a, b):
            D2 = ((LazyTensor(a[:, None, :]) - LazyTensor(b[None, :, :])) ** 2).sum(-1)
            return D2.min(dim=1).clamp_min(0).sqrt()

        return lambda: _chamfer_from(side_k(x, y), side_k(y, x))
    if method == "pot":
        import ot

        def run():
            M = ot.dist(xn, yn, metric="euclidean")
            return float(M.min(1).mean() + M.min(0).mean())

        return run
    raise ValueError(method)


def worker(method, d, n, device):
    import torch

    cuda = device == "cuda"
    # warm-up on a small problem: lazy imports, kernel compilation, cuBLAS handles
    prepare(method, d, min(n, 2048), device)()
    if cuda:
        torch.cuda.synchronize()
    fn = prepare(method, d, n, device)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t = time.perf_counter()
    value = fn()
    if cuda:
        torch.cuda.synchronize()
    sec = time.perf_counter() - t
    peak = (
        (torch.cuda.max_memory_allocated() - base) / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    )
    print(json.dumps({"value": value, "sec": sec, "peak_mib": peak}))


def paired(name, d, n, methods, device, reps):
    """Time the methods in ONE process, alternating, best of ``reps`` (robust on a shared
    machine, where per-subprocess timings drift with the load); prints a table row each."""
    import torch

    fns = {m: prepare(m, d, n, device) for m in methods if _installed(m)}
    for m in fns:  # warm-up: lazy imports, kernel compilation
        prepare(m, d, min(n, 2048), device)()
    best, value = dict.fromkeys(fns, float("inf")), {}
    for _ in range(reps):
        for m, fn in fns.items():
            t = time.perf_counter()
            value[m] = fn()
            if device == "cuda":
                torch.cuda.synchronize()
            best[m] = min(best[m], time.perf_counter() - t)
    ref = next(iter(fns))
    for m in fns:
        diff = abs(value[m] - value[ref]) / abs(value[ref])
        print(
            f"| {name} (d={d}, N=M={n}) | {device} | {m} | {best[m]:.3f} | "
            f"{best[m] / best[ref]:.2f} | {diff:.1e} | (paired, best of {reps}) |",
            flush=True,
        )


def _installed(method):
    import importlib.util

    mod = {"keops": "pykeops", "pot": "ot", "sklearn": "sklearn", "sklearn_brute": "sklearn"}
    name = mod.get(method)
    return name is None or importlib.util.find_spec(name) is not None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per method")
    ap.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="REPS",
        help="time all methods of a case in one process, alternating, best of REPS "
        "(no peak memory); skips the slow variants ours_brute/ours_kdtree",
    )
    ap.add_argument(
        "--worker", nargs=4, metavar=("METHOD", "D", "N", "DEVICE"), help=argparse.SUPPRESS
    )
    a = ap.parse_args()
    if a.worker:
        m, d, n, dev = a.worker
        return worker(m, int(d), int(n), dev)
    import torch

    cases = []
    if a.device in ("cpu", "all"):
        cases += [(c, "cpu") for c in CPU_CASES]
    if a.device in ("cuda", "all") and torch.cuda.is_available():
        cases += [(c, "cuda") for c in GPU_CASES]
    only = set(filter(None, a.only.split(",")))
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    print(
        "| case | device | method | time (s) | ratio to ours | rel. diff of Chamfer | peak mem (MiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for (name, d, n, methods), dev in cases:
        if only and name not in only:
            continue
        if a.quick:
            n = QUICK.get(name, min(n, 20_000))
        if a.paired:
            keep = [m for m in methods if m not in ("ours_brute", "ours_kdtree")]
            if d > 3:  # cKDTree is far off the pace beyond low dimension
                keep = [m for m in keep if m != "ckdtree"]
            paired(name, d, n, keep, dev, a.paired)
            continue
        res = {}
        for m in methods:
            if not _installed(m):
                print(f"| {name} | {dev} | {m} | skipped (not installed) | | | |")
                continue
            cmd = [sys.executable, __file__, "--worker", m, str(d), str(n), dev]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"| {name} (d={d}, N=M={n}) | {dev} | {m} | > {a.timeout:.0f} (timeout) | | | |"
                )
                continue
            if out.returncode != 0:
                err = out.stderr.strip().splitlines()[-1:] or ["?"]
                print(f"| {name} (d={d}, N=M={n}) | {dev} | {m} | failed: {err[0][:80]} | | | |")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            res[m] = r
            ours = res.get("ours")
            ratio = f"{r['sec'] / ours['sec']:.2f}" if ours else ""
            diff = f"{abs(r['value'] - ours['value']) / abs(ours['value']):.1e}" if ours else ""
            print(
                f"| {name} (d={d}, N=M={n}) | {dev} | {m} | {r['sec']:.3f} | {ratio} | {diff} | "
                f"{r['peak_mib']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
