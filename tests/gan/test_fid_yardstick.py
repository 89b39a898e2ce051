"""The FID yardstick over disjoint training subsets, and the final FID over several draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from gan import evaluation
from gan.config import TrainConfig
from gan.data import load_data
from gan.image_metrics import feature_network, reference_features, train_subsets
from tests.metrics._oracles import fid_sqrtm


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=5), st.integers(1, 60),
       st.integers(1, 9))  # fmt: skip
def test_train_subsets_are_disjoint_and_in_the_labels_proportions(sizes, n, most):
    labels = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    size = len(labels)
    for lab in (None, labels):
        subs = train_subsets(size, n, lab, most=most)
        flat = torch.cat(subs)
        assert len(torch.unique(flat)) == len(flat)  # disjoint, no repeats
        assert int(flat.min()) >= 0 and int(flat.max()) < size
        if n >= size:
            assert len(subs) == 1 and torch.equal(subs[0], torch.arange(size))
            continue
        assert 1 <= len(subs) <= most and all(len(s) == n for s in subs)
        if lab is None:
            assert len(subs) == min(most, size // n)
            continue
        counts = torch.bincount(labels, minlength=len(sizes)).double()
        for s in subs:  # Hamilton: every class within one of its exact share n·p_k
            got = torch.bincount(labels[s], minlength=len(sizes)).double()
            assert bool(((got - n * counts / size).abs() < 1).all())
        # as many as fit: one more subset would need more of some class than it has
        per = torch.bincount(labels[subs[0]], minlength=len(sizes))
        more = len(subs) + 1
        assert len(subs) == most or bool((more * per > counts.long()).any())


def test_train_subsets_are_reproducible():
    y = torch.arange(100) % 3
    a, b = train_subsets(100, 20, y), train_subsets(100, 20, y)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # dead ReLU features: sqrtm warns
def test_yardstick_is_the_mean_fid_of_the_training_subsets():
    data = load_data("digits", conditional=True)
    net = feature_network(data, torch.device("cpu"))
    n = 200
    noise = torch.randn(n, *data.shape, generator=torch.Generator().manual_seed(0))
    x = data.train[:n] + 0.2 * noise
    res = evaluation.sample_metrics(x.clamp(-1, 1), data)
    subs = train_subsets(len(data.train), n, data.labels)
    assert len(subs) > 2  # several subsets: a mean and its standard error
    with torch.no_grad():
        f_test = net(data.test).double().numpy()
        per = [fid_sqrtm(f_test, net(data.train[s]).double().numpy()) for s in subs]
    assert res["fid_train_test"] == pytest.approx(np.mean(per), rel=1e-6)
    assert res["fid_train_test_stderr"] == pytest.approx(np.std(per, ddof=1) / np.sqrt(len(per)),
                                                         rel=1e-5)  # fmt: skip
    assert res["fid_train_test_draws"] == len(subs)
    # the features it averaged are those of the subsets, in the labels' proportions
    _, f_train = reference_features(data, net, n)
    assert f_train is not None and len(f_train) == len(subs)


class _Fixed(nn.Module):
    """A generator that ignores its noise: every draw is the same set of images."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.images, self.i = images, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.images[self.i : self.i + len(z)]
        self.i = (self.i + len(z)) % len(self.images)
        return out


def _d():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 1), nn.Flatten(0))


def test_fid_draws_average_independent_sets():
    data = load_data("digits")
    kw = dict(n=120, z_dim=4, calibration_steps=5, batch_size=32)
    one = evaluation.evaluate_generator(
        _Fixed(data.train[:120]), _d(), data, generator=torch.Generator().manual_seed(0), **kw
    )
    same = evaluation.evaluate_generator(
        _Fixed(data.train[:120]),
        _d(),
        data,
        fid_draws=3,
        generator=torch.Generator().manual_seed(0),
        **kw,
    )
    assert "fid_stderr" not in one
    assert same["fid"] == pytest.approx(one["fid"], rel=1e-12)  # the same images every draw
    assert same["fid_stderr"] == pytest.approx(0.0, abs=1e-9) and same["fid_draws"] == 3
    # a generator whose draws differ: the mean lies among the draws' FIDs, spread > 0
    moving = _Fixed(data.train[:360])
    res = evaluation.evaluate_generator(
        moving, _d(), data, fid_draws=3, generator=torch.Generator().manual_seed(0), **kw
    )
    per = [evaluation.generated_fid(data.train[i * 120 : (i + 1) * 120], data) for i in range(3)]
    assert res["fid"] == pytest.approx(np.mean(per), rel=1e-9)
    assert res["fid_stderr"] == pytest.approx(np.std(per, ddof=1) / np.sqrt(3), rel=1e-6)


def test_generated_fid_equals_the_sample_metrics_fid():
    data = load_data("digits")
    x = data.train[:150]
    assert evaluation.generated_fid(x, data) == pytest.approx(
        evaluation.sample_metrics(x, data)["fid"], rel=1e-12)  # fmt: skip
    assert evaluation.generated_fid(torch.zeros(10, 2), load_data("ring8")) is None


@pytest.mark.parametrize("bad", [0, -1, True, 2.0])
def test_fid_draws_must_be_a_positive_integer(bad):
    data = load_data("digits")
    with pytest.raises(ValueError, match="fid_draws"):
        evaluation.evaluate_generator(
            _Fixed(data.train[:20]),
            _d(),
            data,
            n=20,
            z_dim=4,
            generator=torch.Generator(),
            fid_draws=bad,
        )


def test_final_fid_draws_config_is_checked():
    with pytest.raises(ValueError, match="final_fid_draws"):
        TrainConfig(final_fid_draws=0)
    assert TrainConfig().final_fid_draws >= 2  # the final FID comes with its standard error
