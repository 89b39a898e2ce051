"""js_from_discriminator and the Estimate record: references, laws, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from divergences.estimators import Estimate, js_from_discriminator

LOG2 = math.log(2.0)


def _js_gaussians_1d(mu: float, sigma: float) -> float:
    """JS(N(0,1) ‖ N(mu, sigma²)) in nats by adaptive quadrature (independent reference)."""
    p = stats.norm(0, 1).pdf
    q = stats.norm(mu, sigma).pdf

    def integrand(t):
        pt, qt = p(t), q(t)
        m = 0.5 * (pt + qt)
        out = 0.0
        if pt > 0:
            out += 0.5 * pt * math.log(pt / m)
        if qt > 0:
            out += 0.5 * qt * math.log(qt / m)
        return out

    return integrate.quad(integrand, -30, 30, limit=200, points=[0.0, mu])[0]


def test_matches_numpy_reference(rng):
    lr, lf = rng.normal(1.0, 2.0, size=57), rng.normal(-0.5, 1.5, size=31)
    a = np.log(1 / (1 + np.exp(-lr)))
    b = np.log(1 / (1 + np.exp(lf)))
    ref = LOG2 + 0.5 * a.mean() + 0.5 * b.mean()
    ref_se = math.sqrt(0.25 * a.var(ddof=1) / 57 + 0.25 * b.var(ddof=1) / 31)
    e = js_from_discriminator(lr, lf)
    assert e.value == pytest.approx(ref, abs=1e-12)
    assert e.stderr == pytest.approx(ref_se, rel=1e-10)
    z = stats.norm.ppf(0.975)
    assert e.ci == pytest.approx((ref - z * ref_se, ref + z * ref_se), abs=1e-12)
    assert (e.n_x, e.n_y, e.method, e.divergence) == (57, 31, "discriminator", "js")
    assert e.details["lower_bound"] is True
    acc = 0.5 * ((lr > 0).mean() + (lf < 0).mean())
    assert e.details["accuracy"] == pytest.approx(acc)


def test_bayes_optimal_discriminator_gives_analytic_js():
    mu, sigma = 1.0, 1.5
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(40_000, generator=gen, dtype=torch.float64)
    y = mu + sigma * torch.randn(40_000, generator=gen, dtype=torch.float64)

    def logit(t):  # log p(t) - log q(t), the Bayes-optimal logit for balanced classes
        return -0.5 * t**2 + 0.5 * ((t - mu) / sigma) ** 2 + math.log(sigma)

    e = js_from_discriminator(logit(x), logit(y))
    truth = _js_gaussians_1d(mu, sigma)
    assert abs(e.value - truth) < 4 * e.stderr + 1e-3, (e, truth)
    assert e.ci[0] < truth < e.ci[1] or abs(e.value - truth) < 4 * e.stderr


def test_perfect_and_useless_discriminators():
    e = js_from_discriminator(torch.full((10,), 60.0), torch.full((12,), -60.0))
    assert e.value == pytest.approx(LOG2, abs=1e-12)
    e0 = js_from_discriminator(np.zeros(5), np.zeros(7))
    assert e0.value == 0.0 and e0.stderr == 0.0 and e0.ci == (0.0, 0.0)


def test_huge_logits_are_stable():
    e = js_from_discriminator(np.array([1e4, -1e4, 3.0]), np.array([1e4, -1e4]))
    assert math.isfinite(e.value) and math.isfinite(e.stderr)
    assert e.value < -1000  # a confidently wrong D gives a very low (still valid) bound


@settings(max_examples=200)
@given(st.lists(st.floats(-50, 50), min_size=2, max_size=40))
def test_same_logits_on_both_sides_never_exceed_zero(logits):
    # If P = Q the discriminator sees the same points on both sides: the bound is <= 0 = JS,
    # with equality only at D = 1/2 everywhere (log σ(l) + log σ(−l) <= −2 log 2).
    t = torch.tensor(logits, dtype=torch.float64)
    e = js_from_discriminator(t, t)
    assert e.value <= 1e-12
    if all(v == 0 for v in logits):
        assert e.value == 0.0


@settings(max_examples=100)
@given(
    st.lists(st.floats(-30, 30), min_size=2, max_size=30),
    st.lists(st.floats(-30, 30), min_size=2, max_size=30),
)
def test_symmetry_under_label_swap(lr, lf):
    # Swapping the roles of real and fake and negating the logits gives the same estimate.
    a = js_from_discriminator(np.array(lr), np.array(lf))
    b = js_from_discriminator(-np.array(lf), -np.array(lr))
    assert a.value == pytest.approx(b.value, abs=1e-12)
    assert a.stderr == pytest.approx(b.stderr, abs=1e-12)


def test_torch_inputs_any_shape_and_dtype(device):
    lr = torch.randn(16, 1, device=device, dtype=torch.float32, requires_grad=True)
    lf = torch.randn(9, 1, device=device, dtype=torch.float32)
    e = js_from_discriminator(lr, lf)
    ref = js_from_discriminator(lr.detach().double().cpu().numpy(), lf.double().cpu().numpy())
    assert isinstance(e.value, float) and isinstance(e.stderr, float)
    assert e.value == pytest.approx(ref.value, abs=1e-6)
    assert e.n_x == 16 and e.n_y == 9


def test_confidence_level_widens_interval(rng):
    lr, lf = rng.normal(size=20), rng.normal(size=20)
    e90 = js_from_discriminator(lr, lf, confidence=0.9)
    e99 = js_from_discriminator(lr, lf, confidence=0.99)
    assert e99.ci[1] - e99.ci[0] > e90.ci[1] - e90.ci[0]
    assert "99% CI" in str(e99)


@pytest.mark.parametrize(
    "lr, lf, exc, match",
    [
        (np.array([1.0, np.nan]), np.zeros(3), ValueError, "logits_real must be finite"),
        (np.zeros(3), np.array([np.inf, 0.0]), ValueError, "logits_fake must be finite"),
        (np.zeros(1), np.zeros(3), ValueError, "logits_real needs at least 2"),
        (np.zeros(3), np.zeros(0), ValueError, "logits_fake needs at least 2"),
        (torch.zeros(3, dtype=torch.int64), np.zeros(3), TypeError, "logits_real must be a float"),
        ("abc", np.zeros(3), TypeError, "logits_real must be an array"),
    ],
)
def test_bad_input(lr, lf, exc, match):
    with pytest.raises(exc, match=match):
        js_from_discriminator(lr, lf)


@pytest.mark.parametrize("conf, exc", [(1.0, ValueError), (0.0, ValueError), ("x", TypeError)])
def test_bad_confidence(conf, exc):
    with pytest.raises(exc, match="confidence"):
        js_from_discriminator(np.zeros(3), np.zeros(3), confidence=conf)


def test_estimate_record_is_frozen_and_printable():
    e = Estimate(0.5, 0.01, (0.48, 0.52), 10, 20, "knn", {"k": 1}, "kl")
    with pytest.raises(AttributeError):
        e.value = 1.0  # type: ignore[misc]
    s = str(e)
    assert s.startswith("KL ≈ 0.5000 ± 0.0100 (95% CI [0.4800, 0.5200]; knn")
    assert "n_x=10, n_y=20" in s
    assert float(e) == 0.5
