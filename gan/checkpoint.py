"""Atomic checkpoints: write to a temporary file in the same folder, then ``os.replace``.

A checkpoint holds the models, optimisers, EMA, step, every RNG state the trainer uses,
the configuration and the package version; it is read back with
``torch.load(weights_only=True)`` (no pickled code is ever executed).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["load_checkpoint", "save_atomic"]


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically: a reader sees the old file or the new one.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "c.pt")
        >>> save_atomic({"step": 3}, p)
        >>> load_checkpoint(p)["step"]
        3
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; a clear error if it is missing or bad."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} could not be read: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {path} must hold a dict, got {type(obj).__name__}")
    return obj
