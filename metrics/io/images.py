"""The one image-folder reader: sorted files read in batches by a DataLoader, never all at once.

Training data (:func:`gan.data.load_data`), :func:`metrics.evaluate` and
:func:`metrics.load_samples` all read folders here, so they agree on the suffixes
(:data:`IMAGE_SUFFIXES`), the pixel scale and what happens to an unreadable file.
:func:`scan_folder` lists a folder's images (recursively, in sorted order) with their counts
per file type and a fingerprint of names, sizes and modification times (the key of the
reference statistics cache). :func:`folder_batches` yields ``(B, C, H, W)`` float batches in
[0, 1]; memory is bounded by ``batch_size`` and the DataLoader's prefetching, not by the folder.

Policy, recorded in :class:`FolderInfo.summary`:

- images whose size differs from the target (``image_size``, default the first image's) are
  resized with ``resize`` (PIL ``bilinear``, ``bicubic``, ``lanczos`` or ``nearest``), not refused;
- grey, palette, RGBA, CMYK, 16-bit and float images are read at their true scale
  (:func:`metrics.io._pixels.read_pixels`), converted
  to the target channels (1 when the first image is grey, else RGB; alpha is dropped) and
  counted by their original mode; a mode without a defined scale is refused by name;
- a corrupt (unreadable) image is **skipped** with a count and a warning; a folder with no
  readable image is an error;
- JPEG inputs (lossy) give a warning: their statistics differ from the PNG originals'.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.io._pixels import (
    UnsupportedImage,
    check_mode,
    default_channels,
    read_pixels,
    stack,
    to_unit,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "RESIZE_MODES",
    "FolderInfo",
    "folder_batches",
    "image_files",
    "read_images",
    "scan_folder",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
LOSSY_SUFFIXES = (".jpg", ".jpeg")
RESIZE_MODES = ("bilinear", "bicubic", "lanczos", "nearest")


@dataclass
class FolderInfo:
    """A scanned folder: its sorted image files, counts per type and fingerprint.

    ``converted``, ``resized`` and ``skipped`` are filled while :func:`folder_batches` reads.
    """

    path: Path
    files: list[Path]
    types: dict[str, int]
    fingerprint: str
    image_size: tuple[int, int] | None = None
    channels: int | None = None
    resize: str = "bilinear"
    converted: dict[str, int] = field(default_factory=dict)
    resized: int = 0
    skipped: list[str] = field(default_factory=list)
    read: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready provenance: counts per type, conversions, resizes and skipped files."""
        return {
            "path": str(self.path),
            "files": len(self.files),
            "images": self.read,
            "types": dict(self.types),
            "image_size": list(self.image_size) if self.image_size else None,
            "channels": self.channels,
            "resize": self.resize,
            "converted": dict(self.converted),
            "resized": self.resized,
            "skipped": len(self.skipped),
            "skipped_files": self.skipped[:20],
            "fingerprint": self.fingerprint,
        }


