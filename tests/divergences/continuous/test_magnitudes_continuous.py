"""Gaussian closed forms across float64 magnitudes 1e-300..1e300 and the subnormal range:
the scaling law (μ → cμ, Σ → c²Σ leaves divergences unchanged and multiplies W₂² by c²),
mpmath references at extreme scales, and clear errors instead of NaN or LinAlgError."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from divergences.continuous import (
    frechet_distance,
    gaussian_bhattacharyya,
    gaussian_chi2,
    gaussian_hellinger2,
    gaussian_kl,
    gaussian_renyi,
)

INVARIANT = {
    "kl": gaussian_kl,
    "bhattacharyya": gaussian_bhattacharyya,
    "hellinger2": gaussian_hellinger2,
    "chi2": gaussian_chi2,
    "renyi0.7": lambda *a: gaussian_renyi(*a, alpha=0.7),
    "renyi1.5": lambda *a: gaussian_renyi(*a, alpha=1.5),
}


def _pair(seed, d):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    c1 = a @ a.T / d + 0.5 * np.eye(d)
    c2 = b @ b.T / d + 0.8 * np.eye(d)  # 2Σ₂ − Σ₁ stays PD often enough for χ² to be finite
    return 0.5 * rng.standard_normal(d), c1, 0.5 * rng.standard_normal(d), c2


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    d=st.integers(1, 4),
    log10c=st.floats(-150.0, 150.0),
)
def test_scaling_law(seed, d, log10c):
    # c² Σ spans 1e-300..1e300; the inputs are rounded once (relative 1e-16), the forms are
    # well conditioned at these O(1) divergences, hence rel 1e-9
    m1, c1, m2, c2 = _pair(seed, d)
    c = 10.0**log10c
    s1, s2 = c * c * c1, c * c * c2
    for name, fn in INVARIANT.items():
        want, got = fn(m1, c1, m2, c2), fn(c * m1, s1, c * m2, s2)
        assert math.isfinite(got) or want == math.inf, name
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), name
    w2 = frechet_distance(m1, c1, m2, c2)
    assert frechet_distance(c * m1, s1, c * m2, s2) == pytest.approx(c * c * w2, rel=1e-9)
    root = frechet_distance(c * m1, s1, c * m2, s2, squared=False)
    assert root == pytest.approx(c * math.sqrt(w2), rel=1e-9)


@pytest.mark.parametrize("e", [-1060, -1040, -1022, -600, 600, 1000])
def test_exact_power_of_two_scaling_subnormal_and_huge(e):
    # small integers times 2^e are exact even as subnormals: the law holds to rounding of
    # the result (the subnormal spacing 2^-1074 where W₂² is subnormal)
    m1, m2 = np.array([1.0, -2.0]), np.array([0.0, 1.0])
    c1, c2 = np.array([[3.0, 1.0], [1.0, 5.0]]), np.array([[4.0, -1.0], [-1.0, 2.0]])
    c, cc = 2.0 ** (e // 2), 2.0**e
    for name, fn in INVARIANT.items():
        assert fn(c * m1, cc * c1, c * m2, cc * c2) == pytest.approx(
            fn(m1, c1, m2, c2), rel=1e-12
        ), name
    want = frechet_distance(m1, c1, m2, c2) * cc
    got = frechet_distance(c * m1, cc * c1, c * m2, cc * c2)
    assert got == pytest.approx(want, rel=1e-12, abs=4 * 2.0**-1074)


def _mp_kl_1d(m1, v1, m2, v2):
    m1, v1, m2, v2 = (mpmath.mpf(t) for t in (m1, v1, m2, v2))
    return 0.5 * (v1 / v2 + (m2 - m1) ** 2 / v2 - 1 + mpmath.log(v2 / v1))


def _mp_w2_1d(m1, v1, m2, v2):
    m1, v1, m2, v2 = (mpmath.mpf(t) for t in (m1, v1, m2, v2))
    return (m1 - m2) ** 2 + (mpmath.sqrt(v1) - mpmath.sqrt(v2)) ** 2


@pytest.mark.parametrize(
    "m1, v1, m2, v2",
    [
        (0.0, 1e-300, 3e-150, 2e-300),
        (1e150, 1e300, -1e150, 3e300),
        (0.0, 1e-300, 0.0, 1e300),  # scales 1e600 apart: KL = ½(ln 1e600 − 1) is finite
        (1e-160, 5e-310, 0.0, 1e-309),  # subnormal variances
        (1e300, 1.0, 1e300 + 1e284, 4.0),  # huge equal-ish means, unit variances
    ],
)
def test_one_dimensional_against_mpmath(m1, v1, m2, v2):
    mpmath.mp.dps = 40
    kl = gaussian_kl([m1], [[v1]], [m2], [[v2]])
    assert kl == pytest.approx(float(_mp_kl_1d(m1, v1, m2, v2)), rel=1e-10)
    w2 = frechet_distance([m1], [[v1]], [m2], [[v2]])
    assert w2 == pytest.approx(float(_mp_w2_1d(m1, v1, m2, v2)), rel=1e-10, abs=2.0**-1070)


def test_overflow_is_inf_and_the_root_stays_finite():
    # W₂² = 4e614 overflows float64, W₂ = 2e307 does not
    assert frechet_distance([1e307], [[1.0]], [-1e307], [[1.0]]) == math.inf
    assert frechet_distance([1e307], [[1.0]], [-1e307], [[1.0]], squared=False) == pytest.approx(
        2e307, rel=1e-12
    )
    # KL(N(0, 1e300) ‖ N(0, 1e-300)) ≈ ½·1e600: +inf, never NaN
    assert gaussian_kl([0.0], [[1e300]], [0.0], [[1e-300]]) == math.inf
    assert gaussian_kl([0.0, 0.0], np.eye(2) * 1.7e308, [0.0, 0.0], np.eye(2) * 1e308) == (
        pytest.approx(gaussian_kl([0.0, 0.0], np.eye(2) * 1.7, [0.0, 0.0], np.eye(2)), rel=1e-12)
    )


def test_batch_with_mixed_scales_equals_one_by_one():
    m1, c1, m2, c2 = _pair(3, 3)
    scales = np.array([1e-150, 1.0, 1e150])
    mu1, mu2 = scales[:, None] * m1, scales[:, None] * m2
    cov1, cov2 = scales[:, None, None] ** 2 * c1, scales[:, None, None] ** 2 * c2
    for fn in (*INVARIANT.values(), frechet_distance):
        out = fn(mu1, cov1, mu2, cov2)
        for i in range(3):
            assert out[i] == pytest.approx(fn(mu1[i], cov1[i], mu2[i], cov2[i]), rel=1e-12)


def test_float32_tensors_at_extreme_scales():
    m1, c1, m2, c2 = (torch.tensor(t, dtype=torch.float32) for t in _pair(5, 2))
    for c in (2.0**-62, 2.0**62):  # c²Σ near 1e-37 and 1e37: products would leave float32
        for name, fn in INVARIANT.items():
            got, want = fn(c * m1, c * c * c1, c * m2, c * c * c2), fn(m1, c1, m2, c2)
            assert got.dtype == torch.float32
            assert float(got) == pytest.approx(float(want), rel=1e-5), name
        got = frechet_distance(c * m1, c * c * c1, c * m2, c * c * c2)
        want = frechet_distance(m1, c1, m2, c2)
        assert float(got) == pytest.approx(float(want) * c * c, rel=1e-5)


def test_gradients_at_tiny_scale_follow_the_law():
    # ∂W₂²/∂Σ is invariant under the scaling; ∂KL/∂μ scales as 1/c
    m1, c1, m2, c2 = (torch.tensor(t, dtype=torch.float64) for t in _pair(7, 3))
    c = 2.0**-500

    def grads(fn, s):
        args = [
            t.clone().mul(s ** (2 if t.ndim == 2 else 1)).requires_grad_() for t in (m1, c1, m2, c2)
        ]
        fn(*args).backward()
        return [a.grad for a in args]

    g1, gc = grads(frechet_distance, 1.0), grads(frechet_distance, c)
    torch.testing.assert_close(gc[1], g1[1], rtol=1e-9, atol=0)
    k1, kc = grads(gaussian_kl, 1.0), grads(gaussian_kl, c)
    torch.testing.assert_close(kc[0] * c, k1[0], rtol=1e-9, atol=0)
    assert all(bool(torch.isfinite(g).all()) for g in kc[:1] + gc)


def test_clear_errors_instead_of_nan_or_linalg_error():
    z = np.zeros(2)
    with pytest.raises(ValueError, match="cov1 must be positive definite; it is zero"):
        gaussian_kl(z, np.zeros((2, 2)), z, np.eye(2))
    near = np.array([[1.0, 1.0 - 1e-17], [1.0 - 1e-17, 1.0]])
    for fn in INVARIANT.values():
        with pytest.raises(ValueError, match="cov2 must be positive definite; its smallest"):
            fn(z, np.eye(2), z, near * 1e-300)
    with pytest.raises(ValueError, match="cov1 must be positive semi-definite"):
        frechet_distance(z, np.diag([1e300, -1e300]), z, np.eye(2))
    with pytest.raises(ValueError, match="mu1 must be finite, found 1 NaN"):
        frechet_distance([np.nan, 0.0], np.eye(2), z, np.eye(2))
    with pytest.raises(ValueError, match=r"cov2 must be finite, found 0 NaN and 1 inf"):
        gaussian_kl(z, np.eye(2), z, [[np.inf, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"mu1 must have shape \(\.\.\., D\)"):
        gaussian_kl(1.0, [[1.0]], [0.0], [[1.0]])
    with pytest.raises(ValueError, match="cov2 must be square"):
        frechet_distance(z, np.eye(2), z, np.ones((2, 3)))
