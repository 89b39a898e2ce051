"""One image file -> pixels at their true scale, for the image reader :mod:`metrics.io.images`.

:func:`read_pixels` decides every PIL mode:

- 8-bit modes (``1``, ``L``, ``LA``, ``La``, ``P``, ``PA``, ``RGB``, ``RGBA``, ``RGBa``,
  ``RGBX``, ``CMYK``, ``YCbCr``) are converted by PIL to ``L`` or ``RGB`` (alpha dropped;
  a palette with transparency goes through ``RGBA``) and kept as uint8, value / 255;
- 16-bit grey (``I;16``, ``I;16L``, ``I;16B``, ``I;16N``, and ``I`` as PIL opens 16-bit PNG,
  PGM and TIFF files) is value / 65535, resized in float32 (mode ``F``);
- 32-bit float grey (``F``) is taken as is and must lie in [0, 1];
- anything else (``LAB``, ``HSV``, 32-bit integer TIFFs, ``I`` values beyond 16 bits, ``F``
  values outside [0, 1]) raises :class:`UnsupportedImage`, which names the file and the mode.

Grey pixels become RGB by repeating the grey value (as PIL's ``L`` to ``RGB``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

__all__ = ["SUPPORTED_MODES", "UnsupportedImage", "default_channels", "read_pixels", "stack"]

GREY_8 = ("1", "L", "LA", "La")
COLOUR_8 = ("P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr")
GREY_16 = ("I;16", "I;16L", "I;16B", "I;16N", "I")
SUPPORTED_MODES = (*GREY_8, *COLOUR_8, *GREY_16, "F")


class UnsupportedImage(ValueError):
    """An image whose PIL mode has no defined scale to [0, 1] here (not a broken file)."""


def default_channels(mode: str) -> int:
    """1 for a grey mode, 3 otherwise."""
    return 1 if mode in GREY_8 or mode in GREY_16 or mode == "F" else 3


def check_mode(mode: str, path: str | os.PathLike) -> None:
    """Raise :class:`UnsupportedImage` for a mode :func:`read_pixels` does not read."""
    if mode not in SUPPORTED_MODES:
        raise UnsupportedImage(
            f"{os.fspath(path)}: image mode {mode!r} is not supported (no defined scale to "
            f"[0, 1]); supported modes: {', '.join(SUPPORTED_MODES)}"
        )


def _filter(name: str) -> Any:
    from PIL import Image

    return {
        "bilinear": Image.BILINEAR,
        "bicubic": Image.BICUBIC,
        "lanczos": Image.LANCZOS,
        "nearest": Image.NEAREST,
    }[name]


def _deep_grey(im: Any, path: str | os.PathLike) -> np.ndarray:
    """float32 ``(H, W)`` in [0, 1] of a 16-bit or float grey image."""
    a = np.asarray(im)
    mode = im.mode
    if mode == "F":
        a = a.astype(np.float32, copy=False)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if not (0.0 <= lo and hi <= 1.0):  # also catches NaN (comparisons are False)
            raise UnsupportedImage(
                f"{os.fspath(path)}: a float image (mode 'F') must hold values in [0, 1], "
                f"this one holds [{lo:g}, {hi:g}]"
            )
        return a
    bits = getattr(im, "tag_v2", {}).get(258) if getattr(im, "format", "") == "TIFF" else None
    if bits is not None and max(bits) > 16:
        raise UnsupportedImage(
            f"{os.fspath(path)}: a {max(bits)}-bit integer grey image (mode {mode!r}) has no "
            "defined scale to [0, 1]; save it as 16-bit or as float ('F') in [0, 1]"
        )
    if a.size and (int(a.min()) < 0 or int(a.max()) > 65535):
        raise UnsupportedImage(
            f"{os.fspath(path)}: integer grey image (mode {mode!r}) with values in "
            f"[{int(a.min())}, {int(a.max())}], beyond 16 bits: no defined scale to [0, 1]"
        )
    return a.astype(np.float32) / np.float32(65535.0)


def read_pixels(
    path: str | os.PathLike,
    *,
    channels: int | None = None,
    size: tuple[int, int] | None = None,
    resize: str = "bilinear",
) -> tuple[np.ndarray, str, bool]:
    """The pixels of one image file at their true scale (see the module docstring).

    Args:
        path: image file.
        channels: 1 (grey) or 3 (RGB); None keeps the image's own (:func:`default_channels`).
        size: ``(height, width)`` to resize to with PIL's ``resize`` filter; None keeps it.
        resize: ``bilinear``, ``bicubic``, ``lanczos`` or ``nearest``.

    Returns:
        ``(pixels, mode, resized)``: pixels ``(H, W, C)``, uint8 (value / 255) for 8-bit
        modes, float32 in [0, 1] for deeper ones; the file's PIL mode; whether it was resized.

    Raises:
        UnsupportedImage: a mode without a defined scale (a ``ValueError``).
        OSError, ValueError, SyntaxError: PIL's errors for a broken file.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> p = tempfile.mkdtemp() + "/a.png"
        >>> Image.fromarray(np.full((2, 2), 65535, np.uint16)).save(p)
        >>> a, mode, _ = read_pixels(p)
        >>> mode, a.dtype.name, a.shape, float(a.max())
        ('I;16', 'float32', (2, 2, 1), 1.0)
    """
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
        check_mode(mode, path)
        ch = channels or default_channels(mode)
        wh = (size[1], size[0]) if size is not None else im.size
        resized = wh != im.size
        if mode in GREY_16 or mode == "F":
            grey = Image.fromarray(_deep_grey(im, path))  # float32: mode F
            if resized:
                grey = grey.resize(wh, _filter(resize))
            a = np.array(grey, dtype=np.float32)[:, :, None]
            return (np.repeat(a, 3, axis=2) if ch == 3 else a), mode, resized
        if mode in ("P", "PA") and (mode == "PA" or "transparency" in im.info):
            im = im.convert("RGBA")  # PIL's advice for palettes with transparency
        if ch == 3 and im.mode != "RGB":
            im = im.convert("RGB")
        elif ch == 1 and im.mode != "L":
            im = (im if im.mode in (*GREY_8, "RGB") else im.convert("RGB")).convert("L")
        if resized:
            im = im.resize(wh, _filter(resize))
        a = np.array(im, dtype=np.uint8)  # writable: torch shares it
    return (a[:, :, None] if a.ndim == 2 else a), mode, resized


def stack(images: list[Any]) -> torch.Tensor:
    """Images ``(H, W, C)`` (from :func:`read_pixels`) as one batch ``(B, C, H, W)``.

    uint8 when every image is 8-bit (a quarter of the memory), else float32 in [0, 1];
    :func:`to_unit` turns either into float32 in [0, 1].
    """
    ts = [torch.as_tensor(a) for a in images]
    if any(t.dtype != torch.uint8 for t in ts):
        ts = [to_unit(t) for t in ts]
    return torch.stack([t.permute(2, 0, 1) for t in ts])  # one copy, contiguous (B, C, H, W)


def to_unit(t: torch.Tensor) -> torch.Tensor:
    """float32 in [0, 1] from uint8 (value / 255) or float32 pixels (as they are)."""
    return t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
