"""Closed-form divergences between multivariate Gaussians (KL, Rényi, Bhattacharyya, ...).

Gaussian closed forms take means ``mu (..., D)`` and covariances ``cov (..., D, D)`` whose
leading (batch) dimensions broadcast. Covariances are validated once: finite, symmetric up to
rounding (they are then symmetrised), positive definite for the density-based divergences and
positive semi-definite for the Fréchet distance. Everything is computed in float64 (Cholesky
factors for the density-based forms, symmetric eigen-decompositions for the Fréchet distance)
and returned in the input dtype; torch in → torch out (differentiable), NumPy in → float or
NumPy array out. Divergences are in nats.

The Fréchet distance is in :mod:`divergences.continuous.frechet`; 1-D quadrature and Monte
Carlo for any f-divergence in :mod:`divergences.continuous.integrals`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from divergences._typing import quad_typed
from divergences._validation import to_output
from divergences.continuous.frechet import (
    ldexp2,
    log2_floor,
    prepare_gaussians,
    scaled_difference,
)

__all__ = [
    "gaussian_bhattacharyya",
    "gaussian_chi2",
    "gaussian_hellinger2",
    "gaussian_kl",
    "gaussian_renyi",
]

Tensor = torch.Tensor


def _cholesky_pd(cov: Tensor, name: str, eps: float) -> Tensor:
    """Cholesky factor of a covariance that must be (numerically) positive definite."""
    # the eigenvalue ratio is scale-free: test it on cov rescaled to unit size (exact)
    unit = ldexp2(cov.detach(), -log2_floor(_diag_max(cov))[..., None, None])
    lam = torch.linalg.eigvalsh(unit)
    lo, hi = lam[..., 0], lam[..., -1]
    bad = ~(lo > cov.shape[-1] * eps * hi.clamp_min(0.0))
    chol, info = torch.linalg.cholesky_ex(cov)
    bad = bad | (info != 0)
    if bool(bad.any()):
        ratio = torch.where(bad, lo / hi.abs().clamp_min(torch.finfo(torch.float64).tiny), 2.0)
        worst = int(torch.argmin(ratio.flatten()))
        lo_w, hi_w = float(lo.flatten()[worst]), float(hi.flatten()[worst])
        if not hi_w > 0:
            raise ValueError(f"{name} must be positive definite; it is zero")
        raise ValueError(
            f"{name} must be positive definite; its smallest eigenvalue is {lo_w / hi_w:.3g} "
            f"times its largest (needs > {cov.shape[-1] * eps:.3g}), so the Gaussian has no "
            f"density in this precision. Add a ridge, e.g. {name} + 1e-6 * I, or use "
            "frechet_distance, which allows singular covariances"
        )
    return chol


def _diag_max(c: Tensor) -> Tensor:
    return torch.diagonal(c, dim1=-2, dim2=-1).detach().abs().amax(-1)


def _logdet(chol: Tensor) -> Tensor:
    return 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)


def _mahalanobis2(chol: Tensor, diff: Tensor) -> Tensor:
    z = torch.linalg.solve_triangular(chol, diff.unsqueeze(-1), upper=False)
    return z.squeeze(-1).pow(2).sum(-1)


_Factors = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def _factors(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> tuple[_Factors, torch.dtype, bool]:
    """Validated float64 ``[μ₂ − μ₁, Σ₁, Σ₂, L₁, L₂]`` after an exact common rescaling.

    The density-based divergences are invariant under ``μ → cμ, Σ → c²Σ``; ``c`` is the power
    of two that puts the geometric mean of the two covariance scales at 1, so that neither
    the subnormal range nor overflow is met (each keeps its own ratio to the other).
    """
    (m1, c1, m2, c2), out_dtype, is_numpy = prepare_gaussians(mu1, cov1, mu2, cov2)
    eps = torch.finfo(out_dtype).eps
    e = log2_floor(_diag_max(c1)) + log2_floor(_diag_max(c2))
    k = torch.div(e, 4, rounding_mode="floor")  # √Σ scale: (e₁/2 + e₂/2)/2
    kk = -2 * k[..., None, None]
    c1, c2 = ldexp2(c1, kk), ldexp2(c2, kk)
    diff = scaled_difference(m2, m1, k)
    l1, l2 = _cholesky_pd(c1, "cov1", eps), _cholesky_pd(c2, "cov2", eps)
    return (diff, c1, c2, l1, l2), out_dtype, is_numpy


def _renyi(diff: Tensor, c1: Tensor, c2: Tensor, l1: Tensor, l2: Tensor, alpha: float) -> Tensor:
    """Rényi divergence of order alpha (alpha > 0, != 1) from validated float64 factors."""
    mix = alpha * c2 + (1.0 - alpha) * c1
    chol, info = torch.linalg.cholesky_ex(mix.detach())
    ok = info == 0
    if alpha > 1.0 and not bool(ok.all()):
        # α Σ₂ + (1 − α) Σ₁ is not PD: the integral ∫ p^α q^(1-α) diverges. Keep autograd clean
        # by evaluating the formula on the identity there and selecting +inf afterwards.
        eye = torch.eye(mix.shape[-1], dtype=mix.dtype, device=mix.device)
        mix = torch.where(ok[..., None, None], mix, eye)
    chol, info = torch.linalg.cholesky_ex(mix)
    if bool((ok & (info != 0)).any()):  # pragma: no cover - a convex mix of PD factors is PD
        raise ValueError(f"the mixed covariance of order alpha={alpha} is numerically singular")
    log_ratio = _logdet(chol) - (1.0 - alpha) * _logdet(l1) - alpha * _logdet(l2)
    val = 0.5 * alpha * _mahalanobis2(chol, diff) - log_ratio / (2.0 * (alpha - 1.0))
    val = val.clamp_min(0.0)
    return torch.where(ok, val, torch.full_like(val, math.inf))


@quad_typed
def gaussian_kl(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> Any:
    """KL divergence KL(P‖Q) between Gaussians P = N(mu1, cov1) and Q = N(mu2, cov2).

    .. math:: KL = ½ [tr(Σ₂⁻¹Σ₁) + (μ₂−μ₁)ᵀΣ₂⁻¹(μ₂−μ₁) − D + ln det Σ₂ − ln det Σ₁]

    Args:
        mu1: Mean of P, shape ``(..., D)``.
        cov1: Covariance of P, shape ``(..., D, D)``, symmetric positive definite.
        mu2: Mean of Q, shape ``(..., D)``.
        cov2: Covariance of Q, shape ``(..., D, D)``, symmetric positive definite.

    Returns:
        KL in nats, shape ``(...)`` (the broadcast batch shape); a float for 0-d NumPy results.

    Raises:
        ValueError: non-finite inputs, mismatched shapes, a non-symmetric or a not positive
            definite covariance (the message gives its eigenvalues).

    References:
        Kullback (1959); the same formula as ``torch.distributions.kl`` for
        ``MultivariateNormal``, evaluated with Cholesky factors in float64.

    Example:
        >>> round(gaussian_kl([0.0], [[1.0]], [1.0], [[2.0]]), 6)  # ½ (½ + ½ − 1 + log 2)
        0.346574
    """
    (diff, c1, _, l1, l2), out_dtype, is_numpy = _factors(mu1, cov1, mu2, cov2)
    z = torch.linalg.solve_triangular(l2, l1, upper=False)
    trace = z.pow(2).sum((-2, -1))
    d = c1.shape[-1]
    val = 0.5 * (trace + _mahalanobis2(l2, diff) - d + _logdet(l2) - _logdet(l1))
    return to_output(val.clamp_min(0.0).to(out_dtype), is_numpy)


@quad_typed
def gaussian_renyi(mu1: Any, cov1: Any, mu2: Any, cov2: Any, alpha: float) -> Any:
    """Rényi divergence of order ``alpha`` between P = N(mu1, cov1) and Q = N(mu2, cov2).

    .. math:: D_α = (α/2) Δᵀ Σ_α⁻¹ Δ − ln[det Σ_α / (det Σ₁^{1−α} det Σ₂^α)] / (2(α−1)),
        Σ_α = α Σ₂ + (1−α) Σ₁, Δ = μ₂ − μ₁

    ``D_α = ln ∫ p^α q^{1−α} / (α − 1)`` is non-decreasing in α; ``alpha = 1`` returns the KL
    divergence (the limit), ``alpha = 0.5`` twice the Bhattacharyya distance. For α > 1 the
    integral diverges where Σ_α is not positive definite; the result is then ``+inf``.

    Args:
        mu1: Mean of P, shape ``(..., D)``.
        cov1: Covariance of P, shape ``(..., D, D)``, symmetric positive definite.
        mu2: Mean of Q, shape ``(..., D)``.
        cov2: Covariance of Q, shape ``(..., D, D)``, symmetric positive definite.
        alpha: Order, a finite real number > 0.

    Returns:
        D_α in nats, shape ``(...)``; ``+inf`` where Σ_α is not positive definite.

    Raises:
        ValueError: as :func:`gaussian_kl`, or ``alpha`` not a finite number > 0.

    References:
        Gil, Alajaji & Linder, "Rényi divergence measures for commonly used univariate
        continuous distributions", Information Sciences 249 (2013), with the multivariate
        normal entry of their Table 2 (Pardo 2006).

    Example:
        >>> round(gaussian_renyi([0.0], [[1.0]], [1.0], [[1.0]], alpha=2.0), 6)
        1.0
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha > 0.0):
        raise ValueError(f"alpha must be a finite number > 0, got {alpha}")
    if alpha == 1.0:
        return gaussian_kl(mu1, cov1, mu2, cov2)
    factors, out_dtype, is_numpy = _factors(mu1, cov1, mu2, cov2)
    return to_output(_renyi(*factors, alpha).to(out_dtype), is_numpy)


