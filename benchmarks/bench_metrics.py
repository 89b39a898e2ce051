"""Generator metrics side by side with the implementations users would otherwise run.

Peers (skipped when not installed): torchmetrics (FID math, KID ``poly_mmd``), prdc
(``compute_prdc``), and pytorch-fid's textbook formula (``np.cov`` + ``scipy.linalg.sqrtm``)
re-implemented here, since pytorch-fid itself pulls torchvision. Prints agreement and time
ratios; runs on CPU and also on CUDA when present.

Usage:
    .venv/bin/python benchmarks/bench_metrics.py [--n 10000] [--kid-subsets 100] [--large]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages first

from metrics import FeatureStats, fid_from_stats, kid, prdc
from metrics.fid import _frechet

HAVE_TM = importlib.util.find_spec("torchmetrics") is not None
HAVE_PRDC = importlib.util.find_spec("prdc") is not None


def timed(fn, *args, repeat: int = 1, sync: bool = False, **kw):
    best, out = float("inf"), None
    for _ in range(repeat):
        if sync:
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn(*args, **kw)
        if sync:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return out, best


def peak_rss_mib(fn, *args, **kw):
    """Run fn; return (result, peak resident memory above the starting RSS, MiB) (Linux)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return fn(*args, **kw), float("nan")

    def read(key):
        for line in status.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
        return float("nan")

    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
    base = read("VmRSS:")
    out = fn(*args, **kw)
    return out, read("VmHWM:") - base


