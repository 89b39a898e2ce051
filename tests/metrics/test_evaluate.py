"""evaluate(): inputs of every kind, metric registry, Report table/JSON, the CLI, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import metrics
from gan.cli import main as cli_main
from metrics import Entry, Report, evaluate, load_samples


@pytest.fixture
def pair(rng):
    return rng.normal(size=(120, 3)), rng.normal(size=(100, 3)) + 0.5


def test_values_equal_the_functions(pair):
    x, y = pair
    r = evaluate(
        x,
        y,
        metrics=["fid", "kid", "precision_recall", "density_coverage"],
        options={"kid": {"subsets": 5, "subset_size": 50}},
    )
    assert r["fid"].value == metrics.fid(x, y)
    k = metrics.kid(x, y, subsets=5, subset_size=50)
    assert (r["kid"].value, r["kid"].uncertainty, r["kid"].kind) == (k.mean, k.std, "std")
    assert (r["precision"].value, r["recall"].value) == tuple(metrics.precision_recall(x, y))
    assert (r["density"].value, r["coverage"].value) == tuple(metrics.density_coverage(x, y))
    assert r.meta["n_real"] == 120 and r.meta["feature_dim"] == 3


def test_two_sample_metrics_of_the_core(pair):
    x, y = pair
    r = evaluate(x, y, metrics=["js", "c2st", "knn_kl", "chamfer", "mmd2", "sliced_wasserstein"])
    assert r["js"].kind == "stderr" and 0 < r["js"].value < np.log(2)
    assert 0.5 < r["c2st"].value <= 1
    assert r["chamfer"].value > 0 and r["mmd2"].value > 0 and r["sliced_wasserstein"].value > 0
    same = evaluate(x, x, metrics=["chamfer"])
    assert same["chamfer"].value == 0.0


def test_file_folder_and_generator_inputs(tmp_path, pair):
    x, y = pair
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "y.npz", samples=y)
    torch.save({"samples": torch.tensor(y)}, tmp_path / "y.pt")
    want = evaluate(x, y, metrics=["fid"])["fid"].value
    assert (
        evaluate(tmp_path / "x.npy", str(tmp_path / "y.npz"), metrics=["fid"])["fid"].value == want
    )
    assert evaluate(tmp_path / "x.npy", tmp_path / "y.pt", metrics=["fid"])["fid"].value == want
    gen = torch.Generator().manual_seed(0)
    r = evaluate(
        x,
        lambda n: torch.randn(n, 3, generator=gen, dtype=torch.float64),
        num_samples=90,
        batch_size=40,
        metrics=["fid"],
    )
    assert r.meta["n_fake"] == 90
    from PIL import Image

    digits = load_digits()
    for i in range(12):
        img = (digits.images[i] / 16 * 255).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / f"{i:02d}.png")
    imgs = load_samples(tmp_path)
    assert imgs.shape == (12, 1, 8, 8) and float(imgs.max()) <= 1.0
    r = evaluate(tmp_path, tmp_path, metrics=["fid", "is"], features="digits", device="cpu")
    assert r["fid"].value < 1e-6 and r.meta["feature_dim"] == 64
    assert 1 <= r["is"].value <= 10


def test_mode_coverage_through_evaluate():
    c = np.array([[0.0, 0.0], [5.0, 5.0]])
    fake = np.repeat(c, 10, axis=0)
    r = evaluate(
        fake, fake, metrics=["mode_coverage"], options={"mode_coverage": {"centers": c, "std": 0.1}}
    )
    assert (r["modes"].value, r["high_quality"].value, r["reverse_kl"].value) == (2, 1.0, 0.0)


def test_report_table_and_json(tmp_path):
    r = Report(
        {"fid": Entry(2.0), "kid": Entry(0.5, 0.1, "std"), "rkl": Entry(float("inf"))},
        {"n_real": np.int64(3)},
    )
    assert "kid" in r.table() and "± 0.1000 (std)" in r.table()
    d = json.loads(r.to_json(tmp_path / "r.json"))
    assert d["metrics"]["kid"] == {"value": 0.5, "uncertainty": 0.1, "kind": "std"}
    assert d["metrics"]["rkl"]["value"] == "inf" and d["meta"]["n_real"] == 3
    assert json.loads((tmp_path / "r.json").read_text()) == d


def test_cli(tmp_path, pair, capsys):
    x, y = pair
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    rc = cli_main(
        [
            "evaluate",
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
            "--metrics",
            "fid,precision_recall",
            "--json",
            str(tmp_path / "out.json"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "fid" in out and "precision" in out
    d = json.loads((tmp_path / "out.json").read_text())
    assert d["metrics"]["fid"]["value"] == pytest.approx(metrics.fid(x, y))


def test_errors(tmp_path, pair):
    x, y = pair
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate(x, y, metrics=["fidd"])
    with pytest.raises(ValueError, match="options given for metrics that are not computed"):
        evaluate(x, y, metrics=["fid"], options={"kid": {}})
    with pytest.raises(ValueError, match="real: no such file or folder"):
        evaluate(tmp_path / "missing.npy", y)
    with pytest.raises(ValueError, match="fake: no such file or folder"):
        evaluate(x, str(tmp_path / "missing.npy"))
    with pytest.raises(ValueError, match="pass num_samples"):
        evaluate(x, lambda n: torch.zeros(n, 3))
    with pytest.raises(ValueError, match="needs a classifier"):
        evaluate(x, y, metrics=["is"])
    with pytest.raises(ValueError, match="needs options"):
        evaluate(x, y, metrics=["mode_coverage"])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds Python objects, not a numeric array") as err:
        evaluate(tmp_path / "obj.npy", y)
    assert "allow_pickle" not in str(err.value) and "weights_only" not in str(err.value)
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type"):
        evaluate(tmp_path / "f.txt", y)
    with pytest.raises(ValueError, match="no images"):
        evaluate(tmp_path, y)


def test_metric_name_string_and_ragged_samples(pair):
    x, y = pair
    names = ["fid", "fid_bias_corrected", "fid_inf"]
    assert sorted(evaluate(x, y, metrics="fid")) == names  # one name, not letters
    with pytest.raises(ValueError, match="unknown metrics \\['fidd'\\]"):
        evaluate(x, y, metrics="fidd")
    with pytest.raises(ValueError, match="metrics is empty"):
        evaluate(x, y, metrics=[])
    with pytest.raises(ValueError, match="real is a ragged list"):
        evaluate([[0.0, 1.0], [2.0]], y, metrics="fid")
    with pytest.raises(ValueError, match="fake is a ragged list"):
        evaluate(x, [[0.0, 1.0, 2.0], [1.0, 2.0]], metrics="fid")
    with pytest.raises(TypeError, match="real must hold numbers"):
        evaluate([["a", "b"], ["c", "d"]], y, metrics="fid")
    assert evaluate(x.tolist(), y.tolist(), metrics="fid")["fid"].value == pytest.approx(
        evaluate(x, y, metrics="fid")["fid"].value, rel=1e-12
    )
