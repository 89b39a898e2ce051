"""One image-folder reader (metrics.io.images) for training data and evaluation alike: the same
suffixes, the same pixels, the same handling of an unreadable file."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import metrics
from gan.config import TrainConfig
from gan.data import load_data
from gan.training import train
from metrics.io import IMAGE_SUFFIXES, read_images

FAST = dict(progress=False, plots=False, rejection=False, final_js_steps=5, eval_js_steps=5,
            fresh_eval_js_steps=5, fresh_final_js_steps=5, log_every=1)  # fmt: skip


def _folder(path, suffix, n=8, side=8, seed=0):
    rng = np.random.default_rng(seed)
    path.mkdir()
    for i in range(n):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path / f"{i:02d}{suffix}")
    return path


def _evaluation_side(report, side="real"):
    return report.meta["provenance"][side]


def test_suffixes_are_one_list():
    assert ".tif" in IMAGE_SUFFIXES and ".tiff" in IMAGE_SUFFIXES and ".png" in IMAGE_SUFFIXES


def test_a_tif_folder_trains_and_evaluates_on_the_same_pixels(tmp_path):
    tif = _folder(tmp_path / "tif", ".tif")
    png = _folder(tmp_path / "png", ".png")  # the same pixels, another lossless format
    data = load_data(str(tif))
    evaluated = metrics.load_samples(str(tif))
    assert data.shape == (3, 8, 8) and evaluated.shape == (8, 3, 8, 8)
    # v / 255 for evaluation, v / 127.5 - 1 for training: the same file read once
    torch.testing.assert_close((data.train.cpu() + 1) / 2, evaluated, rtol=0, atol=1e-6)
    torch.testing.assert_close(read_images(png), evaluated, rtol=0, atol=0)
    fake = np.random.default_rng(1).random((8, 3 * 8 * 8))
    by_folder = metrics.evaluate(str(tif), fake, metrics=["fid"], cache=False)
    by_array = metrics.evaluate(evaluated.reshape(8, -1).double().numpy(), fake, metrics=["fid"])
    assert by_folder["fid"].value == pytest.approx(by_array["fid"].value, rel=1e-9)
    assert _evaluation_side(by_folder)["types"] == {"tif": 8}
    res = train(TrainConfig(data=str(tif), arch="mlp", hidden=8, g_layers=1, d_layers=1, z_dim=4,
                            batch_size=4, steps=2, eval_samples=0, out=str(tmp_path / "run"),
                            **FAST))  # fmt: skip
    assert res.step == 2


def test_an_unreadable_file_is_skipped_with_one_warning_by_both(tmp_path):
    folder = _folder(tmp_path / "imgs", ".png", n=6)
    (folder / "zz_broken.png").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\) of 7") as trained:
        data = load_data(str(folder))
    assert data.train.shape[0] == 6
    fake = np.random.default_rng(1).random((6, 3 * 8 * 8))
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\) of 7") as evaluated:
        report = metrics.evaluate(str(folder), fake, metrics=["fid"], cache=False)
    side = _evaluation_side(report)
    assert side["images"] == 6 and side["skipped_files"] == ["zz_broken.png"]
    assert "zz_broken.png" in str(trained[0].message) and "zz_broken.png" in str(
        evaluated[0].message
    )


def test_a_folder_of_only_unreadable_files_is_refused_by_both(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.tif").write_bytes(b"not an image")
    for read in (lambda: load_data(str(folder)), lambda: metrics.evaluate(str(folder), folder)):
        with warnings.catch_warnings(), pytest.raises(ValueError, match=r"a\.tif is not a read"):
            read()
