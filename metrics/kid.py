r"""Kernel Inception Distance: unbiased MMD² with the cubic polynomial kernel over subsets.

.. math:: k(x, y) = (x \cdot y / d + 1)^3,\quad
    \widehat{\mathrm{MMD}}{}^2_u = \tfrac{1}{m(m-1)}\sum_{i\ne j}k(x_i,x_j)
    + \tfrac{1}{m(m-1)}\sum_{i\ne j}k(y_i,y_j) - \tfrac{2}{m^2}\sum_{i,j}k(x_i,y_j)

averaged over ``subsets`` random subsets of ``m`` real and ``m`` fake features drawn without
replacement from a seeded ``torch.Generator`` (reproducible; no global RNG).

Each subset's MMD² is the core's :func:`divergences.mmd2` polynomial route (one
implementation): both sets are centred on their pooled mean ``c`` in float64, so
``x·y = x̃·ỹ + x̃·c + ỹ·c + c·c`` with only the small centred products ``x̃·ỹ`` taken from a
float32 matrix product (``gram_dtype``); the kernel values and all sums are float64. On
Inception-like features this agrees with an all-float64 computation to ~1e-8 relative at float32
speed (``gram_dtype=torch.float64`` gives the all-float64 route). Here the centring is done once
for all subsets.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from divergences._validation import check_positive_int
from divergences.kernels import DEFAULT_TILE, centre_polynomial, polynomial_mmd2_centred
from metrics._buffer import FeatureBuffer
from metrics._types import Score, feature_pair

__all__ = ["KID", "KIDScore", "kid"]

_CHUNK_ELEMENTS = 1 << 17
_F32_SAFE_SQNORM = 2.0**100  # centred squared norms beyond this are not safe in float32 products
_EPS64 = float(torch.finfo(torch.float64).eps)


class KIDScore(Score):
    """:class:`~metrics.Score` ``(mean, std, n)`` of KID, with how the subsets were drawn.

    Attributes:
        subset_size: the subset size used (``subset_size`` clamped to ``min(N, M)``).
        resampled: False when every subset is the whole of both sets (``subset_size >= N``
            and ``>= M``): then all subsets agree and ``std`` is 0 by construction, not an
            error bar.

    Compares and unpacks like a :class:`~metrics.Score`.
    """

    def __new__(
        cls, mean: float, std: float, n: int, subset_size: int = 0, resampled: bool = True
    ) -> KIDScore:
        """A score with its subset size and whether subsets were resampled (see the class)."""
        self = super().__new__(cls, mean, std, n)
        self.subset_size, self.resampled = subset_size, resampled
        return self

    def __getnewargs__(self) -> tuple:
        return (*tuple(self), self.subset_size, self.resampled)


def _kid_impl(
    x: torch.Tensor,
    y: torch.Tensor,
    subsets: int,
    m: int,
    seed: int,
    degree: int,
    gamma: float,
    coef0: float,
    gram_dtype: torch.dtype,
) -> tuple[torch.Tensor, int]:
    """Per-subset unbiased MMD² values (float64, shape (subsets,)) and the subset size.

    Both sets are centred once (on the pooled mean of all features); each subset's MMD² is
    then the core's tiled polynomial MMD² on the selected rows.
    """
    (xg, ux), (yg, uy), shift = centre_polynomial(x, y.to(x.device), gram_dtype)
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(subsets, dtype=torch.float64)
    opts = {"degree": degree, "gamma": gamma, "coef0": coef0, "unbiased": True}
    # Half-subset tiles: the within-set sums then skip the lower off-diagonal tile, 3/4 of the
    # products of one full tile.
    tile = min(DEFAULT_TILE, -(-m // 2))
    for s in range(subsets):
        ix = torch.randperm(x.shape[0], generator=gen)[:m].to(x.device)
        iy = torch.randperm(y.shape[0], generator=gen)[:m].to(x.device)
        val = polynomial_mmd2_centred((xg[ix], ux[ix]), (yg[iy], uy[iy]), shift, **opts, tile=tile)
        out[s] = float(val)
    return out, m


def _prepare(real: Any, fake: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _ = feature_pair(real, fake, min_samples=2, why=" for the unbiased MMD²")
    return x.detach(), y.detach()


def kid(
    real: Any,
    fake: Any,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    gram_dtype: torch.dtype = torch.float32,
) -> Score:
    """Kernel Inception Distance between two feature sets: mean and std over seeded subsets.

    Args:
        real: features ``(N, D)``, N >= 2.
        fake: features ``(M, D)``, M >= 2.
        subsets: number of random subsets.
        subset_size: samples per subset from each set; if larger than ``min(N, M)`` it is
            reduced to that with a warning (as StyleGAN2-ADA's ``compute_kid``).
        seed: seed of the subset draws (a private ``torch.Generator``; same seed, same value).
        degree: polynomial degree (3 for KID).
        gamma: kernel scale, default ``1 / D``.
        coef0: kernel offset (1 for KID).
        gram_dtype: dtype of the centred feature products (see module docstring).

    Returns:
        :class:`KIDScore` ``(mean, std, n=subsets)`` of the unbiased MMD² (can be slightly
        negative when both sets come from one distribution), with ``subset_size`` (the one
        used) and ``resampled``: when ``subset_size >= N`` and ``>= M`` every subset is the
        whole of both sets, so KID is computed once, ``std`` is 0 (not an error bar),
        ``resampled`` is False and a warning says so.

    Raises:
        ValueError: bad arguments, non-finite features, or features so large that the kernel
            overflows float64. KID is not scale invariant (the kernel mixes degrees through
            ``coef0``): features tiny next to ``coef0`` (``gamma·|x|² < 1e-9·coef0``) give a
            warning, as KID then keeps little relative accuracy. ``gram_dtype=float32`` is
            replaced by float64 where centred squared norms exceed 2^100.

    References:
        Bińkowski et al., "Demystifying MMD GANs" (2018); matches ``compute_kid`` in
        ``NVlabs/stylegan2-ada-pytorch`` and torchmetrics' ``KernelInceptionDistance`` (std with
        ``ddof=0``) except for the seeded generator.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
        >>> s = kid(x, y + 1.0, subsets=10, subset_size=100)
        >>> s.n, s.mean > 20 * abs(kid(x, y, subsets=10, subset_size=100).mean)
        (10, True)
    """
    x, y = _prepare(real, fake)
    subsets = check_positive_int(subsets, "subsets")
    subset_size = check_positive_int(subset_size, "subset_size", minimum=2)
    seed = check_positive_int(seed, "seed", minimum=0)
    degree = check_positive_int(degree, "degree")
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a positive finite number, got {gamma!r}")
    if not (isinstance(coef0, (int, float)) and math.isfinite(coef0) and coef0 >= 0):
        raise ValueError(f"coef0 must be a finite number >= 0, got {coef0!r}")
    if gram_dtype not in (torch.float32, torch.float64):
        raise ValueError(f"gram_dtype must be torch.float32 or torch.float64, got {gram_dtype}")
    m = min(subset_size, x.shape[0], y.shape[0])
    resampled = m < x.shape[0] or m < y.shape[0]
    if not resampled:
        warnings.warn(
            f"kid: subset_size={subset_size} >= both set sizes ({x.shape[0]}, {y.shape[0]}): "
            "every subset is the whole set, so std is 0 and is not an error bar "
            "(use subset_size < min(N, M), e.g. N // 2, for a spread)",
            stacklevel=2,
        )
    elif m < subset_size:
        warnings.warn(
            f"kid: subset_size={subset_size} exceeds the smaller set; using {m}", stacklevel=2
        )
    gamma, coef0 = float(gamma), float(coef0)
    sq = _max_centred_sqnorm(x, y)
    if gram_dtype == torch.float32 and sq > _F32_SAFE_SQNORM:
        gram_dtype = torch.float64  # float32 products of such features would overflow
    if coef0 > 0 and 0 < gamma * sq < 1e-9 * coef0:
        warnings.warn(
            f"kid: the features are tiny next to coef0={coef0} (gamma·max|x - mean|² = "
            f"{gamma * sq:.2g}): the kernel is ~coef0^degree and rounding can move KID by "
            f"~{_EPS64 * coef0 / (gamma * sq):.0e} times its value; KID is not scale "
            "invariant, so rescale the features (or pass gamma) if that is too much",
            stacklevel=2,
        )
    reps = subsets if resampled else 1  # identical subsets: compute one
    vals, _ = _kid_impl(x, y, reps, m, seed, degree, gamma, coef0, gram_dtype)
    if not bool(torch.isfinite(vals).all()):
        raise ValueError(
            f"kid: the polynomial kernel (gamma·x·y + coef0)^{degree} of these features "
            f"(gamma·max|x - mean|² = {gamma * sq:.3g}) overflows float64; KID is not scale "
            "invariant: rescale the features (or lower gamma) so that gamma·|x|² stays "
            f"below about 1e{int(308 / degree) - 2}"
        )
    if not resampled:
        vals = vals.expand(subsets)
    return KIDScore(float(vals.mean()), float(vals.std(correction=0)), subsets, m, resampled)


def _max_centred_sqnorm(x: torch.Tensor, y: torch.Tensor) -> float:
    """Largest squared norm of a feature about the pooled mean (float64, overflow-safe)."""
    sets = (x, y.to(x.device))
    top = max(max(float(t.max()), -float(t.min())) for t in sets)
    k = 2.0 ** -(math.frexp(top)[1] if top > 0 else 0)  # exact power of two: no overflow
    step = max(1, _CHUNK_ELEMENTS // max(1, x.shape[1]))  # cache-sized blocks, no full copy

    def blocks(t: torch.Tensor):
        return (t[i : i + step].double() * k for i in range(0, t.shape[0], step))

    c = sum(b.sum(0) for t in sets for b in blocks(t)) / sum(t.shape[0] for t in sets)
    best = max(float((b - c).square_().sum(1).max()) for t in sets for b in blocks(t))
    return best / k / k


class KID(FeatureBuffer):
    """Streaming KID: keeps the features (KID needs them, not moments) and calls :func:`kid`.

    Args:
        **options: keyword options of :func:`kid` (``subsets``, ``subset_size``, ``seed``, ...).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(60, 4)), rng.normal(size=(60, 4))
        >>> m = KID(subsets=5, subset_size=50).update_real(x[:20]).update_real(x[20:])
        >>> m.update_fake(y).compute() == kid(x, y, subsets=5, subset_size=50)
        True
    """

    def __init__(self, **options: Any) -> None:
        self.options = options
        super().__init__()

    def compute(self) -> Score:
        """:func:`kid` on all features seen so far."""
        return kid(*self._features(), **self.options)
