"""Optimal transport with plans: dv.transport vs POT and geomloss, in one run.

Run with a Python that has POT and geomloss next to this checkout's dependencies (a separate
venv: `python -m venv --system-site-packages /work/venvs/bench-ot`, `pip install pot geomloss`):

    PYTHONPATH=$PWD /work/venvs/bench-ot/bin/python benchmarks/bench_transport.py --sinkhorn
    PYTHONPATH=$PWD /work/venvs/bench-ot/bin/python benchmarks/bench_transport.py --exact
    PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/bench_transport.py --memory

Sections:
  --sinkhorn  N = M (default 10,000), d = 3, float64, one ε for all: a tight reference
              (ours, tol 1e-10), ours at --tol, geomloss (tensorized; online if pykeops imports)
              at the scalings asked for, POT's sinkhorn2 with stopThr = tol/sqrt(N). Conventions:
              geomloss's cost is |x−y|²/2 and its ε is blur², so ours = 2·geomloss with
              blur = sqrt(ε/2); POT's reg = ε on the cost |x−y|² and sinkhorn2 returns ⟨π, C⟩,
              compared with our record's transport_cost(). Times include every peer's cost
              matrix.
  --exact     N = 2000, M = 1500, d = 3, random weights (and uniform ones): POT's emd2 (cost
              matrix included) vs ours, costs compared to 1e-9.
  --memory    peak RSS of entropic transport at N = M = 100,000, d = 3, in a fresh subprocess,
              next to a subprocess that imports the same libraries and builds the same inputs.
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
import time

import numpy as np
import torch

import divergences as dv


def _header(threads: int) -> None:
    import scipy

    print(
        f"# torch {torch.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"python {platform.python_version()}, torch threads {threads}"
    )


def _timed(fn, repeats: int = 1):
    best, out = math.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _row(name: str, t: float, t_ref: float, val: float, ref: float, extra: str = "") -> None:
    rel = abs(val - ref) / abs(ref)
    print(f"| {name:<42} | {t:9.2f} | {t / t_ref:7.2f} | {val:.12g} | {rel:8.1e} | {extra}")


def bench_sinkhorn(
    n: int, eps: float, tol: float, pot_iter: int, scalings: dict, pot_thr: list, peers: bool
) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, generator=g, dtype=torch.float64)
    y = torch.rand(n, 3, generator=g, dtype=torch.float64) * 0.8 + 0.3
    print(f"\n## Sinkhorn, N = M = {n}, d = 3, float64, eps = {eps} (cost |x-y|^2), tol = {tol}")
    t_ref, ref = _timed(
        lambda: dv.transport(x, y, method="sinkhorn", eps=eps, tol=1e-10, max_iter=20000)
    )
    ref_cost, ref_lin = float(ref.cost), float(ref.transport_cost())
    print(
        f"reference: ours at tol 1e-10: {ref.n_iter} updates, {t_ref:.1f} s, cost {ref_cost!r}, "
        f"<pi, C> {ref_lin!r}"
    )
    print("| implementation | time (s) | peer time / ours | cost | rel. diff vs reference | notes")
    print("|---|---|---|---|---|---")
    t_ours, ours = _timed(lambda: dv.transport(x, y, method="sinkhorn", eps=eps, tol=tol))
    rows = ours.plan.row_sums() - 1.0 / n
    cols = ours.plan.T @ torch.ones(n, dtype=torch.float64) - 1.0 / n
    marg = f"{ours.n_iter} updates; marginal L1 errors {float(rows.abs().sum()):.1e} (rows), "
    marg += f"{float(cols.abs().sum()):.1e} (cols)"
    _row("dv.transport sinkhorn", t_ours, t_ours, float(ours.cost), ref_cost, marg)
    t_lin, lin = _timed(lambda: float(ours.transport_cost()))
    _row(
        "  same plan's <pi, C> (transport_cost())",
        t_lin,
        t_ours,
        lin,
        ref_lin,
        "one more blocked pass; compare with POT's sinkhorn2",
    )
    if not peers:
        return
    try:
        from geomloss import SamplesLoss

        backends = ["tensorized"]
        try:
            import pykeops  # noqa: F401

            backends.append("online")
        except ImportError:
            print("(pykeops not installed: geomloss's online backend skipped)")
        blur = math.sqrt(eps / 2)
        for backend in backends:
            if backend == "online":  # KeOps compiles each formula once: not timed
                warm = SamplesLoss("sinkhorn", p=2, blur=blur, debias=False, backend=backend)
                warm(x[:100], y[:100])
            for s in scalings[backend]:
                loss = SamplesLoss(
                    "sinkhorn", p=2, blur=blur, scaling=s, debias=False, backend=backend
                )
                t, v = _timed(lambda loss=loss: float(loss(x, y)))
                _row(
                    f"geomloss {backend}, scaling {s}",
                    t,
                    t_ours,
                    2 * v,
                    ref_cost,
                    "its epsilon-scaling stops at the target eps without a tolerance",
                )
    except ImportError:
        print("(geomloss not installed)")
    try:
        import ot

        xn, yn = x.numpy(), y.numpy()
        w = np.full(n, 1.0 / n)

        # POT stops on the L2 column error: L2 <= tol/sqrt(n) implies L1 <= tol (equal tolerance)
        for thr in pot_thr or [tol / math.sqrt(n)]:

            def pot(thr=thr):
                m = ot.dist(xn, yn)
                return ot.sinkhorn2(
                    w, w, m, eps, method="sinkhorn", stopThr=thr, numItermax=pot_iter, log=True
                )

            t, (v, log) = _timed(pot)
            its = len(log.get("err", [])) * 10
            _row(
                f"POT sinkhorn2 (<pi, C>), stopThr {thr:.0e}",
                t,
                t_ours,
                float(v),
                ref_lin,
                f"about {its} iterations (stopThr on the L2 column error); compared with the "
                "reference's <pi, C>",
            )
    except ImportError:
        print("(POT not installed)")


def bench_exact(n: int, m: int, repeats: int) -> None:
    import ot

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = rng.normal(size=(m, 3)) + 0.5
    for kind in ("random weights", "uniform weights"):
        if kind == "random weights":
            a, b = rng.random(n), rng.random(m)
            a, b = a / a.sum(), b / b.sum()
        else:
            a, b = np.full(n, 1 / n), np.full(m, 1 / m)
        print(f"\n## Exact transport, N = {n}, M = {m}, d = 3, {kind}, float64")
        t_pot, ref = _timed(
            lambda a=a, b=b: ot.emd2(a, b, ot.dist(x, y), numItermax=10**8), repeats
        )
        t_ours, res = _timed(lambda a=a, b=b: dv.transport(x, y, a=a, b=b), repeats)
        print("| implementation | time (s) | ours/POT time | cost | abs diff |")
        print("|---|---|---|---|---|")
        print(f"| POT emd2 (C++ network simplex) | {t_pot:.2f} | 1.00 | {ref!r} | 0 |")
        print(
            f"| dv.transport exact ({res.solver}, {res.n_iter} rounds) | {t_ours:.2f} | "
            f"{t_ours / t_pot:.2f} | {res.cost!r} | {abs(res.cost - ref):.1e} |"
        )


MEM_CODE = """
import resource, torch, sys
n = {n}
g = torch.Generator().manual_seed(0)
x = torch.rand(n, 3, generator=g, dtype=torch.float{bits})
y = torch.rand(n, 3, generator=g, dtype=torch.float{bits})
import divergences as dv  # the baseline imports the same libraries
if {solve}:
    t = dv.transport(x, y, method="sinkhorn", eps={eps}, tol={tol}, max_iter={iters})
    print("cost", float(t.cost), "updates", t.n_iter, file=sys.stderr)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(n: int, eps: float, iters: int, bits: int) -> None:
    print(f"\n## Peak resident memory, entropic, N = M = {n}, d = 3, float{bits}")
    out = {}
    for solve in (False, True):
        code = MEM_CODE.format(n=n, bits=bits, solve=solve, eps=eps, tol=1e-3, iters=iters)
        t = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        out[solve] = int(res.stdout.strip().splitlines()[-1]) / 1024
        print(
            f"{'transport' if solve else 'inputs only'}: peak RSS {out[solve]:.0f} MiB "
            f"({time.perf_counter() - t:.0f} s) {res.stderr.strip()}"
        )
    print(
        f"transport minus inputs: {out[True] - out[False]:.0f} MiB; a dense {n} x {n} float{bits} "
        f"matrix would be {n * n * bits / 8 / 2**20:.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sinkhorn", action="store_true")
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--n", type=int, default=10_000, help="points per set (--sinkhorn)")
    ap.add_argument("--eps", default="0.01", help="temperatures, comma-separated (--sinkhorn)")
    ap.add_argument("--tensorized-scalings", default="0.5,0.9", help="geomloss tensorized runs")
    ap.add_argument("--online-scalings", default="0.5,0.9,0.97", help="geomloss online runs")
    ap.add_argument("--tol", type=float, default=1e-3, help="L1 marginal tolerance (--sinkhorn)")
    ap.add_argument("--pot-iter", type=int, default=20_000, help="POT's numItermax")
    ap.add_argument("--pot-thr", default="", help="POT stopThr values (default tol/sqrt(N))")
    ap.add_argument("--no-peers", dest="peers", action="store_false", help="ours only (--sinkhorn)")
    ap.add_argument("--repeats", type=int, default=3, help="best of (--exact)")
    ap.add_argument("--mem-n", type=int, default=100_000)
    ap.add_argument("--mem-iter", type=int, default=3, help="updates at the target (--memory)")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: other jobs share this machine's 2 cores)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _header(args.threads)
    if args.sinkhorn:
        scalings = {
            "tensorized": [float(v) for v in args.tensorized_scalings.split(",") if v],
            "online": [float(v) for v in args.online_scalings.split(",") if v],
        }
        for eps in (float(v) for v in args.eps.split(",")):
            pot_thr = [float(v) for v in args.pot_thr.split(",") if v]
            bench_sinkhorn(args.n, eps, args.tol, args.pot_iter, scalings, pot_thr, args.peers)
    if args.exact:
        bench_exact(2000, 1500, args.repeats)
    if args.memory:
        bench_memory(args.mem_n, 1.0, args.mem_iter, 64)
    print(
        f"# load average at the end: {' '.join(f'{v:.1f}' for v in __import__('os').getloadavg())}"
    )


if __name__ == "__main__":
    main()
