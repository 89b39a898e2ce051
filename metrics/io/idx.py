"""The IDX file format of MNIST and Fashion-MNIST: a reader that checks every field.

An IDX file is a 4-byte magic number ``0x00 0x00 T D`` (T the element type, D the number of
dimensions), then D sizes as big-endian uint32, then the elements in row-major order,
big-endian (LeCun et al., "The MNIST database", the file-format section). The files are
usually gzipped; :func:`read_idx` recognises gzip by its own magic bytes, not by the name.

Type codes: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32,
``0x0E`` float64.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDX_TYPES", "read_idx"]

#: IDX type code → NumPy dtype (big-endian, as stored).
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22


def _read_prefix(path: Path, n: int) -> bytes:
    """At most ``n`` bytes of the file's content (decompressed when gzipped), read in chunks.

    Chunks keep a corrupt header that announces terabytes from allocating them.
    """
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == _GZIP_MAGIC
    parts, got = [], 0
    try:
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
            while got < n and (chunk := fh.read(min(_CHUNK, n - got))):
                parts.append(chunk)
                got += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:  # bad CRC, truncated stream, bad header
        if not gzipped:
            raise
        raise ValueError(
            f"{path}: the gzip stream is corrupt or truncated ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())}); fetch the file again"
        ) from None
    return b"".join(parts)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), in native byte order.

    Args:
        path: the file.

    Returns:
        An array of the stored shape ``(d_1, …, d_D)`` and type (uint8 for the images and
        labels of MNIST and Fashion-MNIST).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a bad magic number or type code, a header or data shorter than announced
            (truncated), bytes after the data, or a corrupt gzip stream; the message names
            the file.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "x-idx2-ubyte"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]))
        >>> read_idx(p).tolist()
        [[1, 2, 3], [4, 5, 6]]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist")
    head = _read_prefix(path, 4)
    if len(head) < 4:
        raise ValueError(f"{path}: truncated: {len(head)} bytes, shorter than an IDX header")
    if head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES or head[3] == 0:
        raise ValueError(
            f"{path}: not an IDX file (magic number {head.hex()}; expected 0000TTDD with type "
            f"TT in {', '.join(f'{t:02x}' for t in IDX_TYPES)} and DD >= 1 dimensions)"
        )
    dtype, ndim = IDX_TYPES[head[2]], head[3]
    header = 4 + 4 * ndim
    dims_raw = _read_prefix(path, header)
    if len(dims_raw) < header:
        raise ValueError(f"{path}: truncated: the header of {ndim} dimensions is cut short")
    dims = tuple(int(v) for v in np.frombuffer(dims_raw[4:], dtype=">u4"))
    expected = header + math.prod(dims) * dtype.itemsize
    raw = _read_prefix(path, expected + 1)  # one byte more tells trailing bytes apart
    if len(raw) < expected:
        raise ValueError(
            f"{path}: truncated: holds {len(raw) - header} bytes of data, the header "
            f"announces {expected - header} ({'x'.join(map(str, dims))} of {dtype.name})"
        )
    if len(raw) > expected:
        raise ValueError(
            f"{path}: corrupt: bytes follow the {'x'.join(map(str, dims))} {dtype.name} "
            "array the header announces"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))
