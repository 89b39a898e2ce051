r"""Fréchet distance between Gaussians fitted to features (FID).

.. math:: \mathrm{FID} = \lVert\mu_1-\mu_2\rVert^2 + \operatorname{tr}\Sigma_1
    + \operatorname{tr}\Sigma_2 - 2\operatorname{tr}\big(\Sigma_1\Sigma_2\big)^{1/2}

The distance itself is the core's :func:`divergences.frechet_distance` (one implementation;
these functions are doors onto it): one factorisation (Cholesky, or ``eigh`` for a singular
covariance, e.g. ``n < d``) and one symmetric eigenvalue call, in float64, never complex.
Covariances are unbiased (divide by ``n - 1``), as in pytorch-fid, torchmetrics and clean-fid.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from divergences._validation import as_tensor, check_finite, to_output
from divergences.continuous.frechet import check_psd as _core_check_psd
from divergences.continuous.frechet import frechet64
from metrics._types import feature_pair
from metrics.stats import PSD_EPS, FeatureStats, _exponent, _gram, _scale

__all__ = ["FID", "fid", "fid_from_moments", "fid_from_stats"]


def _frechet(
    mu1: torch.Tensor,
    cov1: torch.Tensor,
    mu2: torch.Tensor,
    cov2: torch.Tensor,
    e1: int = 0,
    e2: int = 0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Fréchet distance of float64 moments via the core.

    Fréchet distance of float64 moments via the core, covariances given as
    ``cov · 4**-e`` (covariances symmetrised first).

    FID is translation invariant and scale covariant, ``FID(c a + t, c b + t) = c² FID(a, b)``:
    the means are replaced by ``(mu1 - mu2, 0)`` and the moments brought to unit scale by one
    power of two ``2**E`` (exact), the core computes there, and the result is scaled back by
    ``4**E``; so features anywhere in float64's range, at any offset, are handled and the
    core's rounding tolerances are relative. Raises ``ValueError`` if the FID itself does
    not fit in ``dtype``.
    """
    # FID sees only mu1 - mu2 (translation invariance): scale by it, not by the means, so an
    # offset far above the spread cannot flush the covariances
    half = mu1 * 0.5 - mu2 * 0.5  # cannot overflow
    big = max(_exponent(half.detach()) + 1, e1, e2)
    m1 = _scale(half, 1 - big)
    m2 = torch.zeros_like(m1)
    c1, c2 = _scale(cov1, 2 * (e1 - big)), _scale(cov2, 2 * (e2 - big))
    sym1, sym2 = 0.5 * (c1 + c1.T), 0.5 * (c2 + c2.T)
    for t, n in ((m1, "mean"), (sym1, "covariance"), (m2, "mean"), (sym2, "covariance")):
        check_finite(t.detach(), f"the {n} of the statistics")
    try:
        val = frechet64(m1, sym1, m2, sym2, eps=PSD_EPS)
    except torch.linalg.LinAlgError as err:  # finite input: say so rather than LAPACK's code
        raise ValueError(f"FID: the eigen-decomposition of the covariances failed ({err})") from err
    out = _scale(val, 2 * big)
    if not bool(torch.isfinite(out.detach().to(dtype))):
        log10 = math.log10(float(val)) + 2 * big * math.log10(2.0)
        raise ValueError(
            f"FID ~ 1e{log10:.1f} is beyond {dtype}'s range (max {torch.finfo(dtype).max:.3g}); "
            "FID scales as the square of the features: multiply them by a smaller constant"
        )
    return out


def _check_moments(mu: torch.Tensor, cov: torch.Tensor, names: tuple[str, str]) -> None:
    if mu.ndim != 1:
        raise ValueError(f"{names[0]} must have shape (D,), got {tuple(mu.shape)}")
    d = mu.shape[0]
    if cov.shape != (d, d):
        raise ValueError(
            f"{names[1]} must have shape ({d}, {d}) to match {names[0]}, got {tuple(cov.shape)}"
        )
    check_finite(mu, names[0])
    check_finite(cov, names[1])
    scale = float(cov.abs().max()) if cov.numel() else 0.0
    if float((cov - cov.T).abs().max()) > 1e-6 * scale:  # relative: any magnitude works
        raise ValueError(f"{names[1]} must be symmetric")


