"""FID: against scipy's sqrtm route and an SVD oracle, closed forms, invariances, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import divergences
from metrics import FID, FeatureStats, fid, fid_from_moments, fid_from_stats
from tests.metrics._oracles import fid_nuclear, fid_sqrtm


@pytest.mark.parametrize("n, m, d", [(500, 400, 1), (300, 307, 8), (600, 500, 64)])
def test_agrees_with_scipy_sqrtm_route(rng, n, m, d):
    a = rng.normal(size=(d, d))
    x = rng.normal(size=(n, d)) @ a + 1.0
    y = rng.normal(size=(m, d)) * 1.5 - 0.3
    got = fid(x, y)
    assert got == pytest.approx(fid_sqrtm(x, y), rel=1e-6)
    assert got == pytest.approx(fid_nuclear(x, y), rel=1e-9)


@pytest.mark.parametrize("n, m, d", [(5, 9, 20), (2, 2, 3), (30, 40, 50), (60, 10, 64)])
def test_singular_covariances_n_below_d(rng, n, m, d):
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.5
    got = fid(x, y)
    assert isinstance(got, float)
    assert got == pytest.approx(fid_nuclear(x, y), rel=1e-9, abs=1e-9)


def test_identical_sets_give_zero(rng):
    x = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20))
    assert abs(fid(x, x)) < 1e-8
    x = rng.normal(size=(10, 30))  # singular
    assert abs(fid(x, x)) < 1e-8
    s = FeatureStats().update(x)
    assert fid_from_stats(s, s) < 1e-8


def test_permutation_of_dimensions_is_invariant(rng):
    x, y = rng.normal(size=(200, 12)), rng.normal(size=(150, 12)) * 2
    perm = rng.permutation(12)
    assert fid(x[:, perm], y[:, perm]) == pytest.approx(fid(x, y), rel=1e-10)
    rows = rng.permutation(200)
    assert fid(x[rows], y) == pytest.approx(fid(x, y), rel=1e-10)


def test_gaussian_closed_form_commuting():
    mu1, mu2 = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 1.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.0])  # cov2 is singular
    want = 1 + 4 + 4 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert fid_from_moments(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-12)


def _spd2(seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(2, 2))
    return a @ a.T + 0.05 * np.eye(2)


@settings(max_examples=100)
@given(s1=st.integers(0, 10**6), s2=st.integers(0, 10**6))
def test_gaussian_closed_form_2x2(s1, s2):
    # for 2x2: (tr sqrt(AB))^2 = tr(AB) + 2 sqrt(det(AB)) (both eigenvalues are >= 0)
    a, b = _spd2(s1), _spd2(s2)
    tr_sqrt = np.sqrt(np.trace(a @ b) + 2 * np.sqrt(np.linalg.det(a) * np.linalg.det(b)))
    want = np.trace(a) + np.trace(b) - 2 * tr_sqrt
    got = fid_from_moments(np.zeros(2), a, np.zeros(2), b)
    assert got == pytest.approx(max(want, 0.0), rel=1e-9, abs=1e-10)


@settings(max_examples=40)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 30), d=st.integers(1, 8))
def test_laws_nonnegative_symmetric_translation(seed, n, d):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n + 3, d)) * 2
    v = fid(x, y)
    assert v >= 0
    assert fid(y, x) == pytest.approx(v, rel=1e-8, abs=1e-9)
    shift = rng.normal(size=d) * 10
    assert fid(x + shift, y + shift) == pytest.approx(v, rel=1e-7, abs=1e-8)
    assert v == pytest.approx(fid_nuclear(x, y), rel=1e-7, abs=1e-8)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    offset=st.floats(-1.7e308, 1.7e308, allow_nan=False),
    k=st.integers(-400, 400),
    d=st.integers(1, 4),
)
def test_translation_by_any_offset_in_a_column_without_spread(seed, offset, k, d):
    """Features with one extra column holding the same value (any, up to 1e308) in every
    row, next to columns of spread 2**k: FID is that of the other columns, by the function,
    the streaming class, the differentiable path and from moments (FID sees mu1 - mu2 only).
    Tolerance: the same data, centred on different constants, round differently (1e-9)."""
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(20, d)) * 2.0**k, (r.normal(size=(15, d)) + 0.5) * 2.0**k
    want = fid(x, y)
    xo, yo = (np.insert(a, 0, offset, axis=1) for a in (x, y))
    tol = {"rel": 1e-9, "abs": 1e-12 * 4.0**k}
    assert fid(xo, yo) == pytest.approx(want, **tol)
    assert FID().update_real(xo).update_fake(yo).compute() == pytest.approx(want, **tol)
    xt = torch.tensor(xo, requires_grad=True)
    assert float(fid(xt, torch.tensor(yo))) == pytest.approx(want, **tol)
    m1, m2 = xo.mean(0), yo.mean(0)
    m1[0] = m2[0] = offset
    c1, c2 = (np.cov(np.insert(a, 0, 0.0, axis=1), rowvar=False) for a in (x, y))
    if 4.0**k * 100 < 1e300:  # fid_from_moments takes covariances, which must be finite
        assert fid_from_moments(m1, c1, m2, c2) == pytest.approx(want, rel=1e-8, abs=tol["abs"])


def test_torch_in_torch_out_and_gradients(rng, device):
    x = torch.tensor(rng.normal(size=(40, 3)), dtype=torch.float32, device=device)
    y = torch.tensor(rng.normal(size=(30, 3)), dtype=torch.float32, device=device) + 1
    v = fid(x, y)
    assert isinstance(v, torch.Tensor) and v.dtype == torch.float32 and v.device == x.device
    assert float(v) == pytest.approx(
        fid(x.double().cpu().numpy(), y.double().cpu().numpy()), rel=1e-5
    )
    xd = torch.tensor(rng.normal(size=(8, 3)), requires_grad=True)
    yd = torch.tensor(rng.normal(size=(9, 3)) + 0.5)
    assert torch.autograd.gradcheck(lambda a: fid(a, yd), (xd,))
    m = torch.tensor([0.5, 0.0], dtype=torch.float32)
    out = fid_from_moments(m, torch.eye(2), torch.zeros(2), torch.eye(2))
    assert out.dtype == torch.float32 and float(out) == pytest.approx(0.25)


def test_class_matches_function_and_merges(rng):
    x, y = rng.normal(size=(100, 5)), rng.normal(size=(80, 5)) + 0.2
    a, b = FID(), FID()
    a.update_real(x[:60]).update_fake(y[:10])
    b.update_real(x[60:]).update_fake(y[10:])
    assert a.merge(b).compute() == pytest.approx(fid(x, y), rel=1e-10)
    ref = FeatureStats().update(x)
    m = FID(reference=ref).update_fake(y)
    assert m.compute() == pytest.approx(fid(x, y), rel=1e-10)
    m.reset_fake().update_fake(x)
    assert m.compute() < 1e-8
    with pytest.raises(ValueError, match="empty"):
        m.reset().compute()


def test_errors(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="same dimension D"):
        fid(x, rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match="fake needs at least 2 samples"):
        fid(x, x[:1])
    with pytest.raises(ValueError, match="real must be finite, found 0 NaN and 1 inf"):
        fid(np.vstack([x, [[np.inf, 0, 0]]]), x)
    with pytest.raises(ValueError, match=r"real must have shape \(N, D\)"):
        fid(x[0], x)
    with pytest.raises(ValueError, match=r"cov1 must have shape \(2, 2\)"):
        fid_from_moments(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="cov2 must be symmetric"):
        fid_from_moments(np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, 1], [0, 1]]))
    with pytest.raises(ValueError, match="mu1 and mu2 must have the same dimension"):
        fid_from_moments(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="cov1 must be positive semi-definite"):
        fid_from_moments(np.zeros(2), np.diag([1.0, -0.5]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="cov must be positive semi-definite"):
        FeatureStats.from_moments(np.zeros(2), np.diag([1.0, -0.5]))
    with pytest.raises(TypeError, match="real must be a FeatureStats"):
        fid_from_stats(x, FeatureStats())


def test_one_implementation_with_the_core(rng):
    # metrics' doors and divergences.frechet_distance compute the same thing, bit for bit
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(9, 6)) + 0.2  # y's covariance is singular
    core = divergences.frechet_distance(
        x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    )
    sx, sy = FeatureStats().update(x), FeatureStats().update(y)
    door = fid_from_moments(sx.mean.numpy(), sx.cov().numpy(), sy.mean.numpy(), sy.cov().numpy())
    assert door == divergences.frechet_distance(
        sx.mean.numpy(), sx.cov().numpy(), sy.mean.numpy(), sy.cov().numpy()
    )
    assert fid(x, y) == pytest.approx(core, rel=1e-12)
    assert fid_from_stats(sx, sy) == pytest.approx(core, rel=1e-12)


def test_gradient_with_fewer_samples_than_dimensions(rng):
    # n < d: both covariances singular; the FID is still differentiable in the features
    x = torch.tensor(rng.normal(size=(4, 7)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(5, 7)) + 0.3)
    assert torch.autograd.gradcheck(lambda a: fid(a, y), (x,))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(-1000, 500), d=st.integers(1, 6))
def test_scale_covariance_by_powers_of_two(seed, k, d):
    # FID(c a, c b) = c² FID(a, b); c = 2**k scales the inputs exactly, so only the
    # computation's own rounding (relative) separates the two sides; below 2**-1022 the
    # result is subnormal (absolute precision 2**-1074)
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(40, d)), r.normal(size=(30, d)) * 1.5 + 0.5
    c = 2.0**k
    want = math.ldexp(fid(x, y), 2 * k)
    assert fid(x * c, y * c) == pytest.approx(want, rel=1e-9, abs=1e-321)
    mu1, mu2 = x.mean(0) * c, y.mean(0) * c
    c1 = np.atleast_2d(np.cov(x, rowvar=False)) * c * c
    c2 = np.atleast_2d(np.cov(y, rowvar=False)) * c * c
    if want > 1e-300:  # the covariances themselves are normal floats
        assert fid_from_moments(mu1, c1, mu2, c2) == pytest.approx(want, rel=1e-8)


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-150, 1e-20, 1e20, 1e150])
def test_extreme_magnitudes_against_sqrtm(rng, scale):
    x, y = rng.normal(size=(200, 4)), rng.normal(size=(150, 4)) @ np.diag([1, 2, 0.5, 1]) + 0.3
    want = fid_sqrtm(x, y)
    got = fid(x * scale, y * scale)
    if scale**2 > 1e-290:  # the FID itself is a normal float64
        assert got == pytest.approx(want * scale**2, rel=1e-7)
    else:  # below float64's range: correctly rounded towards 0, never NaN
        assert 0.0 <= got < 1e-290
    sx = FeatureStats().update(x[:77] * scale).update(x[77:] * scale)
    sy = FeatureStats().merge(FeatureStats().update(y * scale))
    assert fid_from_stats(sx, sy) == pytest.approx(got, rel=1e-9, abs=0.0)
    t = fid(torch.tensor(x * scale), torch.tensor(y * scale, requires_grad=True))
    assert float(t) == pytest.approx(got, rel=1e-9, abs=0.0)


def test_fid_beyond_float64_raises_a_clear_error(rng):
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(50, 3)) + 1
    for s in (1e160, 1e200, 1e300):
        with pytest.raises(ValueError, match=r"FID ~ 1e\d+\.\d is beyond torch.float64's range"):
            fid(x * s, y * s)
    # statistics at 1e200 are still exact; FID of the same set is 0
    a = FeatureStats().update(x * 1e200)
    assert fid_from_stats(a, FeatureStats().update(x * 1e200)) == 0.0
    with pytest.raises(ValueError, match="covariance overflows float64"):
        a.cov()
    # float32 tensors: the result must fit float32
    xt, yt = torch.tensor(x * 1e19, dtype=torch.float32), torch.tensor(y * 1e19).float()
    with pytest.raises(ValueError, match=r"beyond torch\.float32's range"):
        fid(xt, yt)
    assert float(fid(xt / 1e10, yt / 1e10)) == pytest.approx(fid(x, y) * 1e18, rel=1e-4)


def test_moments_at_extreme_magnitudes():
    cov1, cov2 = np.diag([4.0, 1.0]), np.diag([1.0, 2.0])
    want = 9 + 8 - 2 * (2 + np.sqrt(2))
    for s in (1e-150, 1e-100, 1e100, 1e150):
        got = fid_from_moments([0.0, 0.0], cov1 * s * s, [3.0 * s, 0.0], cov2 * s * s)
        assert got == pytest.approx(want * s * s, rel=1e-12)
    with pytest.raises(ValueError, match="cov1 must be positive semi-definite"):
        fid_from_moments(np.zeros(2), np.diag([1.0, -0.5]) * 1e-250, np.zeros(2), np.eye(2))
