"""``features="dinov2"`` / ``"clip"`` and ``metrics=["cmmd"]`` in evaluate, ``stats`` and the CLI.

The real weights cannot be downloaded here: the small fixture networks stand in for the named
variants (``VARIANTS`` entries replaced for the test), loaded with ``check_hash=False``
(``--no-check-hash``). The oracle is the network called directly on the same images, then the
metric functions on those features.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from _featnets import DINOV2, FIX, clip_config
from PIL import Image

import metrics
from gan.cli import main as cli_main
from metrics.networks import clip as clip_mod
from metrics.networks import dinov2 as dinov2_mod

DPATH, CPATH = FIX / "dinov2_main.pth", FIX / "clip_224.safetensors"
pytestmark = pytest.mark.filterwarnings("ignore:features '.*not a published:UserWarning")


@pytest.fixture()
def small(monkeypatch, tmp_path):
    monkeypatch.setitem(dinov2_mod.VARIANTS, "vitl14", DINOV2["dinov2_main"])
    monkeypatch.setitem(clip_mod.VARIANTS, "ViT-L/14@336", clip_config(224))
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    folders, images = {}, {}
    for side, n, shift in (("real", 10, 0), ("fake", 8, 60)):
        (tmp_path / side).mkdir()
        arrays = [
            np.clip(rng.integers(0, 196, (20, 24, 3)) + shift, 0, 255).astype(np.uint8)
            for _ in range(n)
        ]
        for i, a in enumerate(arrays):
            im = Image.fromarray(a)
            if side == "real" and i == 0:
                im = im.convert("L")  # grey: converted to RGB by the folder reader
                arrays[0] = np.asarray(im.convert("RGB"))
            im.save(tmp_path / side / f"{i}.png")
        folders[side] = str(tmp_path / side)
        images[side] = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return {"dir": tmp_path, "folders": folders, "images": images}


def _run(small, features, **kw):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "features '", UserWarning)
        return metrics.evaluate(
            small["folders"]["real"],
            small["folders"]["fake"],
            features=features,
            check_hash=False,
            device="cpu",
            **kw,
        )


def test_every_metric_in_dinov2_space_matches_the_network_called_directly(small):
    names = ["fid", "kid", "precision_recall", "density_coverage"]
    r = _run(small, f"dinov2:{DPATH}", metrics=names, options={"fid": {"groups": 0}})
    net = metrics.dinov2(DPATH, variant="vitl14", check_hash=False, device="cpu")
    f = {s: net(small["images"][s]).double() for s in ("real", "fake")}
    assert r["fid"].value == pytest.approx(metrics.fid(f["real"], f["fake"]).item(), rel=1e-6)
    assert r["kid"].value == pytest.approx(
        metrics.kid(f["real"], f["fake"], subset_size=8).mean, rel=1e-6, abs=1e-9
    )
    p, rc = metrics.precision_recall(f["real"], f["fake"])
    assert (r["precision"].value, r["recall"].value) == pytest.approx((float(p), float(rc)))
    prov = r.meta["provenance"]
    assert (
        prov["extractor"]["network"] == "dinov2-vitl14" and prov["extractor"]["resize"] == "torch"
    )
    assert prov["real"]["converted"] == {"L": 1} and r.meta["feature_dim"] == 16


def test_cmmd_in_clip_space(small):
    r = _run(small, f"clip:{CPATH}", metrics=["cmmd"], resize="cmmd")
    net = metrics.clip_image(
        CPATH, variant="ViT-L/14@336", check_hash=False, device="cpu", resize="cmmd"
    )
    e = metrics.cmmd(net(small["images"]["real"]), net(small["images"]["fake"]))
    assert r["cmmd"].value == pytest.approx(e.value, rel=1e-5)
    assert r["cmmd"].uncertainty == pytest.approx(e.stderr, rel=1e-4)
    assert r.meta["provenance"]["extractor"]["network"] == "clip-vitl14-336"
    with pytest.warns(UserWarning, match="defined on CLIP embeddings"):
        _run(small, f"dinov2:{DPATH}", metrics=["cmmd"])


def test_cache_keyed_by_preprocessing_and_statistics_of_other_features_refused(small):
    for resize in ("torch", "pil", "torch"):
        _run(small, f"dinov2:{DPATH}", metrics=["fid"], resize=resize)
    assert len(list((small["dir"] / "cache" / "stats").glob("*.npz"))) == 2
    ref = small["dir"] / "ref.npz"
    code = cli_main(
        [
            "stats",
            small["folders"]["real"],
            "-o",
            str(ref),
            "--features",
            f"dinov2:{DPATH}",
            "--no-check-hash",
            "--device",
            "cpu",
            "--groups",
            "2",
        ]
    )
    assert code == 0
    r = metrics.evaluate(
        str(ref),
        small["folders"]["fake"],
        metrics=["fid"],
        features=f"dinov2:{DPATH}",
        check_hash=False,
        device="cpu",
    )
    assert r["fid"].value >= 0
    for features, resize, what in (
        (f"clip:{CPATH}", None, "extractor 'dinov2-vitl14' in the file, 'clip-vitl14-336' here"),
        (f"dinov2:{DPATH}", "pil", "resize 'torch' in the file, 'pil' here"),
    ):
        with pytest.raises(ValueError, match=f"other features than this run's: .*{what}"):
            metrics.evaluate(
                str(ref),
                small["folders"]["fake"],
                metrics=["fid"],
                features=features,
                resize=resize,
                check_hash=False,
                device="cpu",
            )


def test_cli_errors_are_one_line(small, capsys):
    fake = small["folders"]["fake"]
    code = cli_main(
        [
            "evaluate",
            small["folders"]["real"],
            fake,
            "--features",
            f"clip:{DPATH}",
            "--no-check-hash",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "missing keys" in err[0]
    code = cli_main(
        [
            "evaluate",
            small["folders"]["real"],
            fake,
            "--features",
            f"dinov2:{DPATH}",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--no-check-hash" in err[0]
    code = cli_main(
        [
            "evaluate",
            small["folders"]["real"],
            fake,
            "--features",
            "dinov2",
            "--resize",
            "openai",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "torch, pil, clean" in err
    code = cli_main(["weights", "fetch", "dinov2-vitg14", "--cache-dir", str(small["dir"])])
    assert code == 2


def test_specs_resolve_variants_and_refuse_unknown_ones(small):
    with pytest.raises(ValueError, match="unknown dinov2 variant 'vitx14'"):
        metrics.networks.features.resolve_extractor("dinov2-vitx14:/x.pth")
    with pytest.raises(ValueError, match="no published weights file for dinov2-vitb14"):
        metrics.networks.features.resolve_extractor("dinov2-vitb14")
    with pytest.raises(FileNotFoundError, match="dinov2-vitl14"):
        metrics.networks.features.resolve_extractor("dinov2")  # nothing fetched into the test cache
    with pytest.raises(ValueError, match="needs features 'clip'"):
        metrics.networks.features.preprocessing("identity", "openai")
    assert metrics.networks.features.network_of("dinov2-weights/x.pt") is None
