"""The logged means of an interval: batched at the sync point, equal to the per-step means."""

from __future__ import annotations

import pytest
import torch

from gan.losses import get_loss, loss_names
from gan.training.monitor import StepScalars


def _per_step(loss, rows):
    """The reference: each step's means and estimate, then their mean over the steps (float64)."""
    out = {"loss_d": [], "loss_g": [], "d_real": [], "d_fake": [], loss.estimate_name: []}
    for r, f, ld, lg in rows:
        r, f = r.double(), f.double()
        out["loss_d"].append(float(ld))
        out["loss_g"].append(float(lg))
        out["d_real"].append(float(torch.sigmoid(r).mean() if loss.logistic else r.mean()))
        out["d_fake"].append(float(torch.sigmoid(f).mean() if loss.logistic else f.mean()))
        out[loss.estimate_name].append(float(loss.estimate(r, f)))
    return {k: sum(v) / len(v) for k, v in out.items()}


@pytest.mark.parametrize("name", loss_names())
@pytest.mark.parametrize("sizes", [(64, 64, 64), (5, 7, 1)])
def test_interval_means_equal_the_mean_of_the_steps(name, sizes):
    loss = get_loss(name, alpha=0.5) if name == "fgan-alpha" else get_loss(name)
    g = torch.Generator().manual_seed(len(name))
    rows = []
    for b in sizes:  # equal batches take the stacked route, unequal ones the per-step route
        r = torch.randn(b, generator=g) * 0.8 + 0.3
        f = torch.randn(b, generator=g) * 0.8 - 0.3
        rows.append((r, f, torch.rand((), generator=g), torch.rand((), generator=g)))
    acc = StepScalars()
    for row in rows:
        acc.add(*row)
    got, want = acc.means(loss), _per_step(loss, rows)
    assert list(got) == list(want)
    for k in want:  # float32 sums of O(1) terms over at most 192 logits: 1e-5 is many ulps
        assert got[k] == pytest.approx(want[k], rel=1e-5, abs=1e-6), k
    assert acc.means(loss) == {}  # reset after each interval


def test_reduce_sees_the_stacked_means():
    acc, seen = StepScalars(), []
    acc.add(torch.zeros(4), torch.zeros(4), torch.tensor(1.0), torch.tensor(2.0))
    out = acc.means(get_loss("hinge"), reduce=lambda t: seen.append(t.clone()) or t * 2)
    assert seen[0].shape == (5,)
    assert out == {"loss_d": 2.0, "loss_g": 4.0, "d_real": 0.0, "d_fake": 0.0, "critic_gap": 0.0}
