"""Private helpers of :mod:`~divergences.transport.ot`: options, the solvers, the records."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch

from divergences._pairwise import row_norms
from divergences._validation import to_output, warn_if_overflow
from divergences.transport import _prepare as prep
from divergences.transport._entropic import Solution, solve
from divergences.transport._exact import solve_exact
from divergences.transport._grad import EntropicValue, log_weights
from divergences.transport.plans import EntropicPlan, SparsePlan
from divergences.transport.record import Transport

Tensor = torch.Tensor


def check_p(p: Any) -> float:
    """``p`` as a float >= 1 (the power of the ground cost), else an error naming it."""
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(
            f"p must be a number >= 1 (power of the ground cost), got {type(p).__name__}"
        )
    if not math.isfinite(p) or p < 1:
        raise ValueError(f"p must be a finite number >= 1 (power of the ground cost), got {p!r}")
    return float(p)


def penalties(rho: Any, reach: Any, p: float, required: bool) -> tuple[float, float] | None:
    """``(ρ_x, ρ_y)`` in cost units from ``rho`` or ``reach`` (``inf``: exact marginal)."""
    if rho is not None and reach is not None:
        raise ValueError("give rho or reach, not both (rho = reach**p)")
    name, val = ("rho", rho) if rho is not None else ("reach", reach)
    if val is None:
        if required:
            raise ValueError("method='unbalanced' needs rho (or reach): the marginal penalty")
        return None
    pair = tuple(val) if isinstance(val, (tuple, list)) else (val, val)
    if len(pair) != 2:
        raise ValueError(f"{name} must be a number or a pair (x side, y side), got {val!r}")
    out = []
    for v in pair:
        if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == math.inf):
            out.append(math.inf)
            continue
        v = prep.check_number(v, name, "a marginal penalty; None or inf keeps that marginal")
        out.append(v**p if name == "reach" else v)
    if out[0] == math.inf and out[1] == math.inf:
        raise ValueError(f"{name} keeps both marginals exact; use method='sinkhorn' for that")
    return out[0], out[1]


def entropic_options(batch, p, eps, rho, scaling, tol, max_iter, tile):
    """Per-item temperatures, penalties, schedule and tolerance in rescaled cost units."""
    if not (isinstance(scaling, float) and 0 < scaling < 1):
        raise ValueError(f"scaling must be a float in (0, 1), got {scaling!r}")
    if tol is None:
        tol = 1e-6 if batch.x.dtype == torch.float64 else 1e-4
    else:
        tol = prep.check_number(tol, "tol", "a bound on the L1 marginal error, relative to mass")
    diam = prep.diameters_p(batch.xs, batch.ys, batch.x_len, batch.y_len, p)
    if eps is None:
        eps_s = [1e-3 * d if d > 0 else 1.0 for d in diam]
    else:
        eps = prep.check_number(eps, "eps", "the temperature, in units of the cost ‖x−y‖^p")
        eps_s = prep.scaled(eps, batch.e, p, "eps", "C/eps would overflow")
    dev, dt = batch.x.device, batch.x.dtype
    rx = ry = [math.inf] * len(eps_s)
    if rho is not None:
        rx = (
            [math.inf] * len(eps_s)
            if rho[0] == math.inf
            else prep.scaled(rho[0], batch.e, p, "rho", "a penalty")
        )
        ry = (
            [math.inf] * len(eps_s)
            if rho[1] == math.inf
            else prep.scaled(rho[1], batch.e, p, "rho", "a penalty")
        )
    stages: list[Tensor] = []
    k = 0
    while True:
        cur = [max(d * scaling**k, e) for d, e in zip(diam, eps_s)]
        if all(c <= e for c, e in zip(cur, eps_s)):
            break
        stages.append(torch.tensor(cur, dtype=dt, device=dev))
        k += 1
    mass_b = batch.b.detach().double().sum(-1)
    as_t = lambda v: torch.tensor(v, dtype=dt, device=dev)  # noqa: E731
    return as_t(eps_s), as_t(rx), as_t(ry), stages, tol * mass_b, max_iter, tile, eps_s


def scale_back(batch, p: float) -> Tensor:
    """Per item ``2^(e p)``, float64 ``(B,)``: from rescaled cost units back to the data's."""
    return torch.tensor(
        [prep.pow2(e * p) for e in batch.e], dtype=torch.float64, device=batch.x.device
    )


def solve_entropic(batch, p, opts, symmetric_side: str | None = None) -> Solution:
    """Potentials of ``x`` against ``y``, or of one side against itself (debiasing terms)."""
    eps_t, rx, ry, stages, tol, max_iter, tile, _ = opts
    if symmetric_side is not None:
        xs, w, r = (batch.xs, batch.a, rx) if symmetric_side == "x" else (batch.ys, batch.b, ry)
        lw = log_weights(w.detach())
        # balanced: the averaged symmetric update; unbalanced: the general (translated) one
        sym = not bool(torch.isfinite(r).any())
        return solve(
            xs.detach(),
            xs.detach(),
            lw,
            lw,
            p,
            eps_t,
            r,
            r,
            stages,
            tol=tol,
            max_iter=max_iter,
            tile=tile,
            symmetric=sym,
        )
    return solve(
        batch.xs.detach(),
        batch.ys.detach(),
        log_weights(batch.a.detach()),
        log_weights(batch.b.detach()),
        p,
        eps_t,
        rx,
        ry,
        stages,
        tol=tol,
        max_iter=max_iter,
        tile=tile,
    )


def out(t: Tensor, batch) -> Any:
    return to_output(t if batch.batched else t.squeeze(0), batch.is_numpy)


