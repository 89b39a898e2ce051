"""The ``Estimate`` record every estimator returns, and the interval helpers.

An :class:`Estimate` is a point estimate with its standard error and a two-sided interval,
the sample sizes it came from, the method, and method-specific ``details`` (clipping,
fold values, test statistics, ...). Values are plain Python floats whatever the input
array type (one return type per function).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

__all__ = ["Estimate", "check_confidence", "make_estimate", "normal_interval", "t_interval"]


@dataclass(frozen=True)
class Estimate:
    """A divergence (or test statistic) estimated from samples, with its uncertainty.

    Attributes:
        value: The point estimate (nats for divergences).
        stderr: Its standard error (how it is obtained depends on ``method``; see the
            estimator's docstring and ``details``); NaN only when the caller asked for no
            error bar (e.g. ``knn_kl(..., stderr="none")``).
        ci: Two-sided interval ``(lo, hi)`` at level ``confidence`` (NaN, NaN with no
            error bar).
        n_x: Number of samples from P (``x``, "real").
        n_y: Number of samples from Q (``y``, "fake").
        method: Which estimator produced it (``"classifier"``, ``"knn"``, ...).
        details: Method-specific diagnostics (clipped fractions, per-fold values, ...).
        divergence: What was estimated (``"js"``, ``"kl"``, ``"accuracy"``, ...).
        confidence: Level of ``ci``.

    Example:
        >>> e = Estimate(0.1234, 0.0021, (0.1193, 0.1275), 1000, 1000, "classifier",
        ...              divergence="js")
        >>> print(e)
        JS ≈ 0.1234 ± 0.0021 (95% CI [0.1193, 0.1275]; classifier, n_x=1000, n_y=1000)
        >>> round(float(e), 4)
        0.1234
    """

    value: float
    stderr: float
    ci: tuple[float, float]
    n_x: int
    n_y: int
    method: str
    details: dict[str, Any] = field(default_factory=dict, compare=False)
    divergence: str = ""
    confidence: float = 0.95

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        label = self.divergence or "value"
        if len(label) <= 4:
            label = label.upper()
        extra = ""
        if "p_value" in self.details:
            extra = f", p={self.details['p_value']:.3g}"
        lo, hi = self.ci
        if math.isnan(self.stderr):
            return (
                f"{label} ≈ {self.value:.4f} (no error bar; {self.method}, "
                f"n_x={self.n_x}, n_y={self.n_y}{extra})"
            )
        return (
            f"{label} ≈ {self.value:.4f} ± {self.stderr:.4f} "
            f"({100 * self.confidence:g}% CI [{lo:.4f}, {hi:.4f}]; {self.method}, "
            f"n_x={self.n_x}, n_y={self.n_y}{extra})"
        )


def check_confidence(confidence: Any) -> float:
    """Return ``confidence`` as a float in (0, 1) or raise."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise TypeError(f"confidence must be a float in (0, 1), got {type(confidence).__name__}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(confidence)


def normal_interval(value: float, stderr: float, confidence: float) -> tuple[float, float]:
    """Two-sided normal interval ``value ± z_{(1+c)/2} · stderr``."""
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return (value - z * stderr, value + z * stderr)


def t_interval(value: float, stderr: float, dof: int, confidence: float) -> tuple[float, float]:
    """Two-sided Student-t interval with ``dof`` degrees of freedom."""
    t = float(stats.t.ppf(0.5 + confidence / 2, dof))
    return (value - t * stderr, value + t * stderr)


def make_estimate(
    value: float,
    stderr: float | None,
    *,
    n_x: int,
    n_y: int,
    method: str,
    divergence: str,
    confidence: float,
    details: dict[str, Any],
    dof: int | None = None,
) -> Estimate:
    """Build an :class:`Estimate`, refusing NaN (a numerical failure must never pass silently).

    ``stderr=None`` (the caller asked for no error bar) gives NaN ``stderr`` and ``ci``.
    """
    if math.isnan(value) or (stderr is not None and math.isnan(stderr)):
        raise FloatingPointError(
            f"the {method} estimate of {divergence} is NaN (value={value}, stderr={stderr}); "
            "check the inputs for degenerate samples"
        )
    if stderr is None:
        stderr, ci = math.nan, (math.nan, math.nan)
    elif dof is None:
        ci = normal_interval(value, stderr, confidence)
    else:
        ci = t_interval(value, stderr, dof, confidence)
    return Estimate(
        float(value),
        float(stderr),
        (float(ci[0]), float(ci[1])),
        int(n_x),
        int(n_y),
        method,
        details,
        divergence,
        confidence,
    )
