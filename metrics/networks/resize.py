"""Image resizing for the FID network: clean-fid's "clean" bicubic and pytorch-fid's bilinear.

``mode="clean"`` is clean-fid's ``make_resizer("PIL", False, "bicubic", (size, size))``
(Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in GAN Evaluation"): each
channel as a float32 PIL image, resized with PIL's antialiased bicubic filter, clipped to
``[0, 255]`` and never re-quantised to uint8. ``mode="bilinear"`` is pytorch-fid's resize
(``torch.nn.functional.interpolate``, bilinear, ``align_corners=False``, no antialiasing).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from metrics._types import from_numpy

__all__ = ["RESIZE_MODES", "resize"]

RESIZE_MODES = ("clean", "bilinear")
_PARALLEL_MIN = 12  # channel images below which a thread pool costs more than it saves


def _pil_channel(channel: np.ndarray, size: int) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32))
    return np.asarray(img.resize((size, size), resample=Image.Resampling.BICUBIC))


def _clean_resize_float(x: torch.Tensor, size: int) -> torch.Tensor:
    """clean-fid's resize of a CPU float32 batch ``(N, 3, H, W)`` on the [0, 255] scale."""
    arr = x.detach().cpu().numpy()
    n = arr.shape[0]
    out = np.empty((n, 3, size, size), dtype=np.float32)
    jobs = [(i, c) for i in range(n) for c in range(3)]

    def one(job: tuple[int, int]) -> None:
        i, c = job
        out[i, c] = _pil_channel(arr[i, c], size)

    if len(jobs) >= _PARALLEL_MIN:  # PIL releases the GIL while it resamples
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(one, jobs))
    else:
        for job in jobs:
            one(job)
    np.clip(out, 0, 255, out=out)
    return torch.from_numpy(out)


def resize(images: Any, size: int, *, mode: str = "clean") -> Any:
    """Resize uint8 images ``(N, 3, H, W)`` to float32 ``(N, 3, size, size)`` on [0, 255].

    ``mode="clean"``: clean-fid's PIL bicubic per channel in float32, clipped to [0, 255], not
    re-quantised (Parmar et al. 2022). ``mode="bilinear"``: pytorch-fid's
    ``F.interpolate(x, size, mode="bilinear", align_corners=False)``.

    Args:
        images: uint8 tensor or NumPy array ``(N, 3, H, W)``.
        size: the output side length (a positive int).
        mode: ``"clean"`` or ``"bilinear"``.

    Returns:
        float32 ``(N, 3, size, size)``: a tensor on the input's device for a tensor, a NumPy
        array for an array.

    Raises:
        TypeError: ``images`` is not uint8, or ``size`` is not an int.
        ValueError: a wrong shape, ``size < 1`` or an unknown mode.

    Example:
        >>> x = torch.full((1, 3, 8, 8), 200, dtype=torch.uint8)
        >>> y = resize(x, 299)
        >>> y.shape, y.dtype, float(y.min()), float(y.max())
        (torch.Size([1, 3, 299, 299]), torch.float32, 200.0, 200.0)
    """
    is_numpy = isinstance(images, np.ndarray)
    if not is_numpy and not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a uint8 tensor or array, got {type(images).__name__}")
    if images.dtype not in (np.uint8, torch.uint8):
        raise TypeError(f"images must be uint8 on [0, 255], got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[1] != 3 or min(images.shape[2:]) < 1:
        raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {RESIZE_MODES}, got {mode!r}")
    x = from_numpy(images) if is_numpy else images
    size = int(size)
    if mode == "clean":
        out = _clean_resize_float(x.cpu().float(), size).to(x.device)
    else:
        out = F.interpolate(x.float(), (size, size), mode="bilinear", align_corners=False)
        out = out.clamp_(0, 255)
    return out.numpy() if is_numpy else out
