"""f-divergences between continuous distributions by 1-D quadrature and by Monte Carlo.

Both routines evaluate ``f`` at a density ratio given by its logarithm ``r = log p − log q``,
in one of two equivalent forms chosen for stability:

* the Q-side term ``f(e^r)`` (``D = E_Q[f(p/q)]``), used where ``p ≤ q``;
* the P-side term ``f(e^r)·e^{−r}`` (``D = E_P[f(p/q)·q/p]``), used where ``p > q``,

with the record's limits ``f(0)`` (``p = 0 < q``) and ``slope_at_inf = lim f(u)/u``
(``q = 0 < p``) where the ratio is 0 or infinite, and closed forms in ``r`` for ``kl``
(``r e^r`` and ``r``) and ``reverse_kl`` (``−r`` and ``−r e^{−r}``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from scipy import integrate

from divergences._validation import (
    as_tensor_pair,
    check_choice,
    check_interval,
    to_output,
)
from divergences.fdiv.family import FDivergence, get_f_divergence

__all__ = ["MonteCarloResult", "QuadratureResult", "f_divergence_1d", "monte_carlo_f_divergence"]

Tensor = torch.Tensor


class QuadratureResult(NamedTuple):
    """Value of an integral and scipy's estimate of its absolute error (both Python floats)."""

    value: float
    abserr: float


class MonteCarloResult(NamedTuple):
    """A Monte Carlo mean and its standard error (same array type as the inputs)."""

    value: Any
    stderr: Any


def _term(rec: FDivergence, r: Tensor, side: str) -> Tensor:
    """``f(e^r)`` (side ``"q"``) or ``f(e^r)·e^{−r}`` (side ``"p"``), elementwise in float64.

    ``r = −inf`` on the Q side gives ``f(0)``; ``r = +inf`` on the P side gives the slope.
    """
    if rec.name == "kl":
        if side == "p":
            return r
        fin = torch.isfinite(r)
        rs = torch.where(fin, r, 0.0)
        return torch.where(fin, rs * torch.exp(rs), torch.where(r > 0, math.inf, 0.0))
    if rec.name == "reverse_kl":
        if side == "q":
            return -r
        fin = torch.isfinite(r)
        rs = torch.where(fin, r, 0.0)
        return torch.where(fin, -rs * torch.exp(-rs), torch.where(r > 0, 0.0, math.inf))
    u = torch.exp(r)
    big = torch.isinf(u)
    us = torch.where(big, 1.0, u)
    if side == "q":
        slope_term = math.inf if rec.slope_at_inf > 0 else -math.inf
        return torch.where(big, slope_term, rec.f(us))
    small = u == 0
    us = torch.where(small, 1.0, us)
    val = rec.f(us) / us
    limit_small = math.inf if rec.f_at_0 > 0 else (-math.inf if rec.f_at_0 < 0 else math.nan)
    val = torch.where(small, limit_small, val)
    return torch.where(big, rec.slope_at_inf, val)


