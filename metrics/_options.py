"""The options of one evaluation, as one frozen record checked once at construction."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import torch

from divergences._validation import check_bool, check_positive_int
from metrics._registry import DEFAULT_METRICS, METRICS, metric_names
from metrics.networks.features import preprocessing

__all__ = ["EvaluationOptions"]

DEFAULT_FID_GROUPS = 10


@dataclass(frozen=True)
class EvaluationOptions:
    """Every setting of :func:`metrics.evaluate` but the two sample sets, checked once.

    :func:`metrics.evaluate` builds this record from its keywords (they have the same names
    and meanings; see its docstring) and hands it to every stage: the readers of the two
    sides and each registered metric. Build one yourself to check settings before a long run
    (a typo in a metric name or option fails here, not after the features are extracted) and
    to reuse them: ``evaluate(real, fake, **opts.keywords())``; :func:`dataclasses.replace`
    makes a checked variant.

    Attributes:
        metrics: the metric names, a tuple (a single name is accepted as a string).
        options: per-metric keyword options, ``{"kid": {"subsets": 10}}``: a read-only
            mapping of read-only mappings; only for metrics in ``metrics``.

    The other attributes are :func:`metrics.evaluate`'s keywords of the same name.

    Raises:
        TypeError: a metric name, option mapping, count or flag of the wrong type, or an
            option ``fid`` does not take (it takes ``groups`` and ``confidence``).
        ValueError: an unknown metric, options for a metric not asked, a count below its
            minimum (``batch_size``, ``num_samples``, ``image_size`` >= 1, ``num_workers``
            >= 0, ``options["fid"]["groups"]`` >= 0), ``channels`` not 1 or 3, or a ``resize``
            that does not fit ``features``.

    Example:
        >>> opts = EvaluationOptions(metrics="fid", options={"fid": {"groups": 5}})
        >>> opts.metrics, opts.fid_groups, opts.of("fid")
        (('fid',), 5, {'groups': 5})
        >>> EvaluationOptions(metrics=["fid"], options={"kid": {}})
        Traceback (most recent call last):
            ...
        ValueError: options given for metrics that are not computed: ['kid']
    """

    metrics: tuple[str, ...] = DEFAULT_METRICS
    features: Any = "identity"
    logits: Any = None
    num_samples: int | None = None
    batch_size: int = 256
    device: str | torch.device | None = None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    progress: bool | None = False
    image_size: int | tuple[int, int] | None = None
    resize: str | None = None
    channels: int | None = None
    num_workers: int | None = None
    cache: bool = True
    check_hash: bool = True
    precision: str | None = None
    data_root: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        names = metric_names(self.metrics)
        object.__setattr__(self, "metrics", names)
        object.__setattr__(self, "options", _metric_options(self.options, names))
        if "fid" in names:
            unknown = sorted(set(self.options.get("fid", {})) - {"groups", "confidence"})
            if unknown:
                raise TypeError(f"options['fid'] takes 'groups' and 'confidence', not {unknown}")
            g = self.options.get("fid", {}).get("groups", DEFAULT_FID_GROUPS)
            if isinstance(g, bool) or not isinstance(g, int) or g < 0:
                raise ValueError(f"options['fid']['groups'] must be an integer >= 0, got {g!r}")
        if self.num_samples is not None:
            object.__setattr__(
                self, "num_samples", check_positive_int(self.num_samples, "num_samples")
            )
        object.__setattr__(self, "batch_size", check_positive_int(self.batch_size, "batch_size"))
        if self.num_workers is not None:
            check_positive_int(self.num_workers, "num_workers", minimum=0)
        if self.progress is not None:
            check_bool(self.progress, "progress")
        check_bool(self.cache, "cache")
        check_bool(self.check_hash, "check_hash")
        _check_image_size(self.image_size)
        if self.channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1, 3 or None, got {self.channels!r}")
        preprocessing(self.features, self.resize)  # a resize that does not fit the features

    @property
    def fid_groups(self) -> int:
        """The FID jackknife groups asked for: ``options["fid"]["groups"]`` (10), 0 without fid.

        The report records how many were used (fewer with few samples).
        """
        if "fid" not in self.metrics:
            return 0
        return int(self.options.get("fid", {}).get("groups", DEFAULT_FID_GROUPS))

    def of(self, metric: str) -> dict[str, Any]:
        """A fresh dict of ``metric``'s keyword options (empty when none were given)."""
        return dict(self.options.get(metric, {}))

    def keywords(self) -> dict[str, Any]:
        """The record as :func:`metrics.evaluate`'s keywords: ``evaluate(r, f, **o.keywords())``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["options"] = {k: dict(v) for k, v in self.options.items()}
        return out


def _metric_options(options: Any, names: tuple[str, ...]) -> Mapping[str, Mapping[str, Any]]:
    if options is None:
        options = {}
    if not isinstance(options, Mapping) or not all(
        isinstance(v, Mapping) for v in options.values()
    ):
        raise TypeError(
            "options must map metric names to dicts of keyword options, e.g. "
            f"{{'kid': {{'subsets': 10}}}}; got {options!r}"
        )
    bad = [k for k in options if k not in names]
    if bad:
        known = [k for k in bad if k not in METRICS]
        hint = f" ({known} are not metrics)" if known else ""
        raise ValueError(f"options given for metrics that are not computed: {bad}{hint}")
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in options.items()})


def _check_image_size(size: Any) -> None:
    if size is None:
        return
    sides = [size] if isinstance(size, int) else size
    ok = isinstance(sides, (list, tuple)) and len(sides) == (1 if isinstance(size, int) else 2)
    if not ok or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sides):
        raise ValueError(f"image_size must be a positive int or (height, width), got {size!r}")
