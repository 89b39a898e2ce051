"""Atomic checkpoints: write to a temporary file in the same folder, then ``os.replace``.

A checkpoint holds the models, optimisers, EMA, step, every RNG state the trainer uses,
the learning-rate schedule's anchor, the configuration and the package version; it is read
back with ``torch.load(weights_only=True)`` (no pickled code is ever executed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from metrics.io.atomic import atomic_open

__all__ = ["check_keys", "load_checkpoint", "load_state", "save_atomic"]


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
    with atomic_open(path, what="checkpoint") as fh:
        torch.save(obj, fh)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; a clear error if it is missing or bad.

    Raises:
        ValueError: the file is missing, truncated, not a checkpoint, or holds objects other
            than tensors and plain containers (those are never unpickled).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # the library's message may suggest unsafe loading: not repeated
        raise ValueError(
            f"checkpoint {str(path)!r} could not be read ({type(exc).__name__}): it is truncated, "
            "not a torch file, or holds objects other than tensors and plain containers"
        ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {str(path)!r} must hold a dict, got {type(obj).__name__}")
    return obj


def check_keys(ck: dict, keys: tuple[str, ...], path: str | Path) -> None:
    """Raise a ValueError naming the entries of ``keys`` that checkpoint ``ck`` lacks."""
    missing = [k for k in keys if k not in ck]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} lacks {', '.join(map(repr, missing))}")


def load_state(target: Any, state: Any, what: str, path: str | Path) -> None:
    """``target.load_state_dict(state)`` with a ValueError naming ``what`` on a mismatch.

    ``target`` is a module, an optimiser or anything with ``load_state_dict`` (the EMA).
    """
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {str(path)!r}: {what} must be a state dict")
    try:
        target.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        detail = detail if len(detail) <= 300 else detail[:297] + "..."  # one readable line
        raise ValueError(
            f"checkpoint {str(path)!r}: {what} does not match the configuration ({detail})"
        ) from None