def check_psd(cov: torch.Tensor, name: str) -> None:
    """Raise unless float64 ``cov`` is positive semi-definite up to rounding.

    Raise unless float64 ``cov`` is positive semi-definite up to rounding (the core's check:
    a Cholesky success proves it cheaply; otherwise the smallest eigenvalue must be >= -1e-6
    times the largest).
    """
    _core_check_psd(cov, name, eps=PSD_EPS)


def fid_from_moments(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> Any:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2).

    Args:
        mu1: mean ``(D,)``.
        cov1: covariance ``(D, D)``, symmetric positive semi-definite (may be singular).
        mu2: mean ``(D,)``.
        cov2: covariance ``(D, D)``.

    Returns:
        ``||mu1 - mu2||² + tr cov1 + tr cov2 - 2 tr (cov1 cov2)^{1/2}`` (>= 0): a float for
        NumPy input; for torch input a 0-d tensor in ``mu1``'s dtype and device (computed in
        float64, differentiable).

    This is :func:`divergences.frechet_distance` (same computation) for single ``(D,)``
    moments, with FeatureStats' tolerances: covariances symmetric to 1e-6 relative and
    eigenvalues down to -1e-6 times the largest accepted as rounding.

    References:
        Dowson & Landau (1982); Heusel et al., "GANs trained by a two time-scale update rule
        converge to a local Nash equilibrium" (2017). Matches ``mseitzer/pytorch-fid``'s
        ``calculate_frechet_distance`` without its ``sqrtm``.

    Example:
        >>> import numpy as np
        >>> round(fid_from_moments([0.0, 0.0], np.eye(2), [3.0, 4.0], 4 * np.eye(2)), 6)
        27.0
    """
    tensors = [
        as_tensor(a, n) for a, n in ((mu1, "mu1"), (cov1, "cov1"), (mu2, "mu2"), (cov2, "cov2"))
    ]
    (m1, is_np), (c1, _), (m2, _), (c2, _) = tensors
    ref = m1
    m1, c1, m2, c2 = (t.to(device=ref.device, dtype=torch.float64) for t in (m1, c1, m2, c2))
    _check_moments(m1, c1, ("mu1", "cov1"))
    _check_moments(m2, c2, ("mu2", "cov2"))
    if m1.shape != m2.shape:
        raise ValueError(
            f"mu1 and mu2 must have the same dimension D; got {tuple(m1.shape)} "
            f"and {tuple(m2.shape)}"
        )
    k1, k2 = (_exponent(c1.detach()) + 1) // 2, (_exponent(c2.detach()) + 1) // 2
    s1, s2 = _scale(c1, -2 * k1), _scale(c2, -2 * k2)
    out = _frechet(m1, s1, m2, s2, k1, k2, dtype=torch.float64 if is_np else ref.dtype)
    return to_output(out if is_np else out.to(ref.dtype), is_np)


def fid_from_stats(real: FeatureStats, fake: FeatureStats) -> float:
    """FID between two :class:`~metrics.FeatureStats` (e.g. a saved reference and new samples).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> a = FeatureStats().update(rng.normal(size=(500, 3)))
        >>> round(fid_from_stats(a, a), 8)
        0.0
    """
    for s, n in ((real, "real"), (fake, "fake")):
        if not isinstance(s, FeatureStats):
            raise TypeError(f"{n} must be a FeatureStats, got {type(s).__name__}")
        if s.n is not None and s.n < 2:
            raise ValueError(
                f"FID needs at least 2 {n} samples for a covariance, got {s.n} "
                "(empty or fully masked batches add none)"
            )
    if real.dim != fake.dim:
        raise ValueError(
            f"real and fake statistics have different dimensions: {real.dim} vs {fake.dim}"
        )
    dev = real.mean.device
    (c1, e1), (c2, e2) = real._scaled_cov(), fake._scaled_cov()
    return float(_frechet(real.mean, c1, fake.mean.to(dev), c2.to(dev), e1, e2))


def _moments_with_grad(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of ``x · 2**-k`` (differentiable)."""
    x = _scale(x.double(), -k)
    mu = x.mean(dim=0)
    xc = x - mu
    return mu, _gram(xc) / (x.shape[0] - 1)