def image_files(path: str | os.PathLike) -> list[Path]:
    """The image files under ``path`` (recursively, by suffix), sorted by relative path.

    Example:
        >>> import tempfile
        >>> image_files(tempfile.mkdtemp())
        []
    """
    root = Path(path)
    return sorted(
        (p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def scan_folder(path: str | os.PathLike, *, name: str = "folder") -> FolderInfo:
    """List the images under ``path`` (recursively, sorted by relative path) and fingerprint them.

    The fingerprint is the SHA-256 of every file's relative name, size and modification time
    (ns), so a changed, added or removed file changes it; the pixels are not read.

    Raises:
        ValueError: ``path`` is not a folder, or holds no image files.

    Example:
        >>> import tempfile
        >>> scan_folder(tempfile.mkdtemp(), name="real")
        Traceback (most recent call last):
        ...
        ValueError: real: no images (.png, .jpg, .jpeg, .bmp, .gif, .webp, .tif, .tiff, ...) in ...
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"{name}: {str(root)!r} is not a folder")
    files = image_files(root)
    if not files:
        raise ValueError(f"{name}: no images ({', '.join(IMAGE_SUFFIXES)}) in {root}")
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    types = Counter(p.suffix.lower().lstrip(".") for p in files)
    return FolderInfo(root, files, dict(sorted(types.items())), h.hexdigest())


class _Images(torch.utils.data.Dataset):
    """Item ``i``: (pixels ``(H, W, C)``, original mode, resized?, readable?, refusal)."""

    def __init__(self, files: list[Path], size: tuple[int, int], channels: int, resize: str):
        self.files, self.size, self.channels, self.resize = files, size, channels, resize

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Any, str, bool, bool, str]:
        try:
            a, mode, resized = read_pixels(
                self.files[i], channels=self.channels, size=self.size, resize=self.resize
            )
        except UnsupportedImage as exc:  # a refusal, raised by the reading loop (not skipped)
            return self._blank(), "", False, False, str(exc)
        except (OSError, ValueError, SyntaxError):  # PIL's errors for broken images
            return self._blank(), "", False, False, ""
        return a, mode, resized, True, ""

    def _blank(self) -> np.ndarray:
        return np.zeros((*self.size, self.channels), dtype=np.uint8)


def _collate(items: list[tuple[Any, str, bool, bool, str]]) -> tuple:
    pixels, modes, resized, ok, refused = zip(*items)
    return stack(list(pixels)), list(modes), torch.tensor(resized), torch.tensor(ok), refused


def _first_image(info: FolderInfo) -> tuple[tuple[int, int], int]:
    """(height, width) and channels (1 for grey, else 3) of the first readable image."""
    from PIL import Image

    first = None
    for p in info.files:
        try:
            with Image.open(p) as im:
                check_mode(im.mode, p)
                return (im.size[1], im.size[0]), default_channels(im.mode)
        except UnsupportedImage:
            raise
        except (OSError, ValueError, SyntaxError) as exc:
            first = first or f"{p} is not a readable image ({type(exc).__name__})"
    raise ValueError(f"{first}; none of the {len(info.files)} image files in {info.path} is")


def _workers(requested: int | None, n_batches: int, name: str) -> int:
    """DataLoader workers: ``requested``, or up to 4; 0 inside a daemonic process."""
    if multiprocessing.current_process().daemon:  # e.g. a Pool worker: no children allowed
        if requested:
            warnings.warn(
                f"{name}: reading images in this process (num_workers={requested} ignored): "
                "a daemonic process, such as a multiprocessing pool worker, cannot start workers",
                stacklevel=3,
            )
        return 0
    if requested is not None:
        return int(requested)
    if n_batches <= 2:  # worker start-up costs more than it saves on a few batches
        return 0
    return min(4, max(0, (os.cpu_count() or 1) - 1))


def folder_batches(
    info: FolderInfo,
    *,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    resize: str = "bilinear",
    batch_size: int = 256,
    num_workers: int | None = None,
    num_samples: int | None = None,
    progress: bool | None = None,
    name: str = "folder",
) -> Iterator[torch.Tensor]:
    """Yield the folder's images in sorted order as float32 batches ``(B, C, H, W)`` in [0, 1].

    Args:
        info: from :func:`scan_folder`; its ``converted``/``resized``/``skipped``/``read``
            counts are filled as batches are read.
        image_size: side (or ``(height, width)``) every image is brought to (default: the
            first image's size).
        channels: 1 (grey) or 3 (RGB); default 1 when the first image is grey, else 3.
        resize: PIL filter for images of another size: one of :data:`RESIZE_MODES`.
        batch_size: images per batch.
        num_workers: DataLoader worker processes (default: up to 4, none for tiny folders;
            none inside a daemonic process such as a ``multiprocessing.Pool`` worker, which
            may not start children: the images are then read in this process).
        num_samples: read at most this many files (the first in sorted order).
        progress: tqdm bar; default on only when stderr is a terminal.
        name: the argument's name in messages.

    Raises:
        ValueError: a bad ``resize``/``channels``/``image_size``, or no readable image.
    """
    from tqdm.auto import tqdm

    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
    size, ch = _first_image(info)
    if image_size is not None:
        sz = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(sz) != 2 or not all(isinstance(s, int) and s >= 1 for s in sz):
            raise ValueError(f"image_size must be a positive int or (height, width), got {sz!r}")
        size = sz
    info.image_size, info.channels, info.resize = size, channels or ch, resize
    files = info.files[:num_samples] if num_samples is not None else info.files
    data = _Images(files, size, info.channels, resize)
    n_batches = -(-len(files) // batch_size)
    workers = _workers(num_workers, n_batches, name)
    loader = torch.utils.data.DataLoader(
        data, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate
    )
    show = sys.stderr.isatty() if progress is None else bool(progress)
    converted: Counter = Counter(info.converted)
    target = "L" if info.channels == 1 else "RGB"
    start = 0
    for imgs, modes, resized, ok, refused in tqdm(
        loader, total=n_batches, disable=not show, desc=name, unit="batch"
    ):
        for why in refused:
            if why:
                raise UnsupportedImage(f"{name}: {why}")
        for j in (~ok).nonzero().flatten().tolist():
            info.skipped.append(str(files[start + j].relative_to(info.path)))
        converted.update(m for m, good in zip(modes, ok.tolist()) if good and m != target)
        info.converted = dict(sorted(converted.items()))
        info.resized += int(resized.sum())
        start += imgs.shape[0]
        imgs = imgs[ok] if not bool(ok.all()) else imgs
        info.read += imgs.shape[0]
        if imgs.shape[0]:
            yield to_unit(imgs)
    if info.skipped:
        warnings.warn(
            f"{name}: skipped {len(info.skipped)} unreadable image(s) of {len(files)} in "
            f"{info.path} (first: {info.skipped[0]})",
            stacklevel=2,
        )
    if info.read == 0:
        raise ValueError(f"{name}: no readable image in {info.path}")


def warn_lossy(info: FolderInfo, name: str) -> None:
    """Warn when the folder holds JPEG files (lossy: statistics differ from PNG originals)."""
    n = sum(v for k, v in info.types.items() if "." + k in LOSSY_SUFFIXES)
    if n:
        warnings.warn(
            f"{name}: {n} of {len(info.files)} images are JPEG (lossy compression changes "
            "FID and the other metrics; compare PNG with PNG)",
            stacklevel=3,
        )


def read_images(
    path: str | os.PathLike,
    *,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    resize: str = "bilinear",
    batch_size: int = 256,
    num_workers: int | None = None,
    name: str = "folder",
) -> torch.Tensor:
    """Every image of a folder as one float32 tensor ``(N, C, H, W)`` in [0, 1].

    :func:`scan_folder` then :func:`folder_batches`, concatenated: the same files, pixel
    scale, resizing and skipping of unreadable files (with a warning) as a streamed read.

    Raises:
        ValueError: not a folder, no image files, or no readable image.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> d = tempfile.mkdtemp()
        >>> Image.fromarray(np.zeros((4, 6), np.uint8)).save(f"{d}/a.tif")
        >>> tuple(read_images(d, channels=3).shape)
        (1, 3, 4, 6)
    """
    info = scan_folder(path, name=name)
    batches = folder_batches(
        info,
        image_size=image_size,
        channels=channels,
        resize=resize,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=False,
        name=name,
    )
    return torch.cat(list(batches))
