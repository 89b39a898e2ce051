"""FeatureStats: moments against NumPy, Chan merge laws, files, padding masks, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import FeatureStats, fid_from_stats
from metrics.parallel import sampler_valid_mask, shard_range


def _close(s: FeatureStats, x: np.ndarray) -> None:
    assert s.n == len(x)
    np.testing.assert_allclose(s.mean.numpy(), x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        s.cov().numpy(), np.atleast_2d(np.cov(x, rowvar=False)), rtol=1e-10, atol=1e-10
    )
    np.testing.assert_allclose(
        s.cov(unbiased=False).numpy(),
        np.atleast_2d(np.cov(x, rowvar=False, bias=True)),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("n, d", [(2, 1), (3, 5), (50, 1), (200, 7), (40, 300)])
def test_moments_match_numpy(rng, n, d):
    x = rng.normal(size=(n, d)) * 3 + 100.0  # a large offset: the centred update must not cancel
    _close(FeatureStats().update(x), x)


def test_duplicates_and_float32_tensor(rng):
    x = np.repeat(rng.normal(size=(5, 4)), 3, axis=0)
    s = FeatureStats().update(torch.tensor(x, dtype=torch.float32))
    assert s.mean.dtype == torch.float64
    _close(s, x.astype(np.float32).astype(np.float64))


def test_large_chunked_update_matches(rng, monkeypatch):
    import metrics.stats as ms

    monkeypatch.setattr(ms, "_ROWS_PER_CHUNK", 7)
    x = rng.normal(size=(53, 3))
    _close(FeatureStats().update(x), x)


def test_blocked_gram_matches_plain(rng):
    from metrics.stats import _gram

    x = torch.tensor(rng.normal(size=(30, 1100)))
    torch.testing.assert_close(_gram(x), x.T @ x, rtol=1e-12, atol=1e-10)  # dsyrk (CPU f64)
    xt = torch.tensor(rng.normal(size=(1100, 30))).T  # non-contiguous input
    torch.testing.assert_close(_gram(xt), xt.T @ xt, rtol=1e-12, atol=1e-10)
    x32 = x.float()  # the blocked upper-triangle path (used on accelerators)
    torch.testing.assert_close(_gram(x32), x32.T @ x32, rtol=1e-5, atol=1e-3)


@settings(max_examples=60)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 6),
    cuts=st.lists(st.integers(0, 40), max_size=4),
    seed=st.integers(0, 2**16),
)
def test_merge_of_any_split_equals_union(n, d, cuts, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)) + 5.0
    edges = sorted({0, n, *[c % (n + 1) for c in cuts]})
    parts = [FeatureStats().update(x[a:b]) for a, b in itertools.pairwise(edges)]
    merged = FeatureStats()
    for p in parts:
        merged.merge(p)
    _close(merged, x)
    # streaming updates in the same pieces agree as well
    streamed = FeatureStats()
    for a, b in itertools.pairwise(edges):
        streamed.update(x[a:b])
    _close(streamed, x)


def test_merge_is_order_independent(rng):
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(17, 3)) + 2
    ab = FeatureStats().update(a).merge(FeatureStats().update(b))
    ba = FeatureStats().update(b).merge(FeatureStats().update(a))
    torch.testing.assert_close(ab.cov(), ba.cov(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ab.mean, ba.mean, rtol=1e-12, atol=1e-12)


def test_valid_mask_skips_rows(rng):
    x = rng.normal(size=(9, 2))
    mask = np.array([1, 1, 0, 1, 0, 1, 1, 1, 0], bool)
    _close(FeatureStats().update(x, valid=mask), x[mask])


def test_distributed_sampler_padding_is_masked(rng):
    sampler_cls = torch.utils.data.DistributedSampler
    x = rng.normal(size=(7, 3))
    merged = FeatureStats()
    for rank in range(3):
        idx = list(sampler_cls(range(7), num_replicas=3, rank=rank, shuffle=False))
        mask = sampler_valid_mask(7, len(idx), rank=rank, world_size=3)
        merged.merge(FeatureStats(dim=3).update(x[idx], valid=mask))
    _close(merged, x)


def test_shard_range_partitions():
    for n in range(0, 12):
        for w in range(1, 5):
            got = [i for r in range(w) for i in shard_range(n, r, w)]
            assert got == list(range(n))


def test_save_load_roundtrip_and_pytorch_fid_layout(tmp_path, rng):
    x = rng.normal(size=(30, 4))
    s = FeatureStats().update(x)
    s.save(tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz") as f:
        np.testing.assert_allclose(f["mu"], x.mean(0))
        np.testing.assert_allclose(f["sigma"], np.cov(x, rowvar=False))
        assert int(f["n"]) == 30
    back = FeatureStats.load(tmp_path / "s.npz")
    _close(back, x)
    # a saved file is never clobbered unless asked
    before = (tmp_path / "s.npz").read_bytes()
    with pytest.raises(ValueError, match=r"s\.npz' exists"):
        FeatureStats().update(x[:5]).save(tmp_path / "s.npz")
    assert (tmp_path / "s.npz").read_bytes() == before
    FeatureStats().update(x[:5]).save(tmp_path / "s.npz", overwrite=True)
    assert FeatureStats.load(tmp_path / "s.npz").n == 5
    s.save(tmp_path / "s.npz", overwrite=True)
    back.update(x[:3])  # mergeable: the count was saved
    _close(back, np.concatenate([x, x[:3]]))
    # a pytorch-fid file: mu and sigma only
    np.savez(tmp_path / "ref.npz", mu=x.mean(0), sigma=np.cov(x, rowvar=False))
    ref = FeatureStats.load(tmp_path / "ref.npz")
    assert ref.n is None
    assert fid_from_stats(ref, s) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="without a sample count"):
        ref.update(x)
    with pytest.raises(ValueError, match="without a sample count"):
        s.merge(ref)


def test_load_rejects_pickles_and_missing_keys(tmp_path):
    np.savez(tmp_path / "obj.npz", mu=np.array([{"a": 1}], dtype=object), sigma=np.eye(1))
    with pytest.raises(ValueError, match="holds Python objects, which are never loaded") as e:
        FeatureStats.load(tmp_path / "obj.npz")
    assert "allow_pickle" not in str(e.value)
    np.savez(tmp_path / "bad.npz", mean=np.zeros(2))
    with pytest.raises(ValueError, match="'mu' and 'sigma'"):
        FeatureStats.load(tmp_path / "bad.npz")


def test_errors(rng):
    s = FeatureStats().update(rng.normal(size=(3, 2)))
    with pytest.raises(ValueError, match="dimension D=3, but these statistics have D=2"):
        s.update(rng.normal(size=(3, 3)))
    with pytest.raises(ValueError, match=r"features must be finite, found 1 NaN"):
        s.update(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match=r"features must have shape \(N, D\)"):
        s.update(np.zeros(3))
    with pytest.raises(ValueError, match="at least 2 samples, got n=1"):
        FeatureStats().update(np.zeros((1, 2))).cov()
    with pytest.raises(ValueError, match="empty"):
        _ = FeatureStats().mean
    with pytest.raises(ValueError, match=r"valid must have shape \(3,\)"):
        s.update(np.zeros((3, 2)), valid=[True])
    with pytest.raises(ValueError, match="symmetric"):
        FeatureStats.from_moments(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"cov must have shape \(2, 2\)"):
        FeatureStats.from_moments(np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        FeatureStats.from_moments(np.zeros(2), np.eye(2), n=1)
    with pytest.raises(TypeError, match="other must be a FeatureStats"):
        s.merge(np.zeros(2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_update_leaves_inputs_untouched(rng, dtype):
    x = rng.normal(size=(40, 6)).astype(dtype) + 2.0
    x0 = x.copy()
    FeatureStats().update(x)
    FeatureStats().update(torch.from_numpy(x))
    assert np.array_equal(x, x0)


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_streaming_state_at_extreme_magnitudes(rng, scale):
    # the scatter matrix of such features over- or underflows float64; the state keeps a
    # power-of-two exponent, so update/merge equal the unit-scale statistics times the scale
    x = rng.normal(size=(90, 3)) + np.array([1.0, -2.0, 0.5])
    s = FeatureStats().update(x[:10] * scale).update(x[10:40] * scale)
    s.merge(FeatureStats().update(x[40:] * scale))
    ref = FeatureStats().update(x)
    np.testing.assert_allclose(s.mean.numpy(), ref.mean.numpy() * scale, rtol=1e-12)
    c, e = s._scaled_cov()
    mant, k = math.frexp(scale)  # scale² / 4**e = mant² 4**(k - e), k - e is small
    np.testing.assert_allclose(c.numpy(), ref.cov().numpy() * mant**2 * 4.0 ** (k - e),
                               rtol=1e-10)  # fmt: skip
    # batches at very different scales merge exactly (one exponent for both)
    far = FeatureStats().update(x[:45]).merge(FeatureStats().update(x[45:] * 2.0**600))
    union = np.vstack([x[:45], x[45:] * 2.0**600]) / 2.0**600
    cf, ef = far._scaled_cov()
    np.testing.assert_allclose(cf.numpy() * 4.0 ** (ef - 600), np.cov(union, rowvar=False),
                               rtol=1e-10)  # fmt: skip


def test_unrepresentable_covariance_is_refused_and_never_saved(tmp_path, rng):
    s = FeatureStats().update(rng.normal(size=(20, 2)) * 1e200)
    with pytest.raises(ValueError, match=r"covariance overflows float64.*1e154"):
        s.cov()
    with pytest.raises(ValueError, match="covariance overflows"):
        s.save(tmp_path / "big.npz")
    assert not list(tmp_path.iterdir())
    ok = FeatureStats().update(rng.normal(size=(20, 2)) * 1e-200)
    ok.save(tmp_path / "small.npz")
    back = FeatureStats.load(tmp_path / "small.npz")
    np.testing.assert_allclose(back.cov().numpy(), ok.cov().numpy(), rtol=1e-15)
    assert fid_from_stats(back, ok) == 0.0


def test_load_refuses_non_finite_statistics(tmp_path):
    np.savez(tmp_path / "nan.npz", mu=np.array([0.0, np.nan]), sigma=np.eye(2))
    with pytest.raises(ValueError, match="mean must be finite"):
        FeatureStats.load(tmp_path / "nan.npz")
    np.savez(tmp_path / "inf.npz", mu=np.zeros(2), sigma=np.diag([1.0, np.inf]))
    with pytest.raises(ValueError, match="cov must be finite"):
        FeatureStats.load(tmp_path / "inf.npz")
    np.savez(tmp_path / "neg.npz", mu=np.zeros(2), sigma=np.diag([1.0, -1.0]) * 1e-200)
    with pytest.raises(ValueError, match="cov must be positive semi-definite"):
        FeatureStats.load(tmp_path / "neg.npz")


@pytest.mark.parametrize("separate", [False, True])
def test_a_column_far_below_another_keeps_its_own_precision(separate):
    # hypothesis found it: a shared exponent for the mean's merge flushed the small column to
    # subnormals (relative error 7e-13); the float64 reference is exact to one rounding here
    x = np.array([[1.59667225e293, -1.32104863e-17], [1.59667225e293, 1.04900117e-17]])
    s = FeatureStats().update(x[:1])
    s = s.merge(FeatureStats().update(x[1:])) if separate else s.update(x[1:])
    mean = s.mean.numpy()
    assert mean[0] == x[0, 0]
    np.testing.assert_allclose(mean[1], (x[0, 1] + x[1, 1]) / 2, rtol=4 * np.finfo(float).eps)
    far = np.array([[-1.7e308, 1e-300], [1.7e308, 3e-300]])  # b - a overflows in column 0
    s = FeatureStats().update(far[:1]).merge(FeatureStats().update(far[1:]))
    np.testing.assert_allclose(s.mean.numpy(), [0.0, 2e-300], rtol=4 * np.finfo(float).eps,
                               atol=1e-292)  # fmt: skip
