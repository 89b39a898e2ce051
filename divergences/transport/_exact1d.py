"""Exact one-dimensional optimal transport through quantile functions, and its sliced form.

Private helpers of :mod:`divergences.transport.wasserstein`; inputs are validated there.
"""

from __future__ import annotations

import torch

from divergences._validation import max_abs, mul_pow2, pow2_exponent

Tensor = torch.Tensor


def _cum_weights(w: Tensor | None, order: Tensor, n: int, like: Tensor) -> Tensor:
    """Cumulative weights of the sorted samples, ending exactly at 1 (shape of ``order``)."""
    if w is None:
        c = torch.arange(1, n + 1, dtype=torch.float64, device=like.device) / n
        return c.expand(order.shape)
    c = torch.cumsum(w.to(torch.float64)[order], dim=-1)
    c = c / c[..., -1:]
    return torch.cat([c[..., :-1], torch.ones_like(c[..., -1:])], dim=-1)


def _pieces(
    u: Tensor, v: Tensor, wu: Tensor | None, wv: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """``(|F_u^{-1} - F_v^{-1}|, dt)`` on the merged pieces, float64, batched over leading dims.

    The integrand is piecewise constant between the merged jumps of the two empirical CDFs; on
    ``(t_{k-1}, t_k]`` the quantile of ``u`` is its sorted value with index
    ``min{i : F_u(u_(i)) >= t_k}`` (``searchsorted``, side left), likewise for ``v``.
    ``dt`` is None for equal sizes without weights (every piece has length ``1/n``).
    """
    n, m = u.shape[-1], v.shape[-1]
    us, iu = torch.sort(u.to(torch.float64), dim=-1)
    vs, iv = torch.sort(v.to(torch.float64), dim=-1)
    if wu is None and wv is None and n == m:
        return (us - vs).abs(), None
    cu = _cum_weights(wu, iu, n, us).contiguous()
    cv = _cum_weights(wv, iv, m, vs).contiguous()
    t = torch.sort(torch.cat([cu, cv], dim=-1), dim=-1).values
    dt = torch.diff(t, dim=-1, prepend=torch.zeros_like(t[..., :1]))
    ju = torch.searchsorted(cu, t).clamp_max(n - 1)
    jv = torch.searchsorted(cv, t).clamp_max(m - 1)
    return (torch.gather(us, -1, ju) - torch.gather(vs, -1, jv)).abs(), dt


def _scaled_integral(gap: Tensor, dt: Tensor | None, p: float, k: int) -> Tensor:
    """``sum dt (gap 2^-k)^p`` over the last axis: the integral in units of ``2^(k p)``."""
    g = mul_pow2(gap, -k).pow(p)
    return g.mean(-1) if dt is None else (dt * g).sum(-1)


def w_1d(u: Tensor, v: Tensor, wu: Tensor | None, wv: Tensor | None, p: float) -> Tensor:
    """``W_p`` between 1-D samples, exact at any magnitude.

    ``W_p`` (not its p-th power) between 1-D samples ``(n,)``, ``(m,)``: float64 scalar,
    computed as ``2^k (sum dt (gap 2^-k)^p)^(1/p)`` so that it is exact at any magnitude.
    """
    gap, dt = _pieces(u, v, wu, wv)
    k = pow2_exponent(max_abs(gap))
    return mul_pow2(_root(_scaled_integral(gap, dt, p, k), p), k)


def _root(val: Tensor, p: float) -> Tensor:
    """``val^(1/p)`` for ``val >= 0`` (clamped), with gradient 0 instead of NaN at 0."""
    val = val.clamp_min(0.0)
    if p == 1:
        return val
    pos = val > 0
    return torch.where(pos, torch.where(pos, val, 1.0) ** (1.0 / p), 0.0)


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


def _sliced_parts(
    x: Tensor, y: Tensor, wx: Tensor | None, wy: Tensor | None, theta: Tensor, p: float
) -> tuple[Tensor, int]:
    """``(s, k)`` with ``mean_theta W_p^p(theta.x, theta.y) = s 2^(k p)``, float64 ``s``.

    Projections are processed in chunks so that at most about 2^24 projected values exist at
    once; each chunk's integral is taken in units of its own largest gap and merged into the
    running sum by exact powers of two (no overflow or underflow at any magnitude).
    """
    chunk = max(1, (1 << 24) // (x.shape[0] + y.shape[0]))
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    k_run: int | None = None
    for j in range(0, theta.shape[0], chunk):
        th = theta[j : j + chunk].transpose(0, 1)
        gap, dt = _pieces((x @ th).T, (y @ th).T, wx, wy)
        kc = pow2_exponent(max_abs(gap))
        part = _scaled_integral(gap, dt, p, kc).sum()
        if k_run is None:
            total, k_run = part, kc
        elif kc > k_run:
            total, k_run = mul_pow2(total, (k_run - kc) * p) + part, kc
        else:
            total = total + mul_pow2(part, (kc - k_run) * p)
    assert k_run is not None  # theta has at least one row, so the loop ran
    return total / theta.shape[0], k_run


def sliced_wpp(
    x: Tensor, y: Tensor, wx: Tensor | None, wy: Tensor | None, theta: Tensor, p: float
) -> Tensor:
    """Mean over directions of ``W_p^p`` of the projected samples (float64 scalar)."""
    s, k = _sliced_parts(x, y, wx, wy, theta, p)
    return mul_pow2(s, k * p)


def sliced_w(
    x: Tensor, y: Tensor, wx: Tensor | None, wy: Tensor | None, theta: Tensor, p: float
) -> Tensor:
    """Sliced ``W_p = (mean_theta W_p^p)^(1/p)`` (float64 scalar), exact at any magnitude."""
    s, k = _sliced_parts(x, y, wx, wy, theta, p)
    return mul_pow2(_root(s, p), k)
