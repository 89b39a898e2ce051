"""Optimal transport with its plan and potentials: exact, entropic, unbalanced, batched.

:func:`transport` solves one problem (``(N, D)``, ``(M, D)``) or a batch (``(B, N, D)``,
``(B, M, D)`` with lengths) and returns a :class:`~divergences.transport.Transport` record;
:func:`unbalanced_sinkhorn_divergence` is the debiased divergence built on the same solver.
"""

from __future__ import annotations

from typing import Any

import torch

from divergences._pairwise import DEFAULT_TILE
from divergences._typing import pair_typed
from divergences._validation import check_choice, check_positive_int, warn_if_overflow
from divergences.transport import _assemble as asm
from divergences.transport import _prepare as prep
from divergences.transport._grad import EntropicValue
from divergences.transport.record import Transport

__all__ = ["transport", "unbalanced_sinkhorn_divergence"]

Tensor = torch.Tensor
METHODS = ("exact", "sinkhorn", "unbalanced")


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

    The methods (``method=``):

    * ``"exact"``: the linear program, solved exactly for any sizes and weights (masses
      equal): the monotone coupling in 1-D, ``linear_sum_assignment`` for uniform weights and
      N = M ≤ min(2048, tile), otherwise column generation with HiGHS and an optimality
      certificate over all N × M pairs (see ``divergences.transport._exact``). Memory
      O(tile² + N + M + arcs); time grows with the rounds (a HiGHS solve, warm after the
      first, and one blocked pass over all pairs each); speed against POT's ``emd2``:
      benchmarks/RESULTS.md.
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
            ``rho = p·reach**p``, except that its raw unbalanced value leaves out the constant
            ``ε (m(a) m(b) − (m(a) + m(b))/2)``, zero for unit masses).
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
    p = asm.check_p(p)
    tile = check_positive_int(tile, "tile")
    max_iter = check_positive_int(max_iter, "max_iter")
    batch = prep.prepare(x, y, a, b, x_lengths, y_lengths)
    penal = asm.penalties(rho, reach, p, required=method == "unbalanced")
    if method != "unbalanced" and penal is not None:
        raise ValueError(f"rho/reach apply to method='unbalanced' only, got method={method!r}")
    if method != "unbalanced":
        batch = asm.rebalanced(batch, method)
    if method == "exact":
        if eps is not None or tol is not None:
            raise ValueError("eps and tol apply to the entropic methods, not method='exact'")
        return asm.exact(batch, p, tile)
    opts = asm.entropic_options(batch, p, eps, penal, scaling, tol, max_iter, tile)
    return asm.entropic(batch, p, method, penal, opts)


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
    p = asm.check_p(p)
    tile = check_positive_int(tile, "tile")
    max_iter = check_positive_int(max_iter, "max_iter")
    batch = prep.prepare(x, y, a, b, x_lengths, y_lengths)
    penal = asm.penalties(rho, reach, p, required=False)
    if penal is not None and penal[0] != penal[1]:
        raise ValueError(
            "the divergence needs one penalty for both marginals: rho (or reach) must be a number"
        )
    if penal is None:
        batch = asm.rebalanced(batch, "sinkhorn")
    opts = asm.entropic_options(batch, p, eps, penal, scaling, tol, max_iter, tile)
    eps_t, rx, ry = opts[0], opts[1], opts[2]
    xy = asm.solve_entropic(batch, p, opts)
    xx = asm.solve_entropic(batch, p, opts, symmetric_side="x")
    yy = asm.solve_entropic(batch, p, opts, symmetric_side="y")
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
    out = (val * asm.scale_back(batch, p)).to(batch.x.dtype)
    warn_if_overflow(out, "unbalanced_sinkhorn_divergence")
    return asm.out(out, batch)
