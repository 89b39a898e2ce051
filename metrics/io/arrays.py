"""Numeric arrays and samples from arrays, tensors, files, image folders and generators.

``.npy``/``.npz`` (never pickles) and ``.pt`` (weights only) files, image folders (read by
the one streaming reader, :func:`metrics.io.images.read_images`) and generator callables,
with errors that name the argument and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from divergences._validation import check_positive_int
from metrics._types import from_numpy
from metrics.io.images import image_files, read_images

__all__ = ["is_stats_file", "load_array", "load_samples", "planned_count"]


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
    if suffix not in (".npy", ".npz", ".pt", ".pth"):
        raise ValueError(
            f"{path}: unsupported file type {suffix!r} (use .npy, .npz, .pt or a folder)"
        )
    try:
        arr = _read_array(path, suffix)
    except ValueError as exc:
        if "pickle" in str(exc):  # numpy's message would suggest unsafe loading
            raise ValueError(_OBJECTS.format(path=path)) from None
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path} could not be read as a {suffix} array ({exc})") from None
    except Exception as exc:  # truncated or foreign files: zipfile, pickle and torch errors
        raise ValueError(
            f"{path} could not be read as a {suffix} array ({type(exc).__name__}): it is "
            "truncated, not such a file, or holds objects other than numeric arrays"
        ) from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{path} must hold numbers, got dtype {arr.dtype}")
    return torch.from_numpy(np.array(arr, copy=True))


_OBJECTS = (
    "{path} holds Python objects, not a numeric array; such files are never loaded "
    "(code could run): save a numeric array instead"
)


def _read_array(path: Path, suffix: str) -> np.ndarray:
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            keys = [k for k in ("samples", "features", "x") if k in f.files]
            if len(f.files) != 1 and not keys:
                raise ValueError(
                    f"{path}: an .npz must hold exactly one array, or one named 'samples', "
                    f"'features' or 'x'; found {sorted(f.files)}"
                )
            return f[keys[0] if keys else f.files[0]]
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
        obj = obj.get("samples", tensors[0] if len(tensors) == 1 else None)
    if not isinstance(obj, torch.Tensor):
        raise ValueError(f"{path}: a .pt file must hold a tensor (or a dict with one)")
    return obj.detach().cpu().numpy()


def _from_sequence(source: Any, name: str) -> torch.Tensor:
    if not isinstance(source, (list, tuple)):
        raise TypeError(
            f"{name} must be an array, a tensor, a list of rows, a file or folder path, or a "
            f"generator callable; got {type(source).__name__}"
        )
    try:
        arr = np.asarray(source)
    except ValueError:  # numpy refuses ragged nesting
        arr = np.asarray(source, dtype=object)
    if arr.dtype == object:
        raise ValueError(
            f"{name} is a ragged list (rows of different lengths, or mixed items): every "
            "sample must have the same shape"
        )
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return torch.from_numpy(arr)


def load_samples(
    source: Any, *, num_samples: int | None = None, batch_size: int = 256, name: str = "samples"
) -> torch.Tensor:
    """Samples as a tensor ``(N, ...)`` from any supported source.

    Samples as a tensor ``(N, ...)`` from an array, tensor, file, image folder (float in
    ``[0, 1]``, ``(N, C, H, W)``) or a generator callable ``source(n)`` (needs ``num_samples``).

    Example:
        >>> load_samples(lambda n: torch.zeros(n, 2), num_samples=5).shape
        torch.Size([5, 2])
    """
    if isinstance(source, torch.Tensor):
        out = source
    elif isinstance(source, np.ndarray):
        out = from_numpy(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ValueError(f"{name}: no such file or folder: {path}")
        out = read_images(path, name=name) if path.is_dir() else load_array(path)
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
        out = _from_sequence(source, name)
    if out.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {out.dtype}")
    if out.ndim == 0 or out.shape[0] == 0:
        raise ValueError(f"{name} is empty or has no sample axis (shape {tuple(out.shape)})")
    if num_samples is not None and out.shape[0] > num_samples:
        out = out[:num_samples]
    return out


def is_stats_file(source: Any) -> bool:
    """True for a path to an ``.npz`` holding ``mu`` or ``sigma`` (reference statistics).

    One of the two is enough: :func:`metrics.io.cache.load_stats_file` then names the missing one.
    """
    if not isinstance(source, (str, os.PathLike)):
        return False
    p = Path(source)
    if p.suffix.lower() != ".npz" or not p.is_file():
        return False
    try:
        with open(p, "rb") as fh, np.load(fh, allow_pickle=False) as f:  # fh: never leaked
            return "mu" in f.files or "sigma" in f.files
    except Exception:  # truncated or foreign files: load_array reports them
        return False


def planned_count(source: Any, num_samples: int | None) -> int | None:
    """How many samples a source will give, when known without reading pixels."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        n = len(image_files(source))
        return n if num_samples is None else min(n, num_samples)
    return None
