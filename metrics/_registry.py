"""The metric registry: each metric a function ``(real, fake, options) -> MetricResult``.

A metric registers under its name with what it needs of the sides:

- ``"statistics"``: the streamed mean and covariance of both sides suffice (FID); a
  statistics file serves it;
- ``"features"``: per-sample features of both sides (KID, precision/recall, ...);
- ``"logits"``: classifier logits of the fake samples (the Inception Score);
- ``"samples"``: the fake samples themselves (mode coverage, on the raw points).

:func:`metrics.evaluate` reads each side once, keeping what the asked metrics need, then calls
each metric on the two :class:`~metrics._records.Side` records and the options. The built-in
metrics are registered in :mod:`metrics._registered`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from metrics._records import MetricResult, Side

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "NEEDS",
    "NO_CLASSIFIER",
    "MetricSpec",
    "check_statistics_only",
    "metric_names",
    "register",
]

NEEDS = ("statistics", "features", "logits", "samples")
"""What a metric may need of the sides (see the module docstring)."""

DEFAULT_METRICS = ("fid", "kid", "precision_recall", "density_coverage")

NO_CLASSIFIER = (
    "metric 'is' needs a classifier: pass logits=... (or features='inception', 'digits' or "
    "'fashion')"
)

Compute = Callable[[Side, Side, Any], MetricResult]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric: its name, its function and what it needs of the sides.

    Example:
        >>> spec = METRICS["fid"]
        >>> spec.name, sorted(spec.needs), spec.statistics_suffice
        ('fid', ['statistics'], True)
    """

    name: str
    compute: Compute
    needs: frozenset[str]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.needs) - set(NEEDS))
        if not self.needs or unknown:
            raise ValueError(f"metric {self.name!r}: needs must be a non-empty subset of {NEEDS}")

    def __call__(self, real: Side, fake: Side, options: Any) -> MetricResult:
        """``compute(real, fake, options)`` after :meth:`check`."""
        self.check(real, fake)
        return self.compute(real, fake, options)

    def check(self, real: Side, fake: Side) -> None:
        """Raise ``ValueError`` when a side lacks what the metric needs.

        A side read from a statistics file gets :func:`check_statistics_only`'s message.
        """
        for side in (real, fake):
            if side.from_statistics_file:
                check_statistics_only([self.name], side=side.name, source=side.source)
            needs = self.needs_of(side.name)
            if "logits" in needs and side.logits is None:
                raise ValueError(NO_CLASSIFIER if self.name == "is" else
                                 f"metric {self.name!r} needs the {side.name} logits")  # fmt: skip
            held = {"statistics": side.total, "features": side.features, "samples": side.samples}
            lacking = [w for w in needs & held.keys() if held[w] is None]
            if lacking:
                raise ValueError(
                    f"metric {self.name!r} needs the {side.name} side's {' and '.join(lacking)}, "
                    f"which were not kept when it was read ({side.source})"
                )

    @property
    def statistics_suffice(self) -> bool:
        """True when the mean and covariance of each side are all the metric reads."""
        return self.needs <= {"statistics"}

    def needs_of(self, side: str) -> frozenset[str]:
        """What the metric needs of the ``"real"`` or ``"fake"`` side (logits and samples: fake)."""
        return self.needs if side == "fake" else self.needs & {"statistics", "features"}


_REGISTRY: dict[str, MetricSpec] = {}

METRICS: Mapping[str, MetricSpec] = MappingProxyType(_REGISTRY)
"""Names accepted by :func:`metrics.evaluate` (``metrics=``), in registration order: a
read-only view of the registry, ``name → MetricSpec`` (its function and what it needs)."""


def register(name: str, *, needs: Iterable[str]) -> Callable[[Compute], Compute]:
    """Decorator: register ``fn(real, fake, options) -> MetricResult`` as metric ``name``.

    Raises:
        ValueError: ``name`` is registered already, or ``needs`` names something unknown.
    """

    def add(fn: Compute) -> Compute:
        if name in _REGISTRY:
            raise ValueError(f"metric {name!r} is registered already")
        _REGISTRY[name] = MetricSpec(name, fn, frozenset(needs))
        return fn

    return add


def metric_names(metrics: Any) -> tuple[str, ...]:
    """``metrics`` (a registered name or a list of them) as a tuple of names, checked.

    Raises:
        TypeError: not a string or a list/tuple of strings.
        ValueError: empty, or a name that is not registered (the message lists the choices).
    """
    if isinstance(metrics, str):  # one name, not a sequence of letters
        metrics = [metrics]
    if not isinstance(metrics, (list, tuple)) or not all(isinstance(m, str) for m in metrics):
        raise TypeError(f"metrics must be a metric name or a list of names, got {metrics!r}")
    if not metrics:
        raise ValueError(f"metrics is empty; choose from {sorted(_REGISTRY)}")
    unknown = [m for m in metrics if m not in _REGISTRY]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {sorted(_REGISTRY)}")
    return tuple(metrics)


_WHAT = {
    "features": "per-sample features",
    "logits": "the fake samples' logits",
    "samples": "the fake samples",
}


def check_statistics_only(names: Iterable[str], *, side: str, source: Any) -> None:
    """Raise unless every metric in ``names`` can use ``side`` read from a statistics file.

    Raises:
        ValueError: naming the file, the metrics it serves and what each other metric needs.
    """
    missing = []
    for n in names:
        lacking = sorted(_REGISTRY[n].needs_of(side) - {"statistics"}, key=NEEDS.index)
        if lacking:
            missing.append(f"{n!r} needs {' and '.join(_WHAT[w] for w in lacking)}")
    if missing:
        served = [n for n, s in _REGISTRY.items() if s.statistics_suffice]
        raise ValueError(
            f"{side} is a statistics file ({source}): it serves only metrics={served} "
            f"(mean and covariance); {', '.join(missing)}"
        )