def monte_carlo_f_divergence(
    log_p: Any, log_q: Any, divergence: str | FDivergence = "kl", *, samples_from: str = "q"
) -> MonteCarloResult:
    """Monte Carlo estimate of ``D_f(P‖Q)`` from log-densities evaluated at i.i.d. samples.

    .. math:: D_f(P‖Q) = E_Q[f(p/q)] = E_P[f(p/q)·q/p] ≈ mean_i h(log p(x_i) − log q(x_i))

    With ``samples_from="q"`` the x_i are drawn from Q and ``h(r) = f(e^r)``; with ``"p"``
    they are drawn from P and ``h(r) = f(e^r) e^{−r}`` (for KL this is the usual
    ``mean(log p − log q)``). The ratio never leaves log space where a closed form exists
    (``kl``, ``reverse_kl``); otherwise ``f`` is evaluated in float64 at ``e^r``, using the
    record's ``f(0)`` and ``slope_at_inf`` where ``e^r`` underflows or overflows.

    Args:
        log_p: ``log p(x_i)``, shape ``(..., N)``; may be ``-inf`` when sampling from Q.
        log_q: ``log q(x_i)``, shape ``(..., N)``; may be ``-inf`` when sampling from P.
        divergence: A registry name (see :func:`divergences.fdiv.family.names`) or an
            :class:`~divergences.fdiv.family.FDivergence` record.
        samples_from: ``"q"`` (the definition ``E_Q[f(p/q)]``) or ``"p"``.

    Returns:
        ``MonteCarloResult(value, stderr)``: the mean over the last axis and its standard error
        ``std(ddof=1)/√N``, each of shape ``(...)``; tensors for tensor input (differentiable,
        input dtype), floats or NumPy arrays for array input.

    Raises:
        ValueError: NaN or ``+inf`` inputs, ``-inf`` for the sampling density itself, shape
            mismatch, fewer than 2 samples, an unknown divergence.

    References:
        Robert & Casella, "Monte Carlo Statistical Methods" (2004), ch. 3 (importance
        sampling identity ``E_Q[g] = E_P[g q/p]``).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(200_000, generator=g, dtype=torch.float64)  # samples of P = N(0, 1)
        >>> log_p, log_q = -0.5 * x**2, -0.5 * (x - 1.0) ** 2  # Q = N(1, 1); constants cancel
        >>> est = monte_carlo_f_divergence(log_p, log_q, "kl", samples_from="p")
        >>> abs(float(est.value) - 0.5) < 4 * float(est.stderr)  # closed form: ½ (μ₁ − μ₂)²
        True
    """
    check_choice(samples_from, "samples_from", ("q", "p"))
    rec = get_f_divergence(divergence)
    lp, lq, out = as_tensor_pair(log_p, log_q, ("log_p", "log_q"))
    if lp.dtype != lq.dtype or lp.device != lq.device:
        raise TypeError(
            f"log_p and log_q must share dtype and device, got {lp.dtype} on {lp.device} and "
            f"{lq.dtype} on {lq.device}"
        )
    if lp.shape != lq.shape or lp.ndim == 0:
        raise ValueError(
            f"log_p and log_q must have the same shape (..., N), got {tuple(lp.shape)} and "
            f"{tuple(lq.shape)}"
        )
    n = lp.shape[-1]
    if n < 2:
        raise ValueError(f"need at least 2 samples (N >= 2) for a standard error, got N = {n}")
    for t, name, own in ((lp, "log_p", "p"), (lq, "log_q", "q")):
        if bool(torch.isnan(t).any()):
            raise ValueError(f"{name} contains NaN")
        if bool((t == math.inf).any()):
            raise ValueError(f"{name} contains +inf (a density must be finite)")
        if own == samples_from and bool((t == -math.inf).any()):
            raise ValueError(
                f"{name} is -inf at some samples, but the samples are drawn from "
                f"{own.upper()}, whose density is positive at its own samples"
            )
    r = lp.to(torch.float64) - lq.to(torch.float64)
    terms = _term(rec, r, samples_from)
    if bool(torch.isnan(terms).any()):
        raise ValueError(
            f"the {rec.name} terms f(p/q) produced NaN at {int(torch.isnan(terms).sum())} "
            "samples; check the log-densities"
        )
    value = terms.mean(-1)
    finite = torch.isfinite(terms).all(-1)
    spread = torch.where(finite[..., None], terms, 0.0).std(-1, correction=1)
    stderr = torch.where(finite, spread / math.sqrt(n), math.inf)
    return MonteCarloResult(to_output(value.to(lp.dtype), out), to_output(stderr.to(lp.dtype), out))


class _Infinite(Exception):
    """Raised inside the integrand when the divergence is +inf (stops the quadrature)."""


def _density(fn: Callable[[float], Any], x: float, name: str, log: bool) -> float:
    val = float(fn(x))
    if math.isnan(val) or val == math.inf or (not log and val < 0):
        kind = "log-density" if log else "density"
        raise ValueError(f"{name} returned {val} at x = {x:.6g}, not a valid {kind}")
    return val


def _pieces(support: tuple[float, float], points: Sequence[float]) -> list[tuple[float, float]]:
    lo, hi = support
    cuts = sorted({float(c) for c in points if lo < float(c) < hi})
    edges = [lo, *cuts, hi]
    return list(itertools.pairwise(edges))


def _quad(fn: Callable[[float], float], pieces: list, opts: dict) -> tuple[float, float]:
    total, err = 0.0, 0.0
    for a, b in pieces:
        val, e = integrate.quad(fn, a, b, **opts)[:2]
        total, err = total + val, err + e
    return total, err


def _check_support(support: Any) -> tuple[float, float]:
    return check_interval(support, "support")


