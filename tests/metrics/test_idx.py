"""The IDX reader against an independent writer: types, shapes, gzip, and damaged files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.io.idx import read_idx
from tests.metrics._idx_files import CODES, idx_bytes, write_idx

DTYPES = list(CODES)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_every_type_gzipped_or_not(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        arr = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    else:
        arr = (rng.normal(size=(3, 4, 5)) * 1e30).astype(dtype)
    path = write_idx(tmp_path / "a-idx3", arr, gz=gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=4),
       dtype=st.sampled_from(DTYPES), gz=st.booleans())  # fmt: skip
def test_any_shape_reads_back(tmp_path_factory, shape, dtype, gz):
    arr = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape).astype(dtype)
    path = write_idx(tmp_path_factory.mktemp("h") / "x", arr, gz=gz)
    np.testing.assert_array_equal(read_idx(path), arr)
    assert read_idx(path).shape == tuple(shape)


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    (tmp_path / "plain.gz").write_bytes(idx_bytes(arr))  # a .gz name, not gzipped
    (tmp_path / "zipped").write_bytes(gzip.compress(idx_bytes(arr)))  # gzipped, plain name
    for name in ("plain.gz", "zipped"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), arr)


def _damaged(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    "data, message",
    [
        (GOOD[:3], "truncated: 3 bytes, shorter than an IDX header"),
        (GOOD[:9], "truncated: the header of 3 dimensions is cut short"),
        (GOOD[:-1], r"holds 23 bytes of data, the header announces 24 \(2x3x4 of uint8\)"),
        (GOOD + b"\x00", "corrupt: bytes follow the 2x3x4 uint8 array"),
        (b"\x01" + GOOD[1:], "not an IDX file"),
        (GOOD[:2] + b"\x07" + GOOD[3:], "not an IDX file"),
        (GOOD[:3] + b"\x00" + GOOD[4:], "not an IDX file"),
        # a header announcing 2^32 - 1 items per axis: refused, never allocated
        (bytes([0, 0, 8, 2, 255, 255, 255, 255, 255, 255, 255, 255, 1, 2]), "truncated: holds 2"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_damaged_files_name_the_file_and_the_problem(tmp_path, data, message, gz):
    path = _damaged(tmp_path, "bad-idx", gzip.compress(data) if gz else data)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_and_truncated_gzip_streams(tmp_path):
    big = idx_bytes(np.random.default_rng(0).integers(0, 256, (50, 28, 28)).astype(np.uint8))
    z = gzip.compress(big)
    cut = _damaged(tmp_path, "cut.gz", z[: len(z) // 2])
    with pytest.raises(ValueError, match="gzip stream is corrupt or truncated") as info:
        read_idx(cut)
    assert str(cut) in str(info.value)
    flipped = bytearray(z)
    flipped[len(z) // 2] ^= 0xFF
    with pytest.raises(ValueError, match="corrupt"):
        read_idx(_damaged(tmp_path, "flip.gz", bytes(flipped)))
    crc = bytearray(z)
    crc[-6] ^= 0xFF  # the CRC-32 of the stream's trailer
    with pytest.raises(ValueError, match="gzip stream is corrupt"):
        read_idx(_damaged(tmp_path, "crc.gz", bytes(crc)))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_idx(tmp_path / "nope")
