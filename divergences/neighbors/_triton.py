"""GPU kernels written in Triton; imported lazily, only on CUDA paths (never on CPU-only ones)."""

from __future__ import annotations

import functools
import importlib.util

import torch


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """True when CUDA is present and the ``triton`` package can be found (not imported)."""
    return torch.cuda.is_available() and importlib.util.find_spec("triton") is not None
