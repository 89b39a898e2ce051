"""The DINOv2 and CLIP input pipelines, each as its reference implementation computes it.

DINOv2 (FD_DINOv2) resizes every image to ``size × size`` (no crop, aspect not kept):

- ``"torch"``: EDM2's default (``calculate_metrics.py``, ``DINOv2Detector(resize_mode='torch')``):
  ``F.interpolate(x, (size, size), mode="bicubic", antialias=True)`` on uint8 values as
  float32, not clamped, not re-quantised;
- ``"pil"``: EDM2's ``resize_mode='pil'``, which is dgm-eval's default (layer6ai-labs/dgm-eval,
  ``DINOv2Encoder.transform``: torchvision ``Resize((224, 224), BICUBIC)`` of a PIL image): PIL's
  antialiased bicubic on the uint8 RGB image, re-quantised to uint8;
- ``"clean"``: dgm-eval's ``clean_resize=True`` (its ``pil_resize``, clean-fid's resize): PIL
  bicubic per channel in float32, clipped to ``[0, 255]``, not re-quantised.

then ``(x / 255 − mean) / std`` with ImageNet's mean and std.

CLIP (OpenAI's ``clip.load`` preprocess) resizes the short side to ``size`` with PIL bicubic
(the long side to ``int(size · long / short)``), crops the centre ``size × size`` (torchvision's
offsets ``round((h − size) / 2)``), then ``(x / 255 − mean) / std`` with CLIP's mean and std.
``"cmmd"`` is google-research/cmmd's ``io_util._center_crop_and_resize``: the centre square of
the short side first (offsets ``(h − l) // 2``), then PIL bicubic to ``size × size``. The two
agree on square images. Hugging Face's ``CLIPImageProcessor`` is ``"openai"`` with offsets
``(h − size) // 2``: it differs by one pixel row when ``h − size ≡ 3 (mod 4)``.

Floating images in ``[0, 1]`` are taken as ``255 x`` (``"torch"``, ``"clean"``) or quantised
to ``round(255 x)`` first where the reference reads uint8 images (``"pil"``, ``"openai"``,
``"cmmd"``), as saving them to PNG would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from metrics.networks.resize import _clean_resize_float

__all__ = [
    "CLIP_MEAN",
    "CLIP_MODES",
    "CLIP_STD",
    "DINOV2_MODES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "check_pixels",
    "clip_resize",
    "dinov2_resize",
    "normalize",
]

DINOV2_MODES = ("torch", "pil", "clean")
CLIP_MODES = ("openai", "cmmd")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_PARALLEL_MIN = 4  # images below which a thread pool costs more than it saves


def _uint8(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images
    return (images.float() * 255).round_().clamp_(0, 255).to(torch.uint8)


def _scale255(images: torch.Tensor) -> torch.Tensor:
    return images.float() if images.dtype == torch.uint8 else images.float() * 255


def _per_image(fn: Callable[[Image.Image], Image.Image], images: torch.Tensor) -> torch.Tensor:
    """``fn`` on each image as a PIL RGB image (threads: PIL releases the GIL); float32 out."""
    arr = _uint8(images).permute(0, 2, 3, 1).cpu().numpy()

    def one(a: np.ndarray) -> np.ndarray:
        return np.asarray(fn(Image.fromarray(np.ascontiguousarray(a), "RGB")), dtype=np.uint8)

    if len(arr) >= _PARALLEL_MIN:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            outs = list(pool.map(one, arr))
    else:
        outs = [one(a) for a in arr]
    out = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).float()
    return out.to(images.device)


def _check(images: torch.Tensor, size: int, mode: str, modes: tuple[str, ...]) -> None:
    if mode not in modes:
        raise ValueError(f"resize must be one of {modes}, got {mode!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor (N, 3, H, W), got {shape}")


def dinov2_resize(images: torch.Tensor, size: int = 224, *, mode: str = "torch") -> torch.Tensor:
    """DINOv2's resize of RGB images to float32 ``(N, 3, size, size)`` on the [0, 255] scale.

    Args:
        images: uint8 ``[0, 255]`` or floating ``[0, 1]`` tensor ``(N, 3, H, W)``.
        size: the output side (224 for FD_DINOv2).
        mode: ``"torch"`` (EDM2's default), ``"pil"`` (EDM2's ``'pil'`` = dgm-eval's default)
            or ``"clean"`` (dgm-eval's ``clean_resize``); see the module docstring.

    Example:
        >>> x = torch.full((1, 3, 30, 20), 7, dtype=torch.uint8)
        >>> [float(dinov2_resize(x, 28, mode=m).mean()) for m in DINOV2_MODES]
        [7.0, 7.0, 7.0]
    """
    _check(images, size, mode, DINOV2_MODES)
    if mode == "torch":
        return F.interpolate(_scale255(images), (size, size), mode="bicubic", antialias=True)
    if mode == "pil":
        return _per_image(lambda im: im.resize((size, size), Image.Resampling.BICUBIC), images)
    x = _scale255(images).cpu()
    return _clean_resize_float(x, size).to(images.device)


def _openai(size: int) -> Callable[[Image.Image], Image.Image]:
    def fn(im: Image.Image) -> Image.Image:
        w, h = im.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(size * long / short)
        nw, nh = (size, new_long) if w <= h else (new_long, size)
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.Resampling.BICUBIC)
        top, left = round((nh - size) / 2.0), round((nw - size) / 2.0)
        return im.crop((left, top, left + size, top + size))

    return fn


def _cmmd(size: int) -> Callable[[Image.Image], Image.Image]:
    def fn(im: Image.Image) -> Image.Image:
        w, h = im.size
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        im = im.crop((left, top, left + side, top + side))
        return im.resize((size, size), Image.Resampling.BICUBIC)

    return fn


def clip_resize(images: torch.Tensor, size: int = 336, *, mode: str = "openai") -> torch.Tensor:
    """CLIP's resize and centre crop of RGB images to float32 ``(N, 3, size, size)`` on [0, 255].

    Args:
        images: uint8 ``[0, 255]`` or floating ``[0, 1]`` tensor ``(N, 3, H, W)``.
        size: the network's input side (336 for ViT-L/14@336).
        mode: ``"openai"`` (short side to ``size``, then the centre crop) or ``"cmmd"``
            (centre square crop, then resize); see the module docstring.

    Example:
        >>> x = torch.zeros(1, 3, 40, 60, dtype=torch.uint8)
        >>> clip_resize(x, 28).shape
        torch.Size([1, 3, 28, 28])
    """
    _check(images, size, mode, CLIP_MODES)
    return _per_image(_openai(size) if mode == "openai" else _cmmd(size), images)


def normalize(x255: torch.Tensor, mean: tuple, std: tuple) -> torch.Tensor:
    """``(x / 255 − mean) / std`` per channel, float32 (the references' order of operations)."""
    m = torch.tensor(mean, dtype=torch.float32, device=x255.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x255.device).view(1, -1, 1, 1)
    return (x255.float() / 255 - m) / s


def check_pixels(
    images: Any, shape_ok: Callable[[tuple[int, ...]], bool], shape: str
) -> torch.Tensor:
    """``images`` if it is a uint8 tensor, or floats in ``[0, 1]``, of a shape ``shape_ok`` takes.

    Otherwise a clear error; ``shape`` says in words what is expected.

    Raises:
        TypeError: not a tensor, or neither uint8 nor floating.
        ValueError: a wrong shape, or floating values outside ``[0, 1]``.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"images must be a torch.Tensor (N, 3, H, W), got {type(images).__name__} "
            "(use torch.from_numpy for arrays)"
        )
    if not shape_ok(tuple(images.shape)):
        raise ValueError(f"images must have shape {shape}, got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(
            f"images must be uint8 in [0, 255] or floating in [0, 1], got {images.dtype}"
        )
    if images.numel() and not bool(((images >= 0) & (images <= 1)).all()):
        lo, hi = float(images.min()), float(images.max())
        raise ValueError(
            f"images: floating values must lie in [0, 1] (got min {lo:g}, max {hi:g}); "
            "pass uint8 for [0, 255] images"
        )
    return images
