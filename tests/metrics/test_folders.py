"""Streaming image folders: order, conversions, resizing, skipped files, bounded batches."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import metrics
from metrics._options import EvaluationOptions
from metrics._sides import Need, Reader, read_side
from metrics.io import read_images
from metrics.io.images import folder_batches, scan_folder


def _folder(path, n=24, size=8, seed=0, mode="RGB"):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size, size, 3) if mode == "RGB" else (size, size)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
            path / f"{i:03d}.png"
        )
    return path


class Counting:
    """An extractor that records the batch sizes it is given."""

    def __init__(self):
        self.provenance = {"network": "counting-identity", "sha256": "0" * 64}
        self.batches = []

    def __call__(self, x):
        self.batches.append(x.shape[0])
        return x.reshape(x.shape[0], -1)


def test_streaming_equals_in_memory(tmp_path):
    a, b = _folder(tmp_path / "a", seed=1), _folder(tmp_path / "b", seed=2)
    names = ["fid", "precision_recall", "density_coverage"]
    s = metrics.evaluate(a, b, metrics=names, batch_size=5, cache=False)
    m = metrics.evaluate(read_images(a), read_images(b), metrics=names)
    for key in m:
        assert s[key].value == pytest.approx(m[key].value, rel=1e-9, abs=1e-12)
    prov = s.meta["provenance"]
    assert prov["real"]["types"] == {"png": 24} and prov["real"]["images"] == 24
    assert prov["extractor"] == {"network": "identity"} and prov["package_version"]


def test_batches_are_bounded_and_fid_keeps_no_features(tmp_path):
    a = _folder(tmp_path / "a", n=50)
    ext = Counting()
    r = metrics.evaluate(a, a, metrics="fid", features=ext, batch_size=8, cache=False)
    assert max(ext.batches) <= 8 and sum(ext.batches) == 100
    assert r["fid"].value == pytest.approx(0.0, abs=1e-9)
    # nothing of size N is built for fid: the side keeps only statistics
    reader = Reader.from_options(EvaluationOptions(metrics="fid", features=ext, batch_size=8,
                                                   device="cpu", cache=False))  # fmt: skip
    side = read_side(a, name="real", reader=reader, need=Need(statistics=True, groups=5))
    assert side.features is None and side.total.n == 50 and len(side.groups) == 5


def test_mixed_sizes_modes_corrupt_and_jpeg_are_reported(tmp_path):
    a = _folder(tmp_path / "a", n=10)
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(a / "big.png")
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L").save(a / "grey.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), "RGBA").save(a / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(a / "photo.jpg")
    (a / "broken.png").write_bytes(b"not an image at all")
    with pytest.warns(UserWarning) as rec:
        r = metrics.evaluate(a, a, metrics="fid", cache=False, resize="bicubic")
    text = " ".join(str(w.message) for w in rec)
    assert "JPEG" in text and "skipped 1 unreadable" in text
    real = r.meta["provenance"]["real"]
    assert real["types"] == {"jpg": 1, "png": 14}
    assert real["converted"] == {"L": 1, "RGBA": 1}
    assert real["resized"] == 1 and real["skipped"] == 1 and real["images"] == 14
    assert real["skipped_files"] == ["broken.png"] and real["resize"] == "bicubic"
    assert real["image_size"] == [8, 8] and real["channels"] == 3


def test_sorted_order_and_grey_channel(tmp_path):
    a = _folder(tmp_path / "a", n=7, mode="L")
    info = scan_folder(a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batches = list(folder_batches(info, batch_size=3, num_workers=0))
    x = torch.cat(batches)
    assert x.shape == (7, 1, 8, 8) and info.channels == 1
    torch.testing.assert_close(x, read_images(a), rtol=0, atol=0)


def test_workers_give_the_same_order(tmp_path):
    a = _folder(tmp_path / "a", n=20)
    x0 = torch.cat(list(folder_batches(scan_folder(a), batch_size=4, num_workers=0)))
    x2 = torch.cat(list(folder_batches(scan_folder(a), batch_size=4, num_workers=2)))
    assert torch.equal(x0, x2)


def test_bad_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="real: no images"):
        metrics.evaluate(tmp_path / "empty", tmp_path / "empty", metrics="fid")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"junk")
    with pytest.raises(
        ValueError, match=r"a\.png is not a readable image .*none of the 1 image files"
    ):
        metrics.evaluate(bad, bad, metrics="fid", cache=False)
    a = _folder(tmp_path / "a", n=4)
    with pytest.raises(ValueError, match="resize must be one of"):
        metrics.evaluate(a, a, metrics="fid", resize="area", cache=False)
    with pytest.raises(ValueError, match=r"mode_coverage.*folder"):
        metrics.evaluate(
            a, a, metrics="mode_coverage", options={"mode_coverage": {"centers": [[0.0]], "std": 1}}
        )


def test_fingerprint_changes_with_files(tmp_path):
    a = _folder(tmp_path / "a", n=3)
    f0 = scan_folder(a).fingerprint
    assert scan_folder(a).fingerprint == f0
    _folder(tmp_path / "a", n=4, seed=9)
    assert scan_folder(a).fingerprint != f0


_RSS_SCRIPT = """
import resource, sys
import metrics
pool = lambda x: x.mean((2, 3))  # 3 features: memory is the images' alone
kw = dict(metrics="fid", features=pool, batch_size=64, num_workers=0, cache=False)
metrics.evaluate(sys.argv[1], sys.argv[1], **kw)  # warm-up on the small folder
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
metrics.evaluate(sys.argv[2], sys.argv[2], **kw)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