def f_divergence_1d(
    p: Callable[[float], Any],
    q: Callable[[float], Any],
    divergence: str | FDivergence = "kl",
    *,
    support: tuple[float, float] = (-math.inf, math.inf),
    points: Sequence[float] = (),
    log_densities: bool = False,
    epsabs: float = 1e-10,
    epsrel: float = 1e-8,
    limit: int = 200,
) -> QuadratureResult:
    """Any f-divergence between two 1-D densities by adaptive quadrature (``scipy.integrate.quad``).

    .. math:: D_f(P‖Q) = ∫ q(x) f(p(x)/q(x)) dx

    The integrand is ``q f(p/q)`` where ``p ≤ q`` and ``p·f(p/q)·q/p`` where ``p > q`` (see the
    module notes); where ``q = 0 < p`` it is ``p·slope_at_inf`` and where ``p = 0 < q`` it is
    ``q·f(0)``. If the integrand is ``+inf`` anywhere (KL or Pearson with mass of P where Q has
    none, reverse KL the other way round), the result is ``QuadratureResult(inf, 0.0)``.
    With plain densities, a density that underflows to 0 in a tail where the other does not
    is indistinguishable from a true support mismatch; that case warns, and log-densities
    (``log_densities=True``, e.g. scipy's ``.logpdf``; recommended) avoid it. Both densities
    must integrate to 1 over ``support`` (checked to 1e-3). Split the support at ``points``
    (e.g. the modes) when the densities are narrow compared with their distance.

    Args:
        p: Density of P, a callable taking a float and returning a float (``x ↦ p(x)``).
        q: Density of Q, same form.
        divergence: A registry name (see :func:`divergences.fdiv.family.names`) or an
            :class:`~divergences.fdiv.family.FDivergence` record.
        support: Interval ``(lo, hi)`` containing both distributions (bounds may be infinite).
        points: Break points inside ``support``; each piece is integrated separately.
        log_densities: If True, ``p`` and ``q`` return log-densities (``-inf`` for 0).
        epsabs: Absolute tolerance passed to ``quad``.
        epsrel: Relative tolerance passed to ``quad``.
        limit: Maximum number of subintervals per piece, passed to ``quad``.

    Returns:
        ``QuadratureResult(value, abserr)``: the divergence in nats and the sum of ``quad``'s
        absolute error estimates over the pieces (floats). Quadrature problems surface as
        scipy's ``IntegrationWarning``.

    Raises:
        ValueError: a density returning NaN, ``+inf`` or a negative value, a density that
            does not integrate to 1, a bad ``support``, an unknown divergence.

    References:
        Piessens et al., "QUADPACK" (1983), through ``scipy.integrate.quad``; the f-divergence
        of Csiszár (1967) and Ali & Silvey (1966).

    Example:
        >>> from scipy import stats
        >>> p, q = stats.norm(0.0, 1.0), stats.norm(1.0, 2.0)
        >>> res = f_divergence_1d(p.logpdf, q.logpdf, "kl", log_densities=True)
        >>> round(res.value, 6)  # log 2 + (1 + 1)/8 − ½
        0.443147
    """
    rec = get_f_divergence(divergence)
    lo, hi = _check_support(support)
    if not isinstance(log_densities, bool):
        raise TypeError(f"log_densities must be a bool, got {type(log_densities).__name__}")
    for fn, name in ((p, "p"), (q, "q")):
        if not callable(fn):
            raise TypeError(f"{name} must be a callable x -> density, got {type(fn).__name__}")
    pieces = _pieces((lo, hi), points)
    opts = {"epsabs": float(epsabs), "epsrel": float(epsrel), "limit": int(limit)}
    exp = math.exp if log_densities else (lambda v: v)
    for fn, name in ((p, "p"), (q, "q")):

        def density(x: float, fn: Callable = fn, name: str = name) -> float:
            return exp(_density(fn, x, name, log_densities))

        mass = _quad(density, pieces, opts)[0]
        if not abs(mass - 1.0) <= 1e-3:
            raise ValueError(
                f"{name} integrates to {mass:.6g} over support ({lo}, {hi}), not 1; pass a "
                "normalised density and a support that contains the whole distribution"
            )
    zero_at: list[tuple[str, float]] = []

    def integrand(x: float) -> float:
        a = _density(p, x, "p", log_densities)
        b = _density(q, x, "q", log_densities)
        if log_densities:
            lp, lq = a, b
        else:
            lp = math.log(a) if a > 0 else -math.inf
            lq = math.log(b) if b > 0 else -math.inf
        if lp == -math.inf and lq == -math.inf:
            return 0.0
        r = lp - lq
        side, weight = ("q", lq) if r <= 0 else ("p", lp)
        term = float(_term(rec, torch.tensor(r, dtype=torch.float64), side))
        w = math.exp(weight)
        if w == 0.0:  # the weight underflows: below float64's range unless a density is 0
            return math.inf if (term == math.inf and math.isinf(r)) else 0.0
        val = w * term
        if math.isnan(val):
            raise ValueError(f"the integrand of {rec.name} is NaN at x = {x:.6g}")
        if val == math.inf:
            if not log_densities and math.isinf(r):
                zero_at.append(("q" if r > 0 else "p", x))
            raise _Infinite
        return val

    try:
        value, abserr = _quad(integrand, pieces, opts)
    except _Infinite:
        value, abserr = math.inf, 0.0
    if zero_at:
        which, x = zero_at[0]
        other = "p" if which == "q" else "q"
        warnings.warn(
            f"{which} is 0 at x = {x:.6g} where {other} > 0, so {rec.name} is +inf if the "
            f"distribution of {which} truly has no mass there; if {which} only underflowed, "
            "pass log-densities (log_densities=True) or a narrower support",
            RuntimeWarning,
            stacklevel=2,
        )
    if math.isnan(value):
        raise ValueError(f"quadrature of {rec.name} returned NaN; check the densities")
    return QuadratureResult(float(value), float(abserr))
