r"""FID error bars and bias from K group statistics (no feature recomputation).

While features stream, sample ``i`` goes to group ``i mod K`` of a list of
:class:`~metrics.FeatureStats`; the whole set is their exact merge. From the groups:

- **Delete-a-group jackknife** (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993,
  §11.5; Kott 2001 for groups): ``F_(g)`` is the FID with group ``g`` removed from both sides,

  .. math:: \widehat{se} = \sqrt{\tfrac{K-1}{K}\textstyle\sum_g (F_{(g)} - \bar F)^2},
      \quad F_J = K F - (K-1)\bar F,

  and the interval is ``F_J ± t_{K-1} se``: about the bias-corrected value, because FID is
  biased upward by ``O(1/N)`` and the jackknife removes that term. The interval covers the FID
  of the true feature distributions (checked by coverage on Gaussian features in the tests).
  FID is >= 0, so ``F_J`` and the interval are projected onto [0, inf) together (the
  positive part of each: a monotone map, so the interval still contains its value, and no
  coverage is lost since the true FID is >= 0). The plain ``F``, comparable with other tools,
  is reported beside it with the same ``se`` but no interval: an interval centred on ``F``
  would miss the true FID by the bias.
- **FID∞** (Chong & Forsyth, "Effectively Unbiased FID and Inception Score and where to find
  them", CVPR 2020): FID of the first ``j`` groups (``j`` from ``K/5`` up to ``K``), fitted by
  least squares as ``F_j = FID∞ + b / N_j`` and extrapolated to ``1/N → 0``. Nested group
  prefixes stand in for the paper's random subsets of 15 sizes.

Precision, recall, density and coverage get a delete-a-group jackknife over both samples
(:func:`prdc_with_error_bars`).

A side without groups (a reference file holding only ``mu``/``sigma``) is held fixed: the
interval then covers the FID against that reference, ignoring its own sampling error.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

from metrics.fid import fid_from_stats
from metrics.prdc import _prdc_impl, _prepare
from metrics.stats import FeatureStats

__all__ = [
    "FIDEstimate",
    "Interval",
    "coarsen",
    "fid_with_error_bars",
    "group_index",
    "merge_all",
    "prdc_with_error_bars",
]


class FIDEstimate(NamedTuple):
    """FID and its jackknife standard error, FID∞, and the bias-corrected FID with its interval.

    ``bias_corrected`` is ``max(0, F_J)``; ``ci`` is about it and contains it (not ``value``).
    """

    value: float
    stderr: float
    ci: tuple[float, float]
    bias_corrected: float
    fid_infinity: float
    groups: int


def group_index(start: int, n: int, groups: int) -> list[slice]:
    """Slices of a batch, one per jackknife group.

    Slices of a batch whose global rows start at ``start``: slice ``g`` holds the rows with
    global index ``= g (mod groups)``.
    """
    return [slice((g - start) % groups, n, groups) for g in range(groups)]


def merge_all(stats: list[FeatureStats], skip: int | None = None) -> FeatureStats:
    """Exact merge of ``stats`` (leaving out index ``skip``)."""
    out = FeatureStats()
    for i, s in enumerate(stats):
        if i != skip:
            out.merge(s)
    return out


def _leave_one_out(stats: list[FeatureStats]) -> Iterator[FeatureStats]:
    """``merge_all(stats, skip=g)`` for every group ``g``.

    ``merge_all(stats, skip=g)`` for g = 0, 1, ... from prefix and suffix merges: 3K
    merges, not K², and about K + 2 states held at once (each is D × D).
    """
    k = len(stats)
    suffix = [FeatureStats()]  # suffix[j]: merge of the last j groups
    for i in range(k - 1):
        suffix.append(FeatureStats().merge(suffix[-1]).merge(stats[k - 1 - i]))
    prefix = FeatureStats()
    for g in range(k):
        yield FeatureStats().merge(prefix).merge(suffix.pop())
        prefix.merge(stats[g])


def coarsen(groups: list[FeatureStats], k: int) -> list[FeatureStats]:
    """Merge ``groups`` into ``k`` groups.

    Merge ``groups`` into ``k`` groups (group ``j`` into ``j mod k``): still a partition into
    near-equal exchangeable groups, as the jackknife needs.
    """
    if len(groups) <= k:
        return list(groups)
    return [merge_all(groups[g::k]) for g in range(k)]


def _t_quantile(q: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(q, dof))


def fid_with_error_bars(
    real_total: FeatureStats,
    fake_total: FeatureStats,
    real_groups: list[FeatureStats] | None = None,
    fake_groups: list[FeatureStats] | None = None,
    *,
    confidence: float = 0.95,
) -> FIDEstimate:
    """FID, its delete-a-group jackknife interval and FID∞ (see the module docstring).

    Args:
        real_total: statistics of all real features.
        fake_total: statistics of all fake features.
        real_groups: K group statistics of the real side (or none: held fixed).
        fake_groups: K group statistics of the fake side (or none: held fixed).
        confidence: coverage of the interval.

    Returns:
        :class:`FIDEstimate`.

    Raises:
        ValueError: neither side has groups, the two sides have different numbers of
            groups, fewer than 2 groups, or a bad ``confidence``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> g_r = [FeatureStats().update(rng.normal(size=(100, 2))) for _ in range(10)]
        >>> g_f = [FeatureStats().update(rng.normal(size=(100, 2)) + 1) for _ in range(10)]
        >>> e = fid_with_error_bars(merge_all(g_r), merge_all(g_f), g_r, g_f)
        >>> e.ci[0] < 2.0 < e.ci[1], e.ci[0] <= e.bias_corrected <= e.ci[1], e.groups
        (True, True, 10)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    rg, fg = list(real_groups or []), list(fake_groups or [])
    if not rg and not fg:
        raise ValueError("error bars need group statistics of at least one side")
    if rg and fg and len(rg) != len(fg):
        raise ValueError(
            f"real and fake have different group counts: {len(rg)} vs {len(fg)} (coarsen())"
        )
    k = len(rg or fg)
    if k < 2:
        raise ValueError(f"the jackknife needs at least 2 groups, got {k}")
    value = fid_from_stats(real_total, fake_total)
    loo_r = _leave_one_out(rg) if rg else itertools.repeat(real_total, k)
    loo_f = _leave_one_out(fg) if fg else itertools.repeat(fake_total, k)
    loo = np.array([fid_from_stats(a, b) for a, b in zip(loo_r, loo_f)])
    mean = float(loo.mean())
    se = math.sqrt((k - 1) / k * float(((loo - mean) ** 2).sum()))
    corrected = k * value - (k - 1) * mean
    half = _t_quantile(0.5 + confidence / 2, k - 1) * se
    # FID >= 0: the positive part of the value and of both ends (monotone: it stays inside)
    ci = (max(0.0, corrected - half), max(0.0, corrected + half))
    fid_inf = _fid_infinity(real_total, fake_total, rg, fg)
    return FIDEstimate(value, se, ci, max(0.0, corrected), fid_inf, k)