def _one(v: list, batch) -> Any:
    return v if batch.batched else v[0]


def exact(batch, p: float, tile: int) -> Transport:
    """Exact transport of every item (one at a time) as one record."""
    bsz, n, m = batch.xs.shape[0], batch.xs.shape[1], batch.ys.shape[1]
    dev, dt = batch.x.device, batch.x.dtype
    parts, errs, rounds, solvers = [], [], [], []
    idle_r = torch.full((bsz, n), -1, dtype=torch.int64, device=dev)
    idle_c = torch.full((bsz, m), -1, dtype=torch.int64, device=dev)
    f_all = torch.zeros(bsz, n, dtype=torch.float64, device=dev)
    g_all = torch.zeros(bsz, m, dtype=torch.float64, device=dev)
    for k in range(bsz):
        nl, ml = batch.x_len[k], batch.y_len[k]
        a = batch.a[k, :nl].detach().double()
        b = batch.b[k, :ml].detach().double()
        b = b * (a.sum() / b.sum())  # equal masses to float64 rounding (the LP needs them)
        res = solve_exact(
            batch.xs[k, :nl].detach().double(), batch.ys[k, :ml].detach().double(), a, b, p, tile
        )
        parts.append((torch.full_like(res.rows, k), res.rows, res.cols, res.mass))
        f_all[k, :nl], g_all[k, :ml] = res.f, res.g
        idle_r[k, :nl], idle_c[k, :ml] = res.idle_rows, res.idle_cols
        rm = torch.zeros_like(a).index_add_(0, res.rows, res.mass)
        cm = torch.zeros_like(b).index_add_(0, res.cols, res.mass)
        errs.append(max(float((rm - a).abs().sum()), float((cm - b).abs().sum())))
        rounds.append(res.rounds)
        solvers.append(res.solver)
    item, rows, cols, mass = (torch.cat(t) for t in zip(*parts))
    # the cost from the arcs, differentiable w.r.t. the points (the plan is fixed: Danskin)
    gap = row_norms(batch.xs[item, rows] - batch.ys[item, cols]).double()
    per_arc = mass * (gap * gap if p == 2 else gap**p)
    cost_s = torch.zeros(bsz, dtype=torch.float64, device=dev).index_add(0, item, per_arc)
    if batch.a.requires_grad or batch.b.requires_grad:  # d cost / d weights = potentials
        cost_s = cost_s + ((batch.a - batch.a.detach()).double() * f_all).sum(-1)
        cost_s = cost_s + ((batch.b - batch.b.detach()).double() * g_all).sum(-1)
    scale = scale_back(batch, p)
    cost = (cost_s * scale).to(dt)
    warn_if_overflow(cost, "transport")
    plan = SparsePlan(
        item,
        rows,
        cols,
        (mass * 1.0).to(dt),
        idle_r,
        idle_c,
        (bsz, n, m),
        batch.batched,
        batch.x_len,
        batch.y_len,
    )
    plan._is_numpy = batch.is_numpy
    return Transport(
        cost=out(cost, batch),
        f=out((f_all * scale.view(-1, 1)).to(dt), batch),
        g=out((g_all * scale.view(-1, 1)).to(dt), batch),
        plan=plan,
        marginal_error=_one(errs, batch),
        n_iter=_one(rounds, batch),
        converged=_one([True] * bsz, batch),
        method="exact",
        solver=solvers[0] if len(set(solvers)) == 1 else "mixed",
        p=p,
        _y=batch.y,
        _is_numpy=batch.is_numpy,
        _scale=scale,
    )


def entropic(batch, p, method, rho, opts) -> Transport:
    """Entropic (balanced or unbalanced) transport of the whole batch as one record."""
    eps_t, rx, ry, _, _, _, tile, eps_s = opts
    sol = solve_entropic(batch, p, opts)
    val = EntropicValue.apply(
        batch.xs, batch.ys, batch.a, batch.b, sol.f, sol.g, eps_t, rx, ry, p, tile
    )
    scale = scale_back(batch, p)
    cost = (val * scale).to(batch.x.dtype)
    warn_if_overflow(cost, "transport")
    e = eps_t.view(-1, 1)
    plan = EntropicPlan(
        batch.xs.detach(),
        batch.ys.detach(),
        log_weights(batch.a.detach()),
        log_weights(batch.b.detach()),
        sol.f / e,
        sol.g / e,
        1.0 / eps_t,
        p,
        tile,
        batch.x_len,
        batch.y_len,
        batch.batched,
    )
    plan._is_numpy = batch.is_numpy
    mask_x, mask_y = batch.mask("x"), batch.mask("y")
    sc = scale.view(-1, 1)
    f = torch.where(mask_x, sol.f.double() * sc, 0.0).to(batch.x.dtype)
    g = torch.where(mask_y, sol.g.double() * sc, 0.0).to(batch.x.dtype)
    return Transport(
        cost=out(cost, batch),
        f=out(f, batch),
        g=out(g, batch),
        plan=plan,
        marginal_error=_one(sol.error, batch),
        n_iter=_one(sol.n_iter, batch),
        converged=_one(sol.converged, batch),
        method=method,
        solver="sinkhorn",
        p=p,
        eps=_one([es * float(s) for es, s in zip(eps_s, scale.tolist())], batch),
        rho=rho,
        _y=batch.y,
        _is_numpy=batch.is_numpy,
        _scale=scale,
    )


def rebalanced(batch, method):
    """``batch`` with ``b`` checked against ``a``'s mass and rescaled to it exactly."""
    return replace(batch, b=prep.check_balance(batch.a, batch.b, method))
