"""The records an evaluation passes between its stages: one per side, one per metric's result.

:func:`metrics.evaluate` reads each side (real, fake) once into a frozen :class:`Side`; every
registered metric (:mod:`metrics._registry`) maps the two sides and the options to a frozen
:class:`MetricResult`; the :class:`~metrics.Report` is built from those results. Nothing is
written into a shared dict on the way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from metrics.report import Entry
from metrics.stats import FeatureStats

__all__ = ["MetricResult", "Side"]

SIDE_KINDS = ("array", "folder", "stats")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Side:
    """What an evaluation knows about one side (real or fake) after reading it once.

    A side read from samples (an array, a file, a generator, an image folder) carries their
    features, their streamed statistics, or both, as the metrics asked need; a side read from
    a statistics file carries statistics only (``from_statistics_file``).

    Attributes:
        name: ``"real"`` or ``"fake"``; error messages name the side by it.
        kind: ``"array"`` (samples in memory), ``"folder"`` (images streamed from a folder)
            or ``"stats"`` (an ``.npz`` of ``mu``/``sigma``).
        n: number of samples.
        features: float64 ``(n, D)`` features, kept only when a metric needs them.
        total: :class:`~metrics.FeatureStats` of all samples, when a metric needs statistics.
        groups: the K group statistics (sample ``i`` in group ``i mod K``) for error bars.
        logits: ``(n, C)`` classifier logits of the samples (the Inception Score's input).
        samples: the samples (a tensor, or an iterable that reads the folder's batches again);
            None for a statistics file.
        source: what the side was read from, as error messages name it: the file or folder
            path, else the kind of object (``"ndarray"``, ``"Tensor"``, ``"function"``).
        extractor: the provenance of the extractor behind the features (e.g. ``{"network":
            "identity"}``), None for a plain callable.
        summary: the side's JSON-ready provenance for the report (source kind, count, the
            folder's file types, conversions and skipped files, cached statistics).

    Example:
        >>> import torch
        >>> s = Side("real", "array", 3, features=torch.zeros(3, 2, dtype=torch.float64))
        >>> s.dim, s.from_statistics_file, dict(s.summary)
        (2, False, {'source': 'array', 'n': 3})
    """

    name: str
    kind: str
    n: int
    features: torch.Tensor | None = None
    total: FeatureStats | None = None
    groups: tuple[FeatureStats, ...] = ()
    logits: torch.Tensor | None = None
    samples: Any = None
    source: str = ""
    extractor: Mapping[str, Any] | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in SIDE_KINDS:
            raise ValueError(f"kind must be one of {SIDE_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "groups", tuple(self.groups))
        summary = {"source": self.kind, "n": self.n, **self.summary}
        object.__setattr__(self, "summary", _frozen(summary))
        if self.extractor is not None:
            object.__setattr__(self, "extractor", _frozen(self.extractor))

    @property
    def from_statistics_file(self) -> bool:
        """True when the side holds statistics only (no samples, no per-sample features)."""
        return self.kind == "stats"

    @property
    def dim(self) -> int | None:
        """Feature dimension D (from the features, else from the statistics)."""
        if self.features is not None:
            return int(self.features.shape[1])
        return None if self.total is None else self.total.dim


@dataclass(frozen=True)
class MetricResult:
    """What one metric returns: its report entries and what the report records about its run.

    Attributes:
        entries: ``name → Entry``, in the order the report shows them (e.g. ``fid``,
            ``fid_bias_corrected``, ``fid_inf``).
        meta: settings the metric chose at run time, recorded in the report's
            ``meta["options"][metric]`` (e.g. ``{"groups": 10}``: the FID groups used).

    Example:
        >>> r = MetricResult({"fid": Entry(1.5)}, {"groups": 0})
        >>> list(r.entries), r.meta["groups"]
        (['fid'], 0)
    """

    entries: Mapping[str, Entry]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [k for k, v in self.entries.items() if not isinstance(v, Entry)]
        if bad:
            raise TypeError(f"entries must map names to Entry records; not so for {bad}")
        object.__setattr__(self, "entries", _frozen(self.entries))
        object.__setattr__(self, "meta", _frozen(self.meta))
