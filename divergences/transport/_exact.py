"""Exact optimal transport between weighted point sets: plan and dual potentials.

Private helper of :mod:`divergences.transport`; one item at a time, float64, on data that are
centred and rescaled (max-abs in [1/2, 1)). Three exact solvers, each returning a sparse plan
and dual potentials ``f, g`` with ``f_i + g_j ≤ C_ij`` for all pairs (equality on the plan):

* D = 1: the monotone (north-west corner) coupling of the sorted points, the closed form
  (Monge costs ``|x − y|^p``, p ≥ 1); its potentials by a cumulative sum along the staircase.
* uniform weights, N = M ≤ min(``ASSIGNMENT_MAX``, tile): ``linear_sum_assignment`` on the dense
  cost; the potentials by Bellman–Ford sweeps over the dense cost (a fixed point is a proof).
* otherwise, column generation on the transportation linear program: HiGHS (scipy's
  ``linprog``, dual simplex) solves the problem restricted to a sparse set of arcs, then one
  blocked pass over all N × M pairs prices the reduced costs ``C_ij − f_i − g_j``; the most
  negative ones join the set until none is below ``−DUAL_TOL``. The final pass is an
  optimality certificate for the whole problem (LP duality).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from divergences._pairwise import cost_matrix, row_norms
from divergences.transport._tiles import block_shape

Tensor = torch.Tensor

ASSIGNMENT_MAX = 2048
# reduced costs above -DUAL_TOL (rescaled cost units, max cost ~1) count as non-negative;
# HiGHS's own feasibility tolerances are set ten times tighter
DUAL_TOL = 1e-9
HIGHS_TOL = 1e-10
K_INIT = 3  # cheapest arcs per row and per column in the first restricted problem
K_ADD = 3  # most negative reduced costs per row and per column added each round
INIT_EPS, INIT_TOL, INIT_ITER = 3e-3, 1e-4, 50  # the rough entropic start (float32)
MAX_ROUNDS = 200
BF_SWEEPS = 100  # Bellman–Ford sweeps for the potentials of an assignment


@dataclass(frozen=True)
class ExactPlan:
    """Arcs ``(rows, cols, mass)`` and potentials of one item, float64 (scaled cost units)."""

    rows: Tensor
    cols: Tensor
    mass: Tensor
    f: Tensor
    g: Tensor
    idle_rows: Tensor  # for rows without mass, argmin_j C_ij − g_j (else -1)
    idle_cols: Tensor
    rounds: int
    solver: str


def _scan(x, y, f, g, p, tile, k, thresh):
    """Blocked pass over all pairs: the ``k`` smallest reduced costs per row and per column.

    Returns ``(rows, cols)`` of those below ``thresh`` and the smallest reduced cost.
    """
    n, m = x.shape[0], y.shape[0]
    step = block_shape(m, tile)[0]
    kr, kc = min(k, m), min(k, n)
    out_r, out_c = [], []
    best_v = torch.full((0, m), math.inf, dtype=x.dtype, device=x.device)
    best_i = torch.zeros((0, m), dtype=torch.int64, device=x.device)
    low = math.inf
    for i0 in range(0, n, step):
        r = cost_matrix(x[i0 : i0 + step], y, p) - f[i0 : i0 + step, None] - g[None, :]
        low = min(low, float(r.min()))
        v, j = torch.topk(r, kr, dim=1, largest=False)
        sel = v < thresh
        out_r.append((torch.arange(r.shape[0], device=x.device) + i0).view(-1, 1).expand_as(j)[sel])
        out_c.append(j[sel])
        vc, ic = torch.topk(r, min(kc, r.shape[0]), dim=0, largest=False)
        best_v, pos = torch.topk(
            torch.cat([best_v, vc]), min(kc, best_v.shape[0] + vc.shape[0]), dim=0, largest=False
        )
        best_i = torch.gather(torch.cat([best_i, ic + i0]), 0, pos)
    sel = best_v < thresh
    cols = torch.arange(m, device=x.device).view(1, -1).expand_as(best_i)
    rows = torch.cat([*out_r, best_i[sel]])
    cols = torch.cat([*out_c, cols[sel]])
    return rows, cols, low


def _c_transform(x, y, g, p, tile):
    """``(min_j C_ij − g_j, argmin_j)`` for every row of ``x``, blocked."""
    vals, idx = [], []
    step = block_shape(y.shape[0], tile)[0]
    for i0 in range(0, x.shape[0], step):
        v, j = (cost_matrix(x[i0 : i0 + step], y, p) - g[None, :]).min(1)
        vals.append(v)
        idx.append(j)
    return torch.cat(vals), torch.cat(idx)


def _arc_costs(x, y, rows, cols, p):
    c = row_norms(x[rows] - y[cols])
    return c * c if p == 2 else c**p


def _nw_corner(ox, oy, a, b):
    """North-west corner coupling of the points in orders ``ox``, ``oy`` (a feasible plan)."""
    ca, cb = torch.cumsum(a[ox], 0), torch.cumsum(b[oy], 0)
    top = torch.maximum(ca[-1], cb[-1])
    ca[-1] = cb[-1] = top
    t = torch.unique(torch.cat([ca, cb]))
    dt = torch.diff(t, prepend=t.new_zeros(1))
    i = torch.searchsorted(ca, t).clamp_max(len(ox) - 1)
    j = torch.searchsorted(cb, t).clamp_max(len(oy) - 1)
    keep = dt > 0
    return i[keep], j[keep], dt[keep]


def _plan_1d(x, y, a, b, p):
    ox, oy = torch.argsort(x[:, 0], stable=True), torch.argsort(y[:, 0], stable=True)
    i, j, mass = _nw_corner(ox, oy, a, b)
    c = _arc_costs(x, y, ox[i], oy[j], p)
    # u_k = f at the row of arc k: unchanged along a row, else C_k - C(row_{k-1}, col_k)
    bridge = _arc_costs(x, y, ox[i[:-1]], oy[j[1:]], p)
    inc = torch.where(i[1:] == i[:-1], 0.0, c[1:] - bridge)
    u = torch.cat([c.new_zeros(1), torch.cumsum(inc, 0)])
    f = torch.zeros(len(a), dtype=x.dtype, device=x.device)
    g = torch.zeros(len(b), dtype=x.dtype, device=x.device)
    f[ox[i]] = u
    g[oy[j]] = c - u
    return ox[i], oy[j], mass, f, g


def _assignment(x, y, a, p):
    from scipy.optimize import linear_sum_assignment  # lazy: keeps `import divergences` light

    c = cost_matrix(x, y, p)
    r, s = linear_sum_assignment(c.cpu().numpy())
    rows = torch.as_tensor(r, device=x.device)
    cols = torch.as_tensor(s, device=x.device)
    matched = c[rows, cols]
    f = torch.zeros_like(a)
    tol = 1e-14 * float(c.max())
    for _ in range(min(len(a) + 1, BF_SWEEPS)):
        g = torch.empty_like(f)
        g[cols] = matched - f[rows]
        f_new = (c - g[None, :]).min(1).values
        moved = float((f - f_new).max())
        f = f_new
        if moved <= tol:
            g[cols] = matched - f[rows]
            return rows, cols, a[rows], f, g
    return None  # no fixed point yet (long paths or rounding): the caller uses the LP


class _Restricted:
    """The transportation LP on a growing set of arcs, solved by HiGHS.

    HiGHS keeps its basis between solves when scipy exposes its ``Highs`` object (a private
    module, ``scipy.optimize._highspy``): new arcs enter a warm start. Otherwise every round is
    a cold ``scipy.optimize.linprog`` solve of the same problem (same answer, slower).
    """

    def __init__(self, a: Tensor, b: Tensor):
        self.n, self.m = len(a), len(b)
        self.rhs = torch.cat([a, b]).cpu().numpy()
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.costs: list[np.ndarray] = []
        self.highs = _new_highs()

    def _block(self, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.empty(2 * len(r), dtype=np.int32)
        idx[0::2], idx[1::2] = r, self.n + c
        return np.arange(0, 2 * len(r), 2, dtype=np.int32), idx

    def add(self, rows: Tensor, cols: Tensor, costs: Tensor) -> None:
        r, c, w = rows.cpu().numpy(), cols.cpu().numpy(), costs.cpu().numpy()
        self.rows.append(r)
        self.cols.append(c)
        self.costs.append(w)
        if self.highs is None:
            return
        k = len(r)
        start, idx = self._block(r, c)
        lo, hi = np.zeros(k), np.full(k, np.inf)
        if self.highs.getNumRow() == 0:
            nr = len(self.rhs)
            self.highs.addRows(
                nr,
                self.rhs,
                self.rhs,
                0,
                np.zeros(nr, np.int32),
                np.zeros(0, np.int32),
                np.zeros(0),
            )
        self.highs.addCols(k, w, lo, hi, 2 * k, start, idx, np.ones(2 * k))

    def solve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mass of every arc, duals (n + m,))``."""
        if self.highs is not None:
            self.highs.run()
            status = self.highs.modelStatusToString(self.highs.getModelStatus())
            if status != "Optimal":
                raise RuntimeError(f"exact transport: HiGHS ended with status {status!r}")
            sol = self.highs.getSolution()
            return np.asarray(sol.col_value), np.asarray(sol.row_dual)
        import scipy.sparse as sp  # lazy, as above
        from scipy.optimize import linprog

        r, c = np.concatenate(self.rows), np.concatenate(self.cols)
        k = len(r)
        arc = np.arange(k)
        eq = sp.csc_matrix(
            (np.ones(2 * k), (np.concatenate([r, self.n + c]), np.concatenate([arc, arc]))),
            shape=(self.n + self.m, k),
        )
        opts = {"primal_feasibility_tolerance": HIGHS_TOL, "dual_feasibility_tolerance": HIGHS_TOL}
        res = linprog(
            np.concatenate(self.costs),
            A_eq=eq,
            b_eq=self.rhs,
            bounds=(0, None),
            method="highs-ds",
            options=opts,
        )
        if res.status != 0:
            raise RuntimeError(f"exact transport: HiGHS failed: {res.message}")
        return res.x, res.eqlin.marginals


