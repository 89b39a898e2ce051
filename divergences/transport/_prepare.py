"""Validation of transport inputs at the public boundary, and the exact rescaling of each item.

Private helper of :mod:`divergences.transport`. Every item of a batch is centred (its pooled
mean removed: transport costs depend on differences only) and then multiplied by a power of
two so that its largest centred coordinate lies in [1/2, 1): exact, and it keeps
``‖x‖² + ‖y‖² − 2x·y`` accurate for data far from the origin and costs, temperatures and
potentials inside the floating-point range at any magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from divergences._validation import (
    as_tensor,
    as_tensor_pair,
    check_finite,
    check_point_sets,
    check_same_device,
    pow2_exponent,
)
from divergences.neighbors.engine import _check_lengths, _per_set, _set_max_abs

Tensor = torch.Tensor

# |log2| of a temperature or penalty in rescaled cost units beyond which C/ε or ε itself
# leaves the float64 range
LOG2_RANGE = 900


@dataclass(frozen=True)
class Batch:
    """Validated inputs in batched form, and their rescaled copies (private)."""

    x: Tensor  # (B, N, D) as given
    y: Tensor  # (B, M, D)
    xs: Tensor  # centred, times 2^-e (padded rows 0), differentiable w.r.t. x
    ys: Tensor
    a: Tensor  # (B, N) weights in x's dtype, 0 on padded rows (differentiable)
    b: Tensor
    x_len: list[int]
    y_len: list[int]
    e: list[int]  # the data are xs 2^e plus a centre
    batched: bool
    is_numpy: bool

    def mask(self, side: str) -> Tensor:
        """``(B, N)`` (or ``(B, M)``) True on the rows that are not padding."""
        t, lengths = (self.x, self.x_len) if side == "x" else (self.y, self.y_len)
        n = t.shape[1]
        lens = torch.tensor(lengths, device=t.device).view(-1, 1)
        return torch.arange(n, device=t.device).view(1, -1) < lens


def check_number(v: Any, name: str, what: str) -> float:
    """``v`` as a finite float > 0, else a ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number > 0 ({what}), got {type(v).__name__}")
    if not math.isfinite(v) or not v > 0:
        raise ValueError(f"{name} must be a finite number > 0 ({what}), got {v!r}")
    return float(v)


def _weights(w: Any, name: str, pts: Tensor, pname: str, lengths: list[int], batched: bool):
    """Weights ``(B, n)``: uniform ``1/len`` by default, 0 on padded rows."""
    bsz, n = pts.shape[:2]
    valid = torch.arange(n, device=pts.device).view(1, -1) < torch.tensor(
        lengths, device=pts.device
    ).view(-1, 1)
    if w is None:
        lens = torch.tensor(lengths, dtype=pts.dtype, device=pts.device).view(-1, 1)
        return torch.where(valid, 1.0 / lens, torch.zeros((), dtype=pts.dtype, device=pts.device))
    wt, w_np = as_tensor(w, name)
    if not w_np:
        check_same_device((pts, wt), (pname, name))
    want = (bsz, n) if batched else (n,)
    if tuple(wt.shape) != want:
        shape = f"(B, {'N' if pname == 'x' else 'M'}) = {want}" if batched else f"{want}"
        raise ValueError(
            f"{name} must have shape {shape} to match {pname} with shape "
            f"{tuple(pts.shape) if batched else tuple(pts.shape[1:])}; got {tuple(wt.shape)}"
        )
    check_finite(wt, name)
    if bool((wt < 0).any()):
        raise ValueError(
            f"{name} must be non-negative, found {int((wt < 0).sum())} negative entries"
        )
    wt = wt.to(pts.device, pts.dtype).reshape(bsz, n)
    wt = torch.where(valid, wt, torch.zeros((), dtype=wt.dtype, device=wt.device))
    mass = wt.detach().sum(-1)
    if bool((mass <= 0).any()):
        raise ValueError(f"{name} must have a positive sum (over each item's points)")
    return wt


def check_balance(a: Tensor, b: Tensor, method: str) -> Tensor:
    """Raise unless each item's masses agree; return ``b`` rescaled to ``a``'s mass exactly."""
    ma, mb = a.detach().double().sum(-1), b.detach().double().sum(-1)
    rtol = 1e-6 if a.dtype == torch.float64 else 1e-4
    gap = (ma - mb).abs() / torch.maximum(ma, mb)
    if bool((gap > rtol).any()):
        k = int(gap.argmax())
        raise ValueError(
            f"method={method!r} is balanced: a and b must have the same total mass, got "
            f"sum(a)={float(ma[k]):.6g} and sum(b)={float(mb[k]):.6g}"
            f"{f' (item {k})' if a.shape[0] > 1 else ''}; normalise them, or use "
            "method='unbalanced'"
        )
    return b * (ma / mb).to(b.dtype).view(-1, 1)


