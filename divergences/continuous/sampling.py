"""Sampling a 1-D distribution from uniform noise: X = F⁻¹(U), U ~ Uniform(0, 1).

If U is uniform on (0, 1) and F is a CDF, the generalised inverse
``F⁻¹(u) = inf{x : F(x) ≥ u}`` maps U to a sample of F, because
``P(F⁻¹(U) ≤ t) = P(U ≤ F(t)) = F(t)``. :func:`inverse_cdf_sample` applies it with a known
quantile function, or inverts a CDF numerically by vectorised bisection (which keeps the
bracket ``F(a) < u ≤ F(b)``, so atoms and flat stretches are handled exactly);
:func:`empirical_quantile_sample` applies it to the empirical CDF of data.

Randomness comes from an explicit ``torch.Generator`` (default: a fresh CPU generator seeded
with 0, so results are reproducible).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from divergences._validation import (
    as_tensor,
    check_choice,
    check_finite,
    check_interval,
    check_positive_int,
)
from divergences._validation import to_output as _to_output

__all__ = ["empirical_quantile_sample", "inverse_cdf_sample"]

Tensor = torch.Tensor
_EPS64 = float(np.finfo(np.float64).eps)
_MAX_DOUBLINGS = 1100  # 2**1100 overflows float64: every finite bracket is found before
_MONO_TOL = 1e-10  # a CDF computed as 1 - sf may wobble by rounding; more is not a CDF


def _uniforms(n: int, generator: torch.Generator | None) -> Tensor:
    """``n`` float64 uniforms in the open interval (0, 1), on the generator's device."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    u = torch.rand(n, generator=gen, dtype=torch.float64, device=gen.device)
    return torch.where(u > 0, u, 2.0**-54)


class _Caller:
    """Calls a user's cdf/ppf in the chosen array type and validates what comes back."""

    def __init__(self, fn: Callable[[Any], Any], name: str, backend: str) -> None:
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        self.fn, self.name, self.backend = fn, name, backend

    def __call__(self, x: Tensor) -> Tensor:
        if self.backend == "numpy":
            out = torch.from_numpy(np.asarray(self.fn(x.cpu().numpy()), dtype=np.float64))
        else:
            out = self.fn(x)
            if not isinstance(out, Tensor):
                raise TypeError(f"{self.name} must return a tensor with backend='torch'")
            out = out.to(torch.float64)
        if out.shape != x.shape:
            raise ValueError(
                f"{self.name} must be vectorised: input shape {tuple(x.shape)}, output shape "
                f"{tuple(out.shape)}"
            )
        if bool(torch.isnan(out).any()):
            bad = x[torch.isnan(out)][0]
            raise ValueError(f"{self.name} returned NaN at x = {float(bad):.6g}")
        out = out.to(x.device)
        if self.name == "cdf":
            outside = (out < -_MONO_TOL) | (out > 1.0 + _MONO_TOL)
            if bool(outside.any()):
                i = int(outside.nonzero()[0, 0])
                raise ValueError(
                    f"cdf must take values in [0, 1]; cdf({float(x[i]):.6g}) = {float(out[i]):.6g}"
                )
        return out


def _check_non_decreasing(x: Tensor, fx: Tensor, name: str, tol: Tensor | float) -> None:
    """Raise unless ``fx`` is non-decreasing along sorted ``x`` (up to ``tol``), naming ``name``."""
    order = torch.argsort(x)
    xs, fs = x[order], fx[order]
    drop = fs[:-1] - fs[1:]
    tol_t = tol if isinstance(tol, float) else tol[order][1:]
    bad = (drop > tol_t) & (xs[1:] > xs[:-1])
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{name} must be non-decreasing, but {name}({float(xs[i]):.6g}) = {float(fs[i]):.6g} "
            f"> {name}({float(xs[i + 1]):.6g}) = {float(fs[i + 1]):.6g}"
        )


def _expand(cdf: _Caller, u: Tensor, start: Tensor, direction: float) -> Tensor:
    """Move ``start`` by ±2^k until ``F(x) < u`` (direction −1) or ``F(x) ≥ u`` (+1)."""
    x = start.clone()
    step = torch.ones_like(x)
    todo = torch.arange(x.numel(), device=x.device)
    for _ in range(_MAX_DOUBLINGS):
        fx = cdf(x[todo])
        need = fx >= u[todo] if direction < 0 else fx < u[todo]
        todo = todo[need]
        if todo.numel() == 0:
            return x
        x[todo] = start[todo] + direction * step[todo]
        step[todo] *= 2.0
        if not bool(torch.isfinite(x[todo]).all()):
            side = "0 as x → -inf" if direction < 0 else "1 as x → +inf"
            raise ValueError(f"cdf does not tend to {side}; is it a cumulative distribution?")
    raise ValueError("cdf: could not bracket the quantiles")  # pragma: no cover


