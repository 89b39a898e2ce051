"""class_weights: training draws class k with probability ∝ n_k · w_k on both sides of D,
real samples uniformly within their class; evaluation keeps the data's proportions."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch

from gan.config import TrainConfig, parse_class_weights
from gan.data import load_data
from gan.training import start, steps, train

COUNTS = (10, 30, 60)  # an unbalanced 3-class set


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    path = tmp_path_factory.mktemp("cw") / "three.npz"
    y = np.repeat(np.arange(3), COUNTS)
    # each sample carries its class in its values, and its index within the set
    x = np.stack([np.full((1, 8, 8), 0.5 * k - 0.5, np.float32) for k in y])
    x[:, 0, 0, 0] = np.arange(len(y)) / len(y)
    np.savez(path, x=x, y=y)
    return path, load_data(str(path), conditional=True)


def test_parse_class_weights_accepts_and_refuses():
    assert parse_class_weights("0:3") == {0: 3.0}
    assert parse_class_weights(" 1:0.5 ,2:4e0") == {1: 0.5, 2: 4.0}
    for bad, words in [("", "CLASS:WEIGHT"), ("1", "CLASS:WEIGHT"), ("x:1", "CLASS:WEIGHT"),
                       ("²:1", "CLASS"), ("-1:2", "CLASS:WEIGHT"), ("1:0", "> 0"), ("1:-2", "> 0"),
                       ("1:nan", "> 0"), ("1:inf", "> 0"), ("1:two", "> 0"),
                       ("1:2,1:3", "twice")]:  # fmt: skip
        with pytest.raises(ValueError, match="class_weights") as e:
            parse_class_weights(bad)
        assert words in str(e.value)
    with pytest.raises(TypeError, match="class_weights"):
        parse_class_weights(2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a conditional run"):
        TrainConfig(class_weights="1:2")


def test_class_probabilities_are_counts_times_weights(labelled):
    _, data = labelled
    cfg = TrainConfig(conditional=True, class_weights="0:3,2:0.5")
    p = start.class_probabilities(cfg, data, torch.device("cpu"))
    want = np.array([10 * 3, 30, 60 * 0.5]) / 90.0
    np.testing.assert_allclose(p.numpy(), want, rtol=1e-15)
    plain = TrainConfig(conditional=True)
    assert start.class_probabilities(plain, data, torch.device("cpu")) is None
    with pytest.raises(ValueError, match=r"names class 3, but .* has classes 0 to 2"):
        start.class_probabilities(TrainConfig(conditional=True, class_weights="3:2"), data,
                                  torch.device("cpu"))  # fmt: skip


def test_weighted_batches_follow_the_law(labelled):
    _, data = labelled
    b, rounds = 200, 50
    cfg = TrainConfig(conditional=True, class_weights="0:6", batch_size=b)
    p = start.class_probabilities(cfg, data, torch.device("cpu"))  # (60, 30, 60) / 150
    run = types.SimpleNamespace(cfg=cfg, data=data, device=torch.device("cpu"))
    nets = types.SimpleNamespace(n_classes=3, class_p=p)
    state = types.SimpleNamespace(rng=torch.Generator().manual_seed(0))
    real, y_r, y_f = zip(*(steps._batch(run, nets, state) for _ in range(rounds)), strict=True)
    real, y_r, y_f = torch.cat(real), torch.cat(y_r), torch.cat(y_f)
    n = b * rounds
    for y in (y_r, y_f):
        freq = torch.bincount(y, minlength=3).double() / n
        sd = (p * (1 - p) / n).sqrt()
        assert bool(((freq - p).abs() < 5 * sd).all()), (freq, p)
    # every real sample is one of its class, and the class's samples are drawn uniformly
    assert torch.equal(real[:, 0, 1, 1], 0.5 * y_r.double().float() - 0.5)
    idx = (real[:, 0, 0, 0] * 100).round().long()
    for k, (lo, hi) in enumerate([(0, 10), (10, 40), (40, 100)]):
        got = torch.bincount(idx[y_r == k] - lo, minlength=hi - lo).double()
        expect = got.sum() / (hi - lo)
        # chi-square with hi - lo - 1 degrees of freedom, far below the 1e-6 tail
        chi2 = float(((got - expect) ** 2 / expect).sum())
        assert chi2 < (hi - lo - 1) + 10 * np.sqrt(2 * (hi - lo - 1)), (k, chi2)


def test_weighted_run_records_and_uses_its_weights(labelled, tmp_path):
    path, _ = labelled
    out = tmp_path / "run"
    cfg = TrainConfig(data=str(path), conditional=True, class_weights="0:4", arch="mlp",
                      hidden=8, g_layers=1, d_layers=1, z_dim=4, batch_size=8, steps=3,
                      eval_samples=0, progress=False, plots=False, rejection=False,
                      out=str(out))  # fmt: skip
    res = train(cfg)
    assert res.step == 3
    assert json.loads((out / "config.json").read_text())["class_weights"] == "0:4"
    bad = TrainConfig(**{**cfg.__dict__, "class_weights": "5:2", "out": str(tmp_path / "r2")})
    with pytest.raises(ValueError, match="names class 5"):
        train(bad)
    assert not (tmp_path / "r2").exists()