@quad_typed
def gaussian_bhattacharyya(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> Any:
    """Bhattacharyya distance −ln ∫ √(pq) between P = N(mu1, cov1) and Q = N(mu2, cov2).

    .. math:: D_B = ⅛ Δᵀ Σ⁻¹ Δ + ½ ln[det Σ / √(det Σ₁ det Σ₂)], Σ = (Σ₁ + Σ₂)/2

    Args:
        mu1: Mean of P, shape ``(..., D)``.
        cov1: Covariance of P, shape ``(..., D, D)``, symmetric positive definite.
        mu2: Mean of Q, shape ``(..., D)``.
        cov2: Covariance of Q, shape ``(..., D, D)``, symmetric positive definite.

    Returns:
        D_B in nats (symmetric in P and Q), shape ``(...)``.

    Raises:
        ValueError: as :func:`gaussian_kl`.

    References:
        Bhattacharyya (1943); Fukunaga, "Introduction to Statistical Pattern Recognition"
        (1990), eq. 3.152.

    Example:
        >>> round(gaussian_bhattacharyya([0.0], [[1.0]], [2.0], [[1.0]]), 6)
        0.5
    """
    factors, out_dtype, is_numpy = _factors(mu1, cov1, mu2, cov2)
    return to_output((0.5 * _renyi(*factors, 0.5)).to(out_dtype), is_numpy)


@quad_typed
def gaussian_hellinger2(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> Any:
    """Squared Hellinger distance 1 − ∫ √(pq) between P = N(mu1, cov1) and Q = N(mu2, cov2).

    .. math:: H² = 1 − exp(−D_B), D_B the Bhattacharyya distance

    The convention of the ``"hellinger2"`` f-divergence, f(u) = ½(√u − 1)², so H² ∈ [0, 1].

    Args:
        mu1: Mean of P, shape ``(..., D)``.
        cov1: Covariance of P, shape ``(..., D, D)``, symmetric positive definite.
        mu2: Mean of Q, shape ``(..., D)``.
        cov2: Covariance of Q, shape ``(..., D, D)``, symmetric positive definite.

    Returns:
        H² in [0, 1], shape ``(...)``.

    Raises:
        ValueError: as :func:`gaussian_kl`.

    References:
        Pardo, "Statistical Inference Based on Divergence Measures" (2006), via the
        Bhattacharyya coefficient of two normals.

    Example:
        >>> round(gaussian_hellinger2([0.0], [[1.0]], [2.0], [[1.0]]), 6)
        0.393469
    """
    factors, out_dtype, is_numpy = _factors(mu1, cov1, mu2, cov2)
    val = -torch.expm1(-0.5 * _renyi(*factors, 0.5))
    return to_output(val.to(out_dtype), is_numpy)


@quad_typed
def gaussian_chi2(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> Any:
    """Pearson χ²(P‖Q) = ∫ p²/q − 1 between P = N(mu1, cov1) and Q = N(mu2, cov2).

    .. math:: χ² = exp(D₂) − 1, D₂ the Rényi divergence of order 2 (Σ₂' = 2Σ₂ − Σ₁)

    The convention of the ``"pearson"`` f-divergence, f(u) = (u − 1)². The integral diverges,
    and the result is ``+inf``, where ``2 cov2 − cov1`` is not positive definite.

    Args:
        mu1: Mean of P, shape ``(..., D)``.
        cov1: Covariance of P, shape ``(..., D, D)``, symmetric positive definite.
        mu2: Mean of Q, shape ``(..., D)``.
        cov2: Covariance of Q, shape ``(..., D, D)``, symmetric positive definite.

    Returns:
        χ² ≥ 0, shape ``(...)``; ``+inf`` where ``2 cov2 − cov1`` is not positive definite.

    Raises:
        ValueError: as :func:`gaussian_kl`.

    References:
        Nielsen & Nock, "On the chi square and higher-order chi distances for approximating
        f-divergences", IEEE Signal Processing Letters 21 (2014).

    Example:
        >>> round(gaussian_chi2([0.0], [[1.0]], [1.0], [[1.0]]), 6)
        1.718282
    """
    factors, out_dtype, is_numpy = _factors(mu1, cov1, mu2, cov2)
    val = torch.expm1(_renyi(*factors, 2.0))
    return to_output(val.to(out_dtype), is_numpy)