@pytest.mark.slow
def test_peak_memory_is_bounded_by_the_batch(tmp_path):
    """2000 images of 64 x 64 RGB are 98 MB as one float32 array (loading them whole grows
    the peak resident memory by ~210 MB); streamed in batches of 64 (3 MB) it grows by
    ~14 MB, and must stay under 40 MB."""
    import subprocess
    import sys

    small = _folder(tmp_path / "small", n=130, size=64)
    big = tmp_path / "big"
    big.mkdir()
    src = sorted(small.iterdir())
    for i in range(2000):  # hard links: many files, little disk and time
        (big / f"{i:05d}.png").hardlink_to(src[i % len(src)])
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(small), str(big)],
        capture_output=True,
        text=True,
        check=True,
    )
    growth_mb = float(out.stdout.strip().splitlines()[-1])
    assert growth_mb < 40, growth_mb


def test_folders_of_other_sizes_say_how_to_agree(tmp_path):
    a = _folder(tmp_path / "a", n=6, size=8)
    b = _folder(tmp_path / "b", n=6, size=10, seed=1)
    with pytest.raises(ValueError, match=r"dimension 192 but the fake features have 300: .*size"):
        metrics.evaluate(a, b, metrics="fid", cache=False)
    r = metrics.evaluate(a, b, metrics="fid", cache=False, image_size=8)
    assert np.isfinite(r["fid"].value)


def _fid_in_this_process(folder: str) -> tuple[bool, list[float], list[str]]:
    """(daemonic?, FID with num_workers None and 2, the daemon warnings)."""
    import multiprocessing

    values = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for workers in (None, 2):
            r = metrics.evaluate(
                folder, f"{folder}/../b", metrics="fid", batch_size=2, num_workers=workers,
                cache=False,
            )  # fmt: skip
            values.append(r["fid"].value)
    daemon = multiprocessing.current_process().daemon
    return daemon, values, [str(w.message) for w in caught if "daemonic" in str(w.message)]


@pytest.mark.slow  # spawns a Python with torch
def test_folders_are_read_inside_a_daemonic_pool_worker(tmp_path):
    """A Pool worker may not start DataLoader workers: it reads in-process, the same FID;
    workers asked for explicitly are ignored with one warning per side."""
    import multiprocessing

    a, _ = _folder(tmp_path / "a", n=10, seed=1), _folder(tmp_path / "b", n=10, seed=2)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        daemon, values, caught = pool.apply(_fid_in_this_process, (str(a),))
    want = metrics.evaluate(a, tmp_path / "b", metrics="fid", batch_size=2, num_workers=0,
                            cache=False)["fid"].value  # fmt: skip
    assert daemon and values == [pytest.approx(want, rel=1e-12)] * 2
    assert [m.split(":")[0] for m in caught] == ["real", "fake"]
    assert "(num_workers=2 ignored): a daemonic process" in caught[0]
