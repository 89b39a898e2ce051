"""Numerical helpers for :mod:`divergences.fdiv.family` (private).

* :func:`exp_lambertw_log` — ``log W(exp(x))`` by Newton's method, for the Jeffreys conjugate.
* :func:`numeric_conjugate` — ``f*(t) = sup_{u >= 0} (u t - f(u))`` for a user-defined ``f``,
  by vectorised bisection on ``f'(u) = t`` over ``log u``.
* :func:`infer_properties` — ``f(0)``, ``lim f(u)/u``, ``f'(1)``, convexity and symmetry of a
  user-defined generator, checked numerically on a grid.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

LOG_U_RANGE = (-230.0, 230.0)  # maximisers are searched over u in [1e-100, 1e100]


def exp_lambertw_log(x: Tensor, iters: int = 40) -> Tensor:
    """Return ``s = log W(exp(x))``, the root of ``exp(s) + s = x``, differentiable in ``x``.

    The root is found without autograd (Newton from ``x`` or ``log(x - log x)``), then one
    Newton step is taken with autograd, whose derivative ``1 / (1 + exp(s))`` is exact at the
    root (implicit-function theorem).
    """
    work = torch.float64 if x.dtype != torch.float64 else x.dtype
    with torch.no_grad():
        xd = x.detach().to(work)
        big = xd > 1.0
        xb = torch.where(big, xd, torch.full_like(xd, 2.0))
        s = torch.where(big, torch.log(xb - torch.log(xb)), xd)
        for _ in range(iters):
            es = torch.exp(s)
            s = s - (es + s - xd) / (es + 1.0)
    s = s.to(x.dtype)
    es = torch.exp(s)
    return s - (es + s - x) / (es + 1.0)


def _nan_to_neginf(g: Tensor) -> Tensor:
    return torch.where(torch.isnan(g), torch.full_like(g, -math.inf), g)


def _derivative(f: Callable[[Tensor], Tensor], u: Tensor) -> Tensor:
    """``f'(u)`` by autograd (central differences if ``f`` is not differentiable in torch)."""
    with torch.enable_grad():
        x = u.detach().clone().requires_grad_(True)
        y = f(x)
        if y.requires_grad:
            (g,) = torch.autograd.grad(y.sum(), x)
            return g
    h = 1e-6
    return (f(u * (1 + h)) - f(u * (1 - h))) / (2 * h * u)


def numeric_conjugate(
    f: Callable[[Tensor], Tensor],
    t: Tensor,
    *,
    slope_at_inf: float,
    f_at_0: float,
    iters: int = 64,
) -> Tensor:
    """``f*(t) = sup_{u >= 0} (u t - f(u))`` elementwise, by bisection on ``f'(u) = t``.

    ``u t - f(u)`` is concave in ``u``: its maximiser is where ``f'(u)`` crosses ``t``, found by
    bisection over ``s = log u`` in :data:`LOG_U_RANGE` (``f'`` by autograd); the boundary
    ``u = 0`` (value ``-f(0)``) is compared at the end. ``t >= slope_at_inf`` gives ``+inf``
    (at ``t = slope_at_inf`` the value is a limit at ``u -> inf`` that floating point cannot
    evaluate reliably). The result is differentiable in ``t`` with the envelope-theorem gradient
    ``u*(t)``. Warns when a maximiser falls outside the searched range.
    """
    lo_s, hi_s = LOG_U_RANGE
    with torch.no_grad():
        td = t.detach().to(torch.float64)
        a = torch.full_like(td, lo_s)
        b = torch.full_like(td, hi_s)
        for _ in range(iters):
            mid = (a + b) / 2
            right = _derivative(f, torch.exp(mid)).to(torch.float64) < td
            a = torch.where(right, mid, a)
            b = torch.where(right, b, mid)
        s_star = (a + b) / 2
        u_int = torch.exp(s_star)
        best = _nan_to_neginf(u_int * td - f(u_int).to(torch.float64))
        at_zero = torch.full_like(td, -f_at_0) >= best
        finite_t = td < slope_at_inf
        u_star = torch.where(at_zero, torch.zeros_like(td), u_int)
        f_u = torch.where(at_zero, torch.full_like(td, f_at_0), f(u_int).to(torch.float64))
        edge_hi = (~at_zero) & (s_star > hi_s - 1.0) & finite_t
        edge_lo = (~at_zero) & (s_star < lo_s + 1.0) & math.isinf(f_at_0)
        if bool((edge_hi | edge_lo).any()):
            warnings.warn(
                "numerical conjugate: the maximiser u* lies outside [1e-100, 1e100] for "
                f"{int((edge_hi | edge_lo).sum())} value(s) of t; those values are lower bounds. "
                "Pass conjugate= in closed form for extreme arguments.",
                RuntimeWarning,
                stacklevel=3,
            )
    val = u_star.to(t.dtype) * t - f_u.to(t.dtype)
    return torch.where(finite_t, val, torch.full_like(val, math.inf))


