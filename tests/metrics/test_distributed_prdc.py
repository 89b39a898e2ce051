"""Sharded precision/recall and density/coverage over 2 gloo processes equal one process."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import density_coverage, prdc, precision_recall
from metrics.parallel import broadcast_shards
from tests.metrics._gloo import spawn_gloo


def _data():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(41, 3))
    x[5] = x[30]  # a duplicate across the two shards: distance 0, not the point itself
    y = rng.normal(size=(33, 3)) * 1.2 + 0.3
    y[2] = x[7]  # a fake exactly on a real point
    return x * 1e200, y * 1e200  # the power-of-two rescaling must be global


SPLITS = [((0, 30), (0, 5)), ((30, 41), (5, 33))]  # unequal shares


def _body(rank: int) -> dict:
    x, y = _data()
    (a, b), (c, d) = SPLITS[rank]
    xs, ys = x[a:b], y[c:d]
    return {
        "pr": tuple(precision_recall(xs, ys, k=3, sharded=True)),
        "dc": tuple(density_coverage(xs, ys, k=5, sharded=True)),
        "prdc": tuple(prdc(xs, ys, k=4, sharded=True)),
        # a rank without fakes still takes part
        "empty": tuple(prdc(xs, y[:0] if rank == 0 else y, k=4, sharded=True)),
    }


@pytest.mark.slow
def test_sharded_prdc_equals_one_process(tmp_path):
    ranks = spawn_gloo(_body, tmp_path)
    x, y = _data()
    want = {
        "pr": tuple(precision_recall(x, y, k=3)),
        "dc": tuple(density_coverage(x, y, k=5)),
        "prdc": tuple(prdc(x, y, k=4)),
        "empty": tuple(prdc(x, y, k=4)),
    }
    for rank, f in enumerate(ranks):
        for key, value in want.items():
            # the same exact ball decisions: counts, hence ratios, are identical
            assert tuple(f[key].tolist()) == value, (rank, key)


def test_broadcast_shards_is_one_step_alone():
    t = torch.arange(3.0)
    steps = list(broadcast_shards(t, t * 2))
    assert len(steps) == 1 and steps[0][0] and torch.equal(steps[0][1][1], t * 2)


def test_sharded_alone_equals_unsharded():
    x, y = _data()
    assert prdc(x, y, k=4, sharded=True) == prdc(x, y, k=4)
    with pytest.raises(ValueError, match="real needs more than k=3"):
        precision_recall(x[:3], y, k=3, sharded=True)
