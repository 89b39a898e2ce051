"""Reference statistics from data, the library side of ``divergences stats FOLDER -o ref.npz``.

:func:`compute_stats` streams a folder or array through a feature extractor into
:class:`~metrics.FeatureStats` (with K group statistics for FID error bars);
:func:`metrics.io.cache.save_stats_file` writes them in pytorch-fid's ``.npz`` layout.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from divergences import __version__
from metrics._options import EvaluationOptions
from metrics._sides import Need, Reader, read_side
from metrics.io.arrays import is_stats_file, planned_count
from metrics.io.cache import stats_provenance
from metrics.io.datasets import named_images, parse_spec

__all__ = ["compute_stats"]


def compute_stats(
    source: Any,
    *,
    features: Any = "identity",
    groups: int = 10,
    num_samples: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    image_size: int | None = None,
    resize: str | None = None,
    channels: int | None = None,
    num_workers: int | None = None,
    check_hash: bool = True,
    precision: str | None = None,
    data_root: str | None = None,
) -> tuple[Any, list, dict[str, Any]]:
    """Stream ``source`` (a folder, array or file) through ``features`` into statistics.

    The options are :func:`metrics.evaluate`'s (``features="inception"`` with
    ``resize="pytorch-fid"`` or ``"clean"``; ``check_hash=False`` loads unpublished Inception
    weights, with a warning; ``precision`` ``"float32"``, ``"tf32"`` or ``"bf16"``).

    Returns:
        ``(total, groups, provenance)``: the :class:`~metrics.FeatureStats` of all samples,
        the ``groups`` group statistics (sample ``i`` in group ``i mod groups``; none when
        ``groups < 2`` or there are fewer than ``2 groups`` samples) and the provenance a
        statistics file records (:func:`metrics.io.cache.stats_provenance`, plus the package
        version and the source's summary: the size its images were read at).
    """
    if is_stats_file(source):
        raise ValueError(f"{source} already holds statistics")
    opts = EvaluationOptions(
        metrics="fid",
        features=features,
        num_samples=num_samples,
        batch_size=batch_size,
        device=device,
        progress=progress,
        image_size=image_size,
        resize=resize,
        channels=channels,
        num_workers=num_workers,
        cache=False,
        check_hash=check_hash,
        precision=precision,
        data_root=data_root,
    )
    reader = Reader.from_options(opts)
    named = None if isinstance(source, str) and os.path.exists(source) else parse_spec(source)
    source = named_images(source, data_root=data_root, image_size=image_size,
                          channels=reader.channels)  # fmt: skip
    n = planned_count(source, num_samples)
    k = min(groups, n // 2) if n is not None else groups
    need = Need(statistics=True, groups=k if k >= 2 else 0)
    side = read_side(source, name="folder", reader=reader, need=need)
    prov = {
        "package_version": __version__,
        **stats_provenance(features, reader.provenance, dict(reader.preprocessing)),
        "source": dict(side.summary),
    }
    if named is not None:
        prov["data_set"] = ":".join(named)
    return side.total, list(side.groups), prov
