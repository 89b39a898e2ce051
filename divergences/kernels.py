"""Kernel two-sample distances: MMD² and the energy distance, on a blocked pairwise sum.

Every pairwise sum ``Σ_ij k(x_i, y_j)`` is evaluated tile by tile (``tile × tile`` blocks,
float64 accumulation), so no N×M matrix is ever formed, in the forward or the backward pass.
Within-set sums use symmetry (tiles on and above the diagonal) and add the exact diagonal
``k(x_i, x_i)`` separately, so the unbiased estimator never sees rounding on ``‖x_i − x_i‖``.

Kernels (``D`` the feature dimension):

* ``"gaussian"``: ``exp(−‖x − y‖₂² / (2σ²))``; several bandwidths give the sum of the kernels.
* ``"laplace"``: ``exp(−‖x − y‖₂ / σ)`` with the Euclidean norm (geomloss' ``"laplacian"``).
* ``"polynomial"``: ``(γ x·y + c₀)^degree`` as in ``sklearn.metrics.pairwise.polynomial_kernel``;
  ``γ = 1/D``, ``c₀ = 1``, ``degree = 3`` is the KID kernel (Bińkowski et al. 2018).
* ``"energy"``: ``−‖x − y‖₂`` (the distance-induced kernel; its biased MMD² is the energy
  distance).

Distances use the GEMM expansion ``‖x‖² + ‖y‖² − 2x·y`` in the input dtype after centring
both sets on x's mean; for the kernels that take a square root (laplace, energy) the pairs where
the expansion cancels (``‖x−y‖² < 10⁻²(‖x‖² + ‖y‖²)``, e.g. duplicates) are recomputed from the
differences, so duplicates are at distance exactly 0. Pass float64 for exact work.

The polynomial kernel is evaluated around the pooled mean ``c`` of both sets, in float64:
``x·y = x̃·ỹ + x̃·c + ỹ·c + c·c`` with ``x̃ = x − c``; only the small centred products ``x̃·ỹ``
come from a matrix product in the input dtype, and the kernel values and sums are float64. In
float32 on Inception-like features (large common mean) this agrees with float64 to ~1e-9
relative, where the plain ``(γ x·y + c₀)^3`` is ~1e-6 off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from divergences._pairwise import (
    DEFAULT_TILE,
    Rows,
    centred_unit,
    dists,
    pairwise_sum,
    safe_sqrt,
    sq_dists,
)
from divergences._typing import pair_typed
from divergences._validation import (
    as_point_pair,
    check_choice,
    check_generator,
    check_positive_int,
    max_abs,
    max_exponent,
    mul_pow2,
    to_output,
    warn_if_overflow,
)

__all__ = [
    "DEFAULT_TILE",
    "centre_polynomial",
    "energy_distance",
    "median_heuristic",
    "mmd2",
    "polynomial_mmd2_centred",
]

Tensor = torch.Tensor
KERNELS = ("gaussian", "laplace", "polynomial", "energy")


def _median_pairwise(z: Tensor, max_points: int, generator: torch.Generator | None) -> Tensor:
    n = z.shape[0]
    if n > max_points:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        idx = torch.randperm(n, generator=gen, device=gen.device)[:max_points]
        z = z[idx.to(z.device)]
    d = torch.sort(torch.pdist(z.detach().to(torch.float64))).values
    k = d.shape[0]
    return 0.5 * (d[(k - 1) // 2] + d[k // 2])


@pair_typed
def median_heuristic(
    x: Any,
    y: Any,
    *,
    max_points: int = 2000,
    generator: torch.Generator | None = None,
) -> Any:
    """Median Euclidean distance between distinct points of the pooled sample.

    The pooled sample ``x ∪ y`` is subsampled without replacement to ``max_points`` points
    (bounded cost: at most ``max_points²/2`` distances) with ``generator`` (default: a fresh CPU
    generator seeded with 0, so the result is deterministic). The median of an even count is the
    mean of the two middle values, as in ``numpy.median``. No gradient flows through it.

    Args:
        x: ``(N, D)`` samples.
        y: ``(M, D)`` samples.
        max_points: subsample size cap.
        generator: random generator for the subsample (its device is used for ``randperm``).

    Returns:
        0-d tensor in x's dtype/device (float for NumPy input):
        ``median{‖z_i − z_j‖₂ : i < j}``, ``z = x ∪ y``.

    References:
        Gretton et al., "A kernel two-sample test", JMLR 2012 (median heuristic).

    Example:
        >>> import numpy as np
        >>> round(median_heuristic(np.zeros((2, 1)), np.ones((2, 1))), 3)
        1.0
    """
    xt, yt, is_np = as_point_pair(x, y)
    max_points = check_positive_int(max_points, "max_points", minimum=2)
    check_generator(generator)
    xs, ys, e = centred_unit(xt.detach(), yt.detach())  # translation invariant, scale covariant
    med = mul_pow2(_median_pairwise(torch.cat([xs, ys]), max_points, generator), e).to(xt.dtype)
    warn_if_overflow(med, "median_heuristic")
    return to_output(med, is_np)


def _bandwidths(
    bandwidth: Any, kernel: str, x: Tensor, y: Tensor, generator, e: int = 0
) -> Tensor | None:
    """Bandwidths in the units of ``x``, ``y`` (the caller's data rescaled by ``2^-e``)."""
    if kernel in ("polynomial", "energy"):
        if bandwidth is not None:
            raise ValueError(f"bandwidth is not used by the {kernel!r} kernel; leave it as None")
        return None
    if bandwidth is None or (isinstance(bandwidth, str) and bandwidth == "median"):
        med = _median_pairwise(torch.cat([x, y]), 2000, generator)
        if not float(med) > 0:
            raise ValueError(
                "the median heuristic gave bandwidth 0 (more than half of the pairwise distances "
                "are 0, e.g. duplicated points); pass bandwidth explicitly"
            )
        return med.reshape(1).to(x.device, x.dtype)
    if isinstance(bandwidth, str):
        raise ValueError(f"bandwidth must be 'median', a number or a sequence; got {bandwidth!r}")
    if isinstance(bandwidth, Tensor):
        bw = bandwidth.detach().to(x.device, torch.float64).reshape(-1)
    elif isinstance(bandwidth, Sequence) or hasattr(bandwidth, "__array__"):
        bw = torch.as_tensor([float(b) for b in bandwidth], dtype=torch.float64).reshape(-1)
    elif isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool):
        bw = torch.tensor([float(bandwidth)], dtype=torch.float64)
    else:
        raise TypeError(f"bandwidth must be a number, a sequence or 'median'; got {bandwidth!r}")
    if bw.numel() == 0 or not bool(torch.isfinite(bw).all()) or not bool((bw > 0).all()):
        raise ValueError(f"bandwidth must be finite and > 0, got {bw.tolist()}")
    # below this (rescaled) bandwidth sigma^2 underflows and ||x - y||^2 / sigma^2 is 0/0
    low = -(max_exponent(x.dtype) // 2 - 12)
    bw_s = mul_pow2(bw, -e)
    if bool((bw_s < 2.0**low).any()):
        lo = low + e
        raise ValueError(
            f"bandwidth {bw.tolist()} is too small for these data (spread max |x - mean| about "
            f"2^{e}, dtype {x.dtype}): the kernel cannot be evaluated; bandwidth must be >= "
            f"2^{lo} (about 1e{lo * math.log10(2):.0f}) here, or None for the median heuristic"
        )
    return bw_s.to(x.device, x.dtype)


def _kernel_fns(kernel: str, bw: Tensor | None):
    """(block(a, b) → (n, m) kernel values, diag(a) → (n,) values k(a_i, a_i)); not polynomial."""
    if kernel == "energy":
        return (lambda a, b: -dists(a, b)), (lambda a: a.new_zeros(a.shape[0]))
    assert bw is not None  # _bandwidths returns None only for the energy and polynomial kernels
    n_bw = float(bw.numel())
    scale = (2.0 * bw * bw) if kernel == "gaussian" else bw
    if kernel == "gaussian":

        def block(a, b):
            sq = sq_dists(a, b).unsqueeze(-1)
            return torch.exp(-sq / scale).sum(-1)
    else:

        def block(a, b):
            d = dists(a, b).unsqueeze(-1)
            return torch.exp(-d / scale).sum(-1)

    return block, (lambda a: a.new_full((a.shape[0],), n_bw))


def _mmd2_impl(x: Rows, y: Rows, block, diag, unbiased: bool, tile: int) -> Tensor:
    """Float64 MMD² from tiled pairwise sums.

    Float64 MMD² from tiled pairwise sums (``x``, ``y`` tensors or tuples of row-aligned
    tensors, as :func:`~divergences._pairwise.pairwise_sum` takes).
    """
    n = (x[0] if isinstance(x, tuple) else x).shape[0]
    m = (y[0] if isinstance(y, tuple) else y).shape[0]
    sxx = pairwise_sum(x, None, block, tile=tile)
    syy = pairwise_sum(y, None, block, tile=tile)
    sxy = pairwise_sum(x, y, block, tile=tile)
    if unbiased:
        return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * sxy / (n * m)
    dx = diag(x).sum(dtype=torch.float64)
    dy = diag(y).sum(dtype=torch.float64)
    return (sxx + dx) / n**2 + (syy + dy) / m**2 - 2.0 * sxy / (n * m)


def centre_polynomial(
    x: Tensor, y: Tensor, gram_dtype: torch.dtype
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor], float]:
    """Split both sets around their pooled float64 mean ``c`` for the polynomial kernel.

    Returns ``(x̃, x̃·c)``, ``(ỹ, ỹ·c)`` and ``c·c`` with ``x̃ = x − c`` cast to ``gram_dtype``
    and the products with ``c`` in float64, so that ``x·y = x̃·ỹ + x̃·c + ỹ·c + c·c`` has only
    the small centred products ``x̃·ỹ`` in the (possibly float32) matrix product. ``c`` is a
    constant for autograd (the identity holds for any ``c``). Also used by ``metrics.kid``.
    """
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    c = ((x64.detach().sum(0) + y64.detach().sum(0)) / (x.shape[0] + y.shape[0])).detach()

    def centred(t64: Tensor, t: Tensor) -> Tensor:  # in place on our own float64 copy
        return t64.sub_(c) if t64 is not t and not t64.requires_grad else t64 - c

    xc, yc = centred(x64, x), centred(y64, y)
    return (xc.to(gram_dtype), xc @ c), (yc.to(gram_dtype), yc @ c), float(c @ c)


