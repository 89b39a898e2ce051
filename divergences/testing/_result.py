"""The ``TestResult`` record and the permutation p-value (private helpers of the test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from divergences._validation import mul_pow2

__all__ = ["TestResult", "make_result", "p_value"]


@dataclass(frozen=True)
class TestResult:
    """The outcome of a two-sample test: statistic, p-value and decision, with the null.

    Attributes:
        statistic: The observed test statistic (larger is more extreme, except for
            ``"mmd-agg"``, whose statistic is the smallest weighted single-kernel p-value).
        p_value: ``(1 + #{T_b >= T}) / (1 + B)`` over ``B`` random relabellings, or
            ``#{T_s >= T} / S`` over all ``S`` distinct splits when ``exact``; with
            ``ties="randomize"`` the tied relabellings count for a uniform fraction.
        reject: ``p_value <= alpha``; the probability of a false rejection is at most alpha.
        alpha: The level of the test.
        null_mean: Mean of the statistic over the relabellings (its null distribution).
        null_std: Standard deviation of the statistic over the relabellings.
        permutations: Number of relabellings the statistic was compared with (``B``, or ``S``
            when exact).
        exact: Whether every distinct split was enumerated.
        method: The statistic's name (``"mmd"``, ``"knn"``, ...; ``"callable"`` for a function).
        n_x: Number of samples in ``x``.
        n_y: Number of samples in ``y``.
        details: Statistic-specific information (bandwidths, per-kernel p-values, ...) and
            ``"null"``, the relabelled statistics as a float64 NumPy array.

    Example:
        >>> r = TestResult(0.31, 0.002, True, 0.05, 0.0, 0.05, 999, False, "mmd", 50, 50)
        >>> print(r)
        mmd test: statistic 0.31, p = 0.002 (999 permutations, n_x=50, n_y=50): reject at 0.05
    """

    __test__ = False  # a record, not a pytest test class

    statistic: float
    p_value: float
    reject: bool
    alpha: float
    null_mean: float
    null_std: float
    permutations: int
    exact: bool
    method: str
    n_x: int
    n_y: int
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        how = "all splits" if self.exact else "permutations"
        verdict = "reject" if self.reject else "do not reject"
        return (
            f"{self.method} test: statistic {self.statistic:.4g}, p = {self.p_value:.4g} "
            f"({self.permutations} {how}, n_x={self.n_x}, n_y={self.n_y}): "
            f"{verdict} at {self.alpha:g}"
        )


def p_value(
    t: torch.Tensor, tol: float, exact: bool, *, smaller: bool = False, u: float | None = None
) -> float:
    """Permutation p-value of ``t[0]`` against ``t[1:]``.

    Ties within ``tol`` (rounding of equal statistics computed along different paths) count
    as at least as extreme, so rounding can only make the test more conservative.
    ``smaller=True`` reads small values as extreme. Random relabellings:
    ``(1 + #{t_b >= t_0}) / (1 + B)`` (Phipson & Smyth 2010); exact (``t[1:]`` holds every
    split, the observed one included): ``#{t_s >= t_0} / S``.

    With ``u`` in [0, 1) (a uniform draw) ties are broken at random instead: random
    relabellings ``(#{t_b > t_0} + u (1 + #{t_b = t_0})) / (1 + B)``, exact
    ``(#{t_s > t_0} + u #{t_s = t_0}) / S``: uniform on (0, 1) under H0 even for a discrete
    statistic, so ``P(p <= α) = α`` (the randomized test, Hoeffding 1952).
    """
    obs, null = t[0], t[1:]
    ge = (null <= obs + tol) if smaller else (null >= obs - tol)
    if u is None:
        count = int(ge.sum())
        return count / null.numel() if exact else (1 + count) / (1 + null.numel())
    tied = int((ge & ((null - obs).abs() <= tol)).sum())
    above = int(ge.sum()) - tied
    if exact:
        return (above + u * tied) / null.numel()
    return (above + u * (1 + tied)) / (1 + null.numel())


def make_result(
    t: torch.Tensor,
    *,
    tol: float,
    exact: bool,
    alpha: float,
    method: str,
    n_x: int,
    n_y: int,
    details: dict[str, Any],
    smaller: bool = False,
    scale_pow2: int = 0,
    u: float | None = None,
) -> TestResult:
    """Build a :class:`TestResult` from the observed and relabelled statistics ``t``.

    ``2**scale_pow2`` converts the statistics back to the caller's units (the data were
    rescaled by a power of two inside); a NaN statistic raises (never a silent NaN p-value).
    ``u``: the uniform draw that breaks ties at random (:func:`p_value`), or None.
    """
    t = t.detach().to(torch.float64)
    if bool(torch.isnan(t).any()):
        raise FloatingPointError(
            f"the {method} statistic is NaN for {int(torch.isnan(t).sum())} of {t.numel()} "
            "labellings; check the data for degenerate samples"
        )
    p = p_value(t, tol, exact, smaller=smaller, u=u)
    t = mul_pow2(t, scale_pow2)
    null = t[1:].cpu().numpy()
    obs = float(t[0])
    with np.errstate(over="ignore", invalid="ignore"):
        sd = float(np.std(null, ddof=1)) if null.size > 1 else 0.0
        mean = float(np.mean(null))
    return TestResult(
        statistic=obs,
        p_value=p,
        reject=p <= alpha,
        alpha=alpha,
        null_mean=mean,
        null_std=sd,
        permutations=int(null.size),
        exact=exact,
        method=method,
        n_x=n_x,
        n_y=n_y,
        details={**details, "null": null},
    )
