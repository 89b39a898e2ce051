"""Closed forms of the built-in f-divergence members (private; see :mod:`.f_divergences`).

Generators ``f``, exact conjugates ``f*(t) = sup_{u ≥ 0}(u t − f(u))`` (``+inf`` outside the
domain), f-GAN activations rescaled to our scalings, and stable compositions ``f*∘g_f``.
Masked branches use :func:`_safe` so that ``torch.where`` never back-propagates NaN.
Reference: Nowozin, Cseke, Tomioka, f-GAN (NeurIPS 2016), Table 2, with
``(c·f)*(t) = c·f*(t/c)`` for the rescaled members.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from divergences.fdiv._numeric import exp_lambertw_log

_LOG2 = math.log(2.0)
_INF = math.inf


# --- closed forms ---------------------------------------------------------------------------


def _safe(t: Tensor, mask: Tensor, fill: float) -> Tensor:
    """``t`` where ``mask``, else ``fill`` (keeps masked-out branches NaN-free under autograd)."""
    return torch.where(mask, t, torch.full_like(t, fill))


def _inf_like(t: Tensor) -> Tensor:
    return torch.full_like(t, _INF)


def kl_f(u: Tensor) -> Tensor:
    return torch.xlogy(u, u)


def kl_conj(t: Tensor) -> Tensor:
    return torch.exp(t - 1.0)


def rkl_f(u: Tensor) -> Tensor:
    return -torch.log(u)


def rkl_conj(t: Tensor) -> Tensor:
    m = t < 0
    return torch.where(m, -1.0 - torch.log(-_safe(t, m, -1.0)), _inf_like(t))


def rkl_act(v: Tensor) -> Tensor:
    return -torch.exp(-v)


def _ratio(u: Tensor) -> Tensor:
    """``u/(u + 1)`` without overflow or NaN gradients at huge or tiny ``u``."""
    big = u > 1.0
    ub, us = _safe(u, big, 2.0), _safe(u, ~big, 0.5)
    return torch.where(big, 1.0 / (1.0 + 1.0 / ub), us / (us + 1.0))


def js_f(u: Tensor) -> Tensor:
    return 0.5 * (torch.xlogy(u, 2.0 * _ratio(u)) - torch.log1p(u) + _LOG2)


def js_conj(t: Tensor) -> Tensor:
    # ½ f_N*(2t) with f_N*(s) = −log(2 − e^s), s < log 2
    m = t < 0.5 * _LOG2
    ts = _safe(t, m, 0.0)
    return torch.where(m, -0.5 * (_LOG2 + torch.log1p(-torch.exp(2.0 * ts - _LOG2))), _inf_like(t))


def js_act(v: Tensor) -> Tensor:
    return 0.5 * (_LOG2 + F.logsigmoid(v))


def js_conj_act(v: Tensor) -> Tensor:
    return -0.5 * (_LOG2 + F.logsigmoid(-v))


def gan_f(u: Tensor) -> Tensor:
    return torch.xlogy(u, _ratio(u)) - torch.log1p(u)


def gan_conj(t: Tensor) -> Tensor:
    m = t < 0
    return torch.where(m, -torch.log(-torch.expm1(_safe(t, m, -1.0))), _inf_like(t))


def softplus(v: Tensor) -> Tensor:
    return F.softplus(v)


def tv_f(u: Tensor) -> Tensor:
    return 0.5 * (u - 1.0).abs()


def tv_conj(t: Tensor) -> Tensor:
    return torch.where(t <= 0.5, t.clamp_min(-0.5), _inf_like(t))


def tv_act(v: Tensor) -> Tensor:
    return 0.5 * torch.tanh(v)


def pearson_f(u: Tensor) -> Tensor:
    return (u - 1.0) ** 2


def pearson_conj(t: Tensor) -> Tensor:
    tc = t.clamp_min(-2.0)  # the maximiser u = 1 + t/2 hits u = 0 at t = −2
    return tc + tc * tc / 4.0


def neyman_f(u: Tensor) -> Tensor:
    # (1 − u)²/u = u − 2 + 1/u, the latter for large u (no overflow of u²)
    big = u > 2.0
    ub, us = _safe(u, big, 3.0), _safe(u, ~big, 1.0)
    return torch.where(big, ub - 2.0 + 1.0 / ub, (1.0 - us) ** 2 / us)


def neyman_conj(t: Tensor) -> Tensor:
    m = t <= 1.0
    return torch.where(m, 2.0 - 2.0 * torch.sqrt(1.0 - _safe(t, m, 0.0)), _inf_like(t))


def one_minus_exp(v: Tensor) -> Tensor:
    return 1.0 - torch.exp(v)


def rkl_conj_act(v: Tensor) -> Tensor:
    return v - 1.0


def neyman_conj_act(v: Tensor) -> Tensor:
    return 2.0 - 2.0 * torch.exp(0.5 * v)


def hellinger2_f(u: Tensor) -> Tensor:
    return 0.5 * (torch.sqrt(u) - 1.0) ** 2


def hellinger2_conj(t: Tensor) -> Tensor:
    m = t < 0.5
    ts = _safe(t, m, 0.0)
    return torch.where(m, ts / (1.0 - 2.0 * ts), _inf_like(t))


def hellinger2_act(v: Tensor) -> Tensor:
    return 0.5 * (1.0 - torch.exp(v))


def hellinger2_conj_act(v: Tensor) -> Tensor:
    return 0.5 * torch.expm1(-v)


def jeffreys_f(u: Tensor) -> Tensor:
    return (u - 1.0) * torch.log(u)


def jeffreys_conj(t: Tensor) -> Tensor:
    # u* = 1/w with w = W(e^{1−t}); f*(t) = w + 1/w + t − 2 (Nowozin et al. Table 2)
    s = exp_lambertw_log(1.0 - t)
    return torch.exp(s) + torch.exp(-s) + t - 2.0


def triangular_f(u: Tensor) -> Tensor:
    # (u − 1)²/(u + 1) = u − 3 + 4/(u + 1), the latter for large u (no overflow of u²)
    big = u > 2.0
    ub, us = _safe(u, big, 3.0), _safe(u, ~big, 1.0)
    return torch.where(big, ub - 3.0 + 4.0 / (ub + 1.0), (us - 1.0) ** 2 / (us + 1.0))


def triangular_conj(t: Tensor) -> Tensor:
    # f(u) = u − 3 + 4/(u+1); interior maximiser for −3 < t < 1, u = 0 for t ≤ −3
    m = t <= 1.0
    r = torch.sqrt(1.0 - _safe(t, m, 0.0)).clamp_max(2.0)
    return torch.where(m, (2.0 - r) ** 2 - 1.0, _inf_like(t))


def triangular_act(v: Tensor) -> Tensor:
    return 2.0 * torch.tanh(v) - 1.0  # onto (−3, 1), where f* is not constant


def identity(v: Tensor) -> Tensor:
    return v


# --- the α-family ----------------------------------------------------------------------------


def alpha_f(u: Tensor, *, alpha: float) -> Tensor:
    # (u^α − 1 − α(u − 1))/(α(α − 1)) in expm1 forms that stay accurate for α near 0 and 1:
    # α ≥ ½: [u·expm1((α−1) log u)/(α−1) − (u − 1)]/α;  α < ½: [expm1(α log u)/α − (u − 1)]/(α − 1)
    pos = u > 0
    us = _safe(u, pos, 1.0)
    lu = torch.log(us)
    if alpha >= 0.5:
        d = alpha - 1.0
        val = (us * torch.expm1(d * lu) / d - (us - 1.0)) / alpha
    else:
        val = (torch.expm1(alpha * lu) / alpha - (us - 1.0)) / (alpha - 1.0)
    f0 = 1.0 / alpha if alpha > 0 else _INF
    return torch.where(pos, val, torch.full_like(u, f0))


def alpha_conj(t: Tensor, *, alpha: float) -> Tensor:
    # f*(t) = ((1 + (α−1)t)^{α/(α−1)} − 1)/α where 1 + (α−1)t ≥ 0; beyond: −1/α (α > 1) or +inf
    d = alpha - 1.0
    z = 1.0 + d * t
    m = z > 0
    # z^{α/(α−1)} − 1 = expm1(α log1p((α−1)t)/(α−1)), accurate for α near 1
    val = torch.expm1(alpha * torch.log1p(d * _safe(t, m, 0.0)) / d) / alpha
    if alpha > 1:
        outside = torch.full_like(t, -1.0 / alpha)
    elif alpha < 0:  # z = 0 is the closed end of the domain, f* = −1/α there
        outside = torch.where(z == 0, torch.full_like(t, -1.0 / alpha), _inf_like(t))
    else:
        outside = _inf_like(t)
    return torch.where(m, val, outside)


def alpha_act(v: Tensor, *, alpha: float) -> Tensor:
    if alpha > 1:
        return v
    return 1.0 / (1.0 - alpha) - F.softplus(-v)


def alpha_conj_act(v: Tensor, *, alpha: float) -> Tensor:
    # α < 1: 1 + (α−1) g(v) = (1−α) softplus(−v) > 0
    z = (1.0 - alpha) * F.softplus(-v)
    return (torch.pow(z, alpha / (alpha - 1.0)) - 1.0) / alpha
