"""Merging FeatureStats / FID over 2 gloo processes equals the single-process result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import FID, FeatureStats
from metrics.parallel import (
    all_reduce_sum,
    get_rank,
    get_world_size,
    is_distributed,
    sampler_valid_mask,
    shard_range,
)
from tests.metrics._gloo import spawn_gloo

N, D = 11, 4
FAR = 1.2345678901234567e300


def _data():
    rng = np.random.default_rng(7)
    return rng.normal(size=(N, D)) + 3.0, rng.normal(size=(N + 2, D))


def _body(rank: int) -> dict:
    x, y = _data()
    # contiguous shards; rank 1 also gets an empty shard of a second state
    s = FeatureStats(dim=D).update(x[list(shard_range(N))])
    s.all_reduce()
    empty = FeatureStats(dim=D)
    if rank == 0:
        empty.update(x)
    empty.all_reduce()
    # DistributedSampler padding must not be counted twice
    idx = list(torch.utils.data.DistributedSampler(range(N), shuffle=False))
    padded = FeatureStats(dim=D).update(x[idx], valid=sampler_valid_mask(N, len(idx)))
    padded.all_reduce()
    m = FID(dim=D).update_real(x[list(shard_range(N))])
    m.update_fake(y[list(shard_range(N + 2))]).all_reduce()
    # a column equal in every row, far above the others' spread (translation invariance)
    far = FeatureStats(dim=D + 1).update(np.insert(x, 0, FAR, axis=1)[list(shard_range(N))])
    far.all_reduce()
    return {
        "far_mean": far.mean.numpy(),
        "far_cov": far.cov().numpy(),
        "n": s.n,
        "mean": s.mean.numpy(),
        "cov": s.cov().numpy(),
        "empty_cov": empty.cov().numpy(),
        "padded_cov": padded.cov().numpy(),
        "padded_n": padded.n,
        "fid": m.compute(),
        "world": get_world_size(),
    }


@pytest.mark.slow
def test_gloo_merge_equals_single_process(tmp_path):
    ranks = spawn_gloo(_body, tmp_path)
    x, y = _data()
    ref = FeatureStats().update(x)
    ref_fid = FID().update_real(x).update_fake(y).compute()
    for f in ranks:
        assert int(f["world"]) == 2 and int(f["n"]) == N and int(f["padded_n"]) == N
        np.testing.assert_allclose(f["mean"], ref.mean.numpy(), rtol=1e-12)
        for key in ("cov", "empty_cov", "padded_cov"):
            np.testing.assert_allclose(f[key], ref.cov().numpy(), rtol=1e-12, atol=1e-13)
        assert float(f["fid"]) == pytest.approx(ref_fid, rel=1e-10)
        assert f["far_mean"][0] == FAR and not f["far_cov"][0].any()
        np.testing.assert_allclose(f["far_mean"][1:], ref.mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(f["far_cov"][1:, 1:], ref.cov().numpy(), rtol=1e-12, atol=1e-13)


def test_helpers_are_noops_without_a_process_group():
    assert not is_distributed()
    assert get_rank() == 0 and get_world_size() == 1
    t = torch.tensor([1.0, 2.0])
    assert all_reduce_sum(t) is t and t.tolist() == [1.0, 2.0]
    s = FeatureStats().update(np.eye(3))
    before = s.cov().clone()
    s.all_reduce()
    torch.testing.assert_close(s.cov(), before)
    with pytest.raises(ValueError, match="rank must be in"):
        shard_range(3, 2, 2)
    with pytest.raises(ValueError, match="all_reduce needs dim"):
        FeatureStats().all_reduce()
