"""Mode coverage of samples from a Gaussian mixture with known centres (ring / grid benchmarks).

The protocol of the 2-D mode-collapse benchmarks (VEEGAN, PacGAN): each sample is assigned to
its nearest centre; it is *high quality* if it lies within ``n_std`` standard deviations of that
centre (``<=``); a mode is *captured* if it received at least ``min_count`` high-quality
samples; and the reverse KL compares the histogram of high-quality samples over modes with the
uniform one, ``KL(p_gen || uniform) = log K - H(p_gen)`` in nats.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch

from divergences._validation import as_tensor, check_finite, check_positive_int

__all__ = ["ModeCoverage", "mode_coverage", "mode_coverage_from_counts"]


class ModeCoverage(NamedTuple):
    """Result of :func:`mode_coverage`.

    Attributes:
        modes: number of modes captured (>= ``min_count`` high-quality samples).
        high_quality: fraction of samples within ``n_std`` std of their nearest centre.
        reverse_kl: ``KL(p_gen || uniform)`` over modes, in nats (``inf`` with no high-quality
            sample).
        n_modes: number of centres K.
        counts: high-quality samples per mode, int64 array ``(K,)``.
    """

    modes: int
    high_quality: float
    reverse_kl: float
    n_modes: int
    counts: np.ndarray


def mode_coverage(
    samples: Any,
    centers: Any,
    std: Any,
    *,
    n_std: float = 3.0,
    min_count: int = 1,
) -> ModeCoverage:
    r"""Modes captured, share of high-quality samples and reverse KL to the uniform mode histogram.

    Args:
        samples: generated samples ``(N, D)``.
        centers: mixture centres ``(K, D)``.
        std: the mixture components' isotropic standard deviation, a scalar or ``(K,)``.
        n_std: radius of the high-quality ball in standard deviations (3 in VEEGAN/PacGAN).
        min_count: high-quality samples a mode needs to count as captured (1 as in VEEGAN;
            PacGAN's 2-D tables count a mode when it holds at least 20 of 2500 samples).

    Returns:
        A :class:`ModeCoverage`. Samples drawn from the mixture itself (2-D, ``n_std=3``) are
        high quality with probability ``1 - exp(-4.5) ≈ 0.989`` when modes are well separated.

    .. math:: \mathrm{HQ} = \tfrac1N \textstyle\sum_i [\min_k \lVert x_i - c_k\rVert
        \le n_{std}\,\sigma_{k^*(i)}],\quad \mathrm{KL} = \sum_k p_k \log(K p_k)

    References:
        Srivastava et al., "VEEGAN" (2017), Sec. 5; Lin et al., "PacGAN" (2018), Sec. 5.

    Example:
        >>> import numpy as np
        >>> centers = np.array([[0.0, 0.0], [10.0, 0.0]])
        >>> r = mode_coverage(np.array([[0.1, 0.0], [0.0, 0.2], [9.9, 0.0], [5.0, 5.0]]),
        ...                   centers, 0.1)
        >>> r.modes, r.high_quality, round(r.reverse_kl, 4)
        (2, 0.75, 0.0566)
    """
    x, _ = as_tensor(samples, "samples")
    c, _ = as_tensor(centers, "centers")
    x = x.detach().to(torch.float64)
    c = c.detach().to(device=x.device, dtype=torch.float64)
    for t, n, dims in ((x, "samples", "(N, D)"), (c, "centers", "(K, D)")):
        if t.ndim != 2 or t.shape[0] == 0:
            raise ValueError(
                f"{n} must have shape {dims} with at least one row, got {tuple(t.shape)}"
            )
        check_finite(t, n)
    if x.shape[1] != c.shape[1]:
        raise ValueError(
            f"samples and centers must have the same dimension D; got "
            f"{tuple(x.shape)} and {tuple(c.shape)}"
        )
    k = c.shape[0]
    s, _ = as_tensor(std, "std")
    s = s.detach().to(device=x.device, dtype=torch.float64)
    if s.ndim > 1 or (s.ndim == 1 and s.shape[0] not in (1, k)):
        raise ValueError(f"std must be a scalar or have shape ({k},), got {tuple(s.shape)}")
    check_finite(s, "std")
    if bool((s <= 0).any()):
        raise ValueError("std must be positive")
    if not (isinstance(n_std, (int, float)) and math.isfinite(n_std) and n_std > 0):
        raise ValueError(f"n_std must be a positive finite number, got {n_std!r}")
    min_count = check_positive_int(min_count, "min_count")
    s = s.expand(k)

    nearest_d = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    nearest = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    for lo in range(0, x.shape[0], 4096):  # bounded (4096, K) tiles
        d = torch.cdist(x[lo : lo + 4096], c, compute_mode="donot_use_mm_for_euclid_dist")
        nearest_d[lo : lo + 4096], nearest[lo : lo + 4096] = d.min(dim=1)
    hq = nearest_d <= n_std * s[nearest]
    counts = torch.bincount(nearest[hq], minlength=k)
    return _from_counts(counts, x.shape[0], min_count)


def mode_coverage_from_counts(counts: Any, n_samples: int, *, min_count: int = 1) -> ModeCoverage:
    """The :class:`ModeCoverage` of a histogram of high-quality samples over modes.

    The histogram and the sample count are sufficient statistics of :func:`mode_coverage`:
    sum them over shards or processes (e.g. ``metrics.parallel.all_reduce_sum``) and call
    this to get exactly the result on the union of the samples.

    Args:
        counts: high-quality samples per mode ``(K,)``, non-negative integers
            (``ModeCoverage.counts``).
        n_samples: number of samples scored (high quality or not), ``>= counts.sum()``.
        min_count: high-quality samples a mode needs to count as captured.

    Example:
        >>> r = mode_coverage_from_counts([2, 1, 0], 4)
        >>> r.modes, r.high_quality, round(r.reverse_kl, 4)
        (2, 0.75, 0.4621)
    """
    c = torch.as_tensor(np.asarray(counts.cpu() if isinstance(counts, torch.Tensor) else counts))
    if c.ndim != 1 or c.shape[0] == 0 or c.is_floating_point() or c.dtype == torch.bool:
        raise ValueError(
            f"counts must be a non-empty 1-D integer array (K,), got {c.dtype} {tuple(c.shape)}"
        )
    if bool((c < 0).any()):
        raise ValueError("counts must be non-negative")
    n_samples = check_positive_int(n_samples, "n_samples")
    if n_samples < int(c.sum()):
        raise ValueError(f"n_samples must be >= counts.sum()={int(c.sum())}, got {n_samples}")
    return _from_counts(c.long(), n_samples, check_positive_int(min_count, "min_count"))


def _from_counts(counts: torch.Tensor, n_samples: int, min_count: int) -> ModeCoverage:
    k = counts.shape[0]
    n_hq = int(counts.sum())
    if n_hq == 0:
        rkl = math.inf
    else:
        p = counts.double() / n_hq
        rkl = float(torch.special.xlogy(p, p * k).sum().clamp(min=0))
    return ModeCoverage(
        modes=int((counts >= min_count).sum()),
        high_quality=n_hq / n_samples,
        reverse_kl=rkl,
        n_modes=k,
        counts=counts.cpu().numpy(),
    )
