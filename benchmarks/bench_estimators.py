"""Divergence estimators from samples on pairs of known laws: bias, RMSE, coverage, time.

Pairs (``--family``): ``gaussian`` (default) P = N(0, I_d), Q = N(mu, 1.3 I_d) with mu = e_1;
``laplace`` and ``student`` (t with 5 degrees of freedom): the same shift and scale (Q's
coordinates are P's times sqrt(1.3), the first shifted by 1), product laws. Truth: KL in
closed form (gaussian, laplace) or by Monte Carlo with the known densities (student); JS by
Monte Carlo (2·10^6 draws; the Monte Carlo error is printed). Methods:

- ``knn``: ``knn_kl`` (WKV with ensemble bias correction, delete-1 jackknife interval);
- ``knn-gauss``: ``knn_kl(base="gaussian")`` (the same on a Gaussian start);
- ``knn-plain``: ``knn_kl(correction="none", k=1)`` (plain WKV);
- ``universal-divergence``: the peer's ``estimate(X, Y, k=1)`` (skipped if not installed);
- ``ckdtree``: a 10-line cKDTree WKV, k=1 (the speed floor a user would write);
- ``classifier``: ``classifier_divergence`` for JS and KL (quadratic logistic, 5 folds).

Columns: ``bias%`` and ``rRMSE%`` relative to the truth over seeds, ``cover`` the share of
95 % intervals holding the truth, ``se/sd`` the mean reported standard error over the sd of
the estimates across seeds (1 = calibrated), mean time per call.

``--compare-textbook``: the default ``knn_kl`` against the textbook WKV estimator at k = 5
(:func:`textbook_kl`, written here on cKDTree) on the Gaussian pair at d = 1, 2, 5, 10 and a
pure mean shift (N(0, I_5) against N(e_1, I_5), KL = 1/2), ``--seeds`` seeds at n =
``--sizes`` (default 10,000): bias and relative RMSE of each, the paired difference of
squared errors (ours − textbook, in units of its standard error: negative = ours better),
and the time of each in the same run (calls interleaved): ours with ``stderr="none"`` and
with the default jackknife interval, as ratios to the textbook.

Usage: ``python benchmarks/bench_estimators.py`` (small grid: d in {1,2,5,10}, n in {1k,10k},
5 seeds) or ``--full`` (d in {1,2,5,10,20}, n in {1k,10k,100k}, 20 seeds). ``--dims``,
``--sizes``, ``--seeds`` and ``--methods`` pick a part of the grid; ``--no-peers`` drops the
rows without an interval (the coverage run: ``--sizes 10000 --seeds 40 --no-peers``). Runs
on CPU; the kNN engine uses CUDA when present (inputs are moved there).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy import stats
from scipy.spatial import cKDTree

from divergences.estimators import classifier_divergence, knn_kl

try:
    import universal_divergence
except ImportError:  # the peer is optional
    universal_divergence = None

S2 = 1.3
NU = 5  # Student-t degrees of freedom
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
FAMILIES = ("gaussian", "laplace", "student")


def _marginal(family: str):
    """(sampler(rng, shape), logpdf) of the standard 1-D law of a family."""
    if family == "gaussian":
        return (lambda r, sh: r.normal(size=sh)), stats.norm.logpdf
    if family == "laplace":
        return (lambda r, sh: r.laplace(size=sh)), stats.laplace.logpdf
    return (lambda r, sh: r.standard_t(NU, size=sh)), (lambda z: stats.t.logpdf(z, NU))


def sample(family: str, d: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    draw, _ = _marginal(family)
    rng = np.random.default_rng(seed)
    y = draw(rng, (n, d)) * math.sqrt(S2)
    y[:, 0] += 1.0
    return draw(rng, (n, d)), y


def _logpdfs(family: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, lp = _marginal(family)
    shift = np.zeros(z.shape[1])
    shift[0] = 1.0
    s = math.sqrt(S2)
    return lp(z).sum(1), (lp((z - shift) / s) - math.log(s)).sum(1)


def _laplace_kl_1d(dm: float, b1: float, b2: float) -> float:
    return math.log(b2 / b1) + dm / b2 + b1 / b2 * math.exp(-dm / b1) - 1


def gaussian_kl(d: int) -> float:
    """KL(N(0, I_d) ‖ N(e_1, 1.3 I_d)) in closed form."""
    return 0.5 * (d / S2 - d + 1.0 / S2 + d * math.log(S2))


def truths(family: str, d: int, n: int = 2_000_000, seed: int = 123) -> dict:
    """{"KL": (value, mc error), "JS": (value, mc error)} for the family's pair."""
    x, y = sample(family, d, n, seed)
    lpx, lqx = _logpdfs(family, x)
    lpy, lqy = _logpdfs(family, y)
    if family == "gaussian":
        kl = (gaussian_kl(d), 0.0)
    elif family == "laplace":
        b2 = math.sqrt(S2)
        kl = (_laplace_kl_1d(1.0, 1.0, b2) + (d - 1) * _laplace_kl_1d(0.0, 1.0, b2), 0.0)
    else:
        t = lpx - lqx
        kl = (float(t.mean()), float(t.std() / math.sqrt(n)))
    ta = lpx - (np.logaddexp(lpx, lqx) - math.log(2))
    tb = lqy - (np.logaddexp(lpy, lqy) - math.log(2))
    js = 0.5 * (ta.mean() + tb.mean())
    err = 0.5 * math.sqrt(ta.var() / n + tb.var() / n)
    return {"KL": kl, "JS": (float(js), float(err))}


