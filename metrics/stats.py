"""Streaming feature statistics: count, mean and covariance in float64, mergeable.

``FeatureStats`` is the state of FID: it keeps ``n``, the mean and the centred scatter matrix
``M2 = sum_i (x_i - mean)(x_i - mean)^T`` in float64, merges two states exactly with the
pairwise update of Chan, Golub & LeVeque (1979), merges across ``torch.distributed`` processes
by summing sufficient statistics, and saves/loads ``.npz`` files in pytorch-fid's ``mu``/``sigma``
layout (so published reference statistics work, and ours work with pytorch-fid).
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Any

import numpy as np
import torch

from divergences._validation import check_finite
from divergences.continuous.frechet import check_psd
from metrics._types import from_numpy
from metrics.io._npz import read_npz
from metrics.io.atomic import atomic_open
from metrics.parallel import all_reduce_max, all_reduce_sum, get_rank, get_world_size

# Covariances may have eigenvalues down to -sqrt(PSD_EPS) = -1e-6 times the largest (rounding)
# before they are rejected; shared with metrics.fid.
PSD_EPS = 1e-12

__all__ = ["FeatureStats"]

_ROWS_PER_CHUNK = 8192  # float64 rows converted at once in update (bounds the temporary copy)


def _gram(x: torch.Tensor) -> torch.Tensor:
    """``x^T x`` for ``x`` (N, D), computing one triangle only.

    ``x^T x`` for ``x`` (N, D): BLAS ``dsyrk`` on CPU float64 (half the flops of a product),
    else a blocked SYRK computing only
    the upper block triangle.
    """
    if x.device.type == "cpu" and x.dtype == torch.float64 and not x.requires_grad:
        from scipy.linalg.blas import dsyrk

        a = np.ascontiguousarray(x.numpy()).T  # (D, N) in Fortran order: no copy
        upper = torch.from_numpy(dsyrk(1.0, a, trans=0, lower=0)).triu_()
        return upper + upper.triu(1).mT
    d = x.shape[1]
    nb = min(8, d // 256)
    if nb <= 1:
        return x.T @ x
    out = x.new_empty(d, d)
    edges = [round(i * d / nb) for i in range(nb + 1)]
    for lo, hi in itertools.pairwise(edges):
        blk = x[:, lo:hi].T @ x[:, lo:]
        out[lo:hi, lo:] = blk
        out[hi:, lo:hi] = blk[:, hi - lo :].T
    return out


def _pow2(k: int) -> float:
    """``2**k`` as a float (0.0 below the subnormal range, where the term is negligible)."""
    return math.ldexp(1.0, max(int(k), -1100))


def _exponent(t: torch.Tensor) -> int:
    """``e`` with ``max|t| · 2**-e`` in [0.5, 1) (0 for an all-zero or empty tensor)."""
    amax = float(t.abs().max()) if t.numel() else 0.0
    return math.frexp(amax)[1] if amax > 0 else 0


def _scale(t: torch.Tensor, k: int) -> torch.Tensor:
    """``t · 2**k`` in two exact steps, so ``2**k`` itself never overflows."""
    half = int(k) // 2
    return t * _pow2(half) * _pow2(int(k) - half)


def _difference(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(d, k)`` with ``a - b = d · 2**k`` and max ``|d|`` in [1/2, 1) (0 if a == b).

    One rounding per coordinate at the scale of the difference itself; halves first
    where the float64 difference would overflow.
    """
    d, h = a - b, 0
    if not bool(torch.isfinite(d).all()):
        d, h = a * 0.5 - b * 0.5, 1
    k = _exponent(d)
    return _scale(d, -k), k + h