HIGHS_OPTIONS: dict = {}
USE_HIGHS_OBJECT = True  # tests switch the cold-start path on


def _new_highs():
    if not USE_HIGHS_OBJECT:
        return None
    try:
        from scipy.optimize._highspy import _core
    except ImportError:  # pragma: no cover - depends on the scipy build
        return None
    h = _core._Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("primal_feasibility_tolerance", HIGHS_TOL)
    h.setOptionValue("dual_feasibility_tolerance", HIGHS_TOL)
    for k, v in HIGHS_OPTIONS.items():
        h.setOptionValue(k, v)
    return h


def _keys(rows, cols, m):
    return torch.unique(rows * m + cols)


def _initial_potentials(x, y, a, b, p, tile):
    """Rough potentials from a short float32 entropic solve (ε a fraction of the largest cost)."""
    from divergences.transport._entropic import solve
    from divergences.transport._grad import log_weights

    z = torch.cat([x, y])
    diam_p = float((z.max(0).values - z.min(0).values).norm()) ** p
    if diam_p == 0:
        return torch.zeros_like(a), torch.zeros_like(b)
    eps = INIT_EPS * diam_p
    stages = []
    e = diam_p
    dt = torch.float32
    while e > eps:
        stages.append(torch.tensor([e], dtype=dt, device=x.device))
        e *= 0.5
    inf = torch.tensor([math.inf], dtype=dt, device=x.device)
    one = torch.tensor([eps], dtype=dt, device=x.device)
    la, lb = log_weights(a[None].to(dt)), log_weights(b[None].to(dt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a rough solve is all this needs
        sol = solve(
            x[None].to(dt),
            y[None].to(dt),
            la,
            lb,
            p,
            one,
            inf,
            inf,
            stages,
            tol=INIT_TOL * a.sum().view(1),
            max_iter=INIT_ITER,
            tile=tile,
        )
    return sol.f[0].to(x.dtype), sol.g[0].to(x.dtype)


def _lp(x, y, a, b, p, tile):
    n, m = len(a), len(b)
    z = torch.cat([x, y])
    axis = torch.linalg.eigh(torch.cov(z.T).reshape(z.shape[1], z.shape[1]))[1][:, -1]
    ox, oy = torch.argsort(x @ axis), torch.argsort(y @ axis)
    i, j, _ = _nw_corner(ox, oy, a, b)
    f0, g0 = _initial_potentials(x, y, a, b, p, tile)
    r0, c0, _ = _scan(x, y, f0, g0, p, tile, K_INIT, math.inf)
    keys = _keys(torch.cat([ox[i], r0]), torch.cat([oy[j], c0]), m)
    lp = _Restricted(a, b)
    lp.add(keys // m, keys % m, _arc_costs(x, y, keys // m, keys % m, p))
    low = math.nan
    for rounds in range(1, MAX_ROUNDS + 1):
        mass_np, dual_np = lp.solve()
        dual = torch.as_tensor(dual_np, dtype=x.dtype, device=x.device)
        f, g = dual[:n], dual[n:]
        r1, c1, low = _scan(x, y, f, g, p, tile, K_ADD, -DUAL_TOL)
        new = r1 * m + c1
        pos = torch.searchsorted(keys, new).clamp_max(len(keys) - 1)
        new = torch.unique(new[keys[pos] != new])
        if new.numel() == 0:
            rows = torch.as_tensor(np.concatenate(lp.rows), device=x.device)
            cols = torch.as_tensor(np.concatenate(lp.cols), device=x.device)
            mass = torch.as_tensor(mass_np, dtype=x.dtype, device=x.device)
            keep = mass > 0
            return rows[keep], cols[keep], mass[keep], f, g, rounds
        keys = torch.unique(torch.cat([keys, new]))
        lp.add(new // m, new % m, _arc_costs(x, y, new // m, new % m, p))
    raise RuntimeError(
        f"exact transport: no optimality certificate after {MAX_ROUNDS} rounds of column "
        f"generation (smallest reduced cost {low:.3g}); please report this problem"
    )


def solve_exact(x: Tensor, y: Tensor, a: Tensor, b: Tensor, p: float, tile: int) -> ExactPlan:
    """Exact transport of one item (float64 inputs ``(n, D)``, ``(m, D)``, masses equal)."""
    ia, jb = (a > 0).nonzero().squeeze(1), (b > 0).nonzero().squeeze(1)
    xa, yb, ap, bp = x[ia], y[jb], a[ia], b[jb]
    rounds, solver = 0, "lp"
    out = None
    if x.shape[1] == 1:
        out, solver = _plan_1d(xa, yb, ap, bp, p), "1d"
    elif (
        len(ap) == len(bp) <= min(ASSIGNMENT_MAX, tile)
        and bool((ap == ap[0]).all())
        and bool((bp == ap[0]).all())
    ):
        out, solver = _assignment(xa, yb, ap, p), "assignment"
    if out is None:
        *out5, rounds = _lp(xa, yb, ap, bp, p, tile)
        out, solver = tuple(out5), "lp"
    rows, cols, mass, fp, gp = out
    # potentials of weightless points by c-transforms: feasible for every pair
    f = torch.zeros(len(a), dtype=x.dtype, device=x.device)
    g = torch.zeros(len(b), dtype=x.dtype, device=x.device)
    f[ia], g[jb] = fp, gp
    idle_r = torch.full((len(a),), -1, dtype=torch.int64, device=x.device)
    idle_c = torch.full((len(b),), -1, dtype=torch.int64, device=x.device)
    za = (a <= 0).nonzero().squeeze(1)
    if za.numel():
        f[za], _ = _c_transform(x[za], yb, gp, p, tile)
    zb = (b <= 0).nonzero().squeeze(1)
    if zb.numel():
        g[zb], _ = _c_transform(y[zb], x, f, p, tile)
    if za.numel():
        idle_r[za] = _c_transform(x[za], y, g, p, tile)[1]
    if zb.numel():
        idle_c[zb] = _c_transform(y[zb], x, f, p, tile)[1]
    # f + c, g − c is the same solution: split the dual value evenly
    shift = ((a * f).sum() - (b * g).sum()) / (2 * a.sum())
    return ExactPlan(ia[rows], jb[cols], mass, f - shift, g + shift, idle_r, idle_c, rounds, solver)
