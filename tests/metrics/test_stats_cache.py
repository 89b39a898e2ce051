"""Reference statistics: divergences stats files, the on-disk cache, ref.npz as the real side."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import metrics
from gan.cli import main as cli_main
from gan.cli.stats import main as stats_main
from metrics.io.cache import cache_root, load_stats_file


def _folder(path, n=30, seed=0, shift=0):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        a = np.clip(rng.integers(0, 200, (6, 6, 3)) + shift, 0, 255).astype(np.uint8)
        Image.fromarray(a).save(path / f"{i:03d}.png")
    return path


class Counting:
    def __init__(self):
        self.provenance = {"network": "counting", "sha256": "1" * 64}
        self.rows = 0

    def __call__(self, x):
        self.rows += x.shape[0]
        return x.reshape(x.shape[0], -1)[:, :8]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("DIVERGENCES_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "divergences"
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "own"))
    assert cache_root() == tmp_path / "own"


def test_second_evaluation_computes_only_the_fake_side(tmp_path, cache):
    real, fake = _folder(tmp_path / "r"), _folder(tmp_path / "f", seed=1, shift=20)
    ext = Counting()
    first = metrics.evaluate(real, fake, metrics="fid", features=ext, batch_size=7)
    assert ext.rows == 60 and len(list((cache / "stats").glob("*.npz"))) == 1
    ext.rows = 0
    second = metrics.evaluate(real, fake, metrics="fid", features=ext, batch_size=7)
    assert ext.rows == 30  # the fake side only
    assert second["fid"].value == pytest.approx(first["fid"].value, rel=1e-12)
    assert second["fid"].uncertainty == pytest.approx(first["fid"].uncertainty, rel=1e-9)
    assert second.meta["provenance"]["real"]["cached_statistics"] is True
    assert second.meta["provenance"]["real"]["types"] == {"png": 30}
    # another sample count, or a changed file, is another key
    ext.rows = 0
    metrics.evaluate(real, fake, metrics="fid", features=ext, num_samples=20)
    assert ext.rows == 40
    os.utime(real / "000.png", ns=(1, 1))
    ext.rows = 0
    metrics.evaluate(real, fake, metrics="fid", features=ext, batch_size=7)
    assert ext.rows == 60


def test_plain_callables_are_not_cached(tmp_path, cache):
    real = _folder(tmp_path / "r", n=6)
    metrics.evaluate(real, real, metrics="fid", features=lambda x: x.reshape(x.shape[0], -1))
    assert not (cache / "stats").exists()


def test_cli_stats_then_evaluate_against_ref(tmp_path, cache, capsys):
    real, fake = _folder(tmp_path / "r"), _folder(tmp_path / "f", seed=1, shift=20)
    ref = tmp_path / "ref.npz"
    assert stats_main([str(real), "-o", str(ref), "--groups", "5"]) == 0
    with np.load(ref, allow_pickle=False) as f:  # pytorch-fid's layout, plus n and groups
        assert {"mu", "sigma", "n", "group_n", "group_mu", "group_sigma"} <= set(f.files)
        assert f["mu"].shape == (108,) and f["sigma"].shape == (108, 108) and int(f["n"]) == 30
    _, groups, meta = load_stats_file(ref)
    assert len(groups) == 5 and meta["source"]["types"] == {"png": 30}
    direct = metrics.evaluate(
        real, fake, metrics="fid", cache=False, options={"fid": {"groups": 5}}
    )
    via = metrics.evaluate(ref, fake, metrics="fid", options={"fid": {"groups": 5}})
    assert via["fid"].value == pytest.approx(direct["fid"].value, rel=1e-9)
    assert via["fid"].uncertainty == pytest.approx(direct["fid"].uncertainty, rel=1e-6)
    before = ref.read_bytes()
    with pytest.raises(ValueError, match="exists"):
        stats_main([str(real), "-o", str(ref)])
    assert ref.read_bytes() == before
    assert cli_main(["evaluate", str(ref), str(fake), "--metrics", "fid"]) == 0
    assert "fid" in capsys.readouterr().out


def test_ref_files_bad_uses(tmp_path, cache):
    real, fake = _folder(tmp_path / "r", n=8), _folder(tmp_path / "f", n=8, seed=1)
    ref = tmp_path / "ref.npz"
    stats_main([str(real), "-o", str(ref)])
    with pytest.raises(ValueError, match="serves only metrics=\\['fid'\\]"):
        metrics.evaluate(ref, fake, metrics=["fid", "kid"])
    other = tmp_path / "other.npz"
    np.savez(other, mu=np.zeros(5), sigma=np.eye(5))
    no_provenance = pytest.warns(UserWarning, match="records no provenance")
    with pytest.raises(ValueError, match="dimension 5 but the fake features have 108"):
        with no_provenance:
            metrics.evaluate(other, fake, metrics="fid")
    with pytest.raises(ValueError, match=r"must end in \.npz"):
        stats_main([str(real), "-o", str(tmp_path / "ref.txt")])
    # pytorch-fid's files (mu, sigma only) serve FID without error bars on the real side
    np.savez(other, mu=np.zeros(108), sigma=np.eye(108))
    with pytest.warns(UserWarning, match="records no provenance"):
        r = metrics.evaluate(other, fake, metrics="fid")
    assert r["fid"].value > 0 and r["fid"].uncertainty is not None