def _f64(f: Callable[[Tensor], Tensor], u: Tensor) -> Tensor:
    out = f(u)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"f must map a torch.Tensor to a torch.Tensor, got {type(out).__name__}; "
            "write it with torch operations"
        )
    if out.shape != u.shape:
        raise TypeError(
            f"f must be elementwise (output shape {tuple(out.shape)} != input shape "
            f"{tuple(u.shape)})"
        )
    return out.detach().to(torch.float64)


def infer_properties(f: Callable[[Tensor], Tensor], name: str) -> dict[str, float | bool]:
    """Check that ``f`` is a valid generator and estimate its constants numerically.

    Returns ``f_at_0``, ``slope_at_inf``, ``f_prime_at_1``, ``strictly_convex``, ``symmetric``.
    Raises ``ValueError`` if ``f(1) != 0``, ``f`` is not convex on a log grid of ``u``, or
    ``f(0)`` is NaN (write ``f`` so that it returns its limit at 0, e.g. with ``torch.xlogy``).
    """
    one = _f64(f, torch.ones(1, dtype=torch.float64))
    if not bool(torch.isfinite(one).all()) or abs(float(one)) > 1e-8:
        raise ValueError(
            f"f of {name!r} must satisfy f(1) = 0 (the generator of a divergence), got "
            f"f(1) = {float(one):.6g}; subtract that constant"
        )
    f0 = float(_f64(f, torch.zeros(1, dtype=torch.float64)))
    if math.isnan(f0):
        raise ValueError(
            f"f of {name!r} returns NaN at u = 0; make it return its limit as u -> 0+ "
            "(e.g. use torch.xlogy(u, u) for u log u)"
        )
    if f0 == -math.inf:
        raise ValueError(f"f of {name!r} is -inf at u = 0, so it is not convex on [0, inf)")
    u = torch.logspace(-8, 8, 401, dtype=torch.float64)
    fu = _f64(f, u)
    if not bool(torch.isfinite(fu).all()):
        raise ValueError(f"f of {name!r} must be finite for u in (0, inf)")
    # convexity: midpoint test on adjacent grid points (with the exact midpoint evaluated)
    mid = _f64(f, (u[1:] + u[:-1]) / 2)
    chord = (fu[1:] + fu[:-1]) / 2
    gap = chord - mid
    scale = 1e-9 * (fu[1:].abs() + fu[:-1].abs() + 1.0)
    if bool((gap < -scale).any()):
        i = int(torch.argmin(gap + scale))
        raise ValueError(
            f"f of {name!r} must be convex on [0, inf); the midpoint test fails between "
            f"u = {float(u[i]):.3g} and u = {float(u[i + 1]):.3g}"
        )
    inner = (u[:-1] >= 0.1) & (u[1:] <= 10.0)
    strictly = bool((gap[inner] > 1e-13 * (fu[1:].abs() + fu[:-1].abs())[inner]).all())
    # slope at infinity: f(u)/u at huge u; still growing (or overflowing) -> inf
    big = torch.tensor([1e75, 1e100], dtype=torch.float64)
    fb = _f64(f, big)
    r1, r2 = float(fb[0] / big[0]), float(fb[1] / big[1])
    if math.isnan(r2) or math.isinf(r2) or r2 - r1 > 1e-6 * (1.0 + abs(r1)):
        slope = math.inf
    else:
        slope = r2
    h = 1e-6
    fd = _f64(f, torch.tensor([1.0 - h, 1.0 + h], dtype=torch.float64))
    fprime = float((fd[1] - fd[0]) / (2 * h))
    # symmetry: f(u) - u f(1/u) must be linear c (u - 1)
    us = torch.logspace(-3, 3, 61, dtype=torch.float64)
    hs = _f64(f, us) - us * _f64(f, 1.0 / us)
    c = float(_f64(f, torch.tensor([2.0], dtype=torch.float64))[0]) - 2.0 * float(
        _f64(f, torch.tensor([0.5], dtype=torch.float64))[0]
    )
    symmetric = bool(((hs - c * (us - 1.0)).abs() <= 1e-7 * (1.0 + hs.abs())).all())
    return {
        "f_at_0": f0,
        "slope_at_inf": slope,
        "f_prime_at_1": fprime,
        "strictly_convex": strictly,
        "symmetric": symmetric,
    }
