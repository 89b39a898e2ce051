"""mmd2, energy_distance and median_heuristic against float64 brute force, laws and errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist, pdist
from sklearn.metrics.pairwise import polynomial_kernel

from divergences import energy_distance, median_heuristic, mmd2


def _ref_gram(a, b, kernel, bw=None, degree=3, gamma=None, coef0=1.0):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if kernel == "polynomial":
        return polynomial_kernel(a, b, degree=degree, gamma=gamma, coef0=coef0)
    d = cdist(a, b)
    if kernel == "energy":
        return -d
    bws = np.atleast_1d(bw)
    if kernel == "gaussian":
        return sum(np.exp(-(d**2) / (2 * s**2)) for s in bws)
    return sum(np.exp(-d / s) for s in bws)


def _ref_mmd2(x, y, kernel, unbiased, **kw):
    kxx, kyy, kxy = (_ref_gram(a, b, kernel, **kw) for a, b in ((x, x), (y, y), (x, y)))
    n, m = len(x), len(y)
    if unbiased:
        return (
            (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
            + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean()
        )
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


def _data(rng, n, m, d, dup=False):
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) + 0.3
    if dup:
        x[1::2] = x[0]  # duplicates within x
        y[0] = x[0]  # and across the sets
    return x, y


CASES = [(2, 2, 1, False), (7, 4, 1, True), (13, 9, 3, True), (30, 17, 5, False), (5, 40, 2, True)]


@pytest.mark.parametrize("n, m, d, dup", CASES)
@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "polynomial", "energy"])
@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("tile", [3, 2048])
def test_mmd2_matches_brute_force(rng, n, m, d, dup, kernel, unbiased, tile):
    x, y = _data(rng, n, m, d, dup)
    kw = {"bw": [0.7, 2.0]} if kernel in ("gaussian", "laplace") else {}
    opts = {"bandwidth": kw["bw"]} if kw else {}
    got = mmd2(x, y, kernel=kernel, unbiased=unbiased, tile=tile, **opts)
    assert isinstance(got, float)
    want = _ref_mmd2(x, y, kernel, unbiased, **kw)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-10)


def test_single_point_biased_and_median_default(rng):
    x, y = _data(rng, 1, 6, 2)
    want = _ref_mmd2(x, y, "gaussian", False, bw=np.median(pdist(np.vstack([x, y]))))
    assert mmd2(x, y, unbiased=False) == pytest.approx(want, rel=1e-10)
    assert mmd2(x, y, unbiased=False, bandwidth="median") == pytest.approx(want, rel=1e-10)


def test_kid_parameterisation_matches_sklearn(rng):
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(30, 8)) + 0.1
    kxx, kyy, kxy = (polynomial_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))  # γ=1/D, c0=1
    want = (
        (kxx.sum() - np.trace(kxx)) / (40 * 39)
        + (kyy.sum() - np.trace(kyy)) / (30 * 29)
        - 2 * kxy.mean()
    )
    got = mmd2(x, y, kernel="polynomial", degree=3, gamma=1 / 8, coef0=1)
    assert got == pytest.approx(want, rel=1e-12)
    assert mmd2(x, y, kernel="polynomial") == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("unbiased", [True, False])
def test_polynomial_float32_is_float64_accurate(rng, unbiased):
    # Inception-like features (large common mean, d = 2048): the centred expansion keeps float32
    # inputs within 1e-6 of the float64 value of the same (float32-rounded) points
    x = np.maximum(rng.normal(size=(150, 2048)) * 0.6 + 0.3, 0.0).astype(np.float32)
    y = np.maximum(rng.normal(size=(140, 2048)) * 0.6 + 0.32, 0.0).astype(np.float32)
    want = _ref_mmd2(x, y, "polynomial", unbiased)
    got = mmd2(torch.from_numpy(x), torch.from_numpy(y), kernel="polynomial", unbiased=unbiased)
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(want, rel=1e-6)
    pts = (torch.from_numpy(x), torch.from_numpy(y))
    tiled = mmd2(*pts, kernel="polynomial", unbiased=unbiased, tile=64)
    assert float(tiled) == pytest.approx(want, rel=1e-6)


def test_median_heuristic(rng):
    x, y = _data(rng, 25, 18, 3)
    assert median_heuristic(x, y) == pytest.approx(np.median(pdist(np.vstack([x, y]))), rel=1e-12)
    big = rng.normal(size=(3000, 2))
    a = median_heuristic(big[:1500], big[1500:], max_points=400)
    b = median_heuristic(big[:1500], big[1500:], max_points=400)
    c = median_heuristic(
        big[:1500], big[1500:], max_points=400, generator=torch.Generator().manual_seed(5)
    )
    assert a == b  # deterministic default
    full = np.median(pdist(big[:1000]))
    assert abs(a - full) < 0.1 * full and abs(c - full) < 0.1 * full


def test_energy_distance_matches_scipy_1d(rng):
    for n, m in [(1, 1), (1, 5), (9, 4), (30, 30)]:
        u, v = rng.normal(size=n), rng.exponential(size=m)
        u[: n // 2] = u[0]
        ref = scipy.stats.energy_distance(u, v)  # = sqrt of the Székely–Rizzo statistic
        got2 = energy_distance(u[:, None], v[:, None])
        assert got2 == pytest.approx(ref**2, rel=1e-9, abs=1e-12)
        assert energy_distance(u[:, None], v[:, None], squared=False) == pytest.approx(
            ref, rel=1e-9, abs=1e-9
        )


def test_energy_distance_nd_and_unbiased(rng):
    x, y = _data(rng, 12, 7, 4, dup=True)
    dxy, dxx, dyy = cdist(x, y), cdist(x, x), cdist(y, y)
    assert energy_distance(x, y) == pytest.approx(
        2 * dxy.mean() - dxx.mean() - dyy.mean(), rel=1e-10
    )
    u = 2 * dxy.mean() - dxx.sum() / (12 * 11) - dyy.sum() / (7 * 6)
    assert energy_distance(x, y, unbiased=True) == pytest.approx(u, rel=1e-10)


def test_unbiased_mmd2_averages_zero_under_the_null():
    g = torch.Generator().manual_seed(1)
    vals_u, vals_b = [], []
    for _ in range(300):
        x = torch.randn(20, 2, generator=g, dtype=torch.float64)
        y = torch.randn(15, 2, generator=g, dtype=torch.float64)
        vals_u.append(float(mmd2(x, y, bandwidth=1.0)))
        vals_b.append(float(mmd2(x, y, bandwidth=1.0, unbiased=False)))
    u = np.array(vals_u)
    assert abs(u.mean()) < 3 * u.std(ddof=1) / np.sqrt(len(u))
    assert np.mean(vals_b) > 5 * u.std(ddof=1) / np.sqrt(len(u))  # the V-statistic is biased up


def test_separates_distributions():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(300, 2, generator=g, dtype=torch.float64)
    y = torch.randn(300, 2, generator=g, dtype=torch.float64) + 1.0
    z = torch.randn(300, 2, generator=g, dtype=torch.float64)
    for kernel in ("gaussian", "laplace", "energy"):
        assert float(mmd2(x, y, kernel=kernel)) > 20 * abs(float(mmd2(x, z, kernel=kernel)))


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "polynomial", "energy"])
def test_torch_dtype_device_and_gradient(device, kernel):
    g = torch.Generator().manual_seed(3)
    x32 = torch.randn(9, 3, generator=g).to(device)
    y32 = torch.randn(6, 3, generator=g).to(device)
    bw = 1.5 if kernel in ("gaussian", "laplace") else None
    out = mmd2(x32, y32, kernel=kernel, bandwidth=bw)
    assert out.dtype == torch.float32 and out.device == x32.device and out.ndim == 0
    ref = mmd2(x32.double().cpu().numpy(), y32.double().cpu().numpy(), kernel=kernel, bandwidth=bw)
    assert float(out) == pytest.approx(ref, rel=1e-4, abs=1e-5)
    x = x32.double().requires_grad_()
    y = y32.double().requires_grad_()

    def f(a, b):
        return mmd2(a, b, kernel=kernel, bandwidth=bw, tile=4)

    assert torch.autograd.gradcheck(f, (x, y))
    gx_tiled = torch.autograd.grad(f(x, y), x)[0]
    gx_dense = torch.autograd.grad(mmd2(x, y, kernel=kernel, bandwidth=bw), x)[0]
    torch.testing.assert_close(gx_tiled, gx_dense)


def test_gradient_finite_with_duplicates():
    x = torch.zeros(4, 2, dtype=torch.float64, requires_grad=True)
    y = torch.ones(3, 2, dtype=torch.float64)
    for kernel in ("laplace", "energy"):
        bw = 1.0 if kernel == "laplace" else None
        (gx,) = torch.autograd.grad(mmd2(x, y, kernel=kernel, bandwidth=bw), x)
        assert torch.isfinite(gx).all()


finite = st.floats(-5, 5, allow_nan=False, width=64)


@st.composite
def pairs(draw):
    d = draw(st.integers(1, 3))
    n, m = draw(st.integers(2, 8)), draw(st.integers(2, 8))
    x = draw(arrays(np.float64, (n, d), elements=finite))
    y = draw(arrays(np.float64, (m, d), elements=finite))
    return x, y


KERNEL_OPTS = [("gaussian", 1.3), ("laplace", 0.8), ("energy", None), ("polynomial", None)]


@settings(max_examples=150)
@given(pairs(), st.sampled_from(KERNEL_OPTS), st.booleans(), st.integers(0, 10**6))
def test_laws(xy, kopt, unbiased, seed):
    x, y = xy
    kernel, bw = kopt
    scale = 1.0 + np.abs(np.vstack([x, y])).max() ** 3
    tol = 1e-9 * scale

    def f(a, b, **kw):
        return mmd2(a, b, kernel=kernel, bandwidth=bw, unbiased=unbiased, **kw)

    v = f(x, y)
    assert abs(v - f(y, x)) <= tol  # symmetric
    p = np.random.default_rng(seed)
    assert abs(v - f(x[p.permutation(len(x))], y[p.permutation(len(y))])) <= tol  # permutation
    assert abs(v - f(x, y, tile=2)) <= tol  # tiling
    if not unbiased:
        assert abs(f(x, x)) <= tol  # zero on identical sets
        assert v >= -tol  # V-statistic of a p.d. (or conditionally p.d.) kernel
    if kernel != "polynomial":
        shift = p.normal(size=x.shape[1]) * 3
        assert abs(v - f(x + shift, y + shift)) <= tol  # translation invariant


def _bad_inputs():
    x = torch.randn(5, 3)
    return [
        ((x, torch.randn(4, 2)), ValueError, r"same dimension D.*\(5, 3\).*\(4, 2\)"),
        ((x, torch.randn(0, 3)), ValueError, r"y is empty \(shape \(0, 3\)\)"),
        ((x, torch.tensor([[float("nan")] * 3])), ValueError, "y must be finite, found 3 NaN"),
        ((x, torch.tensor([[float("inf")] * 3])), ValueError, "y must be finite.*3 inf"),
        ((torch.ones(5, 3, dtype=torch.int64), x), TypeError, "x must be a floating-point"),
        ((x, torch.randn(4, 3, device="meta")), ValueError, "one device.*x on cpu, y on meta"),
        ((torch.randn(5), x), ValueError, r"x must have shape \(N, D\), got \(5,\)"),
        ((x, x.double()), TypeError, "same dtype"),
        (("abc", x), TypeError, "x must be an array or tensor"),
    ]


@pytest.mark.parametrize("args, exc, match", _bad_inputs())
def test_bad_inputs(args, exc, match):
    with pytest.raises(exc, match=match):
        mmd2(*args, bandwidth=1.0)


def test_bad_options():
    x, y = torch.randn(5, 2), torch.randn(4, 2)
    with pytest.raises(ValueError, match="kernel must be one of"):
        mmd2(x, y, kernel="rbf")
    with pytest.raises(ValueError, match=r"at least 2 points.*x with shape \(1, 2\)"):
        mmd2(x[:1], y)
    with pytest.raises(ValueError, match="bandwidth is not used by the 'polynomial'"):
        mmd2(x, y, kernel="polynomial", bandwidth=1.0)
    with pytest.raises(ValueError, match=r"bandwidth must be finite and > 0, got \[1.0, -2.0\]"):
        mmd2(x, y, bandwidth=[1.0, -2.0])
    with pytest.raises(ValueError, match="bandwidth must be 'median'"):
        mmd2(x, y, bandwidth="silverman")
    with pytest.raises(ValueError, match="median heuristic gave bandwidth 0"):
        mmd2(torch.zeros(5, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="gamma must be finite and > 0"):
        mmd2(x, y, kernel="polynomial", gamma=0.0)
    with pytest.raises(ValueError, match="coef0 must be finite and >= 0"):
        mmd2(x, y, kernel="polynomial", coef0=-1.0)
    with pytest.raises(TypeError, match="degree must be an integer"):
        mmd2(x, y, kernel="polynomial", degree=2.5)
    with pytest.raises(ValueError, match="tile must be >= 1"):
        mmd2(x, y, tile=0)
    with pytest.raises(ValueError, match="squared=False needs unbiased=False"):
        energy_distance(x, y, squared=False, unbiased=True)
    with pytest.raises(ValueError, match="max_points must be >= 2"):
        median_heuristic(x, y, max_points=1)


def test_mixed_numpy_and_torch():
    x = torch.randn(6, 2)
    out = mmd2(x, x.numpy() + 1.0, bandwidth=1.0)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
