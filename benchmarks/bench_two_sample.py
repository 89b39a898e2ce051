"""Benchmark: two_sample_test calibration, power (MMDAgg paper's settings) and speed vs peers.

Three parts, each printing a table (peers measured in the same run, ratios printed):

* ``calibration``: rejection rate at alpha = 0.05 over null draws (x, y ~ N(0, I_d)) for each
  statistic, sizes n = m and dimensions d; the binomial 99 % band of the number of rejections
  is printed next to it.
* ``power``: rejection rates of ``mmd-agg`` and of the median-bandwidth ``mmd`` test on the
  same draws: the perturbed uniform densities of Schrab et al. (JMLR 2023, Section 5: f_θ on
  [0, 1]^d with P bumps per axis, s = 1, c_1 = 2.7, c_2 = 7.3; x from f_θ with a fresh θ per
  draw, y uniform), a Gaussian mean shift and a variance change.
* ``speed``: an MMD test (Gaussian kernel, one fixed bandwidth: the pooled median) with
  ``--permutations`` relabellings at n = m = 2000, d = 50, against
  ``scipy.stats.permutation_test`` on the same statistic (NumPy MMD² recomputed per
  permutation) and ``hyppo.ksample.MMD`` (same kernel through ``gamma``); p-values printed.

Usage (hyppo lives in a separate venv made for benchmarks only):
    /work/venvs/bench-2s/bin/python benchmarks/bench_two_sample.py speed
    /work/venvs/bench-2s/bin/python benchmarks/bench_two_sample.py calibration --draws 1000,400,50
    /work/venvs/bench-2s/bin/python benchmarks/bench_two_sample.py power --reps 60
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import scipy.stats
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages first

from divergences import median_heuristic, two_sample_test


# ---------------------------------------------------------------- perturbed uniform densities
def _bump(t):
    """G of Schrab et al. (Section 5): a smooth bump on (-1, -0.5) minus one on (-0.5, 0)."""
    out = np.zeros_like(t)
    a = (t > -1) & (t < -0.5)
    b = (t > -0.5) & (t < 0)
    out[a] = np.exp(-1 / (1 - (4 * t[a] + 3) ** 2))
    out[b] = -np.exp(-1 / (1 - (4 * t[b] + 1) ** 2))
    return out


def perturbed_uniform(rng, n, d, bumps, c, s=1.0):
    """n draws of f_θ(x) = 1 + c P^-s Σ_ν θ_ν Π_i G(P x_i − ν_i) on [0, 1]^d by rejection."""
    theta = rng.choice([-1.0, 1.0], size=(bumps,) * d)
    amp = c * bumps**-s
    top = 1 + amp * math.exp(-d)
    out = []
    while sum(len(o) for o in out) < n:
        x = rng.uniform(size=(4 * n, d))
        dens = np.ones(len(x))
        pert = np.zeros(len(x))
        for nu in itertools.product(range(1, bumps + 1), repeat=d):
            term = theta[tuple(v - 1 for v in nu)] * np.ones(len(x))
            for i in range(d):
                term = term * _bump(bumps * x[:, i] - nu[i])
            pert += term
        dens += amp * pert
        keep = rng.uniform(0, top, size=len(x)) <= dens
        out.append(x[keep])
    return np.concatenate(out)[:n]


# ---------------------------------------------------------------- calibration
def _seed(*parts) -> int:
    """A seed from names and sizes that is the same in every process (``hash`` is salted)."""
    return zlib.crc32(repr(parts).encode())


def _on(args, a: np.ndarray):
    """``a`` as it is, or as a float64 tensor on ``--device`` (the tests run where the data is)."""
    return a if args.device == "cpu" else torch.tensor(a, device=args.device)


def calibration(args):
    stats = args.statistics.split(",")
    sizes = [int(v) for v in args.sizes.split(",")]
    draws = [int(v) for v in args.draws.split(",")]
    dims = [int(v) for v in args.dims.split(",")]
    opts = {"c2st": {"classifier": "logistic"}}
    print(f"calibration: alpha=0.05, permutations={args.permutations}, ties={args.ties}, "
          "null N(0, I_d)")  # fmt: skip
    print("| statistic | n = m | d | draws | rejections | 99 % band | rate | in band | s/draw |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (n, r), d in itertools.product(stats, zip(sizes, draws), dims):
        if name in ("mmd-agg", "mmd-fuse") and n >= 2000:
            r = max(1, r // args.agg_divisor)
        lo, hi = scipy.stats.binom.interval(0.99, r, 0.05)
        rng = np.random.default_rng(_seed(name, n, d))
        rej, t0 = 0, time.perf_counter()
        for i in range(r):
            x, y = _on(args, rng.normal(size=(n, d))), _on(args, rng.normal(size=(n, d)))
            res = two_sample_test(x, y, name, permutations=args.permutations, alpha=0.05,
                                  generator=torch.Generator().manual_seed(i), ties=args.ties,
                                  **opts.get(name, {}))  # fmt: skip
            rej += res.reject
        dt = (time.perf_counter() - t0) / r
        ok = lo <= rej <= hi
        print(f"| {name} | {n} | {d} | {r} | {rej} | [{lo:.0f}, {hi:.0f}] | {rej / r:.3f} | "
              f"{'yes' if ok else 'NO'} | {dt:.2f} |", flush=True)  # fmt: skip


# ---------------------------------------------------------------- power
PAPER = {  # MMDAgg (laplace_gaussian, 10 bandwidths, uniform weights, B1 = B2 = 2000), 500 reps
    (1, 2): (0.988, 0.988),
    (1, 3): (0.602, 0.62),
    (1, 4): (0.228, 0.23),
    (2, 2): (0.982, 0.984),
    (2, 3): (0.26, 0.262),
}  # (d, P): (wild bootstrap, permutations); computations_mmdagg.ipynb of mmdagg-paper
PAPER_MEDIAN = {(1, 2): 0.812, (1, 3): 0.084, (1, 4): 0.018, (2, 2): 0.132, (2, 3): 0.012}
# median-bandwidth Gaussian MMD test, wild bootstrap, 500 reps: paper/raw/results.csv


def _power_cases(args):
    cases = []
    for d, bumps in ((1, 2), (1, 3), (1, 4), (2, 2), (2, 3)):
        if f"u{d}" not in args.settings:
            continue
        n = 500 if d == 1 else 2000

        def draw(rng, n=n, d=d, bumps=bumps):
            c = 2.7 if d == 1 else 7.3
            return perturbed_uniform(rng, n, d, bumps, c), rng.uniform(size=(n, d))

        cases.append((f"perturbed uniform d={d} P={bumps} n={n}", (d, bumps), draw))
    if "mean" in args.settings:
        cases.append(("Gaussian mean shift d=10 μ=0.4·e1 n=100", None,
                      lambda rng: (rng.normal(size=(100, 10)),
                                   rng.normal(size=(100, 10)) + 0.4 * np.eye(10)[0])))  # fmt: skip
    if "var" in args.settings:
        cases.append(("variance change d=10 σ=1.25 n=100", None,
                      lambda rng: (rng.normal(size=(100, 10)),
                                   1.25 * rng.normal(size=(100, 10)))))  # fmt: skip
    return cases


def power(args):
    tests = args.tests.split(",")
    print(f"power: alpha=0.05, {args.reps} draws per setting, B1 = B2 = {args.permutations}, "
          f"resampling={args.resampling}")  # fmt: skip
    head = " | ".join(f"{t} (ours)" for t in tests)
    print(f"| setting | {head} | paper MMDAgg (wild, perm) | median MMD (ours) | paper median | "
          f"{' | '.join(f'{t} ≥ median' for t in tests)} | s/draw |")  # fmt: skip
    print("|---|" + "---|" * (2 * len(tests) + 4))
    for label, key, draw in _power_cases(args):
        reps = args.reps if key is None or key[0] == 1 else max(1, args.reps // args.d2_divisor)
        rng = np.random.default_rng(_seed(label))
        rej = dict.fromkeys([*tests, "mmd"], 0)
        t0 = time.perf_counter()
        for i in range(reps):
            x, y = (_on(args, a) for a in draw(rng))
            for t in rej:  # the same draws and relabellings for every test
                rej[t] += two_sample_test(x, y, t, permutations=args.permutations,
                                          resampling=args.resampling,
                                          generator=torch.Generator().manual_seed(i)).reject  # fmt: skip
        dt = (time.perf_counter() - t0) / reps
        cells = []
        for t in tests:
            pa = rej[t] / reps
            cells.append(f"{pa:.3f} ± {math.sqrt(max(pa * (1 - pa), 1 / reps) / reps):.3f}")
        paper = PAPER.get(key)
        paper_s = f"{paper[0]:.3f}, {paper[1]:.3f}" if paper else "—"
        pmed = PAPER_MEDIAN.get(key)
        ge = " | ".join("yes" if rej[t] >= rej["mmd"] else "NO" for t in tests)
        print(f"| {label} ({reps} draws) | {' | '.join(cells)} | {paper_s} | "
              f"{rej['mmd'] / reps:.3f} | {pmed if pmed is not None else '—'} | {ge} | "
              f"{dt:.1f} |", flush=True)  # fmt: skip


# ---------------------------------------------------------------- speed
def _np_mmd(x, y, sigma):
    """Unbiased Gaussian MMD² in NumPy (what a scipy user writes), float64."""

    def k(a, b):
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-np.maximum(sq, 0) / (2 * sigma**2))

    n, m = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - n) / (n * (n - 1)) + (kyy.sum() - m) / (m * (m - 1))
            - 2 * kxy.mean())  # fmt: skip


def speed(args):
    n, d, b = args.n, args.d, args.permutations
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    y[:, 0] += args.shift
    sigma = float(median_heuristic(x, y))
    rows = []
    two_sample_test(x[:50], y[:50], "mmd", bandwidth=sigma, permutations=20)  # warm-up
    t0 = time.perf_counter()
    ours = two_sample_test(x, y, "mmd", bandwidth=sigma, permutations=b)
    rows.append(("ours (torch, CPU)", time.perf_counter() - t0, ours.p_value))
    print(rows[-1], flush=True)
    if torch.cuda.is_available():
        xc, yc = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda")
        two_sample_test(xc, yc, "mmd", bandwidth=sigma, permutations=b)  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        r = two_sample_test(xc, yc, "mmd", bandwidth=sigma, permutations=b)
        torch.cuda.synchronize()
        rows.append(("ours (torch, CUDA)", time.perf_counter() - t0, r.p_value))
    try:
        from hyppo.ksample import MMD

        MMD(compute_kernel="gaussian").test(x[:30], y[:30], reps=20, auto=False)  # numba JIT
        hb = args.hyppo_permutations
        test = MMD(compute_kernel="gaussian", gamma=1 / (2 * sigma**2)).test
        times = []
        for reps in (2, hb) if hb < b else (hb,):  # fixed cost + per-permutation cost
            t0 = time.perf_counter()
            _, p = test(x, y, reps=reps, workers=args.workers, auto=False, random_state=0)
            times.append(time.perf_counter() - t0)
        dt = times[-1] if hb >= b else times[0] + (times[1] - times[0]) * (b - 2) / (hb - 2)
        label = f"hyppo MMD (workers={args.workers}" + (
            f", {hb} reps, extrapolated to {b})" if hb < b else ")"
        )
        rows.append((label, dt, p))
        print(rows[-1], flush=True)
    except ImportError:
        print("hyppo not installed: skipped")
    sb = args.scipy_permutations
    t0 = time.perf_counter()
    z = np.concatenate([x, y])  # scipy permutes 1-D samples: permute row indices into z
    res = scipy.stats.permutation_test(
        (np.arange(n), np.arange(n, 2 * n)),
        lambda a, c: _np_mmd(z[a.astype(int)], z[c.astype(int)], sigma),
        permutation_type="independent", n_resamples=sb, alternative="greater",
        vectorized=False, random_state=0,
    )  # fmt: skip
    dt = time.perf_counter() - t0
    rows.append((f"scipy.stats.permutation_test ({sb} resamples, time ×{b}/{sb})", dt * b / sb,
                 res.pvalue))  # fmt: skip
    print(f"speed: MMD test, Gaussian kernel σ = {sigma:.4f} (pooled median), n = m = {n}, "
          f"d = {d}, {b} permutations, shift {args.shift} on one axis; torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip
    print("| implementation | seconds | ours is × faster | p-value |")
    print("|---|---|---|---|")
    base = rows[0][1]
    for name, sec, p in rows:
        print(f"| {name} | {sec:.2f} | {sec / base:.1f} | {p:.4f} |")
    print(f"Monte Carlo sd of a p-value near {ours.p_value:.3f} with {b} permutations: "
          f"{math.sqrt(ours.p_value * (1 - ours.p_value) / b):.4f}")  # fmt: skip


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="part", required=True)
    ca = sub.add_parser("calibration")
    ca.add_argument("--statistics", default="mmd,energy,mmd-agg,mmd-fuse,knn,chamfer,"
                    "wasserstein,c2st")  # fmt: skip
    ca.add_argument("--sizes", default="20,200,2000")
    ca.add_argument("--draws", default="1000,400,50", help="null draws per size")
    ca.add_argument("--dims", default="1,50")
    ca.add_argument("--permutations", type=int, default=99)
    ca.add_argument("--agg-divisor", type=int, default=5, help="fewer draws for mmd-agg/fuse")
    ca.add_argument("--ties", default="conservative", help="conservative or randomize")
    po = sub.add_parser("power")
    po.add_argument("--reps", type=int, default=60)
    po.add_argument("--permutations", type=int, default=500)
    po.add_argument("--resampling", default="wild")
    po.add_argument("--settings", default="u1,u2,mean,var")
    po.add_argument("--d2-divisor", type=int, default=3, help="fewer draws at d = 2 (n = 2000)")
    po.add_argument("--tests", default="mmd-agg", help="tests compared with the median MMD")
    sp = sub.add_parser("speed")
    sp.add_argument("--n", type=int, default=2000)
    sp.add_argument("--d", type=int, default=50)
    sp.add_argument("--permutations", type=int, default=1000)
    sp.add_argument("--scipy-permutations", type=int, default=100, help="time scaled to B")
    sp.add_argument("--hyppo-permutations", type=int, default=1000, help="time scaled to B")
    sp.add_argument("--shift", type=float, default=0.06)
    sp.add_argument("--workers", type=int, default=1)
    for p in (ca, po, sp):
        p.add_argument("--threads", type=int, default=None)
    for p in (ca, po):
        p.add_argument("--device", default="cpu", help="where the samples live (e.g. cuda)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    {"calibration": calibration, "power": power, "speed": speed}[args.part](args)


if __name__ == "__main__":
    main()
