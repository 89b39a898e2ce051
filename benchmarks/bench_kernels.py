"""Benchmark: tiled mmd2 / Sinkhorn (bounded memory) vs dense torch, POT and geomloss, one run.

Each implementation runs in its own child process so that its peak memory can be measured:
peak RSS growth on CPU (``ru_maxrss``), ``torch.cuda.max_memory_allocated`` on CUDA. Time is the
best of ``--repeat`` runs. Values are compared with ours (same definition, conventions mapped:
geomloss' cost is ‖x−y‖²/2 with ε = blur², its kernel losses are ½·MMD² (V-statistic)).
Missing peers (POT, geomloss) are skipped.

Usage:
    .venv/bin/python benchmarks/bench_kernels.py [--quick] [--repeat 2] [--threads N]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages first

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _data(n, m, d, seed, shift=0.5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randn(m, d, generator=g) + shift
    return x.to(DEVICE), y.to(DEVICE)


# ------------------------------------------------------------------ implementations (children)


def dense_mmd2(x, y, kernel, sigma=None):
    """Plain dense unbiased MMD² (full N×N, M×M, N×M matrices), the usual torch snippet."""

    def k(a, b):
        if kernel == "gaussian":
            return torch.exp(-torch.cdist(a, b).pow(2) / (2 * sigma**2))
        return (a @ b.T / a.shape[1] + 1) ** 3

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return (
        (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        - 2 * kxy.mean()
    )


def dense_sinkhorn(x, y, eps, tol, max_iter=10000):
    """Plain dense log-domain Sinkhorn (no ε-scaling), same stopping rule as ours; OT_ε."""
    n, m = x.shape[0], y.shape[0]
    c = torch.cdist(x, y).pow(2)
    la = torch.full((n,), -math.log(n), device=x.device)
    lb = torch.full((m,), -math.log(m), device=x.device)
    g = torch.zeros(m, device=x.device)
    for it in range(max_iter):
        f = -eps * torch.logsumexp(lb + (g - c) / eps, dim=1)
        gn = -eps * torch.logsumexp(la[:, None] + (f[:, None] - c) / eps, dim=0)
        if it % 10 == 9 and float((lb.exp() * torch.expm1((g - gn) / eps).abs()).sum()) < tol:
            g = gn
            break
        g = gn
    return (la.exp() * f).sum() + (lb.exp() * g).sum()


def pot_sinkhorn(x, y, eps, tol):
    import ot

    c = torch.cdist(x, y).pow(2).double()
    a = torch.full((x.shape[0],), 1 / x.shape[0], dtype=torch.float64, device=x.device)
    b = torch.full((y.shape[0],), 1 / y.shape[0], dtype=torch.float64, device=x.device)
    plan = ot.sinkhorn(a, b, c, eps, method="sinkhorn_log", stopThr=tol, numItermax=10000)
    kl = torch.xlogy(plan, plan / (a[:, None] * b[None, :])).sum()
    return (plan * c).sum() + eps * kl  # OT_ε = <π, C> + ε KL(π | a⊗b)


def run_case(name, impl, n, m, d, opts, repeat, threads, queue):
    import divergences as dv

    if threads:
        torch.set_num_threads(threads)

    x, y = _data(n, m, d, seed=0)
    if impl == "ours" and "sinkhorn" not in name:
        fn = lambda: dv.mmd2(x, y, **opts)  # noqa: E731
    elif impl == "dense torch" and "sinkhorn" not in name:
        fn = lambda: dense_mmd2(x, y, opts["kernel"], opts.get("bandwidth"))  # noqa: E731
    elif impl == "ours":
        fn = lambda: dv.sinkhorn_divergence(x, y, **opts)  # noqa: E731
    elif impl == "dense torch":
        fn = lambda: dense_sinkhorn(x, y, opts["eps"], opts["tol"])  # noqa: E731
    elif impl == "POT":
        fn = lambda: pot_sinkhorn(x, y, opts["eps"], opts["tol"])  # noqa: E731
    else:  # geomloss (tensorized backend), conventions mapped to ours
        from geomloss import SamplesLoss

        if "sinkhorn" in name:
            blur = math.sqrt(opts["eps"] / 2)
            loss = SamplesLoss("sinkhorn", p=2, blur=blur, debias=opts["debias"], scaling=0.9)
            fn = lambda: 2 * loss(x, y)  # noqa: E731
        else:
            loss = SamplesLoss("gaussian", blur=opts["bandwidth"])
            fn = lambda: 2 * loss(x, y)  # noqa: E731
    if DEVICE == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times, val = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        val = float(fn())
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if DEVICE == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    queue.put((min(times), val, max(peak, 0)))


def measure(name, impl, n, m, d, opts, repeat, threads):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=run_case, args=(name, impl, n, m, d, opts, repeat, threads, q))
    p.start()
    p.join()
    if p.exitcode != 0:
        return None
    return q.get()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    s = 2 if args.quick else 1
    have_pot = importlib.util.find_spec("ot") is not None
    have_geomloss = importlib.util.find_spec("geomloss") is not None
    # Gaussian kernel with σ = 2, unbiased; ours vs dense. geomloss (biased, V-stat) listed apart.
    cases = [
        ("mmd2 gaussian (U)", 4000 // s, 4000 // s, 64, {"kernel": "gaussian", "bandwidth": 8.0},
         ["ours", "dense torch"]),
        ("mmd2 gaussian (V)", 4000 // s, 4000 // s, 64,
         {"kernel": "gaussian", "bandwidth": 8.0, "unbiased": False},
         ["ours"] + (["geomloss"] if have_geomloss else [])),
        ("mmd2 poly/KID (U)", 4000 // s, 4000 // s, 512, {"kernel": "polynomial"},
         ["ours", "dense torch"]),
        ("sinkhorn OT_eps", 2000 // s, 2000 // s, 3,
         {"eps": 0.1, "tol": 1e-4, "debias": False},
         ["ours", "dense torch"] + (["POT"] if have_pot else [])
         + (["geomloss"] if have_geomloss else [])),
        ("sinkhorn S_eps", 2000 // s, 2000 // s, 3, {"eps": 0.1, "tol": 1e-4, "debias": True},
         ["ours"] + (["geomloss"] if have_geomloss else [])),
    ]  # fmt: skip
    print(f"device: {DEVICE}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    header = f"{'case':20s} {'N×M×D':>16s} {'impl':12s} {'time s':>8s} {'×ours':>7s} "
    header += f"{'peak MiB':>9s} {'value':>12s} {'rel.diff':>9s}"
    print(header)
    for name, n, m, d, opts, impls in cases:
        ref = None
        for impl in impls:
            res = measure(name, impl, n, m, d, opts, args.repeat, args.threads)
            if res is None:
                print(f"{name:20s} {f'{n}×{m}×{d}':>16s} {impl:12s} failed")
                continue
            t, v, peak = res
            if impl == "ours":
                ref = (t, v)
            ratio = t / ref[0] if ref else float("nan")
            rel = abs(v - ref[1]) / max(abs(ref[1]), 1e-30) if ref else float("nan")
            print(
                f"{name:20s} {f'{n}×{m}×{d}':>16s} {impl:12s} {t:8.3f} {ratio:7.2f} "
                f"{peak / 2**20:9.1f} {v:12.6g} {rel:9.2e}"
            )


if __name__ == "__main__":
    main()
