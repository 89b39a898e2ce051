"""Boundary handling and summands for :mod:`divergences.fdiv.discrete` (private).

Every summand is non-negative mathematically (clamped at 0 against rounding) and uses
:func:`_safe` so that ``torch.where`` never back-propagates NaN at zero entries.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from divergences._validation import as_tensor, check_probabilities, check_same_device, to_output

# --- boundary ---------------------------------------------------------------------------------


_LOG2 = math.log(2.0)
# row-sum tolerance by the caller's dtype (a few ulps of 1 for half precisions)
_ATOL = {torch.float64: 1e-6, torch.float32: 1e-4, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def prepare(p: Any, q: Any, normalize: bool) -> Prepared:
    """Validate ``p``, ``q``; return broadcast compute tensors, the NumPy flag and out dtype."""
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    p_is_t, q_is_t = isinstance(p, Tensor), isinstance(q, Tensor)
    pt, p_np = as_tensor(p, "p")
    qt, q_np = as_tensor(q, "q")
    if p_is_t and not q_is_t:
        qt = qt.to(device=pt.device, dtype=pt.dtype)
    elif q_is_t and not p_is_t:
        pt = pt.to(device=qt.device, dtype=qt.dtype)
    check_same_device((pt, qt), ("p", "q"))
    is_numpy = p_np and q_np
    out_dtype = torch.promote_types(pt.dtype, qt.dtype)
    work = torch.float32 if out_dtype in (torch.float16, torch.bfloat16) else out_dtype
    pt, qt = pt.to(work), qt.to(work)
    for t, n in ((pt, "p"), (qt, "q")):
        if t.ndim == 0:
            raise ValueError(f"{n} must have at least one axis (categories last), got a scalar")
    if pt.shape[-1] != qt.shape[-1]:
        raise ValueError(
            f"p and q must have the same number of categories K (last axis); got shapes "
            f"{tuple(pt.shape)} and {tuple(qt.shape)}"
        )
    try:
        shape = torch.broadcast_shapes(pt.shape, qt.shape)
    except RuntimeError:
        raise ValueError(
            f"p and q have leading shapes that do not broadcast: {tuple(pt.shape)} and "
            f"{tuple(qt.shape)}"
        ) from None
    atol = _ATOL.get(out_dtype, 1e-4)
    pt, sp = _validate(pt, "p", normalize, atol)
    qt, sq = _validate(qt, "q", normalize, atol)
    return Prepared(pt.expand(shape), qt.expand(shape), is_numpy, out_dtype, sp, sq)


def _validate(t: Tensor, name: str, normalize: bool, atol: float) -> tuple[Tensor, Tensor]:
    """Return (validated rows, row sums) with two passes and one sync when the input is valid.

    A finite row sum and a non-negative minimum imply every entry is finite and >= 0; on any
    doubt the full :func:`check_probabilities` runs and raises its precise message.
    """
    if t.numel() and t.shape[-1]:
        with torch.no_grad():
            s = t.sum(dim=-1)
            ok = torch.isfinite(s).all() & (t.amin() >= 0)
            ok &= (s > 0).all() if normalize else ((s - 1).abs().amax() <= atol)
        if bool(ok):
            if normalize:
                return t / t.sum(dim=-1, keepdim=True), torch.ones_like(s)
            return t, t.sum(dim=-1)
    t = check_probabilities(t, name, normalize=normalize, atol=atol)
    return t, t.sum(dim=-1)  # pragma: no cover - check_probabilities raises on invalid rows


class Prepared(NamedTuple):
    p: Tensor
    q: Tensor
    is_numpy: bool
    out_dtype: torch.dtype
    sum_p: Tensor  # row sums, shape (...) before broadcasting
    sum_q: Tensor


def needs_grad(p: Tensor, q: Tensor) -> bool:
    return torch.is_grad_enabled() and (p.requires_grad or q.requires_grad)


def kl_fast(p: Tensor, q: Tensor, sp: Tensor, sq: Tensor) -> Tensor:
    """Row-wise ``Σ p log(p/q) + Σq − Σp`` without autograd care (fewest memory passes)."""
    t = torch.xlogy(p, p)
    t -= torch.xlogy(p, q)
    return (t.sum(dim=-1) + (sq - sp)).clamp_min(0.0)


def js_fast(p: Tensor, q: Tensor) -> Tensor:
    """Row-wise ``½ Σ [p log p − p log m + q log q − q log m]``, ``m = (p + q)/2``.

    Exactly 0 where ``p = q`` (then ``m = p``); never NaN at zero entries.
    """
    m = p + q
    m *= 0.5
    t = torch.xlogy(p, p)
    t -= torch.xlogy(p, m)
    t += torch.xlogy(q, q)
    t -= torch.xlogy(q, m)
    return (0.5 * t.sum(dim=-1)).clamp_min(0.0)


def finish(terms: Tensor, is_numpy: bool, out_dtype: torch.dtype) -> Any:
    return to_output(terms.sum(dim=-1).to(out_dtype), is_numpy)


def safe(t: Tensor, mask: Tensor, fill: float) -> Tensor:
    return torch.where(mask, t, torch.full_like(t, fill))


# --- summands (valid inputs; every summand >= 0 mathematically) --------------------------------


def kl_terms(p: Tensor, q: Tensor) -> Tensor:
    """``p log(p/q) − p + q`` (= ``q f(p/q)`` for ``f = u log u − u + 1``); inf where q = 0 < p."""
    pos = p > 0
    ps, qs = safe(p, pos, 1.0), safe(q, pos, 1.0)
    t = torch.where(pos, ps * (torch.log(ps) - torch.log(qs)), torch.zeros_like(p)) - p + q
    return t.clamp_min(0.0)


def js_terms(p: Tensor, q: Tensor) -> Tensor:
    """``½[p log(2p/(p+q)) + q log(2q/(p+q))]``."""
    m = 0.5 * (p + q)
    return 0.5 * (kl_terms(p, m) + kl_terms(q, m))


def chi2_terms(p: Tensor, q: Tensor) -> Tensor:
    """``(p − q)²/q``: 0 where both are 0, inf where q = 0 < p."""
    pos = q > 0
    qs = safe(q, pos, 1.0)
    inf = torch.full_like(p, torch.inf)
    return torch.where(pos, (p - q) ** 2 / qs, torch.where(p > 0, inf, torch.zeros_like(p)))


def hellinger2_terms(p: Tensor, q: Tensor) -> Tensor:
    """``½(√p − √q)²``."""
    any_pos = (p > 0) | (q > 0)
    return torch.where(
        any_pos,
        0.5 * (torch.sqrt(safe(p, any_pos, 1.0)) - torch.sqrt(safe(q, any_pos, 1.0))) ** 2,
        torch.zeros_like(p),
    )


def jeffreys_terms(p: Tensor, q: Tensor) -> Tensor:
    """``(p − q)(log p − log q)``: 0 where both are 0, inf where exactly one is 0."""
    both = (p > 0) & (q > 0)
    one = (p > 0) ^ (q > 0)
    ps, qs = safe(p, both, 1.0), safe(q, both, 1.0)
    val = ((ps - qs) * (torch.log(ps) - torch.log(qs))).clamp_min(0.0)
    inf = torch.full_like(p, torch.inf)
    return torch.where(both, val, torch.where(one, inf, torch.zeros_like(p)))


def triangular_terms(p: Tensor, q: Tensor) -> Tensor:
    """``(p − q)²/(p + q)``: 0 where both are 0."""
    s = p + q
    pos = s > 0
    return torch.where(pos, (p - q) ** 2 / safe(s, pos, 1.0), torch.zeros_like(p))


def alpha_terms(p: Tensor, q: Tensor, a: float) -> Tensor:
    """``q f_α(p/q)`` with ``f_α(u) = (u^α − 1 − α(u − 1))/(α(α − 1))``, for ``α ≥ ½``.

    Written as ``[p·expm1((α−1) log(p/q))/(α−1) − (p − q)]/α``, accurate for ``α`` near 1.
    """
    d = a - 1.0
    both = (p > 0) & (q > 0)
    ps, qs = safe(p, both, 1.0), safe(q, both, 1.0)
    val = ((ps * torch.expm1(d * (torch.log(ps) - torch.log(qs))) / d - (ps - qs)) / a).clamp_min(
        0.0
    )
    p_zero = q / a  # q f(0), f(0) = 1/α for α > 0
    if a > 1:
        q_zero = torch.full_like(p, torch.inf)
    else:
        q_zero = p / (1.0 - a)  # p · lim f(u)/u
    return torch.where(
        both, val, torch.where(p > 0, q_zero, torch.where(q > 0, p_zero, torch.zeros_like(p)))
    )
