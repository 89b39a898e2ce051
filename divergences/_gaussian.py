"""Validation of Gaussian parameters, and the Fréchet (2-Wasserstein) distance between Gaussians.

Private module behind :mod:`divergences.continuous` (which re-exports :func:`frechet_distance`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from divergences._checks import as_tensor, check_finite, to_output

__all__ = ["frechet_distance", "prepare_gaussians"]

Tensor = torch.Tensor
_NAMES = ("mu1", "cov1", "mu2", "cov2")
_EPS64 = torch.finfo(torch.float64).eps
_TINY64 = torch.finfo(torch.float64).tiny


def prepare_gaussians(
    mu1: Any, cov1: Any, mu2: Any, cov2: Any
) -> tuple[list[Tensor], torch.dtype, bool]:
    """Validate two Gaussians; return float64 ``[mu1, cov1, mu2, cov2]``, out dtype, is_numpy.

    Shapes: ``mu (..., D)``, ``cov (..., D, D)``; batch dims broadcast. Covariances are checked
    finite and symmetric (relative asymmetry at most ``sqrt(eps)`` of the input dtype) and
    returned symmetrised and broadcast to the common batch shape. Definiteness is checked by
    the callers (they need different conditions).
    """
    conv = [as_tensor(a, n) for a, n in zip((mu1, cov1, mu2, cov2), _NAMES)]
    tensors = [t for t, is_np in conv if not is_np]
    if tensors:
        dtypes = {t.dtype for t in tensors}
        if len(dtypes) > 1:
            got = ", ".join(f"{n} {t.dtype}" for (t, is_np), n in zip(conv, _NAMES) if not is_np)
            raise TypeError(f"tensor inputs must share one dtype, got {got}")
        devices = {t.device for t in tensors}
        if len(devices) > 1:
            got = ", ".join(
                f"{n} on {t.device}" for (t, is_np), n in zip(conv, _NAMES) if not is_np
            )
            raise ValueError(f"inputs must be on one device, got {got}; move them explicitly")
        ref = tensors[0]
        out_dtype, device, is_numpy = ref.dtype, ref.device, False
    else:
        out_dtype, device, is_numpy = torch.float64, torch.device("cpu"), True
    eps = torch.finfo(out_dtype).eps
    vals = []
    for (t, _), name in zip(conv, _NAMES):
        want = 1 if name.startswith("mu") else 2
        if t.ndim < want:
            shape = "(..., D)" if want == 1 else "(..., D, D)"
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        if t.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
        check_finite(t, name)
        vals.append(t.to(device=device, dtype=torch.float64))
    m1, c1, m2, c2 = vals
    d = m1.shape[-1]
    for t, name in ((c1, "cov1"), (c2, "cov2")):
        if t.shape[-1] != t.shape[-2]:
            raise ValueError(f"{name} must be square in its last two dims, got {tuple(t.shape)}")
    if not (c1.shape[-1] == m2.shape[-1] == c2.shape[-1] == d):
        raise ValueError(
            "mu1, cov1, mu2, cov2 must share the dimension D; got shapes "
            + ", ".join(str(tuple(t.shape)) for t in vals)
        )
    try:
        batch = torch.broadcast_shapes(m1.shape[:-1], c1.shape[:-2], m2.shape[:-1], c2.shape[:-2])
    except RuntimeError as exc:
        raise ValueError(
            "the batch dims of mu1, cov1, mu2, cov2 do not broadcast; got shapes "
            + ", ".join(str(tuple(t.shape)) for t in vals)
        ) from exc
    out = []
    for t, name in zip(vals, _NAMES):
        if name.startswith("cov"):
            asym = float((t - t.mT).detach().abs().max())
            scale = max(float(t.detach().abs().max()), _TINY64)
            if asym > math.sqrt(eps) * scale:
                raise ValueError(
                    f"{name} must be symmetric; max |{name} - {name}.T| is {asym:.3g} "
                    f"(relative {asym / scale:.3g} > {math.sqrt(eps):.3g})"
                )
            t = 0.5 * (t + t.mT)
            out.append(t.expand(*batch, d, d))
        else:
            out.append(t.expand(*batch, d))
    return out, out_dtype, is_numpy


def _psd_part(cov: Tensor, name: str, eps: float) -> Tensor:
    """Check ``cov`` is positive semi-definite up to rounding; return it with eigenvalues ≥ 0.

    Negative eigenvalues above ``-10·D·eps·λ_max`` (rounding of the input dtype) are clamped
    silently, down to ``-max(√eps, 100·D·eps)·λ_max`` with a warning; below that the matrix is
    not a covariance and a ValueError is raised. The returned value is the clamped matrix
    with the gradient of ``cov`` (straight through).
    """
    lam = torch.linalg.eigvalsh(cov.detach())
    d = cov.shape[-1]
    top = lam[..., -1].clamp_min(0.0)
    rel = (lam[..., 0] / top.clamp_min(_TINY64)).where(lam[..., 0] < 0, torch.zeros_like(top))
    worst = float(rel.min())
    if worst >= 0:
        return cov
    if worst < -max(math.sqrt(eps), 100.0 * d * eps):
        raise ValueError(
            f"{name} must be positive semi-definite; it has an eigenvalue {worst:.3g} times "
            "its largest one"
        )
    if worst < -10.0 * d * eps:
        warnings.warn(
            f"{name} has negative eigenvalues down to {worst:.3g} times its largest one; "
            "they were clamped to 0 (the covariance is slightly indefinite)",
            RuntimeWarning,
            stacklevel=3,
        )
    lam, vec = torch.linalg.eigh(cov.detach())
    fixed = _sym_fn(lam.clamp_min(0.0), vec)
    return cov + (fixed - cov.detach())


def _sym_fn(lam: Tensor, vec: Tensor) -> Tensor:
    """``V diag(lam) Vᵀ`` for a batch of eigen-decompositions."""
    return (vec * lam.unsqueeze(-2)) @ vec.mT


def _drop_rounding(lam: Tensor) -> Tensor:
    """Set eigenvalues below ``D·eps·λ_max`` (rounding noise of ``eigh``) to exactly 0.

    Their square roots would otherwise add ``O(√eps)`` relative errors to the trace for
    singular matrices.
    """
    cut = lam.shape[-1] * _EPS64 * lam[..., -1:].clamp_min(0.0)
    return torch.where(lam > cut, lam, 0.0)


class _TraceSqrtProduct(torch.autograd.Function):
    """``tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}`` for PSD float64 inputs, with an explicit gradient.

    Forward: symmetric eigen-decompositions only (never complex, works for singular inputs).
    Backward: ``∂/∂Σ₁ = ½ S⁺ M^{1/2} S⁺`` and ``∂/∂Σ₂ = ½ S M^{+1/2} S`` with ``S = Σ₁^{1/2}``,
    ``M = S Σ₂ S`` and ``⁺`` the pseudo-inverse (exact where the inputs are positive definite;
    the gradient restricted to the supports otherwise). Unlike autograd through ``eigh`` this
    stays finite for repeated eigenvalues (e.g. identity covariances).
    """

    @staticmethod
    def forward(ctx: Any, c1: Tensor, c2: Tensor) -> Tensor:
        lam1, u1 = torch.linalg.eigh(c1)
        lam1 = _drop_rounding(lam1)
        s = _sym_fn(lam1.sqrt(), u1)
        m = s @ c2 @ s
        m = 0.5 * (m + m.mT)
        if any(ctx.needs_input_grad):
            mu, v = torch.linalg.eigh(m)
        else:  # the value needs only eigenvalues
            mu, v = torch.linalg.eigvalsh(m), m.new_empty(0)
        top = mu[..., -1].clamp_min(_TINY64)
        worst = float((mu[..., 0] / top).min())
        if worst < -1e3 * c1.shape[-1] * _EPS64:
            warnings.warn(
                "frechet_distance: the product matrix Σ₁^½ Σ₂ Σ₁^½ has negative eigenvalues down "
                f"to {worst:.3g} times its largest one (clamped to 0); the result may be "
                "inaccurate",
                RuntimeWarning,
                stacklevel=4,
            )
        mu = _drop_rounding(mu)
        ctx.save_for_backward(lam1, u1, s, mu, v)
        return mu.sqrt().sum(-1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        lam1, u1, s, mu, v = ctx.saved_tensors
        g = 0.5 * grad[..., None, None]
        g1 = g2 = None
        if ctx.needs_input_grad[0]:
            inv_sqrt1 = torch.where(lam1 > 0, lam1.clamp_min(_TINY64).rsqrt(), 0.0)
            s_pinv = _sym_fn(inv_sqrt1, u1)
            g1 = g * (s_pinv @ _sym_fn(mu.sqrt(), v) @ s_pinv)
            g1 = 0.5 * (g1 + g1.mT)
        if ctx.needs_input_grad[1]:
            inv_sqrt_m = torch.where(mu > 0, mu.clamp_min(_TINY64).rsqrt(), 0.0)
            g2 = g * (s @ _sym_fn(inv_sqrt_m, v) @ s)
            g2 = 0.5 * (g2 + g2.mT)
        return g1, g2


def frechet_distance(mu1: Any, cov1: Any, mu2: Any, cov2: Any, *, squared: bool = True) -> Any:
    """Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2); squared by default.

    .. math:: W₂² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}

    The trace of the matrix square root is computed from two symmetric eigen-decompositions
    in float64 (``Σ₁ = U Λ Uᵀ``, then the eigenvalues of the symmetric PSD matrix
    ``Σ₁^{1/2} Σ₂ Σ₁^{1/2}``), so the result is never complex and singular (rank-deficient)
    covariances, e.g. from fewer samples than dimensions, are fine. Tiny negative eigenvalues
    from rounding are clamped to 0 (with a ``RuntimeWarning`` when they are not negligible),
    and ``W₂²`` is clamped at 0. Gradients use the closed form ``∂/∂Σ₂ = ½ S M^{-1/2} S``
    (``S = Σ₁^{1/2}``, ``M = S Σ₂ S``), finite even for repeated eigenvalues; at singular
    covariances pseudo-inverses give the gradient along the supports.

    Args:
        mu1: Mean of the first Gaussian, shape ``(..., D)``.
        cov1: Its covariance, shape ``(..., D, D)``, symmetric positive semi-definite.
        mu2: Mean of the second Gaussian, shape ``(..., D)``.
        cov2: Its covariance, shape ``(..., D, D)``, symmetric positive semi-definite.
        squared: Return ``W₂²`` (True, the FID convention) or ``W₂`` (False).

    Returns:
        Shape ``(...)`` (the broadcast batch shape); a float for 0-d NumPy results. With
        feature means and covariances of real and generated images this is the FID.

    Raises:
        ValueError: non-finite inputs, mismatched shapes, a non-symmetric covariance or one
            with clearly negative eigenvalues.

    References:
        Dowson & Landau, "The Fréchet distance between multivariate normal distributions",
        J. Multivariate Anal. 12 (1982); Heusel et al., "GANs trained by a two time-scale
        update rule converge to a local Nash equilibrium", NeurIPS 2017 (FID). Matches
        ``pytorch_fid.fid_score.calculate_frechet_distance`` without its ``sqrtm`` failures.

    Example:
        >>> cov1, cov2 = [[4.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 2.0]]
        >>> round(frechet_distance([0.0, 0.0], cov1, [3.0, 0.0], cov2), 6)  # 9 + 8 − 2(2 + √2)
        10.171573
        >>> frechet_distance([0.0], [[4.0]], [3.0], [[1.0]], squared=False) == 10.0**0.5
        True
    """
    if not isinstance(squared, bool):
        raise TypeError(f"squared must be a bool, got {type(squared).__name__}")
    (m1, c1, m2, c2), out_dtype, is_numpy = prepare_gaussians(mu1, cov1, mu2, cov2)
    eps = torch.finfo(out_dtype).eps
    c1 = _psd_part(c1, "cov1", eps)
    c2 = _psd_part(c2, "cov2", eps)
    tr_sqrt = _TraceSqrtProduct.apply(c1, c2)
    trace = torch.diagonal(c1, dim1=-2, dim2=-1).sum(-1) + torch.diagonal(c2, dim1=-2, dim2=-1).sum(
        -1
    )
    val = ((m1 - m2).pow(2).sum(-1) + trace - 2.0 * tr_sqrt).clamp_min(0.0)
    if not squared:
        pos = val > 0
        val = torch.where(pos, torch.where(pos, val, 1.0).sqrt(), 0.0)
    return to_output(val.to(out_dtype), is_numpy)
