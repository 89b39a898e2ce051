"""Log-domain Sinkhorn with ε-scaling, on dense or tiled soft-min operators.

Private helpers of :mod:`divergences.transport.wasserstein`; inputs are validated there. Everything
stays on the input's device (no host copies); the only host syncs are the convergence checks, once
every ``CHECK_EVERY`` iterations.

Notation: weights ``a`` (N,), ``b`` (M,) summing to 1, cost ``C_ij = ‖x_i − y_j‖₂^p``, dual
potentials ``f`` (N,), ``g`` (M,). The soft c-transforms are ``f_i = −ε log Σ_j b_j exp((g_j −
C_ij)/ε)`` and ``g_j = −ε log Σ_i a_i exp((f_i − C_ij)/ε)``; at their fixed point ``OT_ε = ⟨a, f⟩ +
⟨b, g⟩``.
"""

from __future__ import annotations

import math
import warnings

import torch

from divergences._pairwise import cost_matrix, softmin

Tensor = torch.Tensor
CHECK_EVERY = 10


class _Softmin:
    """``h ↦ −ε LSE_j(h_j − C_ij/ε)``: dense (C kept) when ``N·M ≤ tile²``, else tiled."""

    def __init__(self, x: Tensor, y: Tensor, p: float, tile: int, cost: Tensor | None = None):
        self.x, self.y, self.p, self.tile = x, y, p, tile
        dense = x.shape[0] * y.shape[0] <= tile * tile
        self.cost = cost if cost is not None else (cost_matrix(x, y, p) if dense else None)

    def __call__(self, h: Tensor, eps: float) -> Tensor:
        if self.cost is not None:
            return -eps * torch.logsumexp(h.unsqueeze(0) - self.cost / eps, dim=1)
        return softmin(h, self.x, self.y, self.p, eps, tile=self.tile)

    def transpose(self) -> _Softmin:
        cost = None if self.cost is None else self.cost.transpose(0, 1)
        return _Softmin(self.y, self.x, self.p, self.tile, cost=cost)


def eps_schedule(diameter_p: float, eps: float, scaling: float) -> list[float]:
    """ε-scaling: ``diam^p, diam^p·s, diam^p·s², …`` down to (and ending at) the target ε."""
    out = []
    e = diameter_p
    while e > eps:
        out.append(e)
        e *= scaling
    return [*out, eps]


def _marginal_error(w: Tensor, old: Tensor, new: Tensor, eps: float) -> float:
    """L1 error of the marginal of the plan ``(other, old)``: ``Σ w |exp((old − new)/ε) − 1|``."""
    err = torch.where(w > 0, w * torch.expm1((old - new) / eps).abs(), 0.0)
    return float(err.sum())


def _warn(err: float, tol: float, max_iter: int) -> None:
    warnings.warn(
        f"Sinkhorn did not converge: marginal error {err:.3g} > tol {tol:g} after "
        f"{max_iter} iterations at the target eps; increase max_iter or eps",
        RuntimeWarning,
        stacklevel=4,
    )


def solve(
    x: Tensor,
    y: Tensor,
    a: Tensor,
    b: Tensor,
    p: float,
    schedule: list[float],
    *,
    tol: float,
    max_iter: int,
    tile: int,
) -> Tensor:
    """Entropic OT value ``OT_ε(a, b)`` (float64 scalar), differentiable w.r.t. ``x`` and ``y``.

    Potentials are found without autograd (alternating updates, one per annealing stage, then
    up to ``max_iter`` at the target ε until the marginal error is below ``tol``). The value is
    then ``⟨a, f⟩ + ⟨b, g⟩`` with ``f`` the soft c-transform of the (detached) ``g`` recomputed
    with autograd: its gradient w.r.t. ``x_i`` is ``Σ_j π_ij ∇C_ij`` (envelope theorem), and
    likewise w.r.t. ``y``.
    """
    log_a, log_b = torch.log(a), torch.log(b)
    with torch.no_grad():
        rows = _Softmin(x.detach(), y.detach(), p, tile)
        cols = rows.transpose()
        g = torch.zeros_like(b)
        for e in schedule[:-1]:
            f = rows(log_b + g / e, e)
            g = cols(log_a + f / e, e)
        eps = schedule[-1]
        err = math.inf
        for it in range(1, max_iter + 1):
            f = rows(log_b + g / eps, eps)
            g_new = cols(log_a + f / eps, eps)
            if it % CHECK_EVERY == 0 or it == max_iter:
                err = _marginal_error(b, g, g_new, eps)
            g = g_new
            if err < tol:
                break
        else:
            _warn(err, tol, max_iter)
        del rows, cols
    f = _Softmin(x, y, p, tile)(log_b + g / eps, eps)
    return (a.to(torch.float64) * f.to(torch.float64)).sum() + (
        b.to(torch.float64) * g.to(torch.float64)
    ).sum()


def solve_symmetric(
    x: Tensor, a: Tensor, p: float, schedule: list[float], *, tol: float, max_iter: int, tile: int
) -> Tensor:
    """``OT_ε(a, a)`` on one point cloud, with the averaged update ``f ← ½(f + T(f))``.

    The symmetric problem has a symmetric solution ``f = g``; averaging converges fast
    (Feydy et al. 2019, Sec. 3.1). Gradient as in :func:`solve` (both arguments of the cost).
    """
    log_a = torch.log(a)
    with torch.no_grad():
        op = _Softmin(x.detach(), x.detach(), p, tile)
        f = op(log_a, schedule[0])
        for e in schedule[1:-1]:
            f = 0.5 * (f + op(log_a + f / e, e))
        eps = schedule[-1]
        err = math.inf
        for it in range(1, max_iter + 1):
            t = op(log_a + f / eps, eps)
            if it % CHECK_EVERY == 0 or it == max_iter:
                err = _marginal_error(a, f, t, eps)
            f = 0.5 * (f + t)
            if err < tol:
                break
        else:
            _warn(err, tol, max_iter)
        del op
    f_fin = _Softmin(x, x, p, tile)(log_a + f / eps, eps)
    a64 = a.to(torch.float64)
    return (a64 * f_fin.to(torch.float64)).sum() + (a64 * f.to(torch.float64)).sum()
