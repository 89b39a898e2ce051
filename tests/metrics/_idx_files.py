"""An IDX writer independent of metrics.io.idx (struct + gzip), and tiny MNIST-like file sets."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
         np.float64: 0x0E}  # fmt: skip


def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX bytes of ``arr``: magic 00 00 type ndim, big-endian uint32 sizes, big-endian data."""
    code = CODES[arr.dtype.type]
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes(order="C")


def write_idx(path: Path, arr: np.ndarray, *, gz: bool) -> Path:
    data = idx_bytes(arr)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def images_for(labels: np.ndarray, size: int = 28, seed: int = 0) -> np.ndarray:
    """uint8 images (N, size, size): class k a bright horizontal bar at row 2 + 2k, plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=(len(labels), size, size)).astype(np.uint8)
    for i, k in enumerate(labels):
        r = (2 + 2 * int(k)) % size
        x[i, r : r + 2, 4 : size - 4] = 230
    return x


def write_split_files(folder: Path, *, n_train=40, n_test=20, size=28, gz=True, n_classes=10,
                      bad_label=None) -> Path:  # fmt: skip
    """The four files of a tiny MNIST-like set in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        y = (np.arange(n) % n_classes).astype(np.uint8)
        if bad_label is not None:
            y[-1] = bad_label
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images_for(y, size, seed), gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", y, gz=gz)
    return folder
