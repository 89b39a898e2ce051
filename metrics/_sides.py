"""One side of an evaluation (real or fake): read a source into features and statistics.

A statistics file, an image folder (streamed by :mod:`metrics.io.images`, its statistics
cached by :mod:`metrics.io.cache`) or samples (:func:`metrics.io.arrays.load_samples`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from metrics._jackknife import group_index
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
from metrics.networks.features import iter_features, provenance
from metrics.stats import FeatureStats

__all__ = ["Side", "collect_side"]


# --- one side of an evaluation: features and/or streamed statistics ----------------------------
@dataclass
class Side:
    """What :func:`metrics.evaluate` knows about one side (real or fake) after reading it.

    ``features`` (float64 ``(N, D)``) are kept only when a metric needs them; ``total`` and
    ``groups`` are the streamed :class:`~metrics.FeatureStats` (all samples, and the K groups
    ``i mod K`` for error bars). ``kind`` is ``"array"``, ``"folder"`` or ``"stats"``.
    """

    name: str
    kind: str
    n: int = 0
    features: torch.Tensor | None = None
    total: Any = None
    groups: list = field(default_factory=list)
    samples: Any = None
    info: Any = None
    cached: bool = False
    meta: dict = field(default_factory=dict)
    logits: torch.Tensor | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready provenance of this side."""
        out: dict[str, Any] = {"source": self.kind, "n": self.n}
        if self.info is not None:
            out.update(self.info.summary())
        elif self.meta.get("folder"):
            out.update(self.meta["folder"])
        if self.kind == "folder":
            out["cached_statistics"] = self.cached
        return out


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


def collect_side(
    source: Any,
    *,
    name: str,
    spec: Any,
    extractor: Any,
    keep_features: bool,
    want_stats: bool,
    groups: int,
    num_samples: int | None,
    batch_size: int,
    device: Any,
    progress: bool | None,
    folder_options: dict[str, Any],
    cache: bool,
    with_logits: bool = False,
) -> Side:
    """Read one side: a statistics file, an image folder (streamed, cached) or samples.

    With ``with_logits`` the extractor's ``features_and_logits`` serves both in one pass
    over the images, and the side keeps the logits (for the Inception Score).
    """
    run = _Joint(extractor) if with_logits else extractor
    if is_stats_file(source):
        if keep_features:
            raise ValueError(
                f"{name} is a statistics file ({source}): it serves only metrics=['fid'] "
                "(the other metrics need features)"
            )
        total, grp, meta = load_stats_file(source)
        check_provenance(source, meta, provenance(spec, extractor))
        return Side(name, "stats", total.n or 0, total=total, groups=grp, meta=meta)
    kw = {"batch_size": batch_size, "device": device}
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        info = scan_folder(source, name=name)
        warn_lossy(info, name)
        prov = provenance(spec, extractor)
        key = None
        if cache and want_stats and not keep_features and prov is not None:
            key = stats_key(
                folder=info.fingerprint,
                extractor=prov,
                preprocessing=folder_options,
                num_samples=num_samples,
                groups=groups,
            )
            cached = read_cached(stats_path(key))
            if cached is not None:
                total, grp, meta = cached
                return Side(
                    name, "folder", total.n, total=total, groups=grp, meta=meta, cached=True
                )

        def batches():
            return folder_batches(
                info, num_samples=num_samples, progress=progress, name=name, **kw_folder
            )

        kw_folder = {"batch_size": batch_size, **folder_options}
        acc = _Accumulator(keep_features, want_stats, groups)
        logit_parts = []
        for f in iter_features(run, batches(), **kw):
            if with_logits:
                f, lg = run.split(f)
                logit_parts.append(lg)
            acc.add(f)
        side = Side(name, "folder", acc.n, total=acc.total, groups=acc.groups, info=info)
        side.logits = torch.cat(logit_parts) if logit_parts else None
        side.samples = _Reiterable(batches)
        if acc.parts:
            side.features = torch.cat(acc.parts)
        if key is not None:
            path = stats_path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            meta = {**stats_provenance(spec, prov, folder_options), "folder": info.summary()}
            save_stats_file(path, acc.total, acc.groups, overwrite=True, meta=meta)
        return side
    samples = load_samples(source, num_samples=num_samples, batch_size=batch_size, name=name)
    feats = torch.cat(list(iter_features(run, samples, progress=bool(progress), **kw)))
    side = Side(name, "array", feats.shape[0], samples=samples)
    if with_logits:
        feats, side.logits = run.split(feats)
    feats = feats.double()
    side.features = feats if keep_features else None
    if want_stats:
        side.total = FeatureStats().update(feats)
        groups = min(groups, feats.shape[0] // 2)
        if groups >= 2:
            side.groups = [FeatureStats().update(feats[g::groups]) for g in range(groups)]
    return side


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

    def __iter__(self):
        return iter(self.make())
