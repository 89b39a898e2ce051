"""Reading one side of an evaluation into a :class:`~metrics._records.Side`, in one of three ways.

- :func:`read_statistics_file`: an ``.npz`` of ``mu``/``sigma`` (statistics only; its recorded
  provenance must match this run's extractor);
- :func:`read_folder`: an image folder, streamed batch by batch (memory bounded by a batch),
  its statistics cached on disk when only statistics are needed;
- :func:`read_samples`: anything :func:`metrics.load_samples` reads (arrays, tensors, files,
  generator callables).

:func:`read_side` picks one. The feature pipeline both sides share (the extractor, the
classifier for logits, the folder reader's settings) is a :class:`Reader`, resolved once from
the :class:`~metrics.EvaluationOptions`; what a side must keep is a :class:`Need`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from metrics._jackknife import group_index
from metrics._options import EvaluationOptions
from metrics._records import Side
from metrics._registry import METRICS, NO_CLASSIFIER
from metrics.io.arrays import is_stats_file, load_samples
from metrics.io.cache import (
    check_provenance,
    load_stats_file,
    read_cached,
    save_stats_file,
    stats_key,
    stats_path,
    stats_provenance,
)
from metrics.io.images import folder_batches, scan_folder, warn_lossy
from metrics.networks.features import (
    digits_logits,
    extract,
    fashion_logits,
    is_inception,
    iter_features,
    network_of,
    preprocessing,
    provenance,
    resolve_extractor,
)
from metrics.stats import FeatureStats

__all__ = ["Need", "Reader", "read_folder", "read_samples", "read_side", "read_statistics_file"]


@dataclass(frozen=True)
class Need:
    """What one side must keep: features, statistics (``groups`` of them too), logits."""

    features: bool = False
    statistics: bool = False
    groups: int = 0
    logits: bool = False


@dataclass(frozen=True)
class Reader:
    """The feature pipeline both sides go through, resolved once from the options."""

    spec: Any
    extractor: Any
    classifier: Any
    provenance: Mapping[str, Any] | None
    preprocessing: Mapping[str, Any]
    num_workers: int | None
    num_samples: int | None
    batch_size: int
    device: Any
    progress: bool | None

    @classmethod
    def from_options(cls, o: EvaluationOptions) -> Reader:
        """Resolve the extractor (and, for ``is``, the classifier) the options name."""
        _, folder_filter = preprocessing(o.features, o.resize)
        extractor = resolve_extractor(
            o.features,
            device=o.device,
            resize=o.resize,
            check_hash=o.check_hash,
            precision=o.precision,
        )
        classifier = o.logits
        if classifier is None and any("logits" in METRICS[m].needs for m in o.metrics):
            if o.features == "digits":
                classifier = digits_logits(device=o.device)
            elif o.features == "fashion":
                classifier = fashion_logits(device=o.device)
            elif is_inception(o.features):
                classifier = extractor.logits
            else:
                raise ValueError(NO_CLASSIFIER)
        channels = o.channels
        if network_of(o.features) is not None and channels is None:  # the networks take RGB
            channels = 3
        return cls(
            spec=o.features,
            extractor=extractor,
            classifier=classifier,
            provenance=provenance(o.features, extractor),
            preprocessing={
                "image_size": o.image_size,
                "resize": folder_filter,
                "channels": channels,
            },
            num_workers=o.num_workers,
            num_samples=o.num_samples,
            batch_size=o.batch_size,
            device=o.device,
            progress=o.progress,
        )

    @property
    def channels(self) -> int | None:
        """The channels folder images (and named data sets) are brought to."""
        return self.preprocessing["channels"]

    @property
    def folder_options(self) -> dict[str, Any]:
        """The folder reader's settings (also the cache key's preprocessing)."""
        return {**self.preprocessing, "num_workers": self.num_workers}

    @property
    def joint(self) -> bool:
        """Whether one network pass gives the features and the classifier's logits."""
        return hasattr(self.extractor, "features_and_logits") and (
            self.classifier == getattr(self.extractor, "logits", None)
        )

    def network(self, need: Need) -> Any:
        """The function the samples go through: features, or features and logits side by side."""
        return _Joint(self.extractor) if need.logits and self.joint else self.extractor


def read_side(source: Any, *, name: str, reader: Reader, need: Need, cache: bool = False) -> Side:
    """Read ``source`` as one side: a statistics file, an image folder or samples.

    The classifier's logits, when needed and not given by the features' pass, are computed
    from the samples in a second pass.
    """
    if is_stats_file(source):
        return read_statistics_file(source, name=name, reader=reader)
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        side = read_folder(source, name=name, reader=reader, need=need, cache=cache)
    else:
        side = read_samples(source, name=name, reader=reader, need=need)
    if need.logits and side.logits is None:
        logits = extract(
            reader.classifier,
            side.samples,
            batch_size=reader.batch_size,
            device=reader.device,
            progress=bool(reader.progress),
        )
        side = replace(side, logits=logits)
    return side