def polynomial_mmd2_centred(
    xs: tuple[Tensor, Tensor],
    ys: tuple[Tensor, Tensor],
    shift: float,
    *,
    degree: int,
    gamma: float,
    coef0: float,
    unbiased: bool,
    tile: int,
) -> Tensor:
    """Float64 MMD² with ``k = (γ x·y + c₀)^degree`` from :func:`centre_polynomial` parts.

    Each tile is ``(γ x̃ỹᵀ + p_i + q_j)^degree`` with ``p = γ x̃·c + c₀ + γ c·c`` and
    ``q = γ ỹ·c``: one matrix product in the centred dtype, the rest in float64.
    """
    base = coef0 + gamma * shift
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (*xs, *ys))

    def block(a, b):
        g = (a[0] @ b[0].transpose(0, 1)).to(torch.float64)
        p, q = (gamma * a[1] + base).unsqueeze(1), gamma * b[1]
        if grad:
            return (gamma * g + p + q) ** degree
        return g.mul_(gamma).add_(p).add_(q).pow_(degree)  # g is a fresh tensor: in place

    def diag(a):
        sq = a[0].to(torch.float64).pow(2).sum(-1)
        return (gamma * (sq + 2.0 * a[1]) + base) ** degree

    return _mmd2_impl(xs, ys, block, diag, unbiased, tile)


