r"""The entropic cost from its potentials, with gradients from the potentials (envelope theorem).

Private helper of :mod:`divergences.transport`. At the optimum of the dual problem

.. math:: OT_{ε,ρ} = \max_{f,g} ⟨a, φ_x(f)⟩ + ⟨b, φ_y(g)⟩
    − ε ⟨a⊗b, e^{(f⊕g−C)/ε} − 1⟩,
    \\quad φ(f) = ρ(1 − e^{−f/ρ})\\ (φ(f) = f \\text{ for } ρ = ∞),

the derivative with respect to anything the dual objective depends on is its partial
derivative at the optimal ``(f, g)``: ``Σ_j π_ij ∇_x C(x_i, y_j)`` for a point ``x_i`` and
``φ_x(f_i) − ε e^{−f_i/ρ_x} + ε m(b)`` for a weight ``a_i`` (the row condition
``Σ_j b_j e^{(f_i+g_j−C_ij)/ε} = e^{−f_i/ρ_x}`` holds at the optimum). No iteration is
differentiated; the backward pass is one blocked pass over the pairs (memory O(N + M + tile²)).
"""

from __future__ import annotations

from typing import Any

import torch

from divergences.transport._tiles import Pairs, neg, point_grads

Tensor = torch.Tensor


def _phi(f: Tensor, rho: Tensor) -> Tensor:
    """``ρ(1 − e^{−f/ρ})``, and ``f`` where ``ρ = inf``."""
    r = rho.view(-1, 1)
    return torch.where(torch.isinf(r), f, -r * torch.expm1(-f / r))


def _mass_factor(f: Tensor, rho: Tensor) -> Tensor:
    """``e^{−f/ρ}`` (1 where ``ρ = inf``): the row condition at the optimum."""
    return torch.exp(-f / rho.view(-1, 1))


def log_weights(w: Tensor) -> Tensor:
    """``log w`` with :func:`~._tiles.neg` for ``w = 0`` (no ``-inf`` in the blocks)."""
    return torch.where(w > 0, torch.log(torch.where(w > 0, w, 1.0)), neg(w.dtype))


def value(
    a: Tensor, b: Tensor, f: Tensor, g: Tensor, eps: Tensor, rho_x: Tensor, rho_y: Tensor
) -> Tensor:
    """Dual objective at ``(f, g)`` with the row condition used for the plan's mass (float64).

    ``⟨a, φ_x(f)⟩ + ⟨b, φ_y(g)⟩ − ε (m(π) − m(a) m(b))``, ``m(π) = ⟨a, e^{−f/ρ_x}⟩``.
    """
    a64, b64, f64, g64 = a.double(), b.double(), f.double(), g.double()
    rx, ry, e = rho_x.double(), rho_y.double(), eps.double()
    m_pi = (a64 * _mass_factor(f64, rx)).sum(-1)
    return (
        (a64 * _phi(f64, rx)).sum(-1)
        + (b64 * _phi(g64, ry)).sum(-1)
        - e * (m_pi - a64.sum(-1) * b64.sum(-1))
    )


class EntropicValue(torch.autograd.Function):
    """``OT_{ε,ρ}`` per item ``(B,)`` float64 from converged potentials; see the module."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        y: Tensor,
        a: Tensor,
        b: Tensor,
        f: Tensor,
        g: Tensor,
        eps: Tensor,
        rho_x: Tensor,
        rho_y: Tensor,
        p: float,
        tile: int,
    ) -> Tensor:
        ctx.save_for_backward(x, y, a, b, f, g, eps, rho_x, rho_y)
        ctx.p, ctx.tile = p, tile
        return value(a, b, f, g, eps, rho_x, rho_y)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, y, a, b, f, g, eps, rho_x, rho_y = ctx.saved_tensors
        need = ctx.needs_input_grad
        gr = grad.view(-1, 1)
        gx = gy = ga = gb = None
        e = eps.view(-1, 1)
        if need[0] or need[1]:
            with torch.no_grad():
                pairs = Pairs(x.detach(), y.detach(), ctx.p, ctx.tile)
                r, c = log_weights(a) + f / e, log_weights(b) + g / e
                px, py = point_grads(pairs, r, c, 1.0 / eps)
            gx = px * gr.to(x.dtype).unsqueeze(-1) if need[0] else None
            gy = py * gr.to(y.dtype).unsqueeze(-1) if need[1] else None
        if need[2]:
            mb = b.sum(-1, keepdim=True)
            da = _phi(f, rho_x) - e * _mass_factor(f, rho_x) + e * mb
            ga = (da * gr.to(da.dtype)).to(a.dtype)
        if need[3]:
            ma = a.sum(-1, keepdim=True)
            db = _phi(g, rho_y) - e * _mass_factor(g, rho_y) + e * ma
            gb = (db * gr.to(db.dtype)).to(b.dtype)
        return gx, gy, ga, gb, None, None, None, None, None, None, None
