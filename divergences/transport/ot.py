"""Optimal transport with its plan and potentials: exact, entropic, unbalanced, batched.

:func:`transport` solves one problem (``(N, D)``, ``(M, D)``) or a batch (``(B, N, D)``,
``(B, M, D)`` with lengths) and returns a :class:`~divergences.transport.Transport` record;
:func:`unbalanced_sinkhorn_divergence` is the debiased divergence built on the same solver.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from divergences._pairwise import DEFAULT_TILE, row_norms
from divergences._typing import pair_typed
from divergences._validation import check_choice, check_positive_int, to_output, warn_if_overflow
from divergences.transport import _prepare as prep
from divergences.transport._entropic import Solution, solve
from divergences.transport._exact import solve_exact
from divergences.transport._grad import EntropicValue, log_weights
from divergences.transport.plans import EntropicPlan, SparsePlan
from divergences.transport.record import Transport

__all__ = ["transport", "unbalanced_sinkhorn_divergence"]

Tensor = torch.Tensor
METHODS = ("exact", "sinkhorn", "unbalanced")


def _check_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(
            f"p must be a number >= 1 (power of the ground cost), got {type(p).__name__}"
        )
    if not math.isfinite(p) or p < 1:
        raise ValueError(f"p must be a finite number >= 1 (power of the ground cost), got {p!r}")
    return float(p)


def _penalties(rho: Any, reach: Any, p: float, required: bool) -> tuple[float, float] | None:
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


def _entropic_options(batch, p, eps, rho, scaling, tol, max_iter, tile):
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


def _scale(batch, p: float) -> Tensor:
    return torch.tensor(
        [prep.pow2(e * p) for e in batch.e], dtype=torch.float64, device=batch.x.device
    )


def _solve_entropic(batch, p, opts, symmetric_side: str | None = None) -> Solution:
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


def _out(t: Tensor, batch) -> Any:
    return to_output(t if batch.batched else t.squeeze(0), batch.is_numpy)


def _one(v: list, batch) -> Any:
    return v if batch.batched else v[0]


def _exact(batch, p: float, tile: int) -> Transport:
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
    scale = _scale(batch, p)
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
        cost=_out(cost, batch),
        f=_out((f_all * scale.view(-1, 1)).to(dt), batch),
        g=_out((g_all * scale.view(-1, 1)).to(dt), batch),
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


def _entropic(batch, p, method, rho, opts) -> Transport:
    eps_t, rx, ry, _, _, _, tile, eps_s = opts
    sol = _solve_entropic(batch, p, opts)
    val = EntropicValue.apply(
        batch.xs, batch.ys, batch.a, batch.b, sol.f, sol.g, eps_t, rx, ry, p, tile
    )
    scale = _scale(batch, p)
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
        cost=_out(cost, batch),
        f=_out(f, batch),
        g=_out(g, batch),
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


def transport(
    x: Any,
    y: Any,
    *,
    a: Any = None,
    b: Any = None,
    method: str = "exact",
    p: float = 2,
    eps: float | None = None,
    rho: Any = None,
    reach: Any = None,
    x_lengths: Any = None,
    y_lengths: Any = None,
    scaling: float = 0.5,
    tol: float | None = None,
    max_iter: int = 1000,
    tile: int = DEFAULT_TILE,
) -> Transport:
    r"""Optimal transport between two weighted point sets, with its plan and potentials.

    .. math:: \min_{\pi \ge 0,\ \pi 1 = a,\ \pi^\top 1 = b} \textstyle\sum_{ij} \pi_{ij}
        \|x_i - y_j\|_2^p \;[+\, \varepsilon\,\mathrm{KL}(\pi \,\|\, a \otimes b)]

    Methods:
    * ``"exact"``: the linear program, solved exactly for any sizes and weights (masses
      equal): the monotone coupling in 1-D, ``linear_sum_assignment`` for uniform weights and
      N = M ≤ 2048, otherwise column generation with HiGHS and an optimality certificate over
      all N × M pairs (see ``divergences.transport._exact``). Memory O(tile² + N + M + arcs);
      time grows with the number of rounds (a few HiGHS solves and one pass over all pairs each).
    * ``"sinkhorn"``: entropic transport, log-domain Sinkhorn with ε-scaling (one update per
      stage from ``diam^p`` by factors ``scaling``, then up to ``max_iter`` updates until the L1
      marginal error is ``≤ tol·Σb``). The cost is ``OT_ε = ⟨π, C⟩ + ε KL(π ‖ a⊗b)`` (with the
      generalised KL ``Σ π log(π/(a⊗b)) − m(π) + m(a)m(b)``).
    * ``"unbalanced"``: ``OT_{ε,ρ} = min_π ⟨π, C⟩ + ε KL(π ‖ a⊗b) + ρ_x KL(π1 ‖ a) +
      ρ_y KL(πᵀ1 ‖ b)`` (Chizat et al. 2018; Séjourné et al. 2019): masses may differ; a pair
      ``rho=(ρ_x, None)`` keeps the column marginal exact (semi-relaxed).

    Args:
        x: ``(N, D)`` points, or a batch ``(B, N, D)``.
        y: ``(M, D)`` points, or ``(B, M, D)``.
        a: ``(N,)`` (``(B, N)``) non-negative weights of x; default ``1/N`` each (per item).
        b: ``(M,)`` (``(B, M)``) weights of y. Balanced methods need ``Σa = Σb`` (relative
            1e-6 in float64, 1e-4 otherwise); weights are not normalised.
        method: ``"exact"``, ``"sinkhorn"`` or ``"unbalanced"``.
        p: power of the Euclidean ground cost ``C_ij = ‖x_i − y_j‖₂^p``, ≥ 1.
        eps: temperature ε in cost units (entropic methods); default ``1e-3·diam^p`` per item
            (``diam``: the diagonal of the bounding box of x ∪ y).
        rho: marginal penalty ρ in cost units (``"unbalanced"``), a number or a pair
            ``(ρ_x, ρ_y)`` in which None or ``inf`` keeps that marginal exact.
        reach: alternatively a length: ``ρ = reach**p`` (geomloss's ``reach``; geomloss's cost
            is ``C/p``, so its value times p equals ours with ``eps = p·blur**p`` and
            ``rho = p·reach**p``).
        x_lengths: ``(B,)`` numbers of valid rows of the batched x (the rest is padding).
        y_lengths: ``(B,)`` likewise for y.
        scaling: ε-scaling factor in (0, 1).
        tol: bound on the L1 marginal error relative to the mass of b; default 1e-6 (float64),
            1e-4 (otherwise). Items that miss it after ``max_iter`` updates raise a
            ``RuntimeWarning`` and are flagged in ``converged``.
        max_iter: Sinkhorn updates at the target ε.
        tile: block edge: at most ``tile²`` pairs exist at once.

    Returns:
        A :class:`~divergences.transport.Transport` record. ``cost`` is differentiable with
        respect to ``x``, ``y``, ``a`` and ``b`` through the potentials (envelope theorem: no
        iteration is differentiated, memory O(tile² + N + M)); for balanced transport the
        weight gradient is defined along changes that keep the masses equal.

    Raises:
        ValueError: shapes, NaN/inf, negative weights, unequal masses for a balanced method,
            ``eps``/``rho``/``tol`` not > 0, options that do not apply to the method.
        TypeError: non-numeric arguments.

    References:
        Peyré and Cuturi, "Computational optimal transport", 2019; Schmitzer, "Stabilized
        sparse scaling algorithms", SIAM J. Sci. Comput. 2019; Chizat, Peyré, Schmitzer and
        Vialard, "Scaling algorithms for unbalanced optimal transport problems", Math. Comp.
        2018; Séjourné et al., "Sinkhorn divergences for unbalanced optimal transport", 2019;
        POT's ``emd2`` and ``sinkhorn2``, geomloss's ``SamplesLoss`` (conventions above).

    Example:
        >>> t = transport([[0.0], [1.0]], [[0.0], [2.0], [4.0]], a=[0.5, 0.5], b=[0.2, 0.3, 0.5])
        >>> round(t.cost, 6), t.plan.dense().round(3).tolist(), t.barycentric_map().ravel()
        (5.7, [[0.2, 0.3, 0.0], [0.0, 0.0, 0.5]], array([1.2, 4. ]))
        >>> s = transport([[0.0], [1.0]], [[0.0], [2.0], [4.0]], method="sinkhorn", eps=0.1)
        >>> s.plan @ [1.0, 1.0, 1.0], s.converged
        (array([0.5, 0.5]), True)
    """
    check_choice(method, "method", METHODS)
    p = _check_p(p)
    tile = check_positive_int(tile, "tile")
    max_iter = check_positive_int(max_iter, "max_iter")
    batch = prep.prepare(x, y, a, b, x_lengths, y_lengths)
    penal = _penalties(rho, reach, p, required=method == "unbalanced")
    if method != "unbalanced" and penal is not None:
        raise ValueError(f"rho/reach apply to method='unbalanced' only, got method={method!r}")
    if method != "unbalanced":
        batch = _rebalanced(batch, method)
    if method == "exact":
        if eps is not None or tol is not None:
            raise ValueError("eps and tol apply to the entropic methods, not method='exact'")
        return _exact(batch, p, tile)
    opts = _entropic_options(batch, p, eps, penal, scaling, tol, max_iter, tile)
    return _entropic(batch, p, method, penal, opts)


def _rebalanced(batch, method):
    from dataclasses import replace

    return replace(batch, b=prep.check_balance(batch.a, batch.b, method))


@pair_typed
def unbalanced_sinkhorn_divergence(
    x: Any,
    y: Any,
    *,
    a: Any = None,
    b: Any = None,
    p: float = 2,
    eps: float | None = None,
    rho: Any = None,
    reach: Any = None,
    x_lengths: Any = None,
    y_lengths: Any = None,
    scaling: float = 0.5,
    tol: float | None = None,
    max_iter: int = 1000,
    tile: int = DEFAULT_TILE,
) -> Any:
    r"""Debiased unbalanced Sinkhorn divergence (Séjourné et al. 2019), in cost units.

    .. math:: S_{\varepsilon,\rho}(\alpha, \beta) = OT_{\varepsilon,\rho}(\alpha, \beta)
        - \tfrac12 OT_{\varepsilon,\rho}(\alpha, \alpha)
        - \tfrac12 OT_{\varepsilon,\rho}(\beta, \beta)
        + \tfrac{\varepsilon}{2} (m(\alpha) - m(\beta))^2

    with ``OT_{ε,ρ}`` as in :func:`transport` (``method="unbalanced"``); ``rho=None`` gives the
    balanced debiased divergence (masses must then agree). Symmetric, 0 for identical
    measures, ≥ 0 up to the solver tolerance; geomloss's ``SamplesLoss("sinkhorn",
    reach=r, blur=s)`` times p equals it with ``eps = p·s**p``, ``rho = p·r**p``.

    Args:
        x: ``(N, D)`` points, or a batch ``(B, N, D)``.
        y: ``(M, D)`` points, or ``(B, M, D)``.
        a: weights of x (default ``1/N``), not normalised.
        b: weights of y (default ``1/M``).
        p: power of the ground cost, ≥ 1.
        eps: temperature in cost units; default ``1e-3·diam^p`` per item.
        rho: marginal penalty in cost units (number or pair; see :func:`transport`).
        reach: alternatively ``ρ = reach**p``.
        x_lengths: ``(B,)`` valid rows of the batched x.
        y_lengths: ``(B,)`` valid rows of the batched y.
        scaling: ε-scaling factor in (0, 1).
        tol: L1 marginal error relative to mass; default 1e-6 (float64), 1e-4 (otherwise).
        max_iter: updates at the target ε for each of the three problems.
        tile: block edge of the pairs.

    Returns:
        0-d tensor (``(B,)`` for a batch), differentiable with respect to points and weights;
        a float (NumPy array) for NumPy input.

    References:
        Séjourné, Feydy, Vialard, Trouvé and Peyré, "Sinkhorn divergences for unbalanced
        optimal transport", arXiv:1910.12958; Feydy et al., AISTATS 2019.

    Example:
        >>> x = [[0.0, 0.0], [1.0, 0.0]]
        >>> round(unbalanced_sinkhorn_divergence(x, x, rho=1.0), 6)
        0.0
        >>> s = unbalanced_sinkhorn_divergence(x, [[0.0, 1.0], [1.0, 1.0]], eps=1e-2, rho=10.0)
        >>> 0.7 < s < 1.0
        True
    """
    p = _check_p(p)
    tile = check_positive_int(tile, "tile")
    max_iter = check_positive_int(max_iter, "max_iter")
    batch = prep.prepare(x, y, a, b, x_lengths, y_lengths)
    penal = _penalties(rho, reach, p, required=False)
    if penal is not None and penal[0] != penal[1]:
        raise ValueError(
            "the divergence needs one penalty for both marginals: rho (or reach) must be a number"
        )
    if penal is None:
        batch = _rebalanced(batch, "sinkhorn")
    opts = _entropic_options(batch, p, eps, penal, scaling, tol, max_iter, tile)
    eps_t, rx, ry = opts[0], opts[1], opts[2]
    xy = _solve_entropic(batch, p, opts)
    xx = _solve_entropic(batch, p, opts, symmetric_side="x")
    yy = _solve_entropic(batch, p, opts, symmetric_side="y")
    val = EntropicValue.apply(
        batch.xs, batch.ys, batch.a, batch.b, xy.f, xy.g, eps_t, rx, ry, p, tile
    )
    val = val - 0.5 * EntropicValue.apply(
        batch.xs, batch.xs, batch.a, batch.a, xx.f, xx.g, eps_t, rx, rx, p, tile
    )
    val = val - 0.5 * EntropicValue.apply(
        batch.ys, batch.ys, batch.b, batch.b, yy.f, yy.g, eps_t, ry, ry, p, tile
    )
    gap = batch.a.double().sum(-1) - batch.b.double().sum(-1)
    val = val + 0.5 * eps_t.double() * gap * gap
    out = (val * _scale(batch, p)).to(batch.x.dtype)
    warn_if_overflow(out, "unbalanced_sinkhorn_divergence")
    return _out(out, batch)