@pair_typed
def mmd2(
    x: Any,
    y: Any,
    *,
    kernel: str = "gaussian",
    bandwidth: float | Sequence[float] | Tensor | str | None = None,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    unbiased: bool = True,
    tile: int = DEFAULT_TILE,
    generator: torch.Generator | None = None,
) -> Any:
    r"""Squared maximum mean discrepancy between two samples, without an N×M kernel matrix.

    .. math::
        \mathrm{MMD}^2_u = \tfrac{1}{n(n-1)}\sum_{i\ne j}k(x_i,x_j)
        + \tfrac{1}{m(m-1)}\sum_{i\ne j}k(y_i,y_j) - \tfrac{2}{nm}\sum_{i,j}k(x_i,y_j)

    ``unbiased=False`` gives the V-statistic (sums over all ``i, j``, divided by ``n²``, ``m²``);
    it is ≥ 0 for a positive-definite kernel, while the unbiased U-statistic can be slightly
    negative (its mean is the population MMD², 0 when both samples come from one law).

    Args:
        x: ``(N, D)`` samples of P (tensor, array or nested list).
        y: ``(M, D)`` samples of Q, same ``D``.
        kernel: ``"gaussian"``, ``"laplace"``, ``"polynomial"`` or ``"energy"`` (module docs).
        bandwidth: σ for gaussian/laplace: a number, a sequence (the kernel is then the sum over
            the bandwidths), or ``None``/``"median"`` for the median heuristic (see
            :func:`median_heuristic`; at most 2000 pooled points, drawn with ``generator``).
            Must stay ``None`` for polynomial and energy. A fixed bandwidth far below the data's
            spread (under ``2^-500 max |x - mean|`` in float64, ``2^-52`` in float32)
            raises ValueError.
        degree: polynomial degree (polynomial only).
        gamma: polynomial scale γ, default ``1/D`` (polynomial only), > 0.
        coef0: polynomial offset c₀ ≥ 0 (polynomial only).
        unbiased: U-statistic (needs N, M ≥ 2) or V-statistic.
        tile: block size of the pairwise sums; memory is O(tile² · #bandwidths).
        generator: random generator of the median-heuristic subsample (default seed 0).

    Returns:
        0-d tensor in x's dtype and device (differentiable w.r.t. ``x`` and ``y``; the median
        bandwidth is a constant), or a float for NumPy input. Gaussian and Laplace kernels
        with the median bandwidth are scale invariant and the energy kernel scales by ``c`` at
        every magnitude; all three are translation invariant at every offset (the data are
        centred, then rescaled internally by a power of two); the polynomial kernel (not
        translation invariant) raises ValueError where its values would overflow float64.

    References:
        Gretton et al., "A kernel two-sample test", JMLR 2012 (eqs. 3 and 5). The KID setting
        ``kernel="polynomial", degree=3, gamma=1/D, coef0=1`` matches ``kernel_distance`` in
        clean-fid and ``compute_kid`` in NVlabs/stylegan2-ada-pytorch (without subsets).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(200, 3, generator=g, dtype=torch.float64)
        >>> y = torch.randn(200, 3, generator=g, dtype=torch.float64) + 1.0
        >>> bool(mmd2(x, y) > 10 * abs(mmd2(x, x[torch.randperm(200, generator=g)])))
        True
        >>> round(mmd2([[0.0], [1.0]], [[0.0], [1.0]], kernel="polynomial", unbiased=False), 6)
        0.0
    """
    check_choice(kernel, "kernel", KERNELS)
    check_generator(generator)
    xt, yt, is_np = as_point_pair(x, y)
    tile = check_positive_int(tile, "tile")
    if not isinstance(unbiased, bool):
        raise TypeError(f"unbiased must be a bool, got {type(unbiased).__name__}")
    if unbiased and (xt.shape[0] < 2 or yt.shape[0] < 2):
        raise ValueError(
            "unbiased=True needs at least 2 points in each set; got x with shape "
            f"{tuple(xt.shape)} and y with shape {tuple(yt.shape)} (use unbiased=False)"
        )
    mx = max_abs(xt, yt)
    if kernel == "polynomial":
        _bandwidths(bandwidth, kernel, xt, yt, generator)  # must be None
        degree = check_positive_int(degree, "degree")
        gamma = 1.0 / xt.shape[1] if gamma is None else gamma
        for num, name in ((gamma, "gamma"), (coef0, "coef0")):
            if not _is_real(num):
                raise TypeError(f"{name} must be a real number, got {type(num).__name__}")
        for num, name, ok in ((gamma, "gamma", gamma > 0), (coef0, "coef0", coef0 >= 0)):
            if not (ok and math.isfinite(num)):
                raise ValueError(
                    f"{name} must be finite and {'> 0' if name == 'gamma' else '>= 0'}, got {num}"
                )
        _check_polynomial_range(mx, xt, yt, degree, float(gamma), float(coef0))
        xs, ys, shift = centre_polynomial(xt, yt, xt.dtype)
        val = polynomial_mmd2_centred(
            xs,
            ys,
            shift,
            degree=degree,
            gamma=float(gamma),
            coef0=float(coef0),
            unbiased=unbiased,
            tile=tile,
        )
        out = val.to(xt.dtype)
        warn_if_overflow(out, "mmd2")
        return to_output(out, is_np)
    # gaussian/laplace (bandwidth rescaled alike) and energy (degree 1) are translation
    # invariant and scale covariant: centre, then compute on unit scale (times 2^-e, exact)
    xe, ye, e = centred_unit(xt, yt)
    bw = _bandwidths(bandwidth, kernel, xe, ye, generator, e)
    block, diag = _kernel_fns(kernel, bw)
    val = _mmd2_impl(xe, ye, block, diag, unbiased, tile)
    out = (mul_pow2(val, e) if kernel == "energy" else val).to(xt.dtype)
    warn_if_overflow(out, "mmd2")
    return to_output(out, is_np)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_polynomial_range(
    mx: float, x: Tensor, y: Tensor, degree: int, gamma: float, coef0: float
) -> None:
    """Raise ValueError when ``(γ x·y + c₀)^degree`` (or the Gram product) would overflow.

    The polynomial kernel is not scale covariant (``c₀`` and ``γ`` are fixed), so it cannot be
    rescaled; ``|x·y| <= D max|x|²`` bounds every kernel value and the sums of up to
    ``(N + M)²`` of them, in float64, and the centred Gram product in the input dtype.
    """
    if mx == 0:
        return
    d = x.shape[1]
    t = math.log2(gamma) + 2 * math.log2(mx) + math.log2(d)  # log2 of γ D max|x|^2
    base = t if coef0 == 0 else max(t, math.log2(coef0)) + 1
    total = degree * base + 2 * math.log2(x.shape[0] + y.shape[0])
    gram = 2 * math.log2(2 * mx) + math.log2(d)
    if total > 1000 or gram > max_exponent(x.dtype) - 4:
        raise ValueError(
            f"the polynomial kernel overflows for these data: max |coordinate| {mx:.3g} with "
            f"gamma={gamma:g}, coef0={coef0:g}, degree={degree} gives kernel values up to "
            f"about 2^{degree * base:.0f} (float64 holds < 2^1024, the {x.dtype} Gram product "
            f"< 2^{max_exponent(x.dtype)}); rescale the data or lower gamma or degree"
        )