def _bisect(cdf: _Caller, u: Tensor, a: Tensor, b: Tensor, xtol: float, rtol: float) -> Tensor:
    """Shrink brackets with ``F(a) < u ≤ F(b)`` until ``b − a ≤ xtol + rtol·max(|a|, |b|)``."""
    for _ in range(4 * _MAX_DOUBLINGS):
        mid = a + 0.5 * (b - a)
        tol = xtol + rtol * torch.maximum(a.abs(), b.abs())
        active = (b - a > tol) & (mid > a) & (mid < b)
        if not bool(active.any()):
            return b
        right = cdf(mid) >= u
        b = torch.where(active & right, mid, b)
        a = torch.where(active & ~right, mid, a)
    return b  # pragma: no cover - the float64 bisection always ends before


def _check_support(support: Any) -> tuple[float, float]:
    return check_interval(support, "support")


def _invert(cdf: _Caller, u: Tensor, lo: float, hi: float, xtol: float, rtol: float) -> Tensor:
    """Generalised inverse ``inf{x ∈ [lo, hi] : F(x) ≥ u}`` for each u, by bracketing."""
    if math.isfinite(hi):
        f_hi = float(cdf(torch.tensor([hi], dtype=u.dtype, device=u.device))[0])
        if f_hi < 1.0 - 1e-6:
            raise ValueError(
                f"cdf(hi) = {f_hi:.6g} < 1 at the upper end of support: the support must "
                "contain the whole distribution"
            )
    if math.isfinite(lo) and math.isfinite(hi):
        a, b = torch.full_like(u, lo), torch.full_like(u, hi)
    elif math.isfinite(lo):
        a = torch.full_like(u, lo)
        b = _expand(cdf, u, torch.full_like(u, lo + 1.0), +1.0)
    elif math.isfinite(hi):
        b = torch.full_like(u, hi)
        a = _expand(cdf, u, torch.full_like(u, hi - 1.0), -1.0)
    else:
        a = _expand(cdf, u, torch.full_like(u, -1.0), -1.0)
        b = _expand(cdf, u, torch.full_like(u, 1.0), +1.0)
        a = torch.minimum(a, b)  # a bracket may start above b for far-left quantiles
    if math.isfinite(lo):  # an atom at lo: F(lo) ≥ u means the quantile is lo itself
        b = torch.where(cdf(a) >= u, a, b)  # a == b == lo: nothing left to bisect
    x = _bisect(cdf, u, a, b, xtol, rtol)
    # bisection trusts monotonicity: check it on the brackets and a grid over their range
    g_lo = lo if math.isfinite(lo) else float(a.min())
    g_hi = hi if math.isfinite(hi) else float(x.max())
    grid = torch.linspace(g_lo, g_hi, 1025, dtype=x.dtype, device=x.device)
    pts = torch.cat([a, x, grid])
    _check_non_decreasing(pts, cdf(pts), "cdf", _MONO_TOL)
    return x