def features(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    """Inception-like features: non-negative, correlated, with a large mean."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d) if d <= 256 else None
    z = rng.normal(size=(n, d)).astype(np.float32)
    if mix is not None:
        z = z @ mix.astype(np.float32)
    return np.maximum(z * 0.6 + 0.3 + shift, 0.0).astype(np.float32)


def row(name, value, seconds, ref_seconds=None, agree=None):
    ratio = f"{ref_seconds / seconds:7.2f}x" if ref_seconds else "        "
    ag = f"{agree:10.2e}" if agree is not None else " " * 10
    print(f"  {name:<44} {value:>14.8g} {seconds:9.3f} s {ratio} {ag}")


def bench_fid(x: np.ndarray, y: np.ndarray) -> None:
    print(
        f"\nFID, {x.shape[0]} x {x.shape[1]} features (statistics + distance); "
        "ratio = sqrtm-route time / time, agreement = relative difference to ours"
    )

    def ours(a, b):
        return fid_from_stats(FeatureStats().update(a), FeatureStats().update(b))

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    v_ours, t_ours = timed(ours, tx, ty)

    def sqrtm_route(a, b):
        a, b = a.astype(np.float64), b.astype(np.float64)
        m1, m2 = a.mean(0), b.mean(0)
        c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        root = scipy.linalg.sqrtm(c1 @ c2)
        return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root).real)

    v_ref, t_ref = timed(sqrtm_route, x, y)
    row("pytorch-fid formula (np.cov + scipy sqrtm)", v_ref, t_ref, t_ref, 0.0)
    if HAVE_TM:
        from torchmetrics.image.fid import _compute_fid

        def tm_route(a, b):  # FrechetInceptionDistance's float64 sums, then its _compute_fid
            st = []
            for f in (a, b):
                f = f.double()
                n, s, c = f.shape[0], f.sum(0), f.t().mm(f)
                mu = s / n
                st.append((mu, (c - n * torch.outer(mu, mu)) / (n - 1)))
            return float(_compute_fid(st[0][0], st[0][1], st[1][0], st[1][1]))

        v_tm, t_tm = timed(tm_route, tx, ty)
        row("torchmetrics (float64 sums + eigvals)", v_tm, t_tm, t_ref, abs(v_tm / v_ours - 1))
    row("metrics.FeatureStats + fid_from_stats", v_ours, t_ours, t_ref, 0.0)
    print(f"  agreement ours vs sqrtm route: {abs(v_ours / v_ref - 1):.2e} relative")
    sa, sb = FeatureStats().update(tx), FeatureStats().update(ty)
    _, t_dist = timed(_frechet, sa.mean, sa.cov(), sb.mean, sb.cov(), repeat=2)
    print(f"  distance term alone (CPU, float64, d={x.shape[1]}): {t_dist * 1e3:.0f} ms")
    try:
        from divergences.continuous.gaussian import frechet_distance as core_fd
    except ImportError:
        from divergences.continuous.frechet import frechet_distance as core_fd
    v_core, t_core = timed(core_fd, sa.mean, sa.cov(), sb.mean, sb.cov())
    print(
        f"  divergences' Gaussian frechet_distance (distance term): {t_core * 1e3:.0f} ms, "
        f"value agrees to {abs(float(v_core) / v_ours - 1):.1e}"
    )
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        ma, ca, mb, cb = (t.to(dev) for t in (sa.mean, sa.cov(), sb.mean, sb.cov()))
        _frechet(ma, ca, mb, cb)
        v_gpu, t_gpu = timed(_frechet, ma, ca, mb, cb, repeat=5, sync=True)
        print(
            f"  distance term on {torch.cuda.get_device_name()}: {t_gpu * 1e3:.1f} ms "
            f"(agrees to {abs(float(v_gpu) / v_ours - 1):.1e})"
        )


def bench_kid(x: np.ndarray, y: np.ndarray, subsets: int, size: int) -> None:
    print(
        f"\nKID, {subsets} subsets of {size}, d={x.shape[1]}; ratio = float64 reference time / "
        "time, agreement = relative difference to the float64 reference (same subsets)"
    )
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    s_ours, t_ours = timed(kid, tx, ty, subsets=subsets, subset_size=size, seed=0)

    def f64_reference(a, b):  # numpy float64 on the subsets kid() draws (same seeded generator)
        gen = torch.Generator().manual_seed(0)
        d, vals = a.shape[1], []
        a, b = a.astype(np.float64), b.astype(np.float64)
        for _ in range(subsets):
            ia = torch.randperm(a.shape[0], generator=gen)[:size].numpy()
            ib = torch.randperm(b.shape[0], generator=gen)[:size].numpy()
            p, q = a[ia], b[ib]
            kxx, kyy, kxy = ((u @ v.T / d + 1) ** 3 for u, v in ((p, p), (q, q), (p, q)))
            m = size
            vals.append(
                (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                - 2 * kxy.mean()
            )
        return float(np.mean(vals))

    v_ref, t_ref = timed(f64_reference, x, y)
    row("numpy float64 reference", v_ref, t_ref, t_ref, 0.0)
    if HAVE_TM:
        from torchmetrics.image.kid import poly_mmd

        def tm_route(a, b):  # KernelInceptionDistance.compute: float32 poly_mmd per subset
            gen = torch.Generator().manual_seed(0)
            vals = []
            for _ in range(subsets):
                ia = torch.randperm(a.shape[0], generator=gen)[:size]
                ib = torch.randperm(b.shape[0], generator=gen)[:size]
                vals.append(poly_mmd(a[ia], b[ib]))
            return float(torch.stack(vals).mean())

        v_tm, t_tm = timed(tm_route, tx, ty)
        row("torchmetrics poly_mmd (float32)", v_tm, t_tm, t_ref, abs(v_tm / v_ref - 1))
    row(
        "metrics.kid (centred float32 products)",
        s_ours.mean,
        t_ours,
        t_ref,
        abs(s_ours.mean / v_ref - 1),
    )


def bench_prdc(x: np.ndarray, y: np.ndarray, k: int) -> None:
    print(
        f"\nPrecision/recall + density/coverage, {x.shape[0]} x {x.shape[1]}, k={k}; "
        "ratio = prdc time / time; peak = resident memory above the inputs"
    )
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    (ours, t_ours), mem_ours = peak_rss_mib(timed, prdc, tx, ty, k=k)
    ref_t = None
    if HAVE_PRDC:
        import prdc as prdc_pkg

        (ref, ref_t), mem_ref = peak_rss_mib(timed, prdc_pkg.compute_prdc, x, y, nearest_k=k)
        print(
            f"  {'prdc.compute_prdc (strict <)':<44} { {k2: round(float(v), 5) for k2, v in ref.items()}!s:>40} "
            f"{ref_t:8.2f} s  peak {mem_ref:7.0f} MiB"
        )
        diff = max(abs(float(ref[n]) - getattr(ours, n)) for n in ref)
    print(
        f"  {'metrics.prdc (closed <=, tiled, exact)':<44} { {k2: round(v, 5) for k2, v in ours._asdict().items()}!s:>40} "
        f"{t_ours:8.2f} s  peak {mem_ours:7.0f} MiB"
        + (f"  ratio {ref_t / t_ours:.2f}x, max |diff| {diff:.1e}" if ref_t else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--kid-subsets", type=int, default=100)
    ap.add_argument("--kid-size", type=int, default=1000)
    ap.add_argument("--large", action="store_true", help="also PRDC on 50k x 2048")
    ap.add_argument("--skip", default="", help="comma list of fid,kid,prdc to skip")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    print(
        f"torch {torch.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}"
    )
    x, y = features(args.n, 2048, 0.0, 0), features(args.n, 2048, 0.02, 1)
    if "fid" not in skip:
        bench_fid(x, y)
    if "kid" not in skip:
        bench_kid(x, y, args.kid_subsets, args.kid_size)
    if "prdc" not in skip:
        bench_prdc(features(args.n, 64, 0.0, 2), features(args.n, 64, 0.05, 3), k=5)
    if args.large:
        xl, yl = features(50000, 2048, 0.0, 4), features(50000, 2048, 0.02, 5)
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        (res, t), mem = peak_rss_mib(
            timed, prdc, torch.from_numpy(xl).to(dev), torch.from_numpy(yl).to(dev), k=5
        )
        print(
            f"\nPRDC 50k x 2048 on {dev}: {res} in {t:.1f} s, host peak {mem:.0f} MiB "
            f"(prdc's dense float64 matrices would need ~{3 * 50000**2 * 8 / 2**30:.0f} GiB)"
        )


if __name__ == "__main__":
    main()