def prepare(x: Any, y: Any, a: Any, b: Any, x_lengths: Any, y_lengths: Any) -> Batch:
    """Validate points, weights and lengths once; centre and rescale each item."""
    xt, yt, is_np = as_tensor_pair(x, y, ("x", "y"))
    if xt.dtype != yt.dtype:
        raise TypeError(f"x and y must have the same dtype, got {xt.dtype} and {yt.dtype}")
    batched = check_point_sets(xt, yt)
    if not batched and (x_lengths is not None or y_lengths is not None):
        raise ValueError(
            f"x_lengths/y_lengths need batched (B, N, D) inputs; got x of shape {tuple(xt.shape)}"
        )
    xb = xt if batched else xt.unsqueeze(0)
    yb = yt if batched else yt.unsqueeze(0)
    bsz, n, _ = xb.shape
    m = yb.shape[1]
    xl = _check_lengths(x_lengths, "x_lengths", bsz, n, xt.device) or [n] * bsz
    yl = _check_lengths(y_lengths, "y_lengths", bsz, m, xt.device) or [m] * bsz
    aw = _weights(a, "a", xb, "x", xl, batched)
    bw = _weights(b, "b", yb, "y", yl, batched)
    xs, ys, e = _centre_rescale(xb, yb, xl, yl)
    return Batch(xb, yb, xs, ys, aw, bw, xl, yl, e, batched, is_np)


def _centre_rescale(
    x: Tensor, y: Tensor, xl: list[int], yl: list[int]
) -> tuple[Tensor, Tensor, list[int]]:
    """Each item minus its pooled mean, times ``2^-e`` (max-abs in [1/2, 1)); padding set to 0."""
    mx, my = _set_max_abs(x, xl), _set_max_abs(y, yl)
    k = [pow2_exponent(max(u, v)) for u, v in zip(mx, my)]
    x1 = _per_set(x, [-v for v in k])
    y1 = _per_set(y, [-v for v in k])
    dev = x.device
    vx = torch.arange(x.shape[1], device=dev).view(1, -1, 1) < torch.tensor(xl, device=dev).view(
        -1, 1, 1
    )
    vy = torch.arange(y.shape[1], device=dev).view(1, -1, 1) < torch.tensor(yl, device=dev).view(
        -1, 1, 1
    )
    with torch.no_grad():
        tot = (x1.double() * vx).sum(1) + (y1.double() * vy).sum(1)
        cnt = torch.tensor([u + v for u, v in zip(xl, yl)], dtype=torch.float64, device=dev)
        centre = (tot / cnt.view(-1, 1)).to(x.dtype).unsqueeze(1)
    zero = torch.zeros((), dtype=x.dtype, device=dev)
    x2 = torch.where(vx, x1 - centre, zero)
    y2 = torch.where(vy, y1 - centre, zero)
    m2x, m2y = _set_max_abs(x2, xl), _set_max_abs(y2, yl)
    e2 = [pow2_exponent(max(u, v)) for u, v in zip(m2x, m2y)]
    xs = _per_set(x2, [-v for v in e2])
    ys = _per_set(y2, [-v for v in e2])
    return xs, ys, [u + v for u, v in zip(k, e2)]


def pow2(v: float) -> float:
    """``2**v`` as a float, ``inf`` beyond the float64 range."""
    try:
        return 2.0**v
    except OverflowError:
        return math.inf


def scaled(value: float, e: list[int], p: float, name: str, what: str) -> list[float]:
    """``value`` in each item's rescaled cost units, ``value 2^(−e p)``, kept in range.

    Raises a ``ValueError`` naming ``name`` when it would underflow the range in which the
    cost divided by it stays finite (``2^-LOG2_RANGE``); clamps it from above.
    """
    out = []
    for ek in e:
        l2 = math.log2(value) - ek * p
        if l2 < -LOG2_RANGE:
            lo = ek * p - LOG2_RANGE
            raise ValueError(
                f"{name}={value!r} is too small for these data ({what}; costs ‖x−y‖^{p:g} up "
                f"to about 2^{ek * p:.0f}): it must be >= 2^{lo:.0f} (about "
                f"1e{lo * math.log10(2):.0f})"
            )
        out.append(2.0 ** min(l2, LOG2_RANGE))
    return out


def diameters_p(xs: Tensor, ys: Tensor, xl: list[int], yl: list[int], p: float) -> list[float]:
    """``diam^p`` per item: the diagonal of the bounding box of both (rescaled) sets."""
    out = []
    for k in range(xs.shape[0]):
        z = torch.cat([xs[k, : xl[k]].detach(), ys[k, : yl[k]].detach()]).double()
        out.append(float((z.max(0).values - z.min(0).values).norm()) ** p)
    return out