def _toward(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """``a + (b - a) · w`` per coordinate, ``w`` in [0, 1]: exactly ``a`` where ``a == b``.

    Each column at its own scale (a shared exponent would flush a column far below the
    largest to subnormals); where ``b - a`` overflows, two half steps from halved terms.
    """
    d = b - a
    finite = torch.isfinite(d)
    if bool(finite.all()):
        return a + d * w
    half = (b * 0.5 - a * 0.5) * w
    return torch.where(finite, a + d * w, (a + half) + half)


def _as_features(x: Any, name: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else from_numpy(np.asarray(x, dtype=np.float64))
    if not t.is_floating_point():
        t = t.double()
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {tuple(t.shape)}")
    return t


class FeatureStats:
    r"""Streaming count, mean and covariance of features ``(N, D)``, accumulated in float64.

    .. math:: \mu = \frac1n\sum_i x_i,\quad
        \Sigma = \frac{1}{n-1}\sum_i (x_i-\mu)(x_i-\mu)^\top \ (\text{unbiased})

    Updates and merges use Chan et al.'s pairwise formula (each batch is centred on its own
    mean, so no large sums of squares cancel). State lives on the device of the first batch.
    The scatter matrix is kept as ``M2 · 4**-e`` with a power-of-two exponent ``e`` chosen
    from the data (exact rescaling), so any finite float64 features work, 1e-300 to 1e300:
    the statistics, and FID from them, are correct where float64 squares would overflow or
    underflow. :meth:`cov` and :meth:`save` raise ``ValueError`` when the covariance itself
    is not representable in float64 (features beyond ~1e154 in magnitude).

    Args:
        dim: feature dimension D if known (required before :meth:`all_reduce` on a rank that
            may see no data); otherwise set by the first update.

    References:
        Chan, Golub & LeVeque, "Updating formulae and a pairwise algorithm for computing
        sample variances" (1979). File layout of ``mseitzer/pytorch-fid`` (``mu``, ``sigma``).

    Example:
        >>> import numpy as np
        >>> s = FeatureStats().update(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]]))
        >>> s.n, s.mean.tolist(), s.cov()[0, 0].item()
        (3, [2.0, 4.0], 4.0)
    """

    def __init__(self, dim: int | None = None) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"dim must be a positive integer or None, got {dim!r}")
        self._dim = dim
        self.reset()

    # --- state -------------------------------------------------------------------------------
    def reset(self) -> FeatureStats:
        """Forget all samples (keeps ``dim``)."""
        self._n: int | None = 0
        self._mean: torch.Tensor | None = None
        self._m2: torch.Tensor | None = None  # the scatter matrix times 4**-self._e
        self._e = 0
        self._cov_given: torch.Tensor | None = None  # unbiased covariance times 4**-self._e
        return self

    @property
    def n(self) -> int | None:
        """Number of samples (None for statistics loaded without a count)."""
        return self._n

    @property
    def dim(self) -> int | None:
        """Feature dimension D (None before the first update)."""
        return self._dim

    @property
    def mean(self) -> torch.Tensor:
        """Mean ``(D,)`` in float64."""
        if self._mean is None or self._n == 0:
            raise ValueError("FeatureStats is empty: call update() first")
        return self._mean

    def _scaled_cov(self, unbiased: bool = True) -> tuple[torch.Tensor, int]:
        """``(cov · 4**-e, e)``: the covariance with its power-of-two exponent split off."""
        if self._cov_given is not None:
            if not unbiased:
                raise ValueError("statistics loaded without a count only have the unbiased cov")
            return self._cov_given, self._e
        n = self._n or 0
        if self._m2 is None or n < 2:
            raise ValueError(f"covariance needs at least 2 samples, got n={n}")
        return self._m2 / (n - 1 if unbiased else n), self._e

    def cov(self, unbiased: bool = True) -> torch.Tensor:
        """Covariance ``(D, D)`` in float64; ``unbiased`` divides by ``n - 1`` (else ``n``).

        Raises:
            ValueError: the covariance overflows float64 (features beyond ~1e154); FID from
                these statistics (:func:`metrics.fid_from_stats`) still works.
        """
        c, e = self._scaled_cov(unbiased)
        out = _scale(c, 2 * e)
        if not bool(torch.isfinite(out).all()):
            raise ValueError(
                f"the covariance overflows float64 (entries up to ~2^{2 * e + _exponent(c)}); "
                "features must be below ~1e154 in magnitude for cov() and save()"
            )
        return out

    def _ensure_dim(self, d: int, device: torch.device) -> None:
        if self._dim is None:
            self._dim = d
        elif d != self._dim:
            raise ValueError(
                f"features have dimension D={d}, but these statistics have D={self._dim}"
            )
        if self._mean is None:
            self._mean = torch.zeros(d, dtype=torch.float64, device=device)
            self._m2 = torch.zeros(d, d, dtype=torch.float64, device=device)
            self._e = 0

    def _check_mergeable(self) -> None:
        if self._n is None:
            raise ValueError(
                "these statistics were loaded without a sample count (mu/sigma only); "
                "they can be used for FID but not updated or merged"
            )

    def _merge_moments(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor, e_b: int) -> None:
        """Chan's merge of a scaled state into this one.

        Chan's merge of ``(n_b, mean_b, m2_b · 4**e_b)`` into this state, all terms brought
        to one exponent (differences between means are formed at a scale where they fit).
        A piece with count 0 is the identity: its mean is never read (it may be undefined).
        """
        if n_b == 0:
            return
        if self._n == 0:  # taken verbatim: rescaling to a joint exponent could only lose bits
            self._n, self._mean, self._m2, self._e = n_b, mean_b.clone(), m2_b.clone(), e_b
            return
        n_a = self._n
        n = n_a + n_b
        # the scatter's exponent follows mean_b - mean_a, not the means: an offset far above
        # the spread (translation) must not flush the scatter to 0
        dl, e_dl = _difference(mean_b, self._mean)
        self._mean = _toward(self._mean, mean_b, n_b / n)
        e = max(self._e, e_b, e_dl if bool((dl != 0).any()) else self._e)
        m2 = _scale(self._m2, 2 * (self._e - e)) + _scale(m2_b, 2 * (e_b - e))
        dl = _scale(dl, e_dl - e)
        self._m2 = m2.add_(torch.outer(dl, dl), alpha=n_a * n_b / n)
        self._n, self._e = n, e

    def update(self, features: Any, *, valid: Any = None) -> FeatureStats:
        """Add a batch of features ``(N, D)`` (any float dtype, NumPy or torch); returns self.

        Args:
            features: ``(N, D)`` batch.
            valid: optional bool mask ``(N,)``; rows where it is False are skipped (e.g. the
                padding of a distributed sampler, see ``metrics.parallel.sampler_valid_mask``).
        """
        self._check_mergeable()
        x = _as_features(features, "features")
        check_finite(x, "features")
        if valid is not None:
            mask = torch.as_tensor(valid, dtype=torch.bool, device=x.device)
            if mask.shape != (x.shape[0],):
                raise ValueError(f"valid must have shape ({x.shape[0]},), got {tuple(mask.shape)}")
            x = x[mask]
        device = self._mean.device if self._mean is not None else x.device
        self._ensure_dim(x.shape[1], device)
        # an empty batch (or all rows masked) leaves the state as it is: mean() of 0 rows is NaN
        for chunk in torch.split(x, _ROWS_PER_CHUNK) if x.shape[0] else ():
            c = chunk.to(device=device, dtype=torch.float64)
            # centre first, then rescale by the spread (exact powers of two): an offset far
            # above the spread cannot flush it. Centred on the first row plus the mean of the
            # differences, a column where all rows agree is exactly 0 (a mean of n equal
            # values need not be that value); `pre` keeps the differences and sums in range.
            k = _exponent(c)
            pre = k - 1000 if k > 1000 else (k + 900 if k < -900 else 0)
            if pre:
                c = c * _pow2(-pre) if c is chunk else c.mul_(_pow2(-pre))
            ref = c[0].clone()
            c = c.sub_(ref) if c is not chunk else c - ref  # in place on our own copy
            mean_d = c.mean(dim=0)
            c.sub_(mean_d)
            mean_s = ref + mean_d
            k1 = _exponent(c)
            if k1:  # in two steps: 2**-k1 itself may overflow
                c.mul_(_pow2(-(k1 // 2))).mul_(_pow2(k1 // 2 - k1))
            self._merge_moments(c.shape[0], _scale(mean_s, pre), _gram(c), pre + k1)
        return self

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Add another state's samples to this one (exact pairwise merge); returns self."""
        if not isinstance(other, FeatureStats):
            raise TypeError(f"other must be a FeatureStats, got {type(other).__name__}")
        self._check_mergeable()
        other._check_mergeable()
        if other._n == 0:  # the identity (its dimension, if known, must still agree)
            if other._dim is not None and self._dim is not None and other._dim != self._dim:
                self._ensure_dim(other._dim, torch.device("cpu"))
            return self
        self._ensure_dim(other._dim, other._mean.device)
        dev = self._mean.device
        self._merge_moments(other._n, other._mean.to(dev), other._m2.to(dev), other._e)
        return self

    def all_reduce(self) -> FeatureStats:
        """Merge this state over all ``torch.distributed`` processes (in place; no-op alone).

        Sums sufficient statistics: the count, ``n * mean``, and each rank's scatter about the
        global mean, ``M2_r + n_r (mean_r - mean)(mean_r - mean)^T`` (exact, like Chan's merge).
        Every rank must call it; ranks without data need ``dim`` set at construction.
        """
        self._check_mergeable()
        if self._dim is None:
            raise ValueError("all_reduce needs dim: pass FeatureStats(dim=D) on every rank")
        device = self._mean.device if self._mean is not None else torch.device("cpu")
        self._ensure_dim(self._dim, device)
        n_all = int(all_reduce_sum(torch.tensor([self._n], dtype=torch.int64, device=device)))
        if n_all == 0:
            return self
        # every rank's count and mean (a sum of one-hot rows); the global mean is formed
        # alike on every rank, as the first mean plus the weighted differences from it, so
        # a column where every mean agrees keeps that value exactly
        rank, world = get_rank(), get_world_size()
        table = torch.zeros(world, self._dim + 1, dtype=torch.float64, device=device)
        if self._n:
            table[rank, 0], table[rank, 1:] = float(self._n), self._mean
        table = all_reduce_sum(table)
        has = table[:, 0] > 0
        weights, means = table[has, 0] / n_all, table[has, 1:]
        w = weights[:, None]
        diffs = means - means[0]
        finite = torch.isfinite(diffs).all(0)  # per column: each at its own scale
        mean_all = means[0] + (w * diffs).sum(0)
        if not bool(finite.all()):  # where a difference overflows: two half steps
            half = (w * (means * 0.5 - means[0] * 0.5)).sum(0)
            mean_all = torch.where(finite, mean_all, (means[0] + half) + half)
        # the scatter's exponent follows mean_r - mean, not the means (translation invariance)
        delta, e_dl = _difference(self._mean, mean_all)
        top = torch.tensor([float(self._e), float(e_dl)], dtype=torch.float64, device=device)
        if not self._n or not bool((delta != 0).any()):
            top[1] = -(2.0**40)  # this rank adds no mean term
        if not self._n:
            top[0] = -(2.0**40)
        top = all_reduce_max(top)
        e = int(top.max())
        dl = _scale(delta, e_dl - e)
        local = _scale(self._m2, 2 * (self._e - e)) + torch.outer(dl, dl) * float(self._n)
        m2 = all_reduce_sum(local if self._n else torch.zeros_like(local))
        self._n, self._mean, self._m2, self._e = n_all, mean_all, m2, e
        return self

    # --- files ---------------------------------------------------------------------------------
    @classmethod
    def from_moments(cls, mean: Any, cov: Any, n: int | None = None) -> FeatureStats:
        """Statistics from a mean ``(D,)`` and an unbiased covariance ``(D, D)``.

        With ``n`` (>= 2) the state can be merged further; without it, it serves FID only.
        """
        mu = mean if isinstance(mean, torch.Tensor) else torch.from_numpy(np.asarray(mean, float))
        if mu.ndim != 1:
            raise ValueError(f"mean must have shape (D,), got {tuple(mu.shape)}")
        mu = mu.double()
        sigma = _as_features(cov, "cov").double().to(mu.device)
        d = mu.shape[0]
        if sigma.shape != (d, d):
            raise ValueError(
                f"cov must have shape ({d}, {d}) to match mean, got {tuple(sigma.shape)}"
            )
        check_finite(mu, "mean")
        check_finite(sigma, "cov")
        if not torch.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-9 * float(sigma.abs().max())):
            raise ValueError("cov must be symmetric")
        e = (_exponent(sigma) + 1) // 2  # sigma · 4**-e has entries below 1
        scaled = _scale(sigma, -2 * e)
        check_psd(scaled, "cov", eps=PSD_EPS)
        out = cls(dim=d)
        out._mean = mu.clone()
        if n is None:
            out._n, out._cov_given, out._e = None, scaled, e
        else:
            if isinstance(n, bool) or int(n) != n or n < 2:
                raise ValueError(f"n must be an integer >= 2 (or None), got {n!r}")
            out._n, out._m2, out._e = int(n), scaled * (int(n) - 1), e
        return out

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Write ``mu``, ``sigma`` (unbiased) and ``n`` to an ``.npz`` (pytorch-fid compatible).

        The file is written to a temporary name and moved into place (atomic), at exactly
        ``path``; an existing file is kept unless ``overwrite=True``.

        Raises:
            ValueError: ``path`` exists (and ``overwrite`` is False) or its folder does not.
        """
        mu = self.mean.cpu().numpy()
        sigma = self.cov().cpu().numpy()
        arrays = {"mu": mu, "sigma": sigma}
        if self._n is not None:
            arrays["n"] = np.int64(self._n)
        with atomic_open(path, overwrite=overwrite, what="FeatureStats.save") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        """Read an ``.npz`` holding ``mu``, ``sigma`` and optionally ``n`` (no pickles).

        Raises:
            ValueError: the file cannot be read, is truncated or corrupt, lacks ``mu`` or
                ``sigma`` (named), or holds moments of the wrong shape; the message names it.
        """
        f = read_npz(path, ("mu", "sigma", "n"), required=("mu", "sigma"), what="statistics file")
        try:
            n = f["n"].item() if "n" in f else None
            return cls.from_moments(f["mu"], f["sigma"], n=n)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{os.fspath(path)}: {exc}") from None

    def __repr__(self) -> str:
        return f"FeatureStats(n={self._n}, dim={self._dim})"