def ckdtree_kl(x: np.ndarray, y: np.ndarray) -> float:
    n, d = x.shape
    rho = cKDTree(x).query(x, 2)[0][:, 1]
    nu = cKDTree(y).query(x, 1)[0]
    return float(d * np.mean(np.log(nu / rho)) + math.log(y.shape[0] / (n - 1)))


def textbook_kl(x: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Wang–Kulkarni–Verdú (2009) at k on cKDTree: d·mean log(ν_k/ρ_k) + log(M/(N−1))."""
    n, d = x.shape
    rho = cKDTree(x).query(x, k + 1)[0][:, k]  # the first neighbour of x_i in x is x_i
    nu = cKDTree(y).query(x, k)[0][:, k - 1]
    return float(d * np.mean(np.log(nu / rho)) + math.log(y.shape[0] / (n - 1)))


def _textbook_rows(n: int, seed: int):
    """(name, x, y, truth) for each row of ``--compare-textbook``."""
    for d in (1, 2, 5, 10):
        x, y = sample("gaussian", d, n, 1000 * d + seed)
        yield f"gauss d={d}", x, y, gaussian_kl(d)
    rng = np.random.default_rng(77_000 + seed)
    x, y = rng.normal(size=(n, 5)), rng.normal(size=(n, 5))
    y[:, 0] += 1.0
    yield "shift d=5", x, y, 0.5


def compare_textbook(n: int, seeds: int) -> None:
    calls = {
        "textbook": lambda x, y: textbook_kl(x, y),
        "ours": lambda x, y: knn_kl(x, y, stderr="none").value,
        "ours+jk": lambda x, y: knn_kl(x, y).value,
    }
    res: dict[str, dict[str, list]] = {}
    for _, x, y, _ in _textbook_rows(500, -1):  # warm-up: imports, first calls
        for call in calls.values():
            call(x, y)
    for s in range(seeds):
        for name, x, y, truth in _textbook_rows(n, s):
            row = res.setdefault(name, {"truth": [truth]})
            order = list(calls) if s % 2 == 0 else list(calls)[::-1]  # interleave
            for c in order:
                t = time.perf_counter()
                v = calls[c](x, y)
                row.setdefault(c, []).append((v, time.perf_counter() - t))
    print(
        f"{'row':<11} {'truth':>7} {'textbook k=5':>14} {'ours (default)':>15} "
        f"{'dMSE/se':>8} {'t_tb s':>7} {'ours/tb':>8} {'+jk/tb':>7}"
    )
    print(f"{'':<11} {'':>7} {'bias% rRMSE%':>14} {'bias% rRMSE%':>15}")
    for name, row in res.items():
        tv = row["truth"][0]
        err = {c: np.array([v for v, _ in row[c]]) - tv for c in calls}
        tm = {c: sum(t for _, t in row[c]) for c in calls}
        assert np.allclose(err["ours"], err["ours+jk"], atol=1e-12)  # same value with the interval
        stat = []
        for c in ("textbook", "ours"):
            e = err[c]
            stat.append(f"{100 * e.mean() / tv:+6.1f} {100 * math.sqrt((e**2).mean()) / tv:6.2f}")
        dd = err["ours"] ** 2 - err["textbook"] ** 2
        z = dd.mean() / (dd.std(ddof=1) / math.sqrt(dd.size))
        print(
            f"{name:<11} {tv:7.4f} {stat[0]:>14} {stat[1]:>15} {z:8.2f} "
            f"{tm['textbook'] / seeds:7.3f} {tm['ours'] / tm['textbook']:7.2f}x "
            f"{tm['ours+jk'] / tm['textbook']:6.2f}x"
        )


def run_methods(x: np.ndarray, y: np.ndarray, skip_peer: bool, methods: set) -> dict:
    tx, ty = torch.from_numpy(x).to(DEVICE), torch.from_numpy(y).to(DEVICE)
    calls = {
        "knn KL": lambda: knn_kl(tx, ty),
        "knn-gauss KL": lambda: knn_kl(tx, ty, base="gaussian"),
        "knn-plain KL": lambda: knn_kl(tx, ty, k=1, correction="none"),
        "ckdtree KL": lambda: ckdtree_kl(x, y),
        "universal-divergence KL": lambda: float(universal_divergence.estimate(x, y, k=1)),
        "classifier JS": lambda: classifier_divergence(x, y, "js"),
        "classifier KL": lambda: classifier_divergence(x, y, "kl"),
    }
    if universal_divergence is None or skip_peer:
        methods = methods - {"universal-divergence"}
    out = {}
    for name, call in calls.items():
        if name.split()[0] not in methods:
            continue
        t = time.perf_counter()
        e = call()
        dt = time.perf_counter() - t
        if isinstance(e, float):
            out[name] = (e, None, None, dt)
        else:
            out[name] = (e.value, e.ci, e.stderr, dt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the whole grid (hours on 2 cores)")
    ap.add_argument("--family", choices=FAMILIES, default="gaussian")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--dims", type=str, default=None, help="comma list, e.g. 5,10")
    ap.add_argument("--sizes", type=str, default=None, help="comma list, e.g. 10000")
    all_methods = "knn,knn-gauss,knn-plain,ckdtree,universal-divergence,classifier"
    ap.add_argument("--methods", type=str, default=all_methods, help=f"from {all_methods}")
    ap.add_argument("--no-peers", action="store_true", help="only the methods with intervals")
    ap.add_argument(
        "--compare-textbook", action="store_true", help="default knn_kl vs textbook WKV k=5"
    )
    args = ap.parse_args()
    if args.compare_textbook:
        n = int(args.sizes.split(",")[0]) if args.sizes else 10_000
        seeds = args.seeds or 20
        print(
            f"device=cpu torch={torch.__version__} n={n} seeds={seeds} "
            f"threads={torch.get_num_threads()}"
        )
        compare_textbook(n, seeds)
        return
    dims = [1, 2, 5, 10, 20] if args.full else [1, 2, 5, 10]
    sizes = [1000, 10_000, 100_000] if args.full else [1000, 10_000]
    if args.dims:
        dims = [int(v) for v in args.dims.split(",")]
    if args.sizes:
        sizes = [int(v) for v in args.sizes.split(",")]
    methods = set(args.methods.split(","))
    if args.no_peers:
        methods -= {"ckdtree", "universal-divergence"}
    seeds = args.seeds or (20 if args.full else 5)
    peer = "installed" if universal_divergence is not None else "NOT installed (skipped)"
    print(
        f"device={DEVICE} torch={torch.__version__} universal-divergence {peer}; "
        f"family={args.family} seeds={seeds}"
    )
    hdr = f"{'d':>3} {'n':>7} {'method':<26} {'truth':>8} {'bias%':>7} {'rRMSE%':>7} {'cover':>6} {'se/sd':>6} {'time s':>8}"
    print(hdr)
    print("-" * len(hdr))
    for d in dims:
        truth = truths(args.family, d)
        for n in sizes:
            rows: dict[str, list] = {}
            for s in range(seeds):
                x, y = sample(args.family, d, n, 1000 * d + s)
                skip_peer = n > 10_000  # the peer takes minutes at 100k
                for name, res in run_methods(x, y, skip_peer, methods).items():
                    rows.setdefault(name, []).append(res)
            for name, res in rows.items():
                tv = truth[name.split()[-1]][0]
                vals = np.array([r[0] for r in res])
                bias = 100 * (vals.mean() - tv) / tv
                rmse = 100 * math.sqrt(np.mean((vals - tv) ** 2)) / tv
                cis = [r[1] for r in res if r[1] is not None]
                cover = f"{np.mean([lo <= tv <= hi for lo, hi in cis]):.2f}" if cis else "  -"
                ses = [r[2] for r in res if r[2] is not None]
                calib = f"{np.mean(ses) / vals.std(ddof=1):.2f}" if ses and seeds > 2 else "  -"
                tm = np.mean([r[3] for r in res])
                print(
                    f"{d:>3} {n:>7} {name:<26} {tv:8.4f} {bias:7.1f} {rmse:7.1f} {cover:>6} {calib:>6} {tm:8.3f}"
                )
            peer = rows.get("universal-divergence KL")
            if peer:
                t_peer = np.mean([r[3] for r in peer])
                ratios = ", ".join(
                    f"{name.split()[0]} {t_peer / np.mean([r[3] for r in rows[name]]):.1f}x"
                    for name in ("knn KL", "knn-gauss KL", "knn-plain KL", "ckdtree KL")
                    if name in rows
                )
                print(f"{'':>12}speed vs universal-divergence (higher = faster): {ratios}")
        print(
            "    (truth: KL {:.5f} ± {:.5f}, JS {:.5f} ± {:.5f}; ± = Monte Carlo error)".format(
                *truth["KL"], *truth["JS"]
            )
        )


if __name__ == "__main__":
    main()
