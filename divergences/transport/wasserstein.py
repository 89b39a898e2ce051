"""Optimal transport distances between samples: exact 1-D, assignment, Sinkhorn, sliced.

The ground cost is ``‖x − y‖₂^p`` (Euclidean norm to the power ``p``); :func:`wasserstein`
returns ``W_p`` itself (the p-th root of the optimal cost), :func:`sinkhorn_divergence` returns a
quantity in cost units (comparable to ``W_p^p``). Weights, when given, are normalised to sum
to 1; without them each point weighs ``1/N``. Gradients flow to the sample positions (not to
the weights).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from divergences._pairwise import DEFAULT_TILE, centred_unit, cost_matrix, row_norms
from divergences._typing import pair_typed
from divergences._validation import (
    as_point_pair,
    as_tensor,
    check_choice,
    check_generator,
    check_positive_int,
    check_probabilities,
    check_same_device,
    max_abs,
    max_exponent,
    mul_pow2,
    pow2_exponent,
    to_output,
    warn_if_overflow,
)
from divergences.transport._exact1d import _root, directions, sliced_w, w_1d
from divergences.transport._sinkhorn import eps_schedule, solve, solve_symmetric

__all__ = ["sinkhorn_divergence", "wasserstein"]

Tensor = torch.Tensor
METHODS = ("auto", "exact_1d", "assignment", "sinkhorn", "sliced")
AUTO_ASSIGNMENT_MAX = 2048


def _weights(w: Any, name: str, pts: Tensor, pts_name: str) -> Tensor | None:
    if w is None:
        return None
    wt, _ = as_tensor(w, name)
    if isinstance(w, Tensor):
        check_same_device((pts, wt), (pts_name, name))
    wt = wt.detach().to(pts.device, torch.float64)
    if wt.shape != (pts.shape[0],):
        raise ValueError(
            f"{name} must have shape ({pts.shape[0]},) to match {pts_name} with shape "
            f"{tuple(pts.shape)}; got {tuple(wt.shape)}"
        )
    return check_probabilities(wt, name, normalize=True)


def _uniform(n: int, like: Tensor) -> Tensor:
    return torch.full((n,), 1.0 / n, dtype=torch.float64, device=like.device)


def _check_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(
            f"p must be a finite number >= 1 (power of the ground cost), got {type(p).__name__}"
        )
    if not math.isfinite(p) or p < 1:
        raise ValueError(f"p must be a finite number >= 1 (power of the ground cost), got {p!r}")
    return float(p)


def _safe_shift(m: float, d: int, dtype: torch.dtype) -> int:
    """Smallest power-of-two headroom ``h`` that keeps coordinate sums finite.

    Smallest ``h >= 0`` such that sums of ``d`` coordinates of magnitude ``<= m 2^-h`` (and
    their differences) cannot overflow ``dtype``.
    """
    head = pow2_exponent(m) + math.ceil(math.log2(d)) + 2
    return max(0, head - max_exponent(dtype))


def _pmean_root(d: Tensor, p: float) -> Tensor:
    """``(mean d^p)^(1/p)`` for distances ``d >= 0``, without overflow.

    ``(mean d^p)^(1/p)`` for distances ``d >= 0``, rescaled by a power of two from their
    maximum so that the p-th powers neither overflow nor underflow (float64).
    """
    k = pow2_exponent(max_abs(d))
    return mul_pow2(_root(mul_pow2(d.to(torch.float64), -k).pow(p).mean(), p), k)


def _assignment(x: Tensor, y: Tensor, p: float) -> Tensor:
    """Exact ``W_p`` for equal sizes by an optimal assignment.

    Exact ``W_p`` for equal sizes: the optimal permutation from a float64 cost on data
    centred and rescaled to max-abs ~1 (so an offset far above the spread cannot flatten the
    cost), then the matched distances from the inputs (differentiable).
    """
    from scipy.optimize import linear_sum_assignment  # lazy: keeps `import divergences` light

    h = _safe_shift(max_abs(x, y), 1, torch.float64)
    xs, ys, _ = centred_unit(x.detach().to(torch.float64), y.detach().to(torch.float64))
    rows, cols = linear_sum_assignment(cost_matrix(xs, ys, p).cpu().numpy())
    r = torch.as_tensor(rows, device=x.device)
    c = torch.as_tensor(cols, device=x.device)
    gap = mul_pow2(x[r].to(torch.float64), -h) - mul_pow2(y[c].to(torch.float64), -h)
    return mul_pow2(_pmean_root(row_norms(gap), p), h)


def _diameter(x: Tensor, y: Tensor) -> float:
    z = torch.cat([x.detach(), y.detach()]).to(torch.float64)
    return float((z.max(0).values - z.min(0).values).norm())


# |log2| of the rescaled eps (cost units of data with max-abs ~1) beyond which C/eps or eps
# itself leaves the float64 range
EPS_LOG2_RANGE = 900


def _sinkhorn_setup(x, y, p, eps, scaling, tol, max_iter, tile):
    """Validate the Sinkhorn options; centre the data, then rescale it by ``2^-e``.

    Returns ``(xs, ys, e, schedule, tol, max_iter, tile)``: the data minus their pooled mean
    (the cost is translation invariant), then times ``2^-e`` (max-abs in [1/2, 1)), with the
    ε schedule in the rescaled cost units: ``OT_ε(x, y) = 2^(e p) OT_{ε 2^(-e p)}(xs, ys)``
    exactly (the cost is homogeneous of degree p), so any magnitude and any offset of the
    data work with the default ε; a fixed ε must stay above ``2^(e p - EPS_LOG2_RANGE)``
    (else ValueError). Centring comes first: rescaled by its offset, a spread 1e-300 times
    smaller would underflow.
    """
    if not (isinstance(scaling, float) and 0 < scaling < 1):
        raise ValueError(f"scaling must be a float in (0, 1), got {scaling!r}")
    max_iter = check_positive_int(max_iter, "max_iter")
    tile = check_positive_int(tile, "tile")
    xs, ys, e = centred_unit(x, y)
    diam_p = _diameter(xs, ys) ** p
    if eps is None:
        eps_s = 1e-3 * diam_p if diam_p > 0 else 1.0
    else:
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(
                f"eps must be a number > 0 (in units of the cost ‖x−y‖^p), got {eps!r}"
            )
        if not math.isfinite(eps):
            raise ValueError(f"eps must be finite, got {eps!r}")
        shift = e * p
        l2 = math.log2(eps) - shift
        if l2 < -EPS_LOG2_RANGE:
            lo = shift - EPS_LOG2_RANGE
            raise ValueError(
                f"eps={eps!r} is too small for these data (spread max |x - mean| ~ 2^{e}, cost "
                f"‖x−y‖^{p:g}): C/eps would overflow; eps must be >= 2^{lo:.0f} (about "
                f"1e{lo * math.log10(2):.0f}); eps=None scales with the data"
            )
        if l2 > EPS_LOG2_RANGE:
            # C/eps <= 2^-890 here: OT_eps equals its eps -> inf limit to float precision
            eps_s = 2.0**EPS_LOG2_RANGE
        elif shift == int(shift):
            eps_s = math.ldexp(float(eps), -int(shift))
        else:
            eps_s = 2.0**l2
    if tol is None:
        tol = 1e-6 if x.dtype == torch.float64 else 1e-4
    elif isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
        raise ValueError(f"tol must be > 0 (a number), got {tol!r}")
    return xs, ys, e, eps_schedule(diam_p, float(eps_s), scaling), tol, max_iter, tile


@pair_typed
def wasserstein(
    x: Any,
    y: Any,
    *,
    p: float = 1,
    method: str = "auto",
    x_weights: Any = None,
    y_weights: Any = None,
    eps: float | None = None,
    scaling: float = 0.5,
    tol: float | None = None,
    max_iter: int = 1000,
    n_projections: int = 128,
    generator: torch.Generator | None = None,
    tile: int = DEFAULT_TILE,
) -> Any:
    r"""p-Wasserstein distance between two (weighted) samples, ``W_p`` (not ``W_p^p``).

    .. math:: W_p(P, Q) = \big(\min_{\pi \in \Pi(P, Q)} \textstyle\sum_{ij}
        \pi_{ij}\,\|x_i - y_j\|_2^p\big)^{1/p}

    The methods (``method=``):

    * ``"exact_1d"`` (D = 1): quantile functions, any sizes and weights.
    * ``"assignment"`` (N = M, no weights): exact, a permutation is optimal; scipy's
      ``linear_sum_assignment`` on the dense float64 ``N×N`` cost (O(N²) memory on the host,
      O(N³) time), then the matched distances recomputed in torch (differentiable).
    * ``"sinkhorn"``: ``OT_ε^{1/p}``, the entropic cost
      ``OT_ε = min_π ⟨π, C⟩ + ε KL(π ‖ a⊗b)`` (log-domain, ε-scaling from ``diam^p`` by
      factors ``scaling``, memory O(tile²)); ``W_p^p ≤ OT_ε ≤ W_p^p + ε log min(N, M)``. Warns
      (``RuntimeWarning``) if the marginal error is above ``tol`` after ``max_iter`` iterations.
    * ``"sliced"``: ``(E_θ W_p^p(θ·x, θ·y))^{1/p}`` over ``n_projections`` directions uniform on
      the sphere drawn with ``generator`` (default: CPU generator seeded with 0); exact 1-D
      transport on each projection (unequal sizes and weights through quantile functions).
      It is a different distance, ≤ ``W_p``.
    * ``"auto"``: an exact method only: ``exact_1d`` if D = 1, else ``assignment`` for equal
      sizes ≤ 2048 without weights; otherwise a ValueError asks for sinkhorn or sliced.

    Args:
        x: ``(N, D)`` samples.
        y: ``(M, D)`` samples.
        p: power of the Euclidean ground cost, ≥ 1.
        method: see above.
        x_weights: ``(N,)`` non-negative weights (normalised), or None for uniform.
        y_weights: ``(M,)`` likewise.
        eps: entropic regularisation in cost units (sinkhorn); default ``1e-3·diam^p`` with
            ``diam`` the diagonal of the bounding box of ``x ∪ y``. Data of any magnitude and
            offset are centred and rescaled internally by a power of two (exact); a fixed
            ``eps`` below ``2^-900 s^p``, ``s = max |x - mean of x ∪ y|``, raises ValueError
            (the cost over ε would overflow).
        scaling: ε-annealing factor in (0, 1) (sinkhorn).
        tol: L1 marginal-error tolerance (sinkhorn); default 1e-6 (float64), 1e-4 (otherwise).
        max_iter: iterations at the target ε (sinkhorn).
        n_projections: number of directions (sliced).
        generator: random generator of the directions (sliced).
        tile: block size of the tiled cost (sinkhorn; dense below ``tile²`` pairs).

    Returns:
        0-d tensor in x's dtype and device (differentiable w.r.t. ``x`` and ``y``), or a float
        for NumPy input. ``W_p(c x, c y) = c W_p(x, y)`` and ``W_p(x + t, y + t) = W_p(x, y)``
        hold at every magnitude and offset (the data are centred before any rescaling); a
        value beyond the dtype's range is ``inf`` with a ``RuntimeWarning``.

    References:
        Villani, "Optimal transport: old and new", 2009; exact 1-D as
        ``scipy.stats.wasserstein_distance`` (p = 1); Cuturi, "Sinkhorn distances", NeurIPS 2013;
        Schmitzer, "Stabilized sparse scaling algorithms", SIAM J. Sci. Comput. 2019 (log domain,
        ε-scaling); Bonneel et al., "Sliced and Radon Wasserstein barycenters", JMIV 2015.

    Example:
        >>> round(wasserstein([[0.0], [1.0]], [[2.0], [3.0], [4.0]]), 4)
        2.5
        >>> round(wasserstein([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], p=2), 4)
        1.0
    """
    check_choice(method, "method", METHODS)
    xt, yt, is_np = as_point_pair(x, y)
    p = _check_p(p)
    wx = _weights(x_weights, "x_weights", xt, "x")
    wy = _weights(y_weights, "y_weights", yt, "y")
    (n, d), m = xt.shape, yt.shape[0]
    if method == "auto":
        if d == 1:
            method = "exact_1d"
        elif n == m and wx is None and wy is None and n <= AUTO_ASSIGNMENT_MAX:
            method = "assignment"
        else:
            weighted = " and weights" if wx is not None or wy is not None else ""
            raise ValueError(
                f"method='auto' has no exact method for x with shape {tuple(xt.shape)} and y with "
                f"shape {tuple(yt.shape)}{weighted}"
                f" (exact: D = 1, or equal sizes <= {AUTO_ASSIGNMENT_MAX} without weights); "
                "choose method='sinkhorn' or method='sliced'"
            )
    mx = max_abs(xt, yt)
    if method == "exact_1d":
        if d != 1:
            raise ValueError(f"method='exact_1d' needs D = 1, got x with shape {tuple(xt.shape)}")
        h = _safe_shift(mx, 1, torch.float64)  # the gaps are float64 differences
        val = mul_pow2(w_1d(mul_pow2(xt[:, 0], -h), mul_pow2(yt[:, 0], -h), wx, wy, p), h)
    elif method == "assignment":
        if n != m or wx is not None or wy is not None:
            raise ValueError(
                "method='assignment' needs equal sizes and no weights; got x with shape "
                f"{tuple(xt.shape)} and y with shape {tuple(yt.shape)}"
                f"{' and weights' if wx is not None or wy is not None else ''}"
            )
        val = _assignment(xt, yt, p)
    elif method == "sinkhorn":
        xs, ys, e, sched, tol, max_iter, tile = _sinkhorn_setup(
            xt, yt, p, eps, scaling, tol, max_iter, tile
        )
        a = wx if wx is not None else _uniform(n, xt)
        b = wy if wy is not None else _uniform(m, yt)
        a, b = a.to(xt.dtype), b.to(xt.dtype)
        val_s = solve(xs, ys, a, b, p, sched, tol=tol, max_iter=max_iter, tile=tile)
        val = mul_pow2(_root(val_s, p), e)
    else:
        n_projections = check_positive_int(n_projections, "n_projections")
        check_generator(generator)
        theta = directions(n_projections, d, generator, xt)
        xh, yh, h = centred_unit(xt, yt)  # unit scale: sums of d coordinates cannot overflow
        val = mul_pow2(sliced_w(xh, yh, wx, wy, theta, p), h)
    out = val.to(xt.dtype)
    warn_if_overflow(out, "wasserstein")
    return to_output(out, is_np)


@pair_typed
def sinkhorn_divergence(
    x: Any,
    y: Any,
    *,
    p: float = 2,
    eps: float | None = None,
    debias: bool = True,
    x_weights: Any = None,
    y_weights: Any = None,
    scaling: float = 0.5,
    tol: float | None = None,
    max_iter: int = 1000,
    tile: int = DEFAULT_TILE,
) -> Any:
    r"""Debiased Sinkhorn divergence (or the plain entropic OT cost), in cost units.

    .. math:: S_\varepsilon(P, Q) = OT_\varepsilon(P, Q) - \tfrac12 OT_\varepsilon(P, P)
        - \tfrac12 OT_\varepsilon(Q, Q)

    with ``OT_ε`` as in :func:`wasserstein` (``method="sinkhorn"``) for the cost ``‖x−y‖₂^p``.
    ``S_ε`` is symmetric, 0 for identical samples, ≥ 0 (up to the solver tolerance; it is not
    clamped) and interpolates between ``W_p^p`` (ε → 0) and an energy-type MMD (ε → ∞).
    ``debias=False`` returns ``OT_ε(P, Q)``. The self terms use the symmetric averaged update.

    Args:
        x: ``(N, D)`` samples.
        y: ``(M, D)`` samples.
        p: power of the Euclidean ground cost, ≥ 1 (p = 2: squared distances).
        eps: regularisation in cost units; default ``1e-3·diam^p`` (see :func:`wasserstein`).
        debias: subtract the self terms (Feydy et al.) or not.
        x_weights: ``(N,)`` non-negative weights (normalised), or None for uniform.
        y_weights: ``(M,)`` likewise.
        scaling: ε-annealing factor in (0, 1).
        tol: L1 marginal-error tolerance; default 1e-6 (float64), 1e-4 (otherwise).
        max_iter: iterations at the target ε per problem.
        tile: block size of the tiled cost (dense below ``tile²`` pairs).

    Returns:
        0-d tensor in x's dtype and device (differentiable w.r.t. ``x`` and ``y``), or a float.

    References:
        Feydy et al., "Interpolating between optimal transport and MMD using Sinkhorn
        divergences", AISTATS 2019; the value matches geomloss ``SamplesLoss("sinkhorn")`` for
        ``p = 2`` up to geomloss' cost ``‖x−y‖²/2`` and ``ε = blur^p``.

    Example:
        >>> x = [[0.0, 0.0], [1.0, 0.0]]
        >>> round(sinkhorn_divergence(x, x), 6)
        0.0
        >>> round(sinkhorn_divergence(x, [[0.0, 1.0], [1.0, 1.0]], eps=1e-3), 3)
        1.0
    """
    xt, yt, is_np = as_point_pair(x, y)
    p = _check_p(p)
    if not isinstance(debias, bool):
        raise TypeError(f"debias must be a bool, got {type(debias).__name__}")
    wx = _weights(x_weights, "x_weights", xt, "x")
    wy = _weights(y_weights, "y_weights", yt, "y")
    xs, ys, e, sched, tol, max_iter, tile = _sinkhorn_setup(
        xt, yt, p, eps, scaling, tol, max_iter, tile
    )
    a = (wx if wx is not None else _uniform(xt.shape[0], xt)).to(xt.dtype)
    b = (wy if wy is not None else _uniform(yt.shape[0], yt)).to(xt.dtype)
    val = solve(xs, ys, a, b, p, sched, tol=tol, max_iter=max_iter, tile=tile)
    if debias:
        val = val - 0.5 * solve_symmetric(xs, a, p, sched, tol=tol, max_iter=max_iter, tile=tile)
        val = val - 0.5 * solve_symmetric(ys, b, p, sched, tol=tol, max_iter=max_iter, tile=tile)
    out = mul_pow2(val, e * p).to(xt.dtype)  # back from the rescaled cost units
    warn_if_overflow(out, "sinkhorn_divergence")
    return to_output(out, is_np)
