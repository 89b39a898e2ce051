"""Exact one-dimensional optimal transport through quantile functions, and its sliced form.

Private helpers of :mod:`divergences.transport`; inputs are validated there.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def _cum_weights(w: Tensor | None, order: Tensor, n: int, like: Tensor) -> Tensor:
    """Cumulative weights of the sorted samples, ending exactly at 1 (shape of ``order``)."""
    if w is None:
        c = torch.arange(1, n + 1, dtype=torch.float64, device=like.device) / n
        return c.expand(order.shape)
    c = torch.cumsum(w.to(torch.float64)[order], dim=-1)
    c = c / c[..., -1:]
    return torch.cat([c[..., :-1], torch.ones_like(c[..., -1:])], dim=-1)


def wpp_1d(u: Tensor, v: Tensor, wu: Tensor | None, wv: Tensor | None, p: float) -> Tensor:
    """``W_p^p`` between 1-D weighted samples, batched over leading dims, in float64.

    .. math:: W_p^p = \\int_0^1 |F_u^{-1}(t) - F_v^{-1}(t)|^p\\,dt

    The integrand is piecewise constant between the merged jumps of the two empirical CDFs; on
    ``(t_{k-1}, t_k]`` the quantile of ``u`` is its sorted value with index
    ``min{i : F_u(u_(i)) ≥ t_k}`` (``searchsorted``, side left), likewise for ``v``.

    Args:
        u: ``(..., n)`` samples; v: ``(..., m)`` samples (same leading dims).
        wu: ``(n,)`` weights summing to 1, or None for uniform; wv likewise ``(m,)``.
        p: power of the ground cost, ≥ 1.

    Returns:
        ``(...)`` float64, differentiable w.r.t. ``u`` and ``v`` (through the sort).
    """
    n, m = u.shape[-1], v.shape[-1]
    us, iu = torch.sort(u.to(torch.float64), dim=-1)
    vs, iv = torch.sort(v.to(torch.float64), dim=-1)
    if wu is None and wv is None and n == m:
        return (us - vs).abs().pow(p).mean(-1)
    cu = _cum_weights(wu, iu, n, us).contiguous()
    cv = _cum_weights(wv, iv, m, vs).contiguous()
    t = torch.sort(torch.cat([cu, cv], dim=-1), dim=-1).values
    dt = torch.diff(t, dim=-1, prepend=torch.zeros_like(t[..., :1]))
    ju = torch.searchsorted(cu, t).clamp_max(n - 1)
    jv = torch.searchsorted(cv, t).clamp_max(m - 1)
    gap = torch.gather(us, -1, ju) - torch.gather(vs, -1, jv)
    return (dt * gap.abs().pow(p)).sum(-1)


def directions(
    n_projections: int, d: int, generator: torch.Generator | None, like: Tensor
) -> Tensor:
    """``(P, D)`` unit vectors uniform on the sphere, drawn in float64 on the generator's device.

    With ``generator=None`` a fresh CPU generator seeded with 0 is used, so the directions are
    the same on every device and every call.
    """
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    theta = torch.randn(n_projections, d, generator=gen, dtype=torch.float64, device=gen.device)
    theta = theta / theta.norm(dim=1, keepdim=True)
    return theta.to(like.device, like.dtype)


def sliced_wpp(
    x: Tensor, y: Tensor, wx: Tensor | None, wy: Tensor | None, theta: Tensor, p: float
) -> Tensor:
    """Mean over directions of ``W_p^p`` of the projected samples (float64 scalar).

    Projections are processed in chunks so that at most about 2²⁴ projected values exist at once.
    """
    chunk = max(1, (1 << 24) // (x.shape[0] + y.shape[0]))
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for k in range(0, theta.shape[0], chunk):
        th = theta[k : k + chunk].transpose(0, 1)
        total = total + wpp_1d((x @ th).T, (y @ th).T, wx, wy, p).sum()
    return total / theta.shape[0]
