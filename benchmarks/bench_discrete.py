"""Batched exact KL / JS / TV between probability vectors: divergences vs scipy, same run.

Peers: ``scipy.special.rel_entr(p, q).sum(-1)`` (KL), ``scipy.spatial.distance.jensenshannon(p,
q, axis=-1) ** 2`` (JS; scipy returns the square root), ``0.5 * np.abs(p - q).sum(-1)`` (TV; scipy
has none), and torchmetrics' functional KL/JS when installed. Ours: NumPy float64 in, torch CPU
float64/float32, and CUDA float32/float64 when present. Rows are processed in chunks of
``--chunk`` rows for every implementation alike (bounded memory at 10^4 x 10^4).

Prints time (best of ``--repeat``), speed-up over scipy (scipy time / our time) and the max
absolute difference from scipy's float64 result.

Usage:
    python benchmarks/bench_discrete.py            # 2000 x 2000, under a minute on 2 cores
    python benchmarks/bench_discrete.py --full     # 10^4 distributions x 10^4 categories
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import scipy
import scipy.spatial.distance as ssd
import scipy.special as sps
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import divergences as dv

try:  # optional peer
    import torchmetrics.functional as tmf
except ImportError:  # pragma: no cover - depends on the environment
    tmf = None


def make_data(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random((n, k))
    q = rng.random((n, k)) + 1e-3  # q > 0 so KL is finite
    p[rng.random((n, k)) < 0.01] = 0.0  # some exact zeros in p
    p /= p.sum(1, keepdims=True)
    q /= q.sum(1, keepdims=True)
    return p, q


def timed(fn, p, q, chunk: int, repeat: int, sync) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        parts = [fn(p[i : i + chunk], q[i : i + chunk]) for i in range(0, len(p), chunk)]
        sync()
        best = min(best, time.perf_counter() - t0)
        out = parts
    res = [np.asarray(x.detach().cpu().double()) if torch.is_tensor(x) else x for x in out]
    return best, np.concatenate([np.atleast_1d(r) for r in res])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="number of distributions (rows)")
    ap.add_argument("--k", type=int, default=2000, help="number of categories")
    ap.add_argument("--full", action="store_true", help="10^4 x 10^4")
    ap.add_argument("--chunk", type=int, default=1000, help="rows per call")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n, k = (10_000, 10_000) if args.full else (args.n, args.k)
    p, q = make_data(n, k, args.seed)

    def nosync() -> None:
        return None

    def converter(device: str, dtype: torch.dtype):
        return lambda a: torch.from_numpy(a).to(device, dtype)

    impls = []  # (label, device, dtype, convert, sync)
    impls.append(("divergences (numpy in)", "cpu", "float64", lambda a: a, nosync))
    devices = [("cpu", nosync)]
    if torch.cuda.is_available():
        devices.append(("cuda", torch.cuda.synchronize))
    for dev, sync in devices:
        for dt in (torch.float64, torch.float32):
            impls.append(("divergences (torch)", dev, str(dt)[6:], converter(dev, dt), sync))

    ours = {"KL": dv.kl, "JS": dv.js, "TV": dv.tv}
    peers = {
        "KL": lambda a, b: sps.rel_entr(a, b).sum(-1),
        "JS": lambda a, b: ssd.jensenshannon(a, b, axis=-1) ** 2,
        "TV": lambda a, b: 0.5 * np.abs(a - b).sum(-1),
    }
    peer_name = {"KL": "scipy rel_entr", "JS": "scipy jensenshannon**2", "TV": "numpy 0.5|p-q|"}
    tm = {}
    if tmf is not None:
        tm = {"KL": lambda a, b: tmf.kl_divergence(a, b, reduction="none")}
        if hasattr(tmf, "jensen_shannon_divergence"):
            tm["JS"] = lambda a, b: tmf.jensen_shannon_divergence(a, b, reduction="none")

    print(f"# bench_discrete: {n} distributions x {k} categories, chunk {args.chunk}, "
          f"best of {args.repeat}")  # fmt: skip
    print(f"# torch {torch.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"python {platform.python_version()}, threads {torch.get_num_threads()}, "
          f"cuda {torch.cuda.is_available()}")  # fmt: skip
    hdr = f"| {'op':3} | {'implementation':28} | {'device':6} | {'dtype':7} | {'time (ms)':>10} | {'speed-up vs peer':>16} | {'max abs diff':>12} |"
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    for op in ("KL", "JS", "TV"):
        t_ref, ref = timed(peers[op], p, q, args.chunk, args.repeat, nosync)
        print(
            f"| {op:3} | {peer_name[op]:28} | {'cpu':6} | {'float64':7} | {t_ref * 1e3:10.1f} | {'1.00':>16} | {0.0:12.1e} |"
        )
        for label, dev, dts, conv, sync in impls:
            pp, qq = conv(p), conv(q)
            t, out = timed(ours[op], pp, qq, args.chunk, args.repeat, sync)
            err = float(np.max(np.abs(out - ref)))
            print(
                f"| {op:3} | {label:28} | {dev:6} | {dts:7} | {t * 1e3:10.1f} | {t_ref / t:16.2f} | {err:12.1e} |"
            )
        if op in tm:
            pp, qq = torch.from_numpy(p), torch.from_numpy(q)
            t, out = timed(tm[op], pp, qq, args.chunk, args.repeat, nosync)
            err = float(np.max(np.abs(out - ref)))
            print(
                f"| {op:3} | {'torchmetrics':28} | {'cpu':6} | {'float64':7} | {t * 1e3:10.1f} | {t_ref / t:16.2f} | {err:12.1e} |"
            )


if __name__ == "__main__":
    main()