def read_statistics_file(source: str | os.PathLike, *, name: str, reader: Reader) -> Side:
    """The statistics (total and groups) of an ``.npz`` whose provenance fits ``reader``."""
    total, groups, meta = load_stats_file(source)
    check_provenance(source, meta, _plain(reader.provenance))
    return Side(
        name,
        "stats",
        total.n or 0,
        total=total,
        groups=groups,
        source=str(source),
        extractor=reader.provenance,
        summary=meta.get("folder") or {},
    )


def read_folder(
    source: str | os.PathLike, *, name: str, reader: Reader, need: Need, cache: bool = False
) -> Side:
    """An image folder, streamed through the extractor; cached statistics when ``cache``.

    The cache serves a side that needs statistics only, from a known extractor
    (:mod:`metrics.io.cache`: keyed by the folder's fingerprint, the extractor, the preprocessing,
    ``num_samples`` and the groups).
    """
    info = scan_folder(source, name=name)
    warn_lossy(info, name)
    prov = _plain(reader.provenance)
    key = None
    if cache and need.statistics and not need.features and not need.logits and prov is not None:
        key = stats_key(
            folder=info.fingerprint,
            extractor=prov,
            preprocessing=reader.folder_options,
            num_samples=reader.num_samples,
            groups=need.groups,
        )
        cached = read_cached(stats_path(key))
        if cached is not None:
            total, groups, meta = cached
            summary = {**(meta.get("folder") or {}), "cached_statistics": True}
            return Side(name, "folder", total.n, total=total, groups=groups, source=str(source),
                        extractor=prov, summary=summary)  # fmt: skip

    def batches() -> Iterator[torch.Tensor]:
        return folder_batches(
            info,
            num_samples=reader.num_samples,
            progress=reader.progress,
            name=name,
            batch_size=reader.batch_size,
            **reader.folder_options,
        )

    run = reader.network(need)
    acc = _Accumulator(need.features, need.statistics, need.groups)
    logits = []
    for f in iter_features(run, batches(), batch_size=reader.batch_size, device=reader.device):
        if isinstance(run, _Joint):
            f, lg = run.split(f)
            logits.append(lg)
        acc.add(f)
    if key is not None:
        path = stats_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            **stats_provenance(reader.spec, prov, reader.folder_options),
            "folder": info.summary(),
        }
        save_stats_file(path, acc.total, acc.groups, overwrite=True, meta=meta)
    return Side(
        name,
        "folder",
        acc.n,
        features=torch.cat(acc.parts) if acc.parts else None,
        total=acc.total,
        groups=tuple(acc.groups),
        logits=torch.cat(logits) if logits else None,
        samples=_Reiterable(batches),
        source=str(source),
        extractor=prov,
        summary={**info.summary(), "cached_statistics": False},
    )


def read_samples(source: Any, *, name: str, reader: Reader, need: Need) -> Side:
    """Samples in memory (:func:`metrics.load_samples`), through the extractor in batches."""
    samples = load_samples(
        source, num_samples=reader.num_samples, batch_size=reader.batch_size, name=name
    )
    run = reader.network(need)
    batches = iter_features(run, samples, progress=bool(reader.progress),
                            batch_size=reader.batch_size, device=reader.device)  # fmt: skip
    feats = torch.cat(list(batches))
    logits = None
    if isinstance(run, _Joint):
        feats, logits = run.split(feats)
    feats = feats.double()
    total, groups = None, []
    if need.statistics:
        total = FeatureStats().update(feats)
        k = min(need.groups, feats.shape[0] // 2)
        if k >= 2:
            groups = [FeatureStats().update(feats[g::k]) for g in range(k)]
    return Side(
        name,
        "array",
        feats.shape[0],
        features=feats if need.features else None,
        total=total,
        groups=tuple(groups),
        logits=logits,
        samples=samples,
        source=str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__,
        extractor=_plain(reader.provenance),
    )


def _plain(mapping: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if mapping is None else dict(mapping)


class _Accumulator:
    """Features batch by batch → kept features and/or total and group statistics."""

    def __init__(self, keep: bool, stats: bool, groups: int) -> None:
        self.keep, self.parts, self.n = keep, [], 0
        self.total = FeatureStats() if stats else None
        self.groups = [FeatureStats() for _ in range(groups if stats and groups >= 2 else 0)]

    def add(self, f: torch.Tensor) -> None:
        f = f.double()
        if self.keep:
            self.parts.append(f)
        if self.total is not None:
            self.total.update(f)
            for g, sl in zip(self.groups, group_index(self.n, f.shape[0], len(self.groups))):
                if f[sl].shape[0]:
                    g.update(f[sl])
        self.n += f.shape[0]


class _Joint(torch.nn.Module):
    """Features and logits of one network pass, side by side in one ``(N, D + C)`` tensor."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net
        self.n_logits: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, lg = self.net.features_and_logits(x)
        self.n_logits = lg.shape[1]
        return torch.cat([f, lg.to(f.dtype)], 1)

    def split(self, both: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, logits)`` of a joint output."""
        d = both.shape[1] - (self.n_logits or 0)
        return both[:, :d], both[:, d:]


class _Reiterable:
    """An iterable that calls ``make()`` afresh for each pass (a folder read again)."""

    def __init__(self, make: Any) -> None:
        self.make = make

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.make())
