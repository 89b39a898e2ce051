"""One evaluation call: load samples, extract features, compute metrics, return a Report.

``evaluate(real, fake, metrics=[...], features=...)`` accepts arrays, tensors, ``.npy`` /
``.npz`` / ``.pt`` files (loaded without pickles), image folders, or a generator callable
``fake(n) -> (n, ...)`` with ``num_samples`` (loading: :mod:`metrics.io.arrays`). The report
is :mod:`metrics.report`; the ``divergences evaluate REAL FAKE`` command is :mod:`gan.cli.evaluate`.

It runs in three stages, each handing a frozen record to the next: the keywords become one
:class:`EvaluationOptions`, checked once; each side is read once into a
:class:`~metrics._records.Side` keeping what the asked metrics need (:mod:`metrics._sides`);
each metric of the registry :data:`METRICS` (:mod:`metrics._registry`, the built-in ones in
:mod:`metrics._registered`) maps the two sides and the options to a
:class:`~metrics._records.MetricResult`, and the report is assembled from those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from metrics import _registered  # noqa: F401  (registers the built-in metrics)
from metrics._options import EvaluationOptions
from metrics._records import MetricResult, Side
from metrics._registry import DEFAULT_METRICS, METRICS, check_statistics_only
from metrics._sides import Need, Reader, read_side
from metrics.io.arrays import (
    is_stats_file,
    load_array,
    load_samples,
    planned_count,
)
from metrics.io.datasets import named_images, parse_spec
from metrics.report import Entry, Report

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "Entry",
    "EvaluationOptions",
    "Report",
    "evaluate",
    "load_array",
    "load_samples",
]


def evaluate(
    real: Any,
    fake: Any,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    features: Any = "identity",
    logits: Any = None,
    num_samples: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool | None = False,
    image_size: int | None = None,
    resize: str | None = None,
    channels: int | None = None,
    num_workers: int | None = None,
    cache: bool = True,
    check_hash: bool = True,
    precision: str | None = None,
    data_root: str | None = None,
) -> Report:
    """Evaluate generated samples against real ones with several metrics in one call.

    Image folders are streamed (:mod:`metrics.io.images`: sorted order, batches, memory bounded
    by the batch; unreadable images skipped with a count, JPEG warned about). A real side that
    is an ``.npz`` of statistics (``mu``, ``sigma``; pytorch-fid's or ``divergences stats``)
    serves ``fid``; one whose recorded provenance (extractor, network hash, resize mode,
    precision) differs from this run's is refused, one that records none (a pytorch-fid
    file) is used with a warning. With ``cache`` the statistics of a real folder are cached
    on disk (:mod:`metrics.io.cache`) when only ``fid`` is asked, so a second evaluation reads
    only the fake side.

    FID comes with a delete-a-group jackknife standard error, the bias-corrected FID
    (``fid_bias_corrected``, ``max(0, F_J)``) with its interval, and FID∞
    (:mod:`metrics._jackknife`; ``options={"fid": {"groups": 10, "confidence": 0.95}}``,
    ``groups=0`` turns them off). Every interval in the report is about its own entry's value
    and contains it; ``fid`` itself (comparable with other tools) has no interval, as it is
    biased upward by ``O(1/N)``. Precision/recall and density/coverage get jackknife
    intervals with ``options={"precision_recall": {"groups": 10}}`` (off by default: it
    recomputes them K times).

    Args:
        real: real samples (array, tensor, ``.npy``/``.npz``/``.pt`` path, image folder, or a
            standard data set's split: ``"fashion-mnist:test"``, ``"mnist:train"``, ...,
            read from its IDX files by :mod:`metrics.io.datasets` as floats in [0, 1]), or an
            ``.npz`` of reference statistics.
        fake: generated samples (same kinds), or a callable ``fake(n)`` with ``num_samples``.
        metrics: a name or a list of names from :data:`METRICS`: ``fid``, ``kid``,
            ``precision_recall``, ``density_coverage``, ``is``, ``mode_coverage``, ``cmmd``
            (:func:`metrics.cmmd`, with ``features="clip"``) and the
            core's two-sample divergences ``js``, ``c2st``, ``knn_kl``, ``chamfer``,
            ``mmd2``, ``sliced_wasserstein``, and ``two_sample``: the permutation p-values
            ``p_mmd``, ``p_energy``, ``p_knn`` of :func:`divergences.two_sample_test`
            (``options={"two_sample": {"tests": [...], "permutations": 200}}``).
        features: extractor: ``"identity"``, ``"digits"``, ``"fashion"`` (the shipped 28-px
            Fashion-MNIST network, for grey 28 × 28 images in [0, 1]), ``"inception"`` (the
            Inception-v3 FID network on pytorch-fid's weights, fetched by ``divergences
            weights fetch inception``), ``"inception:PATH"`` (that weights file), ``"dinov2"``
            (DINOv2 ViT-L/14, FD_DINOv2's features), ``"clip"`` (CLIP ViT-L/14@336, CMMD's)
            and their ``:PATH`` and ``-VARIANT`` forms
            (:func:`metrics.networks.features.resolve_extractor`), a
            TorchScript path or a callable (its optional ``provenance`` dict, e.g. with the
            network file's ``sha256``, goes into the report and the cache key).
        logits: classifier for ``is`` (default: the Inception network's ``logits`` with
            ``features="inception"``, the digits classifier with ``features="digits"``).
        num_samples: use (or draw) at most this many samples of each set.
        batch_size: batch size of feature extraction and of generator calls.
        device: where extractors run (default: CUDA when present).
        options: per-metric keyword options, e.g. ``{"kid": {"subsets": 10}}``; the caller's
            mappings are copied, never changed.
        progress: progress bars (None: only when stderr is a terminal).
        image_size: side every folder image is brought to (default: its first image's).
        resize: with ``features="inception"``, the network's preprocessing:
            ``"pytorch-fid"`` (default; bilinear to 299 px) or ``"clean"`` (clean-fid's PIL
            bicubic in float32); with ``"dinov2"`` ``"torch"`` (EDM2, default), ``"pil"``
            (dgm-eval) or ``"clean"``; with ``"clip"`` ``"openai"`` (default) or ``"cmmd"``;
            otherwise the PIL filter for folder images of another size (``bilinear``
            (default), ``bicubic``, ``lanczos``, ``nearest``).
        channels: 1 or 3 channels for folder images (default: from the first image; 3 for
            the Inception network).
        num_workers: DataLoader workers reading folders (default: up to 4).
        cache: read/write the on-disk cache of real-folder statistics.
        check_hash: refuse network weights whose SHA-256 is not the published one;
            ``False`` loads such a file with a warning (never implied).
        precision: with a network (``inception``, ``dinov2``, ``clip``), ``"float32"``
            (default), ``"tf32"`` (CUDA) or ``"bf16"``: faster arithmetic on GPUs, recorded in
            the provenance (and the cache key); its scores are not the float32 ones to the
            last digits. Statistics files of another network, preprocessing or precision are
            refused.
        data_root: where a named data set's IDX files are looked for first (see
            :func:`metrics.io.datasets.find_split`).

    The keywords are checked once, into an :class:`EvaluationOptions` (build one yourself to
    check settings before a long run: ``evaluate(real, fake, **opts.keywords())``).

    Returns:
        A :class:`Report`; ``meta["provenance"]`` records the package version, the extractor
        (and its file's SHA-256), the preprocessing and the counts per side and file type.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> r = evaluate(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)),
        ...              metrics=["fid", "precision_recall"])
        >>> sorted(r), r["fid"].value < 0.1
        (['fid', 'fid_bias_corrected', 'fid_inf', 'precision', 'recall'], True)
    """
    opts = EvaluationOptions(
        metrics=metrics,
        features=features,
        logits=logits,
        num_samples=num_samples,
        batch_size=batch_size,
        device=device,
        options=options or {},
        progress=progress,
        image_size=image_size,
        resize=resize,
        channels=channels,
        num_workers=num_workers,
        cache=cache,
        check_hash=check_hash,
        precision=precision,
        data_root=data_root,
    )
    reader = Reader.from_options(opts)
    named = {k: ":".join(spec) for k, s in (("real", real), ("fake", fake))
             if (spec := parse_spec(s)) is not None and not Path(str(s)).exists()}  # fmt: skip
    real_side, fake_side = _read_sides(real, fake, opts, reader)
    results: dict[str, MetricResult] = {}
    for name in opts.metrics:  # a plain loop: warnings point at the caller (stacklevel 3)
        METRICS[name].check(real_side, fake_side)
        results[name] = METRICS[name].compute(real_side, fake_side, opts)
    return _report(results, real_side, fake_side, opts, reader, named)


def _read_sides(real: Any, fake: Any, opts: EvaluationOptions, reader: Reader) -> tuple[Side, Side]:
    """Read both sides once, keeping what the metrics asked need (their registered needs)."""
    real, fake = (named_images(s, data_root=opts.data_root, image_size=opts.image_size,
                               channels=reader.channels) for s in (real, fake))  # fmt: skip
    for side, source in (("real", real), ("fake", fake)):
        if is_stats_file(source):
            check_statistics_only(opts.metrics, side=side, source=source)
    needs = set().union(*(METRICS[m].needs for m in opts.metrics))
    # without a statistics metric the sides keep features: the report's dimension, the check
    keep = "features" in needs or "statistics" not in needs
    counts = [planned_count(s, opts.num_samples) for s in (real, fake)]
    k = min([opts.fid_groups, *(c // 2 for c in counts if c is not None)])
    # only the reference side is cached: generated samples change from run to run
    need = Need(features=keep, statistics="statistics" in needs, groups=k)
    real_side = read_side(real, name="real", reader=reader, need=need, cache=opts.cache)
    if real_side.from_statistics_file and real_side.groups:
        k = min(len(real_side.groups), k) if k else 0
    need = replace(need, groups=k, logits="logits" in needs)
    fake_side = read_side(fake, name="fake", reader=reader, need=need)
    _check_dims(real_side, fake_side)
    return real_side, fake_side


def _report(
    results: Mapping[str, MetricResult],
    real: Side,
    fake: Side,
    opts: EvaluationOptions,
    reader: Reader,
    named: Mapping[str, str],
) -> Report:
    """The Report: every metric's entries, in order, and the run's provenance."""
    entries = {n: e for r in results.values() for n, e in r.entries.items()}
    recorded: dict[str, dict[str, Any]] = {}
    for name, r in results.items():  # the options given (not the mode centres) and chosen
        given = {k: v for k, v in opts.options.get(name, {}).items() if k != "centers"}
        if given or r.meta or name in opts.options:
            recorded[name] = {**given, **r.meta}
    spec = opts.features
    meta = {
        "n_real": real.n,
        "n_fake": fake.n,
        "feature_dim": int(real.dim),
        "features": spec if isinstance(spec, str) else type(spec).__name__,
        "options": recorded,
        "provenance": {
            "package_version": _version(),
            "extractor": None if reader.provenance is None else dict(reader.provenance),
            "preprocessing": dict(reader.preprocessing),
            "real": dict(real.summary),
            "fake": dict(fake.summary),
        },
    }
    for side, data_set in named.items():  # e.g. "fashion-mnist:test"
        meta["provenance"][side]["data_set"] = data_set
    return Report(entries, meta)


def _version() -> str:
    from divergences import __version__

    return __version__


def _check_dims(real: Side, fake: Side) -> None:
    if real.dim != fake.dim:
        if real.from_statistics_file:
            what = f"the statistics file {real.source} has"
            why = "statistics of another network or preprocessing?"
        else:
            what, why = "the real features have", (
                "another network, or images of another size or channel count (image_size / "
                "--image-size, or the Inception features, make them agree)?")  # fmt: skip
        raise ValueError(
            f"{what} dimension {real.dim} but the fake features have {fake.dim}: {why}"
        )
