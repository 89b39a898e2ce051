"""Every PIL mode the image readers accept is read at its true scale, by both readers alike.

Each image is written by PIL from a known NumPy array at that bit depth; the expectation is
computed from the array (value / 255, value / 65535, the float itself, the palette's colour,
the standard CMYK and ITU-R 601 luma formulas), independently of the readers.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from metrics.io import read_images
from metrics.io._pixels import UnsupportedImage
from metrics.io.images import folder_batches, scan_folder

H, W = 6, 5


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma (PIL's RGB to L), on the [0, 1] scale."""
    return rgb @ np.array([0.299, 0.587, 0.114])


def _image(mode: str, rng: np.random.Generator) -> tuple[Image.Image, str, np.ndarray]:
    """(image, file suffix, expected (H, W, C) in [0, 1] at the image's own channels)."""
    u8 = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    if mode in ("L", "RGB", "RGBA"):
        c = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        a = u8[:, :, :c] if c > 1 else u8[:, :, 0]
        return Image.fromarray(a, mode), ".png", (u8[:, :, : min(c, 3)] / 255.0)
    if mode == "LA":
        return Image.fromarray(u8[:, :, :2], "LA"), ".png", u8[:, :, :1] / 255.0
    if mode == "1":
        bits = u8[:, :, 0] > 127
        return Image.fromarray(bits), ".png", bits[:, :, None].astype(float)
    if mode in ("P", "P+transparency"):
        palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
        idx = rng.integers(0, 256, (H, W), dtype=np.uint8)
        im = Image.fromarray(idx, "P")
        im.putpalette(palette.ravel().tolist())
        if mode != "P":
            im.info["transparency"] = int(idx[0, 0])  # alpha is dropped: colours stay
        return im, ".png", palette[idx] / 255.0
    if mode == "CMYK":
        cmyk = u8 / 255.0
        rgb = (1 - cmyk[:, :, :3]) * (1 - cmyk[:, :, 3:])  # the naive (uncalibrated) formula
        return Image.fromarray(u8, "CMYK"), ".tif", rgb
    if mode in ("I;16", "I;16B", "I"):
        v = rng.integers(0, 65536, (H, W))
        v[0, 0], v[0, 1] = 0, 65535  # both ends of the scale
        if mode == "I":  # PIL writes 'I' as a 16-bit PGM (maxval 65535) and reads it as 'I'
            return Image.fromarray(v.astype(np.int32), "I"), ".pgm", v[:, :, None] / 65535
        dt, suffix = ("<u2", ".png") if mode == "I;16" else (">u2", ".tif")
        return Image.fromarray(v.astype(dt)), suffix, v[:, :, None] / 65535
    if mode == "F":
        f = rng.random((H, W)).astype(np.float32)
        f[0, 0], f[0, 1] = 0.0, 1.0
        return Image.fromarray(f, "F"), ".tif", f[:, :, None].astype(float)
    raise AssertionError(mode)


MODES = ["1", "L", "LA", "RGB", "RGBA", "P", "P+transparency", "CMYK", "I;16", "I;16B", "I", "F"]


def _both_readers(folder, channels):
    """(read_images, folder_batches) of a one-image folder, as (H, W, C) arrays."""
    mem = read_images(folder, channels=channels, num_workers=0)
    streamed = next(folder_batches(scan_folder(folder), channels=channels, num_workers=0))
    return mem[0].permute(1, 2, 0).double().numpy(), streamed[0].permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_reads_at_its_true_scale_in_both_readers(tmp_path, mode):
    """Own channels, grey <-> RGB (repeat / ITU-R 601 luma), and a resize of a constant
    image (which must keep the constant): all at the true scale, in both readers.

    Tolerance: 8-bit results are exact to 1/255 (PIL rounds conversions to uint8, and the
    CMYK formula to the nearest level); 16-bit and float ones to float32 rounding.
    """
    im, suffix, want = _image(mode, np.random.default_rng(len(mode) * 7 + ord(mode[0])))
    saved_mode = im.mode
    im.save(tmp_path / f"a{suffix}")
    with Image.open(tmp_path / f"a{suffix}") as back:
        if mode not in ("I;16B",):  # TIFF keeps the byte order, PNG makes it 'I;16'
            assert back.mode == saved_mode, (back.mode, saved_mode)
    deep = mode in ("I;16", "I;16B", "I", "F")
    tol = 1e-6 if deep else 1.0 / 255 + 1e-9
    grey = want.shape[2] == 1
    for channels in (1, 3):
        if grey:
            expect = want if channels == 1 else np.repeat(want, 3, axis=2)
        else:
            expect = _luma(want)[:, :, None] if channels == 1 else want
        mem, streamed = _both_readers(tmp_path, channels)
        if channels == 3 or grey:
            np.testing.assert_allclose(mem, expect, rtol=0, atol=tol)
        np.testing.assert_allclose(streamed, expect, rtol=0, atol=tol)
        if channels == 3 or grey:
            np.testing.assert_array_equal(mem, streamed)  # one function reads for both
    # a constant image keeps its value through any resize filter
    const = tmp_path / "const"
    const.mkdir()
    value = want[:1, :1]  # pixel (0, 0) everywhere (keeps the mode, palette and info)
    im.crop((0, 0, 1, 1)).resize((W, H), Image.NEAREST).save(const / f"c{suffix}")
    for resize in ("bilinear", "bicubic", "lanczos", "nearest"):
        out = next(
            folder_batches(scan_folder(const), image_size=(11, 3), resize=resize, num_workers=0)
        )
        np.testing.assert_allclose(
            out[0].permute(1, 2, 0).double().numpy(),
            np.broadcast_to(value, (11, 3, value.shape[2])),
            rtol=0,
            atol=tol,
        )
    mem = read_images(const, image_size=4, num_workers=0)
    np.testing.assert_allclose(
        mem[0].permute(1, 2, 0).double().numpy(), np.broadcast_to(value, (4, 4, value.shape[2])),
        rtol=0, atol=tol,
    )  # fmt: skip


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Image.fromarray(np.full((H, W), 70000, np.int32), "I"), "32-bit integer grey"),
        (lambda: Image.fromarray(np.full((H, W), 2.5, np.float32), "F"), r"holds \[2.5, 2.5\]"),
        (lambda: Image.new("LAB", (W, H)), "mode 'LAB' is not supported"),
    ],
)
def test_modes_without_a_scale_are_refused_by_name_in_both_readers(tmp_path, make, match):
    make().save(tmp_path / "x.tif")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "a.png")  # first: readable
    for read in (
        lambda: read_images(tmp_path, num_workers=0),
        lambda: list(folder_batches(scan_folder(tmp_path), num_workers=0)),
        lambda: list(folder_batches(scan_folder(tmp_path), num_workers=1, batch_size=1)),
    ):
        with pytest.raises(UnsupportedImage, match=match) as err:
            read()
        assert "x.tif" in str(err.value) and "Traceback" not in str(err.value)
