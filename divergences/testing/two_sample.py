"""``two_sample_test``: do two sample sets come from one distribution? Answered by permutation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from divergences._validation import (
    as_tensor,
    check_choice,
    check_generator,
    check_point_sets,
    check_positive_int,
)
from divergences.testing import _stats
from divergences.testing._labels import (
    count_splits,
    enumerate_labellings,
    pool,
    random_labellings,
)
from divergences.testing._result import TestResult, make_result

__all__ = ["STATISTICS", "TestResult", "two_sample_test"]

STATISTICS = _stats.STATISTICS
_SCHEMES = ("permutation", "wild")
_TIES = ("conservative", "randomize")
_MAX_SPLITS = 10**6


def _inputs(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    xt, x_np = as_tensor(x, "x")
    yt, y_np = as_tensor(y, "y")
    if x_np and not y_np:
        xt = xt.to(yt.device, yt.dtype)
    elif y_np and not x_np:
        yt = yt.to(xt.device, xt.dtype)
    xt = xt[:, None] if xt.ndim == 1 else xt
    yt = yt[:, None] if yt.ndim == 1 else yt
    check_point_sets(xt, yt, allow_batch=False)
    if xt.dtype != yt.dtype:
        raise TypeError(f"x and y must have the same dtype, got {xt.dtype} and {yt.dtype}")
    for t, name in ((xt, "x"), (yt, "y")):
        if t.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 samples, got {t.shape[0]}")
    return xt.detach(), yt.detach(), x_np and y_np


def _alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)):
        raise TypeError(f"alpha must be a number in (0, 1), got {type(alpha).__name__}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return float(alpha)


def _splits(block: torch.Tensor, ones: list[int], permutations: int, exact: bool | None) -> bool:
    """Whether to enumerate every split (raises when ``exact=True`` asks for too many)."""
    splits = count_splits(block, ones)
    if exact and splits > _MAX_SPLITS:
        raise ValueError(f"exact=True: {splits} distinct splits is more than 10^6 to enumerate")
    return splits <= permutations if exact is None else exact


def two_sample_test(
    x: Any,
    y: Any,
    statistic: str | Callable[[Any, Any], Any] = "mmd",
    *,
    permutations: int = 1000,
    alpha: float = 0.05,
    generator: torch.Generator | None = None,
    resampling: str = "permutation",
    exact: bool | None = None,
    ties: str = "conservative",
    **options: Any,
) -> TestResult:
    r"""Permutation two-sample test of H0: x and y are samples of one distribution.

    The statistic ``T`` of the observed split is compared with its values on ``B`` uniform
    relabellings of the pooled sample:

    .. math:: p = \frac{1 + \#\{b : T_b \ge T\}}{1 + B}

    which is a valid p-value at every sample size (``P(p <= α) <= α`` under H0, for every
    statistic, including the aggregated ones). When the number ``S`` of distinct splits is at
    most ``permutations`` (or ``exact=True``) every split is enumerated and
    ``p = #{s : T_s >= T} / S``. A statistic with few values (``"knn"``, ``"c2st"`` on small
    samples) ties often, and then ``P(p <= α)`` falls below ``α``: ``ties="randomize"``
    counts the ties for a uniform fraction drawn from ``generator`` (the randomized test,
    Hoeffding 1952), which makes ``P(p <= α) = α`` exactly (for random relabellings when
    ``α (B + 1)`` is an integer, e.g. ``B = 999`` at ``α = 0.05``) at the price of a decision
    that depends on that draw. Results are deterministic given ``generator`` and do not
    depend on the order of the rows of ``x`` or ``y``; for the symmetric statistics
    (all but ``"c2st"`` and callables) exchanging ``x`` and ``y`` gives the same result.

    Statistics (options in parentheses, defaults first):

    * ``"mmd"``: ``mmd2`` (``kernel="gaussian"|"laplace"|"polynomial"|"energy"``,
      ``bandwidth=None`` (median heuristic on the pooled sample), ``degree``, ``gamma``,
      ``coef0``, ``unbiased=True``).
    * ``"energy"``: the energy distance ``energy_distance`` (``unbiased=False``).
    * ``"mmd-agg"``: MMDAgg (``kernel="laplace_gaussian"|"laplace"|"gaussian"``,
      ``n_bandwidths=10``, ``weights="uniform"|"decreasing"|"increasing"|"centred"``,
      ``level_permutations=permutations``): one test per kernel, aggregated with the level
      correction by a second set of relabellings. The statistic is the smallest weighted
      single-kernel p-value ``min_λ p_λ / w_λ`` (small is extreme); the p-value is that of
      this min-p statistic against the second set, so ``reject`` is MMDAgg's decision (up to
      its bisection's resolution) and the level is exact. A single-kernel p-value cannot go
      below ``1/(B + 1)``, so ``B`` should be well above ``k/α`` for ``k`` kernels (the paper
      uses 2000; with 20 kernels and ``B = 200`` many relabellings tie at that floor).
    * ``"mmd-fuse"``: MMD-FUSE, the log-mean-exp of normalised MMD² over a collection of
      kernels (``kernel="laplace_gaussian"``, ``n_bandwidths=10``).
    * ``"knn"``: Schilling's (1986) / Henze's (1988) fraction of same-sample neighbours in the
      pooled ``k``-NN graph (``k=3``, ``p=2``).
    * ``"chamfer"``: ``chamfer`` (``p=2``, ``squared=False``, ``reduction="mean"``).
    * ``"wasserstein"``: ``wasserstein`` (``p=1``, ``method="auto"``: exact in 1-D, else
      ``"sliced"`` with ``n_projections=128``; ``"assignment"`` for equal sizes solves one
      assignment per relabelling).
    * ``"c2st"``: held-out balanced accuracy of the core's classifier (``classifier="auto"``,
      ``n_folds=2``, ``clip``, ``device``), permuted within the held-out fold.
    * a callable ``statistic(x, y) -> float`` (larger is more extreme), called on ``B + 1``
      splits (NumPy arrays for NumPy input, tensors otherwise).

    Cost: the kernel and distance statistics compute the pooled pairwise terms once and
    re-sum them (one ``(N, N) @ (N, B)`` product per kernel: memory ``O(N²)`` up to
    ``N ≈ 5800``, tiled beyond); ``"knn"`` and ``"chamfer"`` build one neighbour graph; all
    run with torch on the inputs' device.

    Args:
        x: ``(N, D)`` (or ``(N,)``) samples; tensor, array or nested list.
        y: ``(M, D)`` (or ``(M,)``) samples, same ``D``.
        statistic: a name of :data:`STATISTICS` or a callable.
        permutations: number ``B`` of random relabellings, >= 1.
        alpha: level of the test, in (0, 1).
        generator: random generator (default: a CPU generator seeded with 0).
        resampling: ``"permutation"`` (relabel the pooled sample) or ``"wild"`` (equal sizes:
            swap within the pairs ``(x_i, y_i)``, the wild bootstrap of MMDAgg; the pairs are
            the rows in the given order).
        exact: enumerate all splits: None (when there are at most ``permutations``), True
            (at most 10⁶ splits) or False.
        ties: ``"conservative"`` (ties count as at least as extreme: ``P(p <= α) <= α``) or
            ``"randomize"`` (ties split at random: ``P(p <= α) = α``).
        **options: the statistic's options (above).

    Returns:
        A :class:`TestResult` (floats whatever the input type).

    Raises:
        ValueError: fewer than 2 samples in a set, mismatched dimensions, NaN or inf,
            ``permutations < 1``, ``alpha`` outside (0, 1), an unknown option or statistic, a
            callable returning NaN.
        TypeError: a callable returning a non-scalar, option values of the wrong type.

    References:
        Phipson & Smyth, "Permutation p-values should never be zero", SAGMB 2010;
        Gretton et al., JMLR 2012; Schrab et al., "MMD aggregated two-sample test", JMLR 2023;
        Biggs, Schrab & Gretton, "MMD-FUSE", NeurIPS 2023; Schilling, JASA 1986; Henze,
        Ann. Statist. 1988; Lopez-Paz & Oquab, ICLR 2017.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 1.0
        >>> r = two_sample_test(x, y, "mmd", permutations=199)
        >>> r.p_value, r.reject
        (0.005, True)
        >>> two_sample_test([[0.0], [1.0]], [[2.0], [3.0]], "energy").p_value  # 6 splits
        0.3333333333333333
    """
    xt, yt, is_np = _inputs(x, y)
    name = _stats.check_statistic(statistic)
    opts = _stats.check_options(name, options)
    permutations = check_positive_int(permutations, "permutations")
    alpha = _alpha(alpha)
    check_generator(generator)
    check_choice(resampling, "resampling", _SCHEMES)
    check_choice(ties, "ties", _TIES)
    if exact is not None and not isinstance(exact, bool):
        raise TypeError(f"exact must be None, True or False, got {type(exact).__name__}")
    n, m = xt.shape[0], yt.shape[0]
    if resampling == "wild" and n != m:
        raise ValueError(f"resampling='wild' needs equal sample sizes, got {n} and {m}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    _stats.precheck(name, opts, n, m, xt.shape[1])
    pooled = pool(xt, yt, generator=gen, symmetric=name in _stats.SYMMETRIC, scheme=resampling)
    if name != "c2st":  # the c2st's splits are known after its fit
        _splits(pooled.block, pooled.ones, permutations, exact)
    stat = _stats.prepare(name, statistic, opts, pooled, gen, is_numpy=is_np)
    do_exact = _splits(stat.block, stat.ones, permutations, exact)
    if do_exact:
        rows = enumerate_labellings(stat.block, stat.ones)
    else:
        count = permutations + (stat.second(permutations) if stat.second else 0)
        rows = random_labellings(stat.block, stat.ones, count, gen)
    labels = torch.cat([stat.obs.unsqueeze(0), rows.to(stat.obs.device)])
    t, tol, details = stat.evaluate(labels, do_exact, permutations)
    u = None
    if ties == "randomize":  # drawn after the relabellings: they stay those of the default
        u = float(torch.rand(1, generator=gen, dtype=torch.float64, device=gen.device))
        details = {**details, "ties": ties}
    return make_result(t, tol=tol, exact=do_exact, alpha=alpha, method=name, n_x=n,
                       n_y=m, details=details, smaller=stat.smaller,
                       scale_pow2=stat.scale_pow2, u=u)  # fmt: skip
