"""GAN losses against their analytic forms, and the f-GAN bound's laws on discrete P, Q."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import divergences as dv
from gan import losses as L

R = torch.tensor([2.0, -1.0, 0.5, 0.0], dtype=torch.float64)
Fk = torch.tensor([-3.0, 1.0, 0.25], dtype=torch.float64)


def _sig(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def test_basic_losses_match_textbook_formulas():
    r, f = R.numpy(), Fk.numpy()
    d_r, d_f = _sig(r), _sig(f)
    log_loss = -np.mean(np.log(d_r)) - np.mean(np.log(1 - d_f))
    assert float(L.logistic_d_loss(R, Fk)) == pytest.approx(log_loss, rel=1e-12)
    assert float(L.minimax_g_loss(Fk)) == pytest.approx(np.mean(np.log(1 - d_f)), rel=1e-12)
    assert float(L.ns_g_loss(Fk)) == pytest.approx(-np.mean(np.log(d_f)), rel=1e-12)
    hinge = np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f))
    assert float(L.hinge_d_loss(R, Fk)) == pytest.approx(hinge, rel=1e-12)
    assert float(L.hinge_g_loss(Fk)) == pytest.approx(-f.mean())
    assert float(L.wasserstein_d_loss(R, Fk)) == pytest.approx(f.mean() - r.mean())
    assert float(L.wasserstein_g_loss(Fk)) == pytest.approx(-f.mean())
    ls = 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f**2)
    assert float(L.lsgan_d_loss(R, Fk)) == pytest.approx(ls, rel=1e-12)
    assert float(L.lsgan_g_loss(Fk)) == pytest.approx(0.5 * np.mean((f - 1) ** 2), rel=1e-12)
    js = math.log(2) + 0.5 * np.mean(np.log(d_r)) + 0.5 * np.mean(np.log(1 - d_f))
    assert float(L.js_estimate(R, Fk)) == pytest.approx(js, rel=1e-12)


def test_js_estimate_agrees_with_core_estimator():
    from divergences.estimators import js_from_discriminator

    assert float(L.js_estimate(R, Fk)) == pytest.approx(js_from_discriminator(R, Fk).value)


def test_fgan_closed_forms_of_nowozin_table():
    r, f = R.numpy(), Fk.numpy()
    # KL: g(v) = v, f*(t) = exp(t − 1)
    kl = -(r.mean() - np.exp(f - 1).mean())
    assert float(L.fgan_d_loss(R, Fk, "kl")) == pytest.approx(kl, rel=1e-10)
    assert float(L.fgan_g_loss(Fk, "kl")) == pytest.approx(-f.mean())
    # Pearson χ²: g(v) = v, f*(t) = sup_{u≥0} (ut − (u−1)²) = t²/4 + t for t ≥ −2, else −1
    pe = -(r.mean() - np.where(f >= -2, f**2 / 4 + f, -1.0).mean())
    assert float(L.fgan_d_loss(R, Fk, "pearson")) == pytest.approx(pe, rel=1e-10)
    # GAN: g(v) = −log(1 + e^−v), f*(t) = −log(1 − e^t): the logistic D loss exactly
    assert float(L.fgan_d_loss(R, Fk, "gan")) == pytest.approx(
        float(L.logistic_d_loss(R, Fk)), rel=1e-10
    )


# ---- laws of the variational bound on discrete distributions, for every member -----------

_F = {  # independent float64 generators f(u), u > 0 (our scalings, see interfaces)
    "kl": lambda u: u * np.log(u),
    "reverse_kl": lambda u: -np.log(u),
    "js": lambda u: 0.5 * (u * np.log(u) - (u + 1) * np.log((u + 1) / 2)),
    "gan": lambda u: u * np.log(u) - (u + 1) * np.log(u + 1),
    "pearson": lambda u: (u - 1) ** 2,
    "neyman": lambda u: (1 - u) ** 2 / u,
    "hellinger2": lambda u: 0.5 * (np.sqrt(u) - 1) ** 2,
    "jeffreys": lambda u: (u - 1) * np.log(u),
    "triangular": lambda u: (u - 1) ** 2 / (u + 1),
}
MEMBERS = sorted(set(_F) & set(dv.f_divergence_names()))


def _df(name, p, q):
    return float(np.sum(q * _F[name](p / q)))


def _fprime(name, u):
    h = 1e-6 * np.maximum(u, 1e-3)
    return (_F[name](u + h) - _F[name](u - h)) / (2 * h)


def _inverse_activation(rec, t, lo=-60.0, hi=60.0):
    """Solve g_f(v) = t by bisection (g_f is monotone, increasing or decreasing)."""
    lo_t = torch.full_like(torch.as_tensor(t), lo, dtype=torch.float64)
    hi_t = torch.full_like(lo_t, hi)
    t = torch.as_tensor(t, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    sign = 1.0 if bool(rec.activation(one) > rec.activation(-one)) else -1.0
    for _ in range(200):
        mid = (lo_t + hi_t) / 2
        up = sign * rec.activation(mid) < sign * t
        lo_t, hi_t = torch.where(up, mid, lo_t), torch.where(up, hi_t, mid)
    return (lo_t + hi_t) / 2


def _empirical(counts_p, counts_q, v):
    """Logits of samples of P and Q over K atoms (atom k repeated counts[k] times)."""
    idx_p = np.repeat(np.arange(len(v)), counts_p)
    idx_q = np.repeat(np.arange(len(v)), counts_q)
    return v[idx_p], v[idx_q]


counts = st.lists(st.integers(1, 6), min_size=2, max_size=5)


@pytest.mark.parametrize("name", MEMBERS)
@settings(max_examples=25)
@given(cp=counts, cq=counts, seed=st.integers(0, 2**16))
def test_fgan_bound_is_below_the_divergence_and_tight_at_the_optimum(name, cp, cq, seed):
    k = min(len(cp), len(cq))
    cp, cq = np.array(cp[:k]), np.array(cq[:k])
    p, q = cp / cp.sum(), cq / cq.sum()
    rec = dv.get_f_divergence(name)
    target = _df(name, p, q)  # "gan" includes its f(1) = −log 4 through f itself
    # any critic: a lower bound (the law of the Fenchel–Young inequality)
    v = torch.from_numpy(np.random.default_rng(seed).normal(0, 2, k))
    r, f = _empirical(cp, cq, v)
    assert float(L.fgan_bound(r, f, rec)) <= target + 1e-9
    # the optimal critic g_f(V) = f'(p/q) attains it
    v_star = _inverse_activation(rec, torch.from_numpy(_fprime(name, p / q)))
    r, f = _empirical(cp, cq, v_star)
    assert float(L.fgan_bound(r, f, rec)) == pytest.approx(target, abs=1e-5)
    assert float(L.fgan_d_loss(r, f, rec)) == pytest.approx(-target, abs=1e-5)


def test_get_loss_names_and_errors():
    for name in L.loss_names():
        loss = L.get_loss(name, alpha=0.5)
        r, f = R.float(), Fk.float()
        assert torch.isfinite(loss.d_loss(r, f)) and torch.isfinite(loss.g_loss(f))
        assert torch.isfinite(loss.estimate(r, f))
    assert L.get_loss("fgan-alpha", alpha=0.3).estimate_name == "alpha_bound"
    with pytest.raises(ValueError, match="unknown loss 'nope'; valid losses: minimax, ns"):
        L.get_loss("nope")
    with pytest.raises(ValueError, match="unknown loss 'fgan-xx'"):
        L.get_loss("fgan-xx")
    with pytest.raises(TypeError, match="loss must be a string"):
        L.get_loss(3)


def test_r1_and_gradient_penalty_closed_forms():
    w = torch.tensor([3.0, -4.0])  # D(x) = w·x: ‖∇‖ = 5 everywhere
    x = torch.randn(6, 2, requires_grad=True)
    assert float(L.r1_penalty(x @ w, x)) == pytest.approx(25.0)
    gp = L.gradient_penalty(lambda z: z @ w, torch.randn(6, 2), torch.randn(6, 2))
    assert float(gp) == pytest.approx(16.0)
    # packing: D sees pairs → the gradient of one logit w.r.t. 4 coordinates has norm √50
    gp2 = L.gradient_penalty(
        lambda z: z.reshape(3, 4) @ torch.cat([w, w]), torch.randn(6, 2), torch.randn(6, 2), pac=2
    )
    assert float(gp2) == pytest.approx((math.sqrt(50) - 1) ** 2, rel=1e-6)


def test_r1_is_differentiable_in_d_parameters():
    lin = torch.nn.Linear(2, 1)
    x = torch.randn(5, 2, requires_grad=True)
    pen = L.r1_penalty(lin(x).squeeze(-1), x)
    (gw,) = torch.autograd.grad(pen, lin.weight)
    assert torch.allclose(gw, 2 * lin.weight.detach())  # d/dw ‖w‖² = 2w


def test_bad_inputs_name_the_argument():
    from gan import losses as L

    x = torch.ones(4, 2, requires_grad=True)
    with pytest.raises(ValueError, match=r"real_logits must have shape \(B,\) = \(4,\)"):
        L.r1_penalty((3 * x).sum(1)[:3], x)
    with pytest.raises(ValueError, match="requires_grad=True"):
        L.r1_penalty(torch.ones(4), torch.ones(4, 2))
    with pytest.raises(TypeError, match=r"real must be a floating-point torch\.Tensor"):
        L.r1_penalty(torch.ones(4), [1, 2])
    d = lambda t: 2 * t.sum(1)  # noqa: E731
    with pytest.raises(ValueError, match=r"real and fake must have one shape .*\(3, 1\).*\(2, 1\)"):
        L.gradient_penalty(d, torch.zeros(3, 1), torch.ones(2, 1))
    with pytest.raises(ValueError, match="multiple of pac=2"):
        L.gradient_penalty(d, torch.zeros(3, 1), torch.ones(3, 1), pac=2)
    with pytest.raises(ValueError, match="pac must be an int >= 1"):
        L.gradient_penalty(d, torch.zeros(3, 1), torch.ones(3, 1), pac=0)
    with pytest.raises(ValueError, match=r"discriminator must return logits of shape \(3,\)"):
        L.gradient_penalty(lambda t: t, torch.zeros(3, 1), torch.ones(3, 1))
    with pytest.raises(TypeError, match="discriminator must be callable"):
        L.gradient_penalty(None, torch.zeros(3, 1), torch.ones(3, 1))
    with pytest.raises(TypeError, match=r"fake must be a torch\.Tensor of logits"):
        L.logistic_d_loss(torch.zeros(3), [0.0])
    with pytest.raises(ValueError, match="real is empty"):
        L.hinge_d_loss(torch.zeros(0), torch.zeros(3))
    with pytest.raises(TypeError, match="fake must be a floating-point tensor"):
        L.ns_g_loss(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="fake is empty"):
        L.fgan_g_loss(torch.zeros(0), "kl")
