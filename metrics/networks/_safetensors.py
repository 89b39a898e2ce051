"""A reader of ``.safetensors`` files: an 8-byte header length, a JSON header, raw buffers.

The format (huggingface/safetensors, "format" section of its README) holds no code: the
header maps each name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` relative to the
end of the header, buffers are little-endian and C-ordered. Reading it here costs fewer lines
than a new run-time dependency; every offset, size and dtype is checked before a byte is used,
and only the requested tensors are read.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["read_safetensors", "safetensors_header"]

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_MAX_HEADER = 100 << 20  # the format's own limit on the JSON header (100 MB)


def safetensors_header(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The checked header of a ``.safetensors`` file: name → ``{dtype, shape, data_offsets}``.

    Raises:
        ValueError: not a safetensors file, or a header whose entries are inconsistent
            (unknown dtype, offsets outside the file, a size that does not match the shape).
    """
    return _header(path)[0]


def _header(path: str | os.PathLike) -> tuple[dict[str, dict[str, Any]], int]:
    """The checked header and the file offset where the data area starts."""
    p = os.fspath(path)
    size = os.path.getsize(p)
    with open(p, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{p} is not a safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > min(_MAX_HEADER, size - 8):
            raise ValueError(f"{p} is not a safetensors file (header length {n} of {size} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError(f"{p} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ValueError(f"{p}: the safetensors header must be a JSON object")
    data = size - 8 - n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        _check_entry(p, name, entry, data)
        out[name] = entry
    return out, 8 + n


def _check_entry(p: str, name: str, entry: Any, data: int) -> None:
    bad = f"{p}: tensor {name!r} has a bad safetensors entry"
    if not isinstance(entry, dict) or entry.get("dtype") not in _DTYPES:
        raise ValueError(
            f"{bad} (dtype {entry.get('dtype') if isinstance(entry, dict) else entry!r})"
        )
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError(f"{bad} (shape {shape!r})")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= data
    ):
        raise ValueError(f"{bad} (data_offsets {offsets!r} outside the {data}-byte data area)")
    itemsize = torch.empty((), dtype=_DTYPES[entry["dtype"]]).element_size()
    if offsets[1] - offsets[0] != math.prod(shape) * itemsize:
        raise ValueError(f"{bad} ({offsets[1] - offsets[0]} bytes for shape {shape})")


def read_safetensors(
    path: str | os.PathLike, keys: Iterable[str] | Callable[[str], bool] | None = None
) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file: all, those named in ``keys``, or those it accepts.

    Example:
        >>> import tempfile, json, struct
        >>> p = os.path.join(tempfile.mkdtemp(), "t.safetensors")
        >>> h = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
        >>> _ = open(p, "wb").write(struct.pack("<Q", len(h)) + h + struct.pack("<2f", 1.5, -2))
        >>> read_safetensors(p)["w"].tolist()
        [1.5, -2.0]
    """
    header, start = _header(path)
    p = os.fspath(path)
    if keys is None:
        wanted = list(header)
    elif callable(keys):
        wanted = [k for k in header if keys(k)]
    else:
        wanted = [k for k in keys if k in header]
    out = {}
    with open(p, "rb") as f:
        for name in wanted:
            entry = header[name]
            begin, end = entry["data_offsets"]
            f.seek(start + begin)
            buf = bytearray(f.read(end - begin))
            dtype = _DTYPES[entry["dtype"]]
            t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
            out[name] = t.reshape(entry["shape"])
    return out