def fid(real: Any, fake: Any) -> Any:
    """Fréchet Inception Distance between two sets of features.

    Args:
        real: features ``(N, D)``, N >= 2.
        fake: features ``(M, D)``, M >= 2.

    Returns:
        FID (>= 0) with unbiased (N - 1) covariances: a float for NumPy input, a 0-d tensor in
        ``real``'s dtype/device for torch input (differentiable with respect to the features).

    References:
        Heusel et al. (2017); matches ``mseitzer/pytorch-fid`` (``np.cov``, unbiased) up to the
        square root, which is computed by symmetric eigenvalues (see the module docstring).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(1000, 4))
        >>> round(fid(x, x), 8), fid(x, x + 1.0) > 3.9
        (0.0, True)
    """
    x, y, is_np = feature_pair(real, fake, min_samples=2, why=" for a covariance")
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        # centre on one constant first (FID is translation invariant), then rescale by the
        # spread; the constant is a row plus the mean of the differences from it, so a
        # column equal in every row centres to exactly 0; h keeps the differences finite
        both = torch.cat([x.detach(), y.detach()]).double()
        h = max(0, _exponent(both) - 1022)
        both = _scale(both, -h)
        diff = both - both[0]
        kd = _exponent(diff)
        centre = both[0] + _scale(_scale(diff, -kd).mean(dim=0), kd)
        xc, yc = _scale(x.double(), -h) - centre, _scale(y.double(), -h) - centre
        k = max(_exponent(xc.detach()), _exponent(yc.detach()))
        (m1, c1), (m2, c2) = _moments_with_grad(xc, k), _moments_with_grad(yc, k)
        m1, m2 = _scale(m1, k + h), _scale(m2, k + h)  # centred means are representable
        return _frechet(m1, c1, m2, c2, k + h, k + h, dtype=x.dtype).to(x.dtype)
    sx, sy = FeatureStats().update(x), FeatureStats().update(y)
    (c1, e1), (c2, e2) = sx._scaled_cov(), sy._scaled_cov()
    out = _frechet(sx.mean, c1, sy.mean, c2, e1, e2, dtype=torch.float64 if is_np else x.dtype)
    return to_output(out if is_np else out.to(x.dtype), is_np)


class FID:
    """Streaming FID: feed real and fake features in batches, then :meth:`compute`.

    Args:
        reference: optional precomputed real statistics (e.g. ``FeatureStats.load(path)``); they
            are kept by :meth:`reset_fake` and merged into, not replaced, by :meth:`update_real`.
        dim: feature dimension (needed for :meth:`all_reduce` on ranks that may see no data).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> m = FID()
        >>> for _ in range(3):
        ...     _ = m.update_real(rng.normal(size=(100, 2))).update_fake(rng.normal(size=(100, 2)))
        >>> m.compute() < 0.05
        True
    """

    def __init__(self, reference: FeatureStats | None = None, dim: int | None = None) -> None:
        if reference is not None and not isinstance(reference, FeatureStats):
            raise TypeError(f"reference must be a FeatureStats, got {type(reference).__name__}")
        self.real = reference if reference is not None else FeatureStats(dim)
        self.fake = FeatureStats(dim if reference is None else reference.dim)

    def update_real(self, features: Any, *, valid: Any = None) -> FID:
        """Add real features ``(N, D)``; returns self."""
        self.real.update(features, valid=valid)
        return self

    def update_fake(self, features: Any, *, valid: Any = None) -> FID:
        """Add generated features ``(N, D)``; returns self."""
        self.fake.update(features, valid=valid)
        return self

    def merge(self, other: FID) -> FID:
        """Add another accumulator's real and fake statistics; returns self."""
        if not isinstance(other, FID):
            raise TypeError(f"other must be a FID, got {type(other).__name__}")
        self.real.merge(other.real)
        self.fake.merge(other.fake)
        return self

    def all_reduce(self) -> FID:
        """Merge the statistics of all ``torch.distributed`` processes (no-op alone)."""
        if self.real.n is not None:
            self.real.all_reduce()
        self.fake.all_reduce()
        return self

    def reset(self) -> FID:
        """Forget real and fake statistics."""
        self.real.reset()
        self.fake.reset()
        return self

    def reset_fake(self) -> FID:
        """Forget the fake statistics only (keep the real reference)."""
        self.fake.reset()
        return self

    def compute(self) -> float:
        """FID between the accumulated real and fake statistics."""
        return fid_from_stats(self.real, self.fake)