def inverse_cdf_sample(
    n: int,
    *,
    cdf: Callable[[Any], Any] | None = None,
    ppf: Callable[[Any], Any] | None = None,
    support: tuple[float, float] = (-math.inf, math.inf),
    generator: torch.Generator | None = None,
    backend: str = "numpy",
    xtol: float = 1e-12,
    rtol: float = 4 * _EPS64,
) -> Any:
    """Draw ``n`` samples of a 1-D distribution as ``F⁻¹(U)`` with ``U ~ Uniform(0, 1)``.

    .. math:: X = F⁻¹(U) = inf{x : F(x) ≥ U}, so P(X ≤ t) = P(U ≤ F(t)) = F(t)

    Give exactly one of ``ppf`` (the quantile function F⁻¹, applied directly) or ``cdf`` (F,
    inverted numerically). The inversion is vectorised bisection on brackets
    ``F(a) < u ≤ F(b)``: infinite ends of ``support`` are bracketed by doubling steps from
    ±1, then each bracket is halved until ``b − a ≤ xtol + rtol·max(|a|, |b|)`` and ``b`` is
    returned. It needs only a non-decreasing, right-continuous F with limits 0 and 1, so
    atoms, gaps and flat stretches (discrete and mixed distributions) are exact up to the
    tolerance; a continuous F costs about ``log2(width / xtol)`` vectorised calls.

    Args:
        n: Number of samples (>= 1).
        cdf: Vectorised CDF, array → array of the same shape (e.g. ``scipy.stats.norm.cdf``).
        ppf: Vectorised quantile function, array in (0, 1) → array.
        support: ``(lo, hi)`` containing the distribution (used with ``cdf``); ends may be
            infinite. With a finite ``hi``, ``cdf(hi)`` must be 1.
        generator: Source of the uniforms (default: a CPU generator seeded with 0).
        backend: ``"numpy"``: ``cdf``/``ppf`` get and return NumPy float64 arrays and the
            result is a NumPy array; ``"torch"``: they get and return float64 tensors on the
            generator's device and the result is such a tensor.
        xtol: Absolute tolerance of the inversion.
        rtol: Relative tolerance of the inversion.

    Returns:
        Samples, shape ``(n,)``, float64 (NumPy array or tensor, see ``backend``).

    Raises:
        ValueError: neither or both of ``cdf`` and ``ppf``, a bad ``support``, a ``cdf`` that
            returns NaN, leaves [0, 1], does not reach 0 and 1 or decreases on the final
            brackets and 1025 points spanning them (the whole support where finite), a
            ``ppf`` that returns NaN or decreases along the drawn uniforms.
        TypeError: non-callable ``cdf``/``ppf``, a bad ``generator``.

    References:
        Devroye, "Non-Uniform Random Variate Generation" (1986), §II.2 (inversion method).

    Example:
        >>> from scipy import stats
        >>> x = inverse_cdf_sample(2000, cdf=stats.expon.cdf, support=(0.0, float("inf")))
        >>> bool(stats.kstest(x, stats.expon.cdf).pvalue > 0.01)
        True
    """
    n = check_positive_int(n, "n")
    check_choice(backend, "backend", ("numpy", "torch"))
    if (cdf is None) == (ppf is None):
        raise ValueError("pass exactly one of cdf (inverted numerically) or ppf (applied directly)")
    lo, hi = _check_support(support)
    for val, name in ((xtol, "xtol"), (rtol, "rtol")):
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not val >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {val!r}")
    u = _uniforms(n, generator)
    if ppf is not None:
        x = _Caller(ppf, "ppf", backend)(u)
        _check_non_decreasing(u, x, "ppf", 8 * _EPS64 * x.abs())
    else:
        assert cdf is not None  # exactly one of cdf and ppf was checked above
        x = _invert(_Caller(cdf, "cdf", backend), u, lo, hi, float(xtol), float(rtol))
    return x.cpu().numpy() if backend == "numpy" else x


def empirical_quantile_sample(
    data: Any,
    n: int,
    *,
    generator: torch.Generator | None = None,
    interpolate: bool = True,
) -> Any:
    """Draw ``n`` samples from the empirical quantile function of 1-D ``data``.

    .. math:: X = x_{(⌈U N⌉)} (interpolate=False), or X = lerp of x_{(k)} at U (N − 1)

    With ``interpolate=False`` this is the generalised inverse of the empirical CDF, i.e.
    resampling ``data`` with replacement (the bootstrap). With ``interpolate=True`` it is the
    inverse of the piecewise-linear CDF through ``(x_(k), (k − 1)/(N − 1))``, k = 1..N (NumPy's
    default ``"linear"`` quantile, Hyndman & Fan type 7): a continuous distribution on
    ``[min(data), max(data)]``.

    Args:
        data: Observations, shape ``(N,)``, finite.
        n: Number of samples (>= 1).
        generator: Source of the uniforms (default: a CPU generator seeded with 0).
        interpolate: Linear interpolation between order statistics (True) or resampling.

    Returns:
        Samples, shape ``(n,)``: a tensor like ``data`` (same device and dtype,
        differentiable with respect to ``data``), or a NumPy float64 array for array input.

    Raises:
        ValueError: ``data`` not 1-D, empty or not finite; ``n`` < 1.

    References:
        Hyndman & Fan, "Sample quantiles in statistical packages", The American
        Statistician 50 (1996), definition 7 (``numpy.quantile(method="linear")``).

    Example:
        >>> x = empirical_quantile_sample([1.0, 2.0, 4.0], 5, interpolate=False)
        >>> set(x.tolist()) <= {1.0, 2.0, 4.0}
        True
    """
    n = check_positive_int(n, "n")
    if not isinstance(interpolate, bool):
        raise TypeError(f"interpolate must be a bool, got {type(interpolate).__name__}")
    x, is_numpy = as_tensor(data, "data")
    if x.ndim != 1:
        raise ValueError(f"data must have shape (N,), got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError("data is empty (shape (0,))")
    check_finite(x, "data")
    u = _uniforms(n, generator).to(x.device)
    xs = torch.sort(x).values
    size = xs.shape[0]
    if interpolate:
        pos = u * (size - 1)
        i = pos.floor().long().clamp(0, size - 1)
        j = (i + 1).clamp(max=size - 1)
        frac = (pos - i.to(pos.dtype)).to(xs.dtype)
        out = xs[i] + frac * (xs[j] - xs[i])
    else:
        idx = (torch.ceil(u * size).long() - 1).clamp(0, size - 1)
        out = xs[idx]
    return _to_output(out, is_numpy)