@pair_typed
def energy_distance(
    x: Any,
    y: Any,
    *,
    squared: bool = True,
    unbiased: bool = False,
    tile: int = DEFAULT_TILE,
) -> Any:
    r"""Energy distance of Székely and Rizzo between two samples (Euclidean norm).

    .. math::
        \mathcal{E}(P, Q) = 2\,E\|X - Y\| - E\|X - X'\| - E\|Y - Y'\|

    With the default ``unbiased=False`` the expectations are plain means over all pairs
    (V-statistic, ≥ 0); this equals ``mmd2(x, y, kernel="energy", unbiased=False)``.
    ``scipy.stats.energy_distance`` (1-D only) returns the square root of this quantity, which
    is what ``squared=False`` returns. ``unbiased=True`` uses ``n(n−1)`` and ``m(m−1)`` within
    the sets (U-statistic, can be slightly negative; ``squared`` must then be True).

    Args:
        x: ``(N, D)`` samples.
        y: ``(M, D)`` samples.
        squared: return ℰ (default) or ``sqrt(ℰ)``.
        unbiased: U-statistic instead of the V-statistic.
        tile: block size of the pairwise sums.

    Returns:
        0-d tensor in x's dtype/device (differentiable), or a float for NumPy input.

    References:
        Székely & Rizzo, "Energy statistics: a class of statistics based on distances",
        J. Stat. Plan. Inference 2013; matches ``scipy.stats.energy_distance`` squared in 1-D.

    Example:
        >>> round(energy_distance([[0.0]], [[1.0]]), 6)
        2.0
        >>> round(energy_distance([[0.0]], [[1.0]], squared=False) ** 2, 6)
        2.0
    """
    for flag, name in ((squared, "squared"), (unbiased, "unbiased")):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    if unbiased and not squared:
        raise ValueError("squared=False needs unbiased=False (the U-statistic can be negative)")
    val = mmd2(x, y, kernel="energy", unbiased=unbiased, tile=tile)
    if squared:
        return val
    if isinstance(val, float):
        return math.sqrt(max(val, 0.0))
    return safe_sqrt(val.clamp_min(0.0))
