"""Divergence estimators from samples on Gaussian pairs: bias, RMSE, interval coverage, time.

P = N(0, I_d), Q = N(mu, 1.3 I_d) with |mu| = 1 (mu = e_1). Truth: KL in closed form; JS by
Monte Carlo with the known densities (2·10^6 draws, its own error printed). Methods:

- ``knn``: ``knn_kl`` (WKV with ensemble bias correction, delete-1 jackknife interval);
- ``knn-plain``: ``knn_kl(correction="none", k=1)`` (plain WKV);
- ``universal-divergence``: the peer's ``estimate(X, Y, k=1)`` (skipped if not installed);
- ``ckdtree``: a 10-line cKDTree WKV, k=1 (the speed floor a user would write);
- ``classifier``: ``classifier_divergence`` for JS and KL (quadratic logistic, 5 folds).

Usage: ``python benchmarks/bench_estimators.py`` (small grid: d in {1,2,5,10}, n in {1k,10k},
5 seeds) or ``--full`` (d in {1,2,5,10,20}, n in {1k,10k,100k}, 20 seeds). ``--dims``,
``--sizes`` and ``--seeds`` pick a part of the grid; ``--no-peers`` drops the rows without an
interval (the coverage run: ``--sizes 10000 --seeds 40 --no-peers``). Runs on CPU; the
kNN engine uses CUDA when present (inputs are moved there).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy.spatial import cKDTree

from divergences.estimators import classifier_divergence, knn_kl

try:
    import universal_divergence
except ImportError:  # the peer is optional
    universal_divergence = None

S2 = 1.3
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def kl_true(d: int) -> float:
    return 0.5 * (d / S2 - d + 1.0 / S2 + d * math.log(S2))


def _logpdf(x: np.ndarray, mu: np.ndarray, s2: float) -> np.ndarray:
    d = x.shape[1]
    return -0.5 * ((x - mu) ** 2).sum(1) / s2 - 0.5 * d * math.log(2 * math.pi * s2)


def js_true(d: int, n: int = 2_000_000, seed: int = 123) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    mu = np.zeros(d)
    mu[0] = 1.0
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d)) * math.sqrt(S2) + mu
    terms = []
    for pts, own in ((x, 0), (y, 1)):
        lp, lq = _logpdf(pts, 0 * mu, 1.0), _logpdf(pts, mu, S2)
        lm = np.logaddexp(lp, lq) - math.log(2)
        terms.append((lp if own == 0 else lq) - lm)
    val = 0.5 * (terms[0].mean() + terms[1].mean())
    err = 0.5 * math.sqrt(terms[0].var() / n + terms[1].var() / n)
    return float(val), float(err)


def sample(d: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = np.zeros(d)
    mu[0] = 1.0
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) * math.sqrt(S2) + mu


def ckdtree_kl(x: np.ndarray, y: np.ndarray) -> float:
    n, d = x.shape
    rho = cKDTree(x).query(x, 2)[0][:, 1]
    nu = cKDTree(y).query(x, 1)[0]
    return float(d * np.mean(np.log(nu / rho)) + math.log(y.shape[0] / (n - 1)))


def run_methods(x: np.ndarray, y: np.ndarray, skip_peer: bool, no_peers: bool) -> dict:
    tx, ty = torch.from_numpy(x).to(DEVICE), torch.from_numpy(y).to(DEVICE)
    out = {}
    t = time.perf_counter()
    e = knn_kl(tx, ty)
    out["knn KL"] = (e.value, e.ci, time.perf_counter() - t)
    t = time.perf_counter()
    e = knn_kl(tx, ty, k=1, correction="none")
    out["knn-plain KL"] = (e.value, e.ci, time.perf_counter() - t)
    if no_peers:
        skip_peer = True
    else:
        t = time.perf_counter()
        out["ckdtree KL"] = (ckdtree_kl(x, y), None, time.perf_counter() - t)
    if universal_divergence is not None and not skip_peer:
        t = time.perf_counter()
        v = universal_divergence.estimate(x, y, k=1)
        out["universal-divergence KL"] = (float(v), None, time.perf_counter() - t)
    for div in ("js", "kl"):
        t = time.perf_counter()
        e = classifier_divergence(x, y, div)
        out[f"classifier {div.upper()}"] = (e.value, e.ci, time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the whole grid (hours on 2 cores)")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--dims", type=str, default=None, help="comma list, e.g. 5,10")
    ap.add_argument("--sizes", type=str, default=None, help="comma list, e.g. 10000")
    ap.add_argument("--no-peers", action="store_true", help="only the methods with intervals")
    args = ap.parse_args()
    dims = [1, 2, 5, 10, 20] if args.full else [1, 2, 5, 10]
    sizes = [1000, 10_000, 100_000] if args.full else [1000, 10_000]
    if args.dims:
        dims = [int(v) for v in args.dims.split(",")]
    if args.sizes:
        sizes = [int(v) for v in args.sizes.split(",")]
    seeds = args.seeds or (20 if args.full else 5)
    peer = "installed" if universal_divergence is not None else "NOT installed (skipped)"
    print(f"device={DEVICE} torch={torch.__version__} universal-divergence {peer}; seeds={seeds}")
    hdr = f"{'d':>3} {'n':>7} {'method':<26} {'truth':>8} {'bias%':>7} {'rRMSE%':>7} {'cover':>6} {'time s':>8}"
    print(hdr)
    print("-" * len(hdr))
    for d in dims:
        js, js_err = js_true(d)
        truths = {"KL": kl_true(d), "JS": js}
        for n in sizes:
            rows: dict[str, list] = {}
            for s in range(seeds):
                x, y = sample(d, n, 1000 * d + s)
                skip_peer = n > 10_000  # the peer takes minutes at 100k
                for name, res in run_methods(x, y, skip_peer, args.no_peers).items():
                    rows.setdefault(name, []).append(res)
            for name, res in rows.items():
                truth = truths[name.split()[-1]]
                vals = np.array([r[0] for r in res])
                bias = 100 * (vals.mean() - truth) / truth
                rmse = 100 * math.sqrt(np.mean((vals - truth) ** 2)) / truth
                cis = [r[1] for r in res if r[1] is not None]
                cover = f"{np.mean([lo <= truth <= hi for lo, hi in cis]):.2f}" if cis else "  -"
                tm = np.mean([r[2] for r in res])
                print(
                    f"{d:>3} {n:>7} {name:<26} {truth:8.4f} {bias:7.1f} {rmse:7.1f} {cover:>6} {tm:8.3f}"
                )
            peer = rows.get("universal-divergence KL")
            if peer:
                t_peer = np.mean([r[2] for r in peer])
                ratios = ", ".join(
                    f"{name.split()[0]} {t_peer / np.mean([r[2] for r in rows[name]]):.1f}x"
                    for name in ("knn KL", "knn-plain KL", "ckdtree KL")
                )
                print(f"{'':>12}speed vs universal-divergence (higher = faster): {ratios}")
        print(f"    (JS truth by Monte Carlo: {js:.5f} ± {js_err:.5f})")


if __name__ == "__main__":
    main()
