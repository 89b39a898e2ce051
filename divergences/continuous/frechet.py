"""The Fréchet (2-Wasserstein) distance between Gaussians; validation of Gaussian parameters.

:func:`prepare_gaussians` and :func:`check_psd` are shared with the closed forms in
:mod:`divergences.continuous.gaussian` and with ``metrics.fid``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from divergences._typing import quad_typed
from divergences._validation import as_tensor, check_finite, to_output

__all__ = [
    "check_psd",
    "frechet64",
    "frechet_distance",
    "ldexp2",
    "log2_floor",
    "prepare_gaussians",
    "scaled_difference",
]

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
            t = t + 0.5 * (t.mT - t)  # no overflow near the float64 maximum
            out.append(t.expand(*batch, d, d))
        else:
            out.append(t.expand(*batch, d))
    return out, out_dtype, is_numpy


def log2_floor(t: Tensor) -> Tensor:
    """``floor(log2 t)`` as int64 for ``t > 0`` (subnormals included), 0 where ``t == 0``."""
    _, e = torch.frexp(t)
    return torch.where(t > 0, e.long() - 1, 0)


def ldexp2(x: Tensor, k: Tensor) -> Tensor:
    """``x · 2^k`` for an int64 ``k`` broadcasting to ``x``.

    ``x · 2^k`` for an int64 ``k`` broadcasting to ``x``: exact unless the result itself
    under- or overflows (applied in steps of at most 2^1000, so no factor overflows).
    """
    k = k.clone()
    for _ in range(3):  # |k| <= 2200 for any pair of float64 magnitudes
        step = k.clamp(-1000, 1000)
        x = x * torch.pow(2.0, step.to(x.dtype))
        k = k - step
    return x


def scaled_difference(m1: Tensor, m2: Tensor, k: Tensor) -> Tensor:
    """``(m1 − m2) · 2^-k`` (``k`` shape ``(...)``) without overflow in ``m1 − m2``.

    Where the float64 difference overflows the inputs are huge, so halving them is exact.
    """
    kk = k[..., None]
    diff = m1 - m2
    big = ~torch.isfinite(diff)
    if not bool(big.any()):
        return ldexp2(diff, -kk)
    halves = ldexp2(0.5 * m1 - 0.5 * m2, 1 - kk)
    return torch.where(big, halves, ldexp2(torch.where(big, 0.0, diff), -kk))


def _diag_max(c: Tensor) -> Tensor:
    return torch.diagonal(c, dim1=-2, dim2=-1).detach().abs().amax(-1)


def _frechet_exponent(m1: Tensor, c1: Tensor, m2: Tensor, c2: Tensor) -> Tensor:
    """Per-pair ``k`` with ``|μ₁ − μ₂|·2^-k`` and ``√Σ·2^-k`` at most about 1.

    Fréchet is a sum of non-negative terms each bounded by the largest of them, so
    scaling the largest to about 1 only flushes terms negligible in float64.
    """
    half = (0.5 * m1 - 0.5 * m2).detach().abs().amax(-1)
    cands = [
        torch.where(half > 0, log2_floor(half) + 2, torch.iinfo(torch.int64).min),
        *(
            torch.where(dm > 0, torch.div(log2_floor(dm), 2, rounding_mode="floor") + 1, -(2**62))
            for dm in (_diag_max(c1), _diag_max(c2))
        ),
    ]
    k = torch.maximum(torch.maximum(cands[0], cands[1]), cands[2])
    return torch.where(k < -(2**61), 0, k)


def _check_eigs(lam: Tensor, name: str, eps: float) -> bool:
    """Raise or warn on negative eigenvalues ``lam`` (ascending, batched) of a covariance.

    Relative to the largest eigenvalue, negatives above ``-10·D·eps`` (rounding of the input
    dtype) pass silently, down to ``-max(√eps, 100·D·eps)`` with a warning, below that a
    ValueError is raised. Returns True when the caller should clamp (the warned case).
    """
    d = lam.shape[-1]
    top = lam[..., -1].clamp_min(0.0)
    low = lam[..., 0]
    worst = float(torch.where(low < 0, low / top.clamp_min(_TINY64), 0.0).min())
    if worst >= -10.0 * d * eps:
        return False
    if worst < -max(math.sqrt(eps), 100.0 * d * eps):
        raise ValueError(
            f"{name} must be positive semi-definite; it has an eigenvalue {worst:.3g} times "
            "its largest one"
        )
    warnings.warn(
        f"{name} has negative eigenvalues down to {worst:.3g} times its largest one; "
        "they were clamped to 0 (the covariance is slightly indefinite)",
        RuntimeWarning,
        stacklevel=5,
    )
    return True


def _near_psd(cov: Tensor, eps: float) -> bool:
    """True when ``cov`` is PSD up to the silent band, proved by one Cholesky.

    True when Cholesky of ``cov + δI`` succeeds, ``δ = 10·D·eps·max diag``: this proves every
    eigenvalue is above ``-δ ≥ -10·D·eps·λ_max`` (the silent band of :func:`_check_eigs`)
    without an eigen-decomposition.
    """
    d = cov.shape[-1]
    diag = torch.diagonal(cov, dim1=-2, dim2=-1)
    delta = 10.0 * d * eps * diag.max(-1).values.clamp_min(_TINY64)
    eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
    return bool((torch.linalg.cholesky_ex(cov + delta[..., None, None] * eye)[1] == 0).all())


def check_psd(cov: Tensor, name: str, *, eps: float) -> None:
    """Raise unless float64 ``cov (..., D, D)`` is PSD up to rounding (see :func:`_check_eigs`).

    A successful Cholesky factorisation (of ``cov`` plus a rounding-level ridge) proves it
    cheaply; otherwise the eigenvalues decide.
    """
    if _near_psd(cov.detach(), eps):
        return
    _check_eigs(torch.linalg.eigvalsh(cov.detach()), name, eps)


def _sym_fn(lam: Tensor, vec: Tensor) -> Tensor:
    """``V diag(lam) Vᵀ`` for a batch of eigen-decompositions."""
    return (vec * lam.unsqueeze(-2)) @ vec.mT


def _drop_rounding(lam: Tensor) -> Tensor:
    """Set eigenvalues below ``D·eps·λ_max`` (rounding noise of ``eigh``) to exactly 0.

    Their square roots would otherwise add ``O(√eps)`` relative errors to the trace for
    singular matrices. Negative eigenvalues become 0 too.
    """
    cut = lam.shape[-1] * _EPS64 * lam[..., -1:].clamp_min(0.0)
    return torch.where(lam > cut, lam, 0.0)


def _congruence_lower(lower: Tensor, a: Tensor) -> Tensor:
    """``Lᵀ A L`` for a lower-triangular ``L (D, D)`` and a symmetric ``A (D, D)``.

    On CPU this is two BLAS triangular products (``dtrmm``: 2·D³ flops instead of the 4·D³ of
    two dense products, which skip nothing); batched or accelerator tensors use the dense
    products. Called inside :class:`_Bures2`'s forward, whose backward is its own, so the
    inputs are read without autograd.
    """
    if lower.ndim != 2 or lower.device.type != "cpu":
        return lower.mT @ a @ lower
    from scipy.linalg.blas import dtrmm

    ln = np.asfortranarray(lower.detach().numpy())
    b = dtrmm(1.0, ln, np.asfortranarray(a.detach().numpy()), side=1, lower=1)  # A L
    b = dtrmm(1.0, ln, b, side=0, lower=1, trans_a=1, overwrite_b=1)  # Lᵀ (A L)
    return torch.from_numpy(np.ascontiguousarray(b))


def _trace(c: Tensor) -> Tensor:
    return torch.diagonal(c, dim1=-2, dim2=-1).sum(-1)


class _Bures2(torch.autograd.Function):
    """Squared Bures distance ``tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}``, float64.

    Forward: one covariance is factored as ``Σ = F Fᵀ`` — the Cholesky factor when both are
    positive definite, else ``F = V_r Λ_r^{1/2}`` from ``eigh`` of a singular one, keeping its
    ``r`` eigenvalues above rounding level — and ``tr (Σ₁Σ₂)^{1/2} = Σ_k √ν_k`` with ``ν`` the
    eigenvalues of the symmetric PSD ``r × r`` matrix ``N = Fᵀ Σ_o F`` (``Σ_o`` the other
    covariance; ``Σ₁Σ₂`` and ``Σ₂Σ₁`` share eigenvalues). Never complex; exact for singular
    covariances. Negative ``ν`` are set to 0, and rounding-level ones too when both covariances
    are singular (``N`` may then be singular itself).

    Backward (``N = W diag(ν) Wᵀ``, ``Σ_f = F Fᵀ``): ``∂ tr N^{1/2} / ∂Σ_o = ½ F N^{-1/2} Fᵀ``
    and ``∂ / ∂Σ_f = ½ Σ_o F N^{-3/2} Fᵀ Σ_o`` (for positive definite inputs these are the two
    optimal-transport maps between the Gaussians, halved; the second equals
    ``½ F^{-ᵀ} N^{1/2} F^{-1}``). Both are built from matrix functions of ``N``, so no
    eigenvalue gap is divided by and repeated eigenvalues are fine. With pseudo-inverse powers
    they are also the exact derivative along rank-preserving changes of singular covariances
    (e.g. ``Σ = A Aᵀ`` as a function of a ``D × r`` matrix ``A``).
    """

    @staticmethod
    def forward(ctx: Any, c1: Tensor, c2: Tensor, eps: float) -> Tensor:
        covs, names = (c1, c2), ("cov1", "cov2")
        chol = [torch.linalg.cholesky_ex(c) for c in covs]
        pd = [bool((info == 0).all()) for _, info in chol]
        if all(pd):  # Σ₂ = L Lᵀ; Cholesky success also proves Σ₁ positive definite
            k, factor = 1, chol[1][0]
            other, trace = c1, _trace(c1) + _trace(c2)
        else:  # factor a singular one by eigh (its rank r may be < D)
            k = 1 if not pd[1] else 0
            lam, vec = torch.linalg.eigh(covs[k])
            _check_eigs(lam, names[k], eps)
            trace = _trace(covs[k]) - lam.clamp_max(0.0).sum(-1)
            lam = _drop_rounding(lam)
            r = max(int((lam > 0).sum(-1).max()), 1)
            lam, vec = lam[..., -r:], vec[..., -r:]
            factor = vec * lam.sqrt().unsqueeze(-2)
            other = covs[1 - k]
            if (
                not pd[1 - k]
                and not _near_psd(other, eps)
                and _check_eigs(torch.linalg.eigvalsh(other), names[1 - k], eps)
            ):
                lo, vo = torch.linalg.eigh(other)
                other = _sym_fn(lo.clamp_min(0.0), vo)
            trace = trace + _trace(other)
        if all(pd):  # the Cholesky factor is lower triangular
            m = _congruence_lower(factor, other)
        else:
            m = factor.mT @ other @ factor
        m = 0.5 * (m + m.mT)
        if any(ctx.needs_input_grad[:2]):
            nu, w = torch.linalg.eigh(m)
        else:  # the value needs only eigenvalues
            nu, w = torch.linalg.eigvalsh(m), m.new_empty(0)
        worst = float((nu[..., 0] / nu[..., -1].clamp_min(_TINY64)).min())
        if worst < -1e3 * c1.shape[-1] * _EPS64:
            warnings.warn(
                "frechet_distance: the product matrix Σ₁^½ Σ₂ Σ₁^½ has negative eigenvalues down "
                f"to {worst:.3g} times its largest one (clamped to 0); the result may be "
                "inaccurate",
                RuntimeWarning,
                stacklevel=4,
            )
        # N is positive definite when either covariance is (F has full column rank): its small
        # eigenvalues are real, and zeroing them would bias the trace by more than rounding.
        both_singular = not any(pd)
        nu = _drop_rounding(nu) if both_singular else nu.clamp_min(0.0)
        ctx.k = k
        ctx.save_for_backward(factor, other, nu, w)
        return trace - 2.0 * nu.sqrt().sum(-1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        factor, other, nu, w = ctx.saved_tensors
        k = ctx.k
        g = grad[..., None, None]
        eye = torch.eye(factor.shape[-2], dtype=factor.dtype, device=factor.device)
        fw = factor @ w
        out: list[Tensor | None] = [None, None]
        if ctx.needs_input_grad[1 - k]:  # I − F N^{+1/2} Fᵀ
            r = fw * _pinv_pow(nu, 0.25).unsqueeze(-2)
            out[1 - k] = g * (eye - r @ r.mT)
        if ctx.needs_input_grad[k]:  # I − Σ_o F N^{+3/2} Fᵀ Σ_o
            q = other @ (fw * _pinv_pow(nu, 0.75).unsqueeze(-2))
            out[k] = g * (eye - q @ q.mT)
        return out[0], out[1], None


def _pinv_pow(nu: Tensor, p: float) -> Tensor:
    """``ν^{-p}`` where ``ν > 0``, else 0 (the pseudo-inverse convention)."""
    return torch.where(nu > 0, nu.clamp_min(_TINY64) ** -p, 0.0)


def _frechet_scaled(
    m1: Tensor, c1: Tensor, m2: Tensor, c2: Tensor, eps: float
) -> tuple[Tensor, Tensor]:
    """``(W₂²·2^-2k, k)``: the distance of the moments rescaled by an exact power of two.

    ``W₂²`` scales as ``c²`` under ``μ → cμ, Σ → c²Σ``, so the float64 work is done where
    nothing over- or underflows (covariances near 1e±300 or in the subnormal range).
    """
    k = _frechet_exponent(m1, c1, m2, c2)
    diff = scaled_difference(m1, m2, k)
    kk = -2 * k[..., None, None]
    s1, s2 = ldexp2(c1, kk), ldexp2(c2, kk)
    val = (diff.pow(2).sum(-1) + _Bures2.apply(s1, s2, eps)).clamp_min(0.0)
    # identical Gaussians: exactly 0 rather than rounding noise (the gradient there is 0 too)
    same = (m1 == m2).all(-1) & (c1 == c2).all(-1).all(-1)
    return torch.where(same, torch.zeros_like(val), val), k


def frechet64(m1: Tensor, c1: Tensor, m2: Tensor, c2: Tensor, *, eps: float) -> Tensor:
    """``W₂²`` (clamped at 0) of validated float64 moments with symmetric covariances.

    ``eps`` is the rounding unit for the semi-definiteness tolerances (see
    :func:`_check_eigs`). Computed on moments rescaled by a power of two (exact), so any
    finite float64 moments work; ``+inf`` only where ``W₂²`` itself exceeds float64.
    Shared by :func:`frechet_distance` and ``metrics.fid``.
    """
    val, k = _frechet_scaled(m1, c1, m2, c2, eps)
    return ldexp2(val, 2 * k)


@quad_typed
def frechet_distance(mu1: Any, cov1: Any, mu2: Any, cov2: Any, *, squared: bool = True) -> Any:
    """Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2); squared by default.

    .. math:: W₂² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}

    The trace of the matrix square root needs one factorisation and one symmetric eigenvalue
    call, in float64: with ``Σ₂ = F Fᵀ`` (Cholesky, or ``V Λ^{1/2}`` from ``eigh`` when a
    covariance is singular, keeping only its support) the eigenvalues of ``Σ₁Σ₂`` are those of
    the symmetric PSD matrix ``Fᵀ Σ₁ F``. So the result is never complex, and singular
    (rank-deficient) covariances, e.g. from fewer samples than dimensions, are exact.
    When either covariance is positive definite every positive eigenvalue counts, however
    small (within ~1e-10 relative of scipy's ``sqrtm`` and NumPy's ``eigvals`` routes on
    well-conditioned inputs); only when both are singular are eigenvalues at rounding level
    set to 0. Negative covariance eigenvalues that are not negligible give a
    ``RuntimeWarning``, and ``W₂²`` is clamped at 0. Gradients use the closed
    forms ``∂/∂Σ₁ tr(Σ₁Σ₂)^{1/2} = ½ F N^{-1/2} Fᵀ`` and ``∂/∂Σ₂ = ½ F^{-ᵀ} N^{1/2} F^{-1}``
    (``N = Fᵀ Σ₁ F``), finite even for repeated eigenvalues; at singular covariances
    pseudo-inverses give the gradient along the supports.

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
    val, k = _frechet_scaled(m1, c1, m2, c2, torch.finfo(out_dtype).eps)
    if squared:
        val = ldexp2(val, 2 * k)
    else:  # the root of the rescaled value: W₂ is finite even where W₂² overflows
        pos = val > 0
        val = ldexp2(torch.where(pos, torch.where(pos, val, 1.0).sqrt(), 0.0), k)
    return to_output(val.to(out_dtype), is_numpy)
