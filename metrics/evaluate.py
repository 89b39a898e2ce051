"""One evaluation call: load samples, extract features, compute metrics, return a Report.

``evaluate(real, fake, metrics=[...], features=...)`` accepts arrays, tensors, ``.npy`` /
``.npz`` / ``.pt`` files (loaded without pickles), image folders, or a generator callable
``fake(n) -> (n, ...)`` with ``num_samples``. The ``divergences evaluate REAL FAKE`` command
(``gan/cli.py``) calls :func:`cli_evaluate`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from divergences._checks import check_positive_int
from metrics.features import digits_logits, extract, resolve_extractor
from metrics.fid import fid
from metrics.inception_score import inception_score
from metrics.kid import kid
from metrics.modes import mode_coverage
from metrics.prdc import density_coverage, precision_recall
from metrics.two_sample import TWO_SAMPLE, two_sample

__all__ = ["METRICS", "Entry", "Report", "cli_evaluate", "evaluate", "load_samples"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass(frozen=True)
class Entry:
    """One reported number: ``value`` and its uncertainty (``kind`` is ``"std"`` over
    subsets/splits, ``"stderr"``, or ``""`` when there is none)."""

    value: float
    uncertainty: float | None = None
    kind: str = ""

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Report(Mapping):
    """Mapping ``name → Entry`` with a pretty :meth:`table` and :meth:`to_json`.

    Example:
        >>> r = Report({"fid": Entry(1.5), "kid": Entry(0.01, 0.002, "std")}, {"n_real": 10})
        >>> float(r["fid"]), sorted(r)
        (1.5, ['fid', 'kid'])
        >>> print(r.table())
        metric      value   ± uncertainty
        fid        1.5000
        kid        0.0100   ± 0.0020 (std)
    """

    entries: dict[str, Entry]
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Entry:
        return self.entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def table(self) -> str:
        """A fixed-width text table, one metric per line."""
        w = max([len("metric"), *map(len, self.entries)]) + 2
        lines = [f"{'metric':<{w}}{'value':>8}   ± uncertainty"]
        for name, e in self.entries.items():
            unc = f"   ± {e.uncertainty:.4f} ({e.kind})" if e.uncertainty is not None else ""
            lines.append(f"{name:<{w}}{e.value:>8.4f}{unc}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics": {name: {"value", "uncertainty", "kind"}}, "meta": {...}}``."""
        return {
            "metrics": {n: _jsonable(e.__dict__) for n, e in self.entries.items()},
            "meta": _jsonable(self.meta),
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The report as JSON (non-finite numbers as the strings ``"inf"``/``"nan"``); also
        written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else str(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


# --- loading ---------------------------------------------------------------------------------
def load_array(path: str | Path) -> torch.Tensor:
    """One numeric array from ``.npy``/``.npz`` (never pickles) or ``.pt``/``.pth`` (weights only).

    An ``.npz`` holds one array, or one named ``samples``, ``features`` or ``x``; a ``.pt`` a
    tensor, or a dict with one tensor or one named ``samples``. The dtype is kept.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.npy")
        >>> np.save(p, np.zeros((3, 2)))
        >>> tuple(load_array(p).shape)
        (3, 2)
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            keys = [k for k in ("samples", "features", "x") if k in f.files]
            if len(f.files) != 1 and not keys:
                raise ValueError(
                    f"{path}: an .npz must hold exactly one array, or one named 'samples', "
                    f"'features' or 'x'; found {sorted(f.files)}"
                )
            arr = f[keys[0] if keys else f.files[0]]
    elif suffix in (".pt", ".pth"):
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, dict):
            tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
            obj = obj.get("samples", tensors[0] if len(tensors) == 1 else None)
        if not isinstance(obj, torch.Tensor):
            raise ValueError(f"{path}: a .pt file must hold a tensor (or a dict with one)")
        arr = obj.detach().cpu().numpy()
    else:
        raise ValueError(
            f"{path}: unsupported file type {suffix!r} (use .npy, .npz, .pt or a folder)"
        )
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{path} must hold numbers, got dtype {arr.dtype}")
    return torch.from_numpy(np.array(arr, copy=True))


def load_image_folder(
    path: str | Path, *, image_size: int | None = None, rgb: bool = False
) -> torch.Tensor:
    """Every image under ``path`` (recursively, sorted) as floats in [0, 1], ``(N, C, H, W)``.

    Grey images stay one channel unless ``rgb=True``; ``image_size`` resizes each image to a
    square of that side (bilinear); otherwise all images must share one size.
    """
    from PIL import Image

    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{path}: no images ({', '.join(_IMAGE_SUFFIXES)}) in this folder")
    arrays = []
    for p in files:
        with Image.open(p) as im:
            im = im.convert("RGB") if rgb or im.mode not in ("L", "RGB") else im
            if image_size:
                im = im.resize((image_size, image_size), Image.BILINEAR)
            a = np.asarray(im)
        arrays.append(a[:, :, None] if a.ndim == 2 else a)
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(
            f"{path}: images have different sizes {sorted(shapes)[:3]}; set an image size"
        )
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def load_samples(
    source: Any, *, num_samples: int | None = None, batch_size: int = 256, name: str = "samples"
) -> torch.Tensor:
    """Samples as a tensor ``(N, ...)`` from an array, tensor, file, image folder (float in
    ``[0, 1]``, ``(N, C, H, W)``) or a generator callable ``source(n)`` (needs ``num_samples``).

    Example:
        >>> load_samples(lambda n: torch.zeros(n, 2), num_samples=5).shape
        torch.Size([5, 2])
    """
    if isinstance(source, torch.Tensor):
        out = source
    elif isinstance(source, np.ndarray):
        out = torch.from_numpy(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{name}: no such file or folder: {path}")
        out = load_image_folder(path) if path.is_dir() else load_array(path)
    elif callable(source):
        if num_samples is None:
            raise ValueError(f"{name} is a generator callable: pass num_samples")
        n = check_positive_int(num_samples, "num_samples")
        parts, done = [], 0
        with torch.no_grad():
            while done < n:
                b = torch.as_tensor(source(min(batch_size, n - done)))
                parts.append(b.detach())
                done += b.shape[0]
        out = torch.cat(parts)[:n]
    else:
        out = torch.as_tensor(np.asarray(source))
    if out.ndim == 0 or out.shape[0] == 0:
        raise ValueError(f"{name} is empty or has no sample axis (shape {tuple(out.shape)})")
    if num_samples is not None and out.shape[0] > num_samples:
        out = out[:num_samples]
    return out


# --- metrics registry ---------------------------------------------------------------------------
def _score(s: Any) -> Entry:
    return Entry(float(s.mean), float(s.std), "std")


def _estimate(e: Any) -> Entry:
    return Entry(float(e.value), float(e.stderr), "stderr")


def _fid(ctx: dict, **o: Any) -> dict[str, Entry]:
    return {"fid": Entry(float(fid(ctx["real"], ctx["fake"], **o)))}


def _kid(ctx: dict, **o: Any) -> dict[str, Entry]:
    o.setdefault("subset_size", min(1000, ctx["real"].shape[0], ctx["fake"].shape[0]))
    return {"kid": _score(kid(ctx["real"], ctx["fake"], **o))}


def _pr(ctx: dict, **o: Any) -> dict[str, Entry]:
    p, r = precision_recall(ctx["real"], ctx["fake"], **o)
    return {"precision": Entry(p), "recall": Entry(r)}


def _dc(ctx: dict, **o: Any) -> dict[str, Entry]:
    d, c = density_coverage(ctx["real"], ctx["fake"], **o)
    return {"density": Entry(d), "coverage": Entry(c)}


def _is(ctx: dict, **o: Any) -> dict[str, Entry]:
    if ctx["logits"] is None:
        raise ValueError("metric 'is' needs a classifier: pass logits=... (or features='digits')")
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
    r = mode_coverage(ctx["fake_samples"].reshape(ctx["fake_samples"].shape[0], -1), **o)
    return {
        "modes": Entry(float(r.modes)),
        "high_quality": Entry(r.high_quality),
        "reverse_kl": Entry(r.reverse_kl),
    }


def _two_sample_entry(name: str) -> Callable[..., dict[str, Entry]]:
    def run(ctx: dict, **o: Any) -> dict[str, Entry]:
        v = two_sample(name, ctx["real"], ctx["fake"], **o)
        return {name: _estimate(v) if hasattr(v, "stderr") else Entry(float(v))}

    return run


METRICS: dict[str, Callable[..., dict[str, Entry]]] = {
    "fid": _fid,
    "kid": _kid,
    "precision_recall": _pr,
    "density_coverage": _dc,
    "is": _is,
    "mode_coverage": _modes,
    **{n: _two_sample_entry(n) for n in TWO_SAMPLE},
}
"""Names accepted by :func:`evaluate` (``metrics=``)."""

DEFAULT_METRICS = ("fid", "kid", "precision_recall", "density_coverage")


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
    progress: bool = False,
) -> Report:
    """Evaluate generated samples against real ones with several metrics in one call.

    Args:
        real: real samples (array, tensor, ``.npy``/``.npz``/``.pt`` path, image folder).
        fake: generated samples (same kinds), or a callable ``fake(n)`` with ``num_samples``.
        metrics: names from :data:`METRICS`: ``fid``, ``kid``, ``precision_recall``,
            ``density_coverage``, ``is``, ``mode_coverage`` and the core's two-sample
            divergences ``js``, ``c2st``, ``knn_kl``, ``chamfer``, ``mmd2``,
            ``sliced_wasserstein``.
        features: extractor: ``"identity"``, ``"digits"``, a TorchScript path or a callable.
        logits: classifier for ``is`` (default: the digits classifier when
            ``features="digits"``).
        num_samples: use (or draw) at most this many samples of each set.
        batch_size: batch size of feature extraction and of generator calls.
        device: where extractors run (default: CUDA when present).
        options: per-metric keyword options, e.g. ``{"kid": {"subsets": 10}}``.
        progress: show progress bars during feature extraction.

    Returns:
        A :class:`Report` (``meta`` records sizes, feature dimension and options).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> r = evaluate(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)),
        ...              metrics=["fid", "precision_recall"])
        >>> sorted(r), r["fid"].value < 0.1
        (['fid', 'precision', 'recall'], True)
    """
    unknown = [m for m in metrics if m not in METRICS]
    if isinstance(metrics, str) or unknown:
        raise ValueError(f"unknown metrics {unknown or metrics!r}; choose from {sorted(METRICS)}")
    options = dict(options or {})
    bad = [k for k in options if k not in metrics]
    if bad:
        raise ValueError(f"options given for metrics that are not computed: {bad}")
    real_s = load_samples(real, num_samples=num_samples, batch_size=batch_size, name="real")
    fake_s = load_samples(fake, num_samples=num_samples, batch_size=batch_size, name="fake")
    extractor = resolve_extractor(features, device=device)
    if logits is None and isinstance(features, str) and features == "digits":
        logits = digits_logits(device=device)
    kw = {"batch_size": batch_size, "device": device, "progress": progress}
    ctx = {
        "real": extract(extractor, real_s, **kw).double(),
        "fake": extract(extractor, fake_s, **kw).double(),
        "fake_samples": fake_s,
        "logits": logits,
        **kw,
    }
    entries: dict[str, Entry] = {}
    for name in metrics:
        entries.update(METRICS[name](ctx, **dict(options.get(name, {}))))
    meta = {
        "n_real": int(real_s.shape[0]),
        "n_fake": int(fake_s.shape[0]),
        "feature_dim": int(ctx["real"].shape[1]),
        "features": features if isinstance(features, str) else type(features).__name__,
        "options": {
            k: {kk: vv for kk, vv in v.items() if kk not in ("centers",)}
            for k, v in options.items()
        },
    }
    return Report(entries, meta)


def cli_evaluate(argv: Sequence[str] | None = None) -> int:
    """``divergences evaluate REAL FAKE [--metrics a,b] [--features F] [--json out.json]``.

    Prints the report table (and writes JSON if asked); returns the exit status.
    """
    ap = argparse.ArgumentParser(
        prog="divergences evaluate", description="Evaluate generated samples against real ones."
    )
    ap.add_argument("real", help="real samples: .npy/.npz/.pt file or image folder")
    ap.add_argument("fake", help="generated samples: .npy/.npz/.pt file or image folder")
    ap.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        help=f"comma-separated, from: {', '.join(METRICS)}",
    )
    ap.add_argument(
        "--features", default="identity", help="identity, digits, or a TorchScript file path"
    )
    ap.add_argument("--num-samples", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", default=None, help="also write the report to this JSON file")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    report = evaluate(
        args.real,
        args.fake,
        metrics=names,
        features=args.features,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        device=args.device,
        progress=args.progress,
    )
    print(report.table())
    if args.json:
        report.to_json(args.json)
    return 0
