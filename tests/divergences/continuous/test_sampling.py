"""inverse_cdf_sample and empirical_quantile_sample: Kolmogorov–Smirnov tests, agreement with
exact quantile functions (scipy ppf, numpy.quantile) on the same uniforms, laws and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from divergences.continuous.sampling import empirical_quantile_sample, inverse_cdf_sample


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _same_uniforms(n, seed):
    """The uniforms the samplers draw from ``_gen(seed)`` (torch.rand in float64)."""
    u = torch.rand(n, generator=_gen(seed), dtype=torch.float64).numpy()
    return np.where(u > 0, u, 2.0**-54)


class _Mixture:
    """0.3 N(−2, 0.5²) + 0.7 N(1.5, 1): a CDF without a closed-form inverse."""

    w, comps = (0.3, 0.7), (stats.norm(-2.0, 0.5), stats.norm(1.5, 1.0))

    def cdf(self, x):
        return sum(w * c.cdf(x) for w, c in zip(self.w, self.comps))


DISTS = {
    "normal": (stats.norm(0.3, 2.0), (-math.inf, math.inf)),
    "exponential": (stats.expon(scale=1.5), (0.0, math.inf)),
    "beta": (stats.beta(0.5, 0.5), (0.0, 1.0)),
    "beta_skew": (stats.beta(5.0, 1.2), (0.0, 1.0)),
    "cauchy": (stats.cauchy(), (-math.inf, math.inf)),
    "lognormal": (stats.lognorm(0.8, loc=-3.0), (-3.0, math.inf)),
    "weibull_max": (stats.weibull_max(2.0, loc=1.0), (-math.inf, 1.0)),
}


@pytest.mark.parametrize("name", sorted(DISTS))
def test_ks_against_true_cdf(name):
    dist, support = DISTS[name]
    x = inverse_cdf_sample(3000, cdf=dist.cdf, support=support, generator=_gen(1))
    assert isinstance(x, np.ndarray) and x.shape == (3000,) and x.dtype == np.float64
    assert stats.kstest(x, dist.cdf).pvalue > 0.01


def test_ks_mixture_and_far_location():
    mix = _Mixture()
    x = inverse_cdf_sample(4000, cdf=mix.cdf, generator=_gen(2))
    assert stats.kstest(x, mix.cdf).pvalue > 0.01
    far = stats.norm(1e6, 3.0)  # brackets grow by doubling from ±1
    y = inverse_cdf_sample(2000, cdf=far.cdf, generator=_gen(3))
    assert stats.kstest(y, far.cdf).pvalue > 0.01


@pytest.mark.parametrize("name", sorted(DISTS))
def test_numerical_inverse_matches_ppf_on_same_uniforms(name):
    dist, support = DISTS[name]
    x = inverse_cdf_sample(1500, cdf=dist.cdf, support=support, generator=_gen(4))
    via_ppf = inverse_cdf_sample(1500, ppf=dist.ppf, generator=_gen(4))
    exact = dist.ppf(_same_uniforms(1500, 4))
    np.testing.assert_array_equal(via_ppf, exact)
    # bisection tolerance 1e-12 + 4 eps |x|; scipy's own cdf/ppf round-trip error adds a little
    np.testing.assert_allclose(x, exact, rtol=1e-9, atol=1e-9)


def test_generalised_inverse_of_discrete_and_mixed_cdfs():
    # atoms at 0 (mass 0.3) and 1 (0.7): the samples are exactly the atoms
    def step(t):
        return np.where(t < 0, 0.0, np.where(t < 1, 0.3, 1.0))

    x = inverse_cdf_sample(5000, cdf=step, generator=_gen(5))
    assert set(np.unique(x)) == {0.0, 1.0}
    u = _same_uniforms(5000, 5)
    np.testing.assert_array_equal(x, np.where(u <= 0.3, 0.0, 1.0))
    # atom of 0.4 at lo = 0, then uniform on (0, 1]: F(x) = 0.4 + 0.6 x
    x = inverse_cdf_sample(5000, cdf=lambda t: np.clip(0.4 + 0.6 * t, 0, 1), support=(0.0, 1.0),
                           generator=_gen(6))  # fmt: skip
    u = _same_uniforms(5000, 6)
    np.testing.assert_array_equal(x == 0.0, u <= 0.4)
    np.testing.assert_allclose(x[u > 0.4], (u[u > 0.4] - 0.4) / 0.6, atol=1e-11)


@settings(max_examples=40)
@given(
    st.lists(st.floats(-50, 50), min_size=2, max_size=8, unique=True),
    st.lists(st.floats(0.0, 1.0), min_size=8, max_size=8),
    st.integers(0, 2**31),
)
def test_piecewise_linear_cdf_law(knots, masses, seed):
    # a random CDF, linear between sorted knots, with flat pieces where a mass is 0
    xs = np.sort(np.array(knots))
    inc = np.array(masses[: len(xs) - 1])  # zeros make flat stretches
    inc[0] += 1e-3
    ys = np.concatenate([[0.0], np.cumsum(inc) / inc.sum()])

    def cdf(t):
        return np.interp(t, xs, ys)

    x = inverse_cdf_sample(200, cdf=cdf, generator=_gen(seed), xtol=1e-10, rtol=0.0)
    u = _same_uniforms(200, seed)
    # generalised inverse: F(x) ≥ u, and F < u a tolerance to the left of x
    assert np.all(cdf(x) >= u)
    assert np.all(cdf(x - 2e-10) < u)
    assert np.all((x >= xs[0] - 2e-10) & (x <= xs[-1] + 2e-10))


def test_torch_backend_and_determinism():
    x = inverse_cdf_sample(3000, cdf=torch.special.ndtr, backend="torch", generator=_gen(7))
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float64 and x.shape == (3000,)
    assert stats.kstest(x.numpy(), stats.norm.cdf).pvalue > 0.01
    y = inverse_cdf_sample(3000, ppf=torch.special.ndtri, backend="torch", generator=_gen(7))
    torch.testing.assert_close(x, y, rtol=0, atol=1e-9)
    # the default generator is seeded: two calls agree
    a = inverse_cdf_sample(10, cdf=stats.norm.cdf)
    np.testing.assert_array_equal(a, inverse_cdf_sample(10, cdf=stats.norm.cdf))


def test_inverse_cdf_errors():
    with pytest.raises(ValueError, match="exactly one of cdf"):
        inverse_cdf_sample(5)
    with pytest.raises(ValueError, match="exactly one of cdf"):
        inverse_cdf_sample(5, cdf=stats.norm.cdf, ppf=stats.norm.ppf)
    with pytest.raises(ValueError, match="does not tend to 1"):
        inverse_cdf_sample(50, cdf=lambda t: 0.5 * stats.norm.cdf(t))
    with pytest.raises(ValueError, match="does not tend to 0"):
        inverse_cdf_sample(50, cdf=lambda t: 0.5 + 0.5 * stats.norm.cdf(t))
    with pytest.raises(ValueError, match=r"cdf\(hi\) = 0.5"):
        inverse_cdf_sample(5, cdf=stats.uniform(0, 2).cdf, support=(0.0, 1.0))
    with pytest.raises(ValueError, match="cdf returned NaN"):
        inverse_cdf_sample(5, cdf=lambda t: np.full_like(t, np.nan))
    with pytest.raises(ValueError, match="ppf returned NaN"):
        inverse_cdf_sample(5, ppf=lambda u: np.full_like(u, np.nan))
    with pytest.raises(ValueError, match="must be vectorised"):
        inverse_cdf_sample(5, ppf=lambda u: 0.0)
    with pytest.raises(ValueError, match="support must satisfy lo < hi"):
        inverse_cdf_sample(5, cdf=stats.norm.cdf, support=(1.0, 1.0))
    with pytest.raises(ValueError, match="n must be >= 1"):
        inverse_cdf_sample(0, cdf=stats.norm.cdf)
    with pytest.raises(TypeError, match="n must be an integer"):
        inverse_cdf_sample(2.0, cdf=stats.norm.cdf)
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        inverse_cdf_sample(5, cdf=stats.norm.cdf, generator=3)
    with pytest.raises(ValueError, match="backend must be one of"):
        inverse_cdf_sample(5, cdf=stats.norm.cdf, backend="jax")
    with pytest.raises(TypeError, match="cdf must be callable"):
        inverse_cdf_sample(5, cdf=3.0)
    with pytest.raises(TypeError, match="must return a tensor"):
        inverse_cdf_sample(5, cdf=lambda t: t.numpy(), backend="torch")
    with pytest.raises(ValueError, match="xtol must be a number >= 0"):
        inverse_cdf_sample(5, cdf=stats.norm.cdf, xtol=-1.0)


# --- empirical quantiles ----------------------------------------------------------------------


@pytest.mark.parametrize("interpolate, method", [(True, "linear"), (False, "inverted_cdf")])
def test_empirical_matches_numpy_quantile(interpolate, method):
    data = np.random.default_rng(0).gamma(2.0, size=257)
    x = empirical_quantile_sample(data, 1000, generator=_gen(8), interpolate=interpolate)
    want = np.quantile(data, _same_uniforms(1000, 8), method=method)
    np.testing.assert_allclose(x, want, rtol=1e-12, atol=1e-12)
    if not interpolate:
        assert np.isin(x, data).all()


def test_empirical_ks():
    rng = np.random.default_rng(1)
    data = rng.standard_normal(20_000)
    x = empirical_quantile_sample(data, 3000, generator=_gen(9))
    assert stats.kstest(x, stats.norm.cdf).pvalue > 0.01
    # exactly the piecewise-linear CDF through (x_(k), (k − 1)/(N − 1)) for small N
    small = np.sort(rng.exponential(size=12))
    y = empirical_quantile_sample(small, 4000, generator=_gen(10))
    grid = np.linspace(0.0, 1.0, len(small))
    assert stats.kstest(y, lambda t: np.interp(t, small, grid)).pvalue > 0.01
    # bootstrap frequencies are binomial
    z = empirical_quantile_sample([0.0, 1.0, 1.0, 5.0], 8000, generator=_gen(11), interpolate=False)
    for value, p in ((0.0, 0.25), (1.0, 0.5), (5.0, 0.25)):
        freq = np.mean(z == value)
        assert abs(freq - p) < 5 * math.sqrt(p * (1 - p) / 8000)


def test_empirical_torch_and_edge_cases(device):
    data = torch.tensor([3.0, -1.0, 2.0], dtype=torch.float32, device=device, requires_grad=True)
    x = empirical_quantile_sample(data, 50, generator=_gen(12))
    assert x.dtype == torch.float32 and x.device.type == device.type and x.shape == (50,)
    assert bool(((x >= -1.0) & (x <= 3.0)).all())
    x.sum().backward()  # differentiable in the data: weights of a convex combination
    assert data.grad.sum().item() == pytest.approx(50.0)
    one = empirical_quantile_sample(np.array([4.2]), 5)
    np.testing.assert_array_equal(one, np.full(5, 4.2))
    dup = empirical_quantile_sample([2.0, 2.0, 2.0], 5)
    np.testing.assert_array_equal(dup, np.full(5, 2.0))


def test_empirical_errors():
    with pytest.raises(ValueError, match=r"data must have shape \(N,\)"):
        empirical_quantile_sample(np.zeros((3, 2)), 5)
    with pytest.raises(ValueError, match="data is empty"):
        empirical_quantile_sample(np.zeros(0), 5)
    with pytest.raises(ValueError, match="data must be finite"):
        empirical_quantile_sample([1.0, np.nan], 5)
    with pytest.raises(ValueError, match="n must be >= 1"):
        empirical_quantile_sample([1.0], 0)
    with pytest.raises(TypeError, match="interpolate must be a bool"):
        empirical_quantile_sample([1.0], 3, interpolate="yes")
    with pytest.raises(TypeError, match="data must be a floating-point tensor"):
        empirical_quantile_sample(torch.tensor([1, 2]), 3)


# --- not a CDF / not a quantile function: a clear error instead of garbage samples ---------


@pytest.mark.parametrize(
    "cdf, match",
    [
        (lambda x: 0.5 + 0.5 * np.sin(x), "cdf must be non-decreasing"),
        (lambda x: stats.norm.cdf(x) + 0.9 * stats.norm.pdf(x) * np.sin(3 * x), "cdf must"),
        (lambda x: 1.2 * stats.norm.cdf(x), r"cdf must take values in \[0, 1\]"),
        (lambda x: stats.norm.cdf(x) - 0.1, r"cdf must take values in \[0, 1\]"),
    ],
)
def test_not_a_cdf_raises(cdf, match):
    with pytest.raises(ValueError, match=match):
        inverse_cdf_sample(400, cdf=cdf)


def test_non_monotone_cdf_on_finite_support_raises():
    # a "CDF" that rises to 1 and falls back inside its support
    def bump(x):
        return np.where(x >= 1.0, 1.0, np.sin(np.pi * np.clip(x, 0.0, 1.0)))

    with pytest.raises(ValueError, match="cdf must be non-decreasing"):
        inverse_cdf_sample(400, cdf=bump, support=(0, 1))


def test_decreasing_ppf_raises():
    with pytest.raises(ValueError, match="ppf must be non-decreasing"):
        inverse_cdf_sample(300, ppf=lambda u: -stats.norm.ppf(u))
    with pytest.raises(ValueError, match="ppf must be non-decreasing"):
        inverse_cdf_sample(300, ppf=lambda u: np.sin(10 * u))


def test_rounding_wobble_of_a_true_cdf_is_accepted():
    # 1 - sf(x) differs from cdf(x) by rounding: still a CDF
    x = inverse_cdf_sample(2000, cdf=lambda t: 1.0 - stats.norm.sf(t))
    assert stats.kstest(x, stats.norm.cdf).pvalue > 1e-3
    y = inverse_cdf_sample(50, ppf=lambda u: np.full_like(u, 2.0))  # constant: an atom
    assert (y == 2.0).all()


def test_empirical_quantile_single_point_and_duplicates():
    for interp in (True, False):
        assert (empirical_quantile_sample([3.0], 7, interpolate=interp) == 3.0).all()
        out = empirical_quantile_sample([1.0, 1.0, 1.0, 5.0], 500, interpolate=interp)
        assert out.min() >= 1.0 and out.max() <= 5.0
    with pytest.raises(ValueError, match="data must be finite"):
        empirical_quantile_sample([1.0, np.inf], 3)
    with pytest.raises(ValueError, match=r"data must have shape \(N,\)"):
        empirical_quantile_sample([[1.0, 2.0]], 3)
    with pytest.raises(ValueError, match="n must be >= 1"):
        empirical_quantile_sample([1.0], 0)
