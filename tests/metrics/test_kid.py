"""KID against dense float64 MMD², subset laws, determinism, class/function agreement, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from divergences.kernels import mmd2
from metrics._types import Score
from metrics.kid import KID, kid
from tests.metrics._oracles import mmd2_poly_unbiased


def _inception_like(rng, n, d, shift=0.0):
    return np.maximum(rng.normal(size=(n, d)) * 0.6 + 0.3 + shift, 0.0)


@pytest.mark.parametrize("n, m, d", [(2, 2, 1), (20, 20, 3), (40, 40, 64)])
def test_full_size_subsets_equal_dense_mmd2(rng, n, m, d):
    # subset_size = N = M: every subset is a permutation of the full sets, so each subset value
    # is the full-sample unbiased MMD² and the std over subsets is 0
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.3
    with pytest.warns(UserWarning, match="every subset is the whole set"):
        s = kid(x, y, subsets=3, subset_size=n, gram_dtype=torch.float64)
    want = mmd2_poly_unbiased(x, y)
    assert s.mean == pytest.approx(want, rel=1e-10, abs=1e-12)
    assert s.std == 0.0 and s.n == 3 and s.subset_size == n and not s.resampled


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_other_degrees_and_float32_products(rng, degree):
    x, y = rng.normal(size=(30, 6)) + 2.0, rng.normal(size=(30, 6)) + 2.2
    want = mmd2_poly_unbiased(x, y, degree=degree)
    assert kid(x, y, subsets=2, subset_size=30, degree=degree).mean == pytest.approx(want, rel=1e-6)


def test_mixed_precision_within_1e6_of_float64(rng):
    x, y = _inception_like(rng, 300, 2048), _inception_like(rng, 300, 2048, shift=0.02)
    want = mmd2_poly_unbiased(x, y)
    got = kid(x, y, subsets=2, subset_size=300)
    assert got.mean == pytest.approx(want, rel=1e-6)
    core = mmd2(torch.tensor(x), torch.tensor(y), kernel="polynomial")
    assert float(core) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("gram_dtype", [torch.float32, torch.float64])
def test_one_implementation_with_core_mmd2(rng, gram_dtype):
    # with subset_size = N = M every subset is a permutation of the full sets: KID's value is
    # the core's mmd2 (same centring, same products), up to summation order
    x, y = _inception_like(rng, 50, 32), _inception_like(rng, 50, 32, shift=0.05)
    got = kid(x, y, subsets=2, subset_size=50, gram_dtype=gram_dtype).mean
    pts = (torch.tensor(x, dtype=gram_dtype), torch.tensor(y, dtype=gram_dtype))
    assert got == pytest.approx(float(mmd2(*pts, kernel="polynomial")), rel=1e-6)
    if gram_dtype == torch.float64:
        assert got == pytest.approx(mmd2(x, y, kernel="polynomial"), rel=1e-11)


def test_seeded_subsets_are_reproducible(rng):
    x, y = rng.normal(size=(100, 5)), rng.normal(size=(90, 5))
    a = kid(x, y, subsets=7, subset_size=30, seed=3)
    assert a == kid(x, y, subsets=7, subset_size=30, seed=3)
    assert a != kid(x, y, subsets=7, subset_size=30, seed=4)
    tx = torch.tensor(x, dtype=torch.float32)
    b = kid(tx, torch.tensor(y, dtype=torch.float32), subsets=7, subset_size=30, seed=3)
    assert b.mean == pytest.approx(a.mean, rel=1e-5, abs=1e-6)


def test_same_distribution_averages_near_zero_and_shift_is_detected():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same = kid(x, y, subsets=30, subset_size=150)
    shifted = kid(x, y + 0.3, subsets=30, subset_size=150)
    assert abs(same.mean) < 3 * same.std / np.sqrt(10)  # subsets overlap: be generous
    assert shifted.mean > 10 * same.std


def test_class_matches_function_and_merge(rng):
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(40, 4))
    a = KID(subsets=4, subset_size=20).update_real(x[:30]).update_fake(y[:10])
    b = KID(subsets=4, subset_size=20).update_real(x[30:]).update_fake(y[10:])
    assert a.merge(b).compute() == kid(x, y, subsets=4, subset_size=20)
    with pytest.raises(ValueError, match="needs real and fake features"):
        a.reset().compute()
    with pytest.raises(TypeError, match="other must be a KID"):
        a.merge(object())


def test_errors_and_warning(rng):
    x = rng.normal(size=(10, 3))
    with pytest.warns(UserWarning, match=r"subset_size=1000 >= both set sizes \(10, 10\)"):
        kid(x, x + 1, subsets=2)
    with pytest.warns(UserWarning, match="subset_size=1000 exceeds the smaller set; using 10"):
        s = kid(x, rng.normal(size=(12, 3)), subsets=4)
    assert s.subset_size == 10 and s.resampled and s.std > 0
    with pytest.raises(ValueError, match="fake needs at least 2 samples"):
        kid(x, x[:1])
    with pytest.raises(ValueError, match="same dimension D"):
        kid(x, rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match="real must be finite"):
        kid(np.full((3, 3), np.nan), x)
    with pytest.raises(ValueError, match="subsets must be >= 1"):
        kid(x, x, subsets=0)
    with pytest.raises(ValueError, match="gamma must be a positive finite number"):
        kid(x, x, gamma=-1.0)
    with pytest.raises(ValueError, match="gram_dtype must be"):
        kid(x, x, gram_dtype=torch.float16)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kid_leaves_inputs_untouched(rng, dtype):
    x, y = rng.normal(size=(60, 5)).astype(dtype) + 3.0, rng.normal(size=(50, 5)).astype(dtype)
    x0, y0 = x.copy(), y.copy()
    kid(x, y, subsets=2, subset_size=20)
    kid(torch.from_numpy(x), torch.from_numpy(y), subsets=2, subset_size=20)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_kid_score_record(rng):
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 1
    s = kid(x, y, subsets=5, subset_size=10)
    assert (s.subset_size, s.resampled) == (10, True)
    mean, std, n = s  # still unpacks and compares as a Score
    assert s == Score(mean, std, n) and n == 5
    back = pickle.loads(pickle.dumps(s))
    assert back == s and (back.subset_size, back.resampled) == (10, True)


def test_kid_at_extreme_magnitudes(rng):
    # the cubic kernel is not scale invariant; large features switch float32 products to
    # float64 (rather than overflow), beyond float64 KID raises, tiny ones warn
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 0.5
    opts = {"subsets": 3, "subset_size": 20}
    for s in (1e20, 1e50):
        got = kid(x * s, y * s, **opts).mean
        want = kid(x * s, y * s, gram_dtype=torch.float64, **opts).mean
        assert np.isfinite(got) and got == pytest.approx(want, rel=1e-9)
        # dominated by the cubic term: KID ≈ s⁶ · KID of the homogeneous kernel
        hom = kid(x, y, coef0=0.0, gram_dtype=torch.float64, **opts).mean
        assert got == pytest.approx(hom * s**6, rel=1e-6)
    for s in (1e60, 1e100, 1e200):
        with pytest.raises(ValueError, match=r"overflows float64; KID is not scale invariant"):
            kid(x * s, y * s, **opts)
    with pytest.warns(UserWarning, match="features are tiny next to coef0"):
        kid(x * 1e-20, y * 1e-20, **opts)