def _fid_infinity(
    real_total: FeatureStats,
    fake_total: FeatureStats,
    rg: list[FeatureStats],
    fg: list[FeatureStats],
) -> float:
    """Least-squares intercept of FID of nested group prefixes against ``1/N``."""
    k = len(rg or fg)
    xs, ys = [], []
    r, f = FeatureStats(), FeatureStats()  # running merges of the first j groups
    for j in range(1, k + 1):
        if rg:
            r.merge(rg[j - 1])
        if fg:
            f.merge(fg[j - 1])
        if j < max(2, math.ceil(k / 5)):
            continue
        xs.append(1.0 / (f.n if fg else r.n))
        ys.append(fid_from_stats(r if rg else real_total, f if fg else fake_total))
    if len(xs) < 2:
        return float(ys[-1])
    _, intercept = np.polyfit(np.array(xs), np.array(ys), 1)
    return float(intercept)


class Interval(NamedTuple):
    """A metric with its delete-a-group jackknife standard error and interval."""

    value: float
    stderr: float
    ci: tuple[float, float]


def prdc_with_error_bars(
    real: Any,
    fake: Any,
    *,
    k_pr: int | None = 3,
    k_dc: int | None = 5,
    groups: int = 10,
    confidence: float = 0.95,
) -> dict[str, Interval]:
    """Precision/recall (``k_pr``) and density/coverage (``k_dc``) with jackknife intervals.

    Delete-a-group jackknife over **both** samples: sample ``i`` of each set is in group
    ``i mod K``; ``θ_(g)`` recomputes the metrics without group ``g`` of either set (so the
    k-NN radii are recomputed too), ``se = sqrt((K-1)/K Σ (θ_(g) - θ̄)²)`` and the interval
    is ``θ ± t_{K-1} se``: it covers the metric's expectation at these sample sizes. Groups,
    not single points, because the radii are order statistics, for which the delete-1
    jackknife is inconsistent and delete-d is not (Shao & Wu, Ann. Statist. 1989). The
    error bars are conservative: 1.3-2.0x the spread over seeds at N = M = 200, d = 2 (the
    tests bound it in [0.8, 2.5]). Costs K extra evaluations.

    Raises:
        ValueError: fewer than 2 groups, a bad ``confidence``, or too few samples per
            remaining set for the radii.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(200, 2))
        >>> out = prdc_with_error_bars(x, x[::-1] + 0.1, groups=5)
        >>> sorted(out), out["coverage"].stderr > 0
        (['coverage', 'density', 'precision', 'recall'], True)
    """
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
        raise ValueError(f"groups must be an integer >= 2, got {groups!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    ks = {n: k for n, k in (("k_pr", k_pr), ("k_dc", k_dc)) if k is not None}
    x, y = _prepare(real, fake, ks)
    kmax = max(ks.values())
    for t, n in ((x, "real"), (y, "fake")):
        if t.shape[0] - -(-t.shape[0] // groups) <= kmax:
            raise ValueError(
                f"{n} has {t.shape[0]} samples: too few to leave out 1/{groups} of them and "
                f"keep more than k={kmax}"
            )
    full = _prdc_impl(x, y, k_pr, k_dc)
    gx = torch.arange(x.shape[0], device=x.device) % groups
    gy = torch.arange(y.shape[0], device=y.device) % groups
    loo = [_prdc_impl(x[gx != g], y[gy != g], k_pr, k_dc) for g in range(groups)]
    half = _t_quantile(0.5 + confidence / 2, groups - 1)
    out = {}
    for name, value in full.items():
        v = np.array([r[name] for r in loo])
        se = math.sqrt((groups - 1) / groups * float(((v - v.mean()) ** 2).sum()))
        out[name] = Interval(value, se, (value - half * se, value + half * se))
    return out
