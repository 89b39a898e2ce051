"""``features="inception"`` in :func:`metrics.evaluate`, ``divergences stats`` and the CLI.

The published weights cannot be downloaded here, so the network runs on a random state dict in
pytorch-fid's format (rebuilt from the parity fixture's seed and batch-norm statistics) saved
to a temporary file: its SHA-256 is not the published one, so every load here says
``check_hash=False`` (``--no-check-hash``) explicitly. The oracle is the network called
directly on the same images plus a float64 FID by SciPy's ``sqrtm``. Tolerance 1e-6 relative:
both sides run the same float32 network on the same batches; only the float64 reductions
differ. Each forward pass is a 299-px Inception-v3 pass (~6 GFLOP per image), so the folders
hold 2 and 3 images, and the tests that run several evaluations are marked slow.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

import metrics
from gan.cli import main as cli_main
from metrics.networks import inception as inc
from metrics.networks import weights

FIXTURE = Path(__file__).parent / "fixtures" / "inception_parity.npz"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    with np.load(FIXTURE, allow_pickle=False) as z:
        stats = {k[3:]: z[k] for k in z.files if k.startswith("bn:")}
        seed = int(z["seed"])
    state = inc.random_state_dict(seed, running_stats=stats)
    d = tmp_path_factory.mktemp("inception")
    path = d / "random.pth"
    torch.save(state, path)
    rng = np.random.default_rng(1)
    folders, images = {}, {}
    for side, n, size in (("real", 2, 40), ("fake", 3, 32)):
        (d / side).mkdir()
        arrays = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
        for i, a in enumerate(arrays):
            Image.fromarray(a).save(d / side / f"{i}.png")
        folders[side] = str(d / side)
        images[side] = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    net = metrics.inception(state, device="cpu")
    feats = {s: net(images[s]).double().numpy() for s in images}
    logits = net.logits(images["fake"]).double()
    return {"path": path, "dir": d, "folders": folders, "feats": feats, "logits": logits,
            "sha": weights.sha256_file(path)}  # fmt: skip


def _fid64(a: np.ndarray, b: np.ndarray) -> float:
    """FID in float64 by a closed form for few samples: with ``S1 = A Aᵀ``, ``S2 = B Bᵀ``
    (centred samples over ``sqrt(n − 1)``), ``tr sqrt(S1 S2)`` is the nuclear norm of ``Aᵀ B``."""
    ca = (a - a.mean(0)) / np.sqrt(len(a) - 1)
    cb = (b - b.mean(0)) / np.sqrt(len(b) - 1)
    cross = scipy.linalg.svdvals(ca @ cb.T).sum()
    mean = ((a.mean(0) - b.mean(0)) ** 2).sum()
    return float(mean + (ca**2).sum() + (cb**2).sum() - 2 * cross)


def _evaluate(setup, **kw):
    kw.setdefault("features", f"inception:{setup['path']}")
    kw.setdefault("device", "cpu")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "features 'inception", UserWarning)
        return metrics.evaluate(setup["folders"]["real"], setup["folders"]["fake"], **kw)


def test_fid_and_is_match_the_network_called_directly(setup, monkeypatch, tmp_path):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path))
    with pytest.warns(UserWarning, match="not pytorch-fid's published weights"):
        r = metrics.evaluate(setup["folders"]["real"], setup["folders"]["fake"],
                             metrics=["fid", "is"], features=f"inception:{setup['path']}",
                             check_hash=False, device="cpu")  # fmt: skip
    expected = _fid64(setup["feats"]["real"], setup["feats"]["fake"])
    assert r["fid"].value == pytest.approx(expected, rel=1e-6)
    is_ref = metrics.inception_score(setup["logits"], splits=3)
    assert r["is"].value == pytest.approx(float(is_ref.mean), rel=1e-6)
    prov = r.meta["provenance"]["extractor"]
    assert prov == {"network": "inception-v3-fid", "sha256": setup["sha"], "resize": "pytorch-fid",
                    "precision": "float32"}  # fmt: skip
    assert r.meta["feature_dim"] == 2048
    assert '"inception-v3-fid"' in r.to_json()


def test_is_reads_the_fake_images_once(setup, monkeypatch, tmp_path):
    # features and logits come from one pass: the trunk sees each image once
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path))
    seen = []
    trunk = inc._trunk
    monkeypatch.setattr(inc, "_trunk", lambda net, x: seen.append(len(x)) or trunk(net, x))
    r = _evaluate(setup, metrics=["fid", "is", "precision_recall"], check_hash=False,
                  options={"precision_recall": {"k": 1}})  # fmt: skip
    assert sum(seen) == 2 + 3
    is_ref = metrics.inception_score(setup["logits"], splits=3)
    assert r["is"].value == pytest.approx(float(is_ref.mean), rel=1e-6)
    expected = _fid64(setup["feats"]["real"], setup["feats"]["fake"])
    assert r["fid"].value == pytest.approx(expected, rel=1e-6)
    # in-memory fake images take the same one-pass route
    seen.clear()
    files = [Path(setup["folders"]["fake"]) / f"{i}.png" for i in range(3)]
    fake = torch.stack(
        [torch.from_numpy(np.asarray(Image.open(f))).permute(2, 0, 1) for f in files]
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "features 'inception", UserWarning)
        r2 = metrics.evaluate(setup["folders"]["real"], fake.float() / 255, metrics=["is"],
                              features=f"inception:{setup['path']}", check_hash=False,
                              device="cpu")  # fmt: skip
    assert sum(seen) == 2 + 3
    assert r2["is"].value == pytest.approx(float(is_ref.mean), rel=1e-5)


def test_hash_is_checked_unless_the_user_says_otherwise(setup):
    with pytest.raises(ValueError, match=r"SHA-256.*check_hash=False"):
        _evaluate(setup, metrics=["fid"])
    with pytest.raises(ValueError, match="SHA-256"):
        metrics.compute_stats(setup["folders"]["real"], features=f"inception:{setup['path']}")


def test_cached_weights_are_found_or_the_error_says_how(setup, monkeypatch, tmp_path):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="divergences weights fetch inception"):
        _evaluate(setup, features="inception", check_hash=False, metrics=["fid"])
    with pytest.raises(FileNotFoundError, match=r"no file .*missing\.pth.*weights fetch"):
        _evaluate(setup, features=f"inception:{tmp_path}/missing.pth", metrics=["fid"])
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / weights.REGISTRY["inception"].filename).write_bytes(setup["path"].read_bytes())
    monkeypatch.setenv("DIVERGENCES_CACHE", str(cache))
    with pytest.warns(UserWarning, match="not comparable with published numbers"):
        net = metrics.networks.features.resolve_extractor(
            "inception", device="cpu", check_hash=False, resize="clean"
        )
    assert net.provenance == {"network": "inception-v3-fid", "sha256": setup["sha"],
                              "resize": "clean", "precision": "float32"}  # fmt: skip


def test_resize_modes_are_checked_against_the_extractor(setup):
    with pytest.raises(ValueError, match=r"resize 'bicubic'.*pytorch-fid, clean"):
        _evaluate(setup, resize="bicubic", check_hash=False, metrics=["fid"])
    with pytest.raises(ValueError, match=r"resize 'clean'.*needs features 'inception'"):
        metrics.evaluate(np.zeros((4, 2)), np.ones((4, 2)), metrics=["fid"], resize="clean")
    preprocessing = metrics.networks.features.preprocessing
    assert preprocessing("inception:x", None) == ("pytorch-fid", "bilinear")
    assert preprocessing("identity", "lanczos") == (None, "lanczos")


@pytest.mark.slow
def test_stats_cache_is_keyed_by_weights_and_preprocessing(setup, monkeypatch, tmp_path):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path))
    first = _evaluate(setup, metrics=["fid"], check_hash=False)
    second = _evaluate(setup, metrics=["fid"], check_hash=False)
    assert not first.meta["provenance"]["real"]["cached_statistics"]
    assert second.meta["provenance"]["real"]["cached_statistics"]
    assert second["fid"].value == pytest.approx(first["fid"].value, rel=1e-12)
    clean = _evaluate(setup, metrics=["fid"], check_hash=False, resize="clean")
    assert not clean.meta["provenance"]["real"]["cached_statistics"]
    assert clean.meta["provenance"]["extractor"]["resize"] == "clean"
    assert clean.meta["provenance"]["preprocessing"]["resize"] == "bicubic"
    bf16 = _evaluate(setup, metrics=["fid"], check_hash=False, precision="bf16")
    assert not bf16.meta["provenance"]["real"]["cached_statistics"]  # not float32's statistics
    assert bf16.meta["provenance"]["extractor"]["precision"] == "bf16"
    assert first.meta["provenance"]["extractor"]["precision"] == "float32"


def test_precision_is_checked_against_the_extractor_and_the_device(setup, capsys):
    with pytest.raises(ValueError, match=r"precision 'bf16' applies to features 'inception'"):
        metrics.evaluate(np.zeros((4, 2)), np.ones((4, 2)), metrics=["fid"], precision="bf16")
    with pytest.raises(ValueError, match=r"precision must be one of .*'fp16'"):
        _evaluate(setup, metrics=["fid"], check_hash=False, precision="fp16")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"precision='tf32' needs a CUDA device"):
            _evaluate(setup, metrics=["fid"], check_hash=False, precision="tf32", device="cpu")
    argv = ["evaluate", *setup["folders"].values(), "--features", f"inception:{setup['path']}",
            "--no-check-hash", "--precision", "fp16"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:  # argparse's one-line choices error
        cli_main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--precision" in err[0] and "fp16" in err[0]


def test_cli_stats_then_evaluate_against_them(setup, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "cache"))
    ref = tmp_path / "ref.npz"
    feat = ["--features", f"inception:{setup['path']}", "--no-check-hash", "--no-progress"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "features 'inception", UserWarning)
        assert cli_main(["stats", setup["folders"]["real"], "-o", str(ref), *feat]) == 0
        assert "n=2, D=2048" in capsys.readouterr().out
        out = tmp_path / "r.json"
        argv = ["evaluate", str(ref), setup["folders"]["fake"], "--metrics", "fid", *feat,
                "--device", "cpu", "--json", str(out)]  # fmt: skip
        assert cli_main(argv) == 0
    expected = _fid64(setup["feats"]["real"], setup["feats"]["fake"])
    report = json.loads(out.read_text())
    assert report["metrics"]["fid"]["value"] == pytest.approx(expected, rel=1e-6)
    assert report["meta"]["provenance"]["extractor"]["sha256"] == setup["sha"]
    with np.load(ref, allow_pickle=False) as z:
        np.testing.assert_allclose(z["mu"], setup["feats"]["real"].mean(0), rtol=1e-6, atol=1e-9)
