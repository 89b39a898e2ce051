"""One evaluation call: load samples, extract features, compute metrics, return a Report.

``evaluate(real, fake, metrics=[...], features=...)`` accepts arrays, tensors, ``.npy`` /
``.npz`` / ``.pt`` files (loaded without pickles), image folders, or a generator callable
``fake(n) -> (n, ...)`` with ``num_samples`` (loading: :mod:`metrics.loading`). The report
is :mod:`metrics.report`; the ``divergences evaluate REAL FAKE`` command is :mod:`metrics.cli`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from divergences._validation import check_positive_int
from metrics._jackknife import coarsen, fid_with_error_bars, prdc_with_error_bars
from metrics._sides import collect_side
from metrics.cmmd import cmmd
from metrics.fid import fid_from_stats
from metrics.inception_score import inception_score
from metrics.io.arrays import load_array, load_samples, planned_count
from metrics.io.datasets import named_images, parse_spec
from metrics.kid import kid
from metrics.modes import mode_coverage
from metrics.networks.features import (
    digits_logits,
    extract,
    fashion_logits,
    is_inception,
    network_of,
    preprocessing,
    provenance,
    resolve_extractor,
)
from metrics.prdc import density_coverage, precision_recall
from metrics.report import Entry, Report
from metrics.two_sample import TWO_SAMPLE, two_sample, two_sample_tests

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "Entry",
    "Report",
    "evaluate",
    "load_array",
    "load_samples",
]


# --- metrics registry ---------------------------------------------------------------------------
def _score(s: Any) -> Entry:
    return Entry(float(s.mean), float(s.std), "std")


def _estimate(e: Any) -> Entry:
    return Entry(float(e.value), float(e.stderr), "stderr")


def _fid(ctx: dict, *, confidence: float = 0.95) -> dict[str, Entry]:
    r, f = ctx["real_side"], ctx["fake_side"]
    rg, fg = r.groups, f.groups
    if rg and fg and len(rg) != len(fg):  # sizes known only after loading: match them
        rg, fg = coarsen(rg, len(fg)), coarsen(fg, len(rg))
    if len(rg or fg) < 2 or any(g.n < 2 for g in rg + fg):
        return {"fid": Entry(fid_from_stats(r.total, f.total))}
    ctx["fid_groups"] = len(rg or fg)
    e = fid_with_error_bars(r.total, f.total, rg, fg, confidence=confidence)
    return {  # the interval is about the bias-corrected FID, so it is that entry's
        "fid": Entry(e.value, e.stderr, "stderr"),
        "fid_bias_corrected": Entry(e.bias_corrected, e.stderr, "stderr", e.ci, confidence),
        "fid_inf": Entry(e.fid_infinity),
    }


def _kid(ctx: dict, **o: Any) -> dict[str, Entry]:
    o.setdefault("subset_size", min(1000, ctx["real"].shape[0], ctx["fake"].shape[0]))
    return {"kid": _score(kid(ctx["real"], ctx["fake"], **o))}


def _with_bars(ctx: dict, names: tuple[str, str], k_pr: Any, k_dc: Any, o: dict) -> dict:
    out = prdc_with_error_bars(ctx["real"], ctx["fake"], k_pr=k_pr, k_dc=k_dc, **o)
    level = o["confidence"]
    return {n: Entry(out[n].value, out[n].stderr, "stderr", out[n].ci, level) for n in names}


def _pr(ctx: dict, *, groups: int = 0, confidence: float = 0.95, **o: Any) -> dict[str, Entry]:
    if groups:
        bars = {"groups": groups, "confidence": confidence}
        return _with_bars(ctx, ("precision", "recall"), o.pop("k", 3), None, {**o, **bars})
    p, r = precision_recall(ctx["real"], ctx["fake"], **o)
    return {"precision": Entry(p), "recall": Entry(r)}


def _dc(ctx: dict, *, groups: int = 0, confidence: float = 0.95, **o: Any) -> dict[str, Entry]:
    if groups:
        bars = {"groups": groups, "confidence": confidence}
        return _with_bars(ctx, ("density", "coverage"), None, o.pop("k", 5), {**o, **bars})
    d, c = density_coverage(ctx["real"], ctx["fake"], **o)
    return {"density": Entry(d), "coverage": Entry(c)}


def _is(ctx: dict, **o: Any) -> dict[str, Entry]:
    if ctx["logits"] is None:
        raise ValueError(
            "metric 'is' needs a classifier: pass logits=... (or features='inception', 'digits' "
            "or 'fashion')"
        )
    out = ctx["fake_side"].logits
    if out is None:
        out = extract(
            ctx["logits"],
            ctx["fake_samples"],
            batch_size=ctx["batch_size"],
            device=ctx["device"],
            progress=ctx["progress"],
        )
    o.setdefault("splits", min(10, out.shape[0]))
    return {"is": _score(inception_score(out, **o))}


def _modes(ctx: dict, **o: Any) -> dict[str, Entry]:
    if "centers" not in o or "std" not in o:
        raise ValueError(
            "metric 'mode_coverage' needs options={'mode_coverage': {'centers': ..., 'std': ...}}"
        )
    x = ctx["fake_samples"]
    if not isinstance(x, torch.Tensor):
        raise ValueError("metric 'mode_coverage' needs fake samples as an array, not a folder")
    r = mode_coverage(x.reshape(x.shape[0], -1), **o)
    return {
        "modes": Entry(float(r.modes)),
        "high_quality": Entry(r.high_quality),
        "reverse_kl": Entry(r.reverse_kl),
    }


def _cmmd(ctx: dict, **o: Any) -> dict[str, Entry]:
    if not str(ctx["network"]).startswith("clip-"):
        warnings.warn(
            f"metric 'cmmd' is defined on CLIP embeddings (features='clip'); on "
            f"{ctx['network'] or 'these'} features it is not comparable with published CMMD",
            stacklevel=3,
        )
    e = cmmd(ctx["real"], ctx["fake"], **o)
    return {"cmmd": Entry(e.value, e.stderr, "stderr", e.ci)}


def _two_sample_entry(name: str) -> Callable[..., dict[str, Entry]]:
    def run(ctx: dict, **o: Any) -> dict[str, Entry]:
        v = two_sample(name, ctx["real"], ctx["fake"], **o)
        return {name: _estimate(v) if hasattr(v, "stderr") else Entry(float(v))}

    return run


def _tests(ctx: dict, **o: Any) -> dict[str, Entry]:
    """``p_<test>``: permutation p-values of real vs fake features (small: distinguishable)."""
    res = two_sample_tests(ctx["real"], ctx["fake"], **o)
    return {f"p_{name}": Entry(r.p_value) for name, r in res.items()}


METRICS: dict[str, Callable[..., dict[str, Entry]]] = {
    "fid": _fid,
    "kid": _kid,
    "precision_recall": _pr,
    "density_coverage": _dc,
    "is": _is,
    "mode_coverage": _modes,
    "cmmd": _cmmd,
    **{n: _two_sample_entry(n) for n in TWO_SAMPLE},
    "two_sample": _tests,
}
"""Names accepted by :func:`evaluate` (``metrics=``)."""

DEFAULT_METRICS = ("fid", "kid", "precision_recall", "density_coverage")


def _metric_names(metrics: Any) -> list[str]:
    if isinstance(metrics, str):  # one name, not a sequence of letters
        metrics = [metrics]
    if not isinstance(metrics, (list, tuple)) or not all(isinstance(m, str) for m in metrics):
        raise TypeError(f"metrics must be a metric name or a list of names, got {metrics!r}")
    if not metrics:
        raise ValueError(f"metrics is empty; choose from {sorted(METRICS)}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {sorted(METRICS)}")
    return list(metrics)


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

    Image folders are streamed (:mod:`metrics.folders`: sorted order, batches, memory bounded
    by the batch; unreadable images skipped with a count, JPEG warned about). A real side that
    is an ``.npz`` of statistics (``mu``, ``sigma``; pytorch-fid's or ``divergences stats``)
    serves ``fid``; one whose recorded provenance (extractor, network hash, resize mode,
    precision) differs from this run's is refused, one that records none (a pytorch-fid
    file) is used with a warning. With ``cache`` the statistics of a real folder are cached
    on disk (:mod:`metrics.cache`) when only ``fid`` is asked, so a second evaluation reads
    only the fake side.

    FID comes with a delete-a-group jackknife standard error, the bias-corrected FID
    (``fid_bias_corrected``, ``max(0, F_J)``) with its interval, and FID∞
    (:mod:`metrics.jackknife`; ``options={"fid": {"groups": 10, "confidence": 0.95}}``,
    ``groups=0`` turns them off). Every interval in the report is about its own entry's value
    and contains it; ``fid`` itself (comparable with other tools) has no interval, as it is
    biased upward by ``O(1/N)``. Precision/recall and density/coverage get jackknife
    intervals with ``options={"precision_recall": {"groups": 10}}`` (off by default: it
    recomputes them K times).

    Args:
        real: real samples (array, tensor, ``.npy``/``.npz``/``.pt`` path, image folder, or a
            standard data set's split: ``"fashion-mnist:test"``, ``"mnist:train"``, ...,
            read from its IDX files by :mod:`metrics.datasets` as floats in [0, 1]), or an
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
            (:func:`metrics.features.resolve_extractor`), a
            TorchScript path or a callable (its optional ``provenance`` dict, e.g. with the
            network file's ``sha256``, goes into the report and the cache key).
        logits: classifier for ``is`` (default: the Inception network's ``logits`` with
            ``features="inception"``, the digits classifier with ``features="digits"``).
        num_samples: use (or draw) at most this many samples of each set.
        batch_size: batch size of feature extraction and of generator calls.
        device: where extractors run (default: CUDA when present).
        options: per-metric keyword options, e.g. ``{"kid": {"subsets": 10}}``.
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
            :func:`metrics.datasets.find_split`).

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
    metrics = _metric_names(metrics)
    options = {k: dict(v) for k, v in (options or {}).items()}
    bad = [k for k in options if k not in metrics]
    if bad:
        raise ValueError(f"options given for metrics that are not computed: {bad}")
    fid_opts = options.get("fid", {})
    groups = fid_opts.pop("groups", 10) if "fid" in metrics else 0
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 0:
        raise ValueError(f"options['fid']['groups'] must be an integer >= 0, got {groups!r}")
    _, folder_filter = preprocessing(features, resize)
    extractor = resolve_extractor(features, device=device, resize=resize, check_hash=check_hash,
                                  precision=precision)  # fmt: skip
    if logits is None and isinstance(features, str) and features == "digits":
        logits = digits_logits(device=device)
    if logits is None and isinstance(features, str) and features == "fashion" and "is" in metrics:
        logits = fashion_logits(device=device)
    if logits is None and is_inception(features) and "is" in metrics:
        logits = extractor.logits
    if network_of(features) is not None and channels is None:  # the networks take RGB only
        channels = 3
    named = {k: ":".join(spec) for k, s in (("real", real), ("fake", fake))
             if (spec := parse_spec(s)) is not None and not Path(str(s)).exists()}  # fmt: skip
    real, fake = (named_images(s, data_root=data_root, image_size=image_size, channels=channels)
                  for s in (real, fake))  # fmt: skip
    keep = any(m != "fid" for m in metrics)
    folder_options = {"image_size": image_size, "resize": folder_filter, "channels": channels}
    if num_workers is not None:
        check_positive_int(num_workers + 1, "num_workers + 1")
    common = {
        "spec": features,
        "extractor": extractor,
        "keep_features": keep,
        "want_stats": "fid" in metrics,
        "num_samples": num_samples,
        "batch_size": batch_size,
        "device": device,
        "progress": progress,
        "folder_options": {**folder_options, "num_workers": num_workers},
        "cache": cache,
    }
    counts = [planned_count(s, num_samples) for s in (real, fake)]
    k_eff = min([groups, *(c // 2 for c in counts if c is not None)])
    real_side = collect_side(real, name="real", **{**common, "groups": k_eff})
    prov = provenance(features, extractor)
    if real_side.kind == "stats" and real_side.groups:
        k_eff = min(len(real_side.groups), k_eff) if k_eff else 0
    # only the reference side is cached: generated samples change from run to run
    # the Inception network gives features and logits in one pass over the fake images
    joint = (
        "is" in metrics
        and hasattr(extractor, "features_and_logits")
        and (logits == getattr(extractor, "logits", None))
    )
    fake_side = collect_side(
        fake, name="fake", **{**common, "groups": k_eff, "cache": False}, with_logits=joint
    )
    _check_dims(real_side, fake_side, real)
    ctx = {
        "real": real_side.features,
        "fake": fake_side.features,
        "real_side": real_side,
        "fake_side": fake_side,
        "fake_samples": fake_side.samples,
        "logits": logits,
        "network": (prov or {}).get("network"),
        "batch_size": batch_size,
        "device": device,
        "progress": bool(progress),
    }
    entries: dict[str, Entry] = {}
    for name in metrics:
        entries.update(METRICS[name](ctx, **options.get(name, {})))
    dim = real_side.total.dim if real_side.features is None else real_side.features.shape[1]
    meta = {
        "n_real": real_side.n,
        "n_fake": fake_side.n,
        "feature_dim": int(dim),
        "features": features if isinstance(features, str) else type(features).__name__,
        "options": {
            k: {kk: vv for kk, vv in v.items() if kk not in ("centers",)}
            for k, v in options.items()
        },
        "provenance": {
            "package_version": _version(),
            "extractor": prov,
            "preprocessing": folder_options,
            "real": real_side.summary(),
            "fake": fake_side.summary(),
        },
    }
    for side, spec in named.items():  # e.g. "fashion-mnist:test"
        meta["provenance"][side]["data_set"] = spec
    if "fid" in metrics:
        meta["options"].setdefault("fid", {})["groups"] = ctx.get("fid_groups", 0)
    return Report(entries, meta)


def _version() -> str:
    from divergences import __version__

    return __version__


def _check_dims(real: Any, fake: Any, real_source: Any) -> None:
    dims = [s.features.shape[1] if s.features is not None else s.total.dim for s in (real, fake)]
    if dims[0] != dims[1]:
        if real.kind == "stats":
            what, why = f"the statistics file {real_source} has", (
                "statistics of another network or preprocessing?")  # fmt: skip
        else:
            what, why = "the real features have", (
                "another network, or images of another size or channel count (image_size / "
                "--image-size, or the Inception features, make them agree)?")  # fmt: skip
        raise ValueError(f"{what} dimension {dims[0]} but the fake features have {dims[1]}: {why}")
