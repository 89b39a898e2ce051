"""Exact discrete divergences: references (scipy, closed forms, mpmath), zeros, boundary, errors."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.special as sps
import torch

import divergences as dv

NAMED = ["kl", "reverse_kl", "js", "tv", "hellinger2", "pearson", "neyman", "jeffreys",
         "triangular"]  # fmt: skip


def ref(name: str, p: np.ndarray, q: np.ndarray, a: float | None = None) -> np.ndarray:
    """Independent float64 references (scipy where it has them, textbook formulas otherwise)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "kl":
            return sps.rel_entr(p, q).sum(-1)
        if name == "reverse_kl":
            return sps.rel_entr(q, p).sum(-1)
        if name == "js":
            return ssd.jensenshannon(p, q, axis=-1) ** 2
        if name == "tv":
            return 0.5 * np.abs(p - q).sum(-1)
        if name == "hellinger2":
            return 1.0 - np.sqrt(p * q).sum(-1)
        if name == "pearson":
            return np.where(q > 0, (p - q) ** 2 / np.where(q > 0, q, 1), np.inf * (p > 0)).sum(-1)
        if name == "neyman":
            return ref("pearson", q, p)
        if name == "jeffreys":
            return sps.rel_entr(p, q).sum(-1) + sps.rel_entr(q, p).sum(-1)
        if name == "triangular":
            s = p + q
            return np.where(s > 0, (p - q) ** 2 / np.where(s > 0, s, 1), 0.0).sum(-1)
        if name == "alpha":
            return ((p**a * q ** (1 - a)).sum(-1) - 1.0) / (a * (a - 1.0))
    raise KeyError(name)


def call(name, p, q, **kw):
    return getattr(dv, name)(p, q, **kw)


def dirichlet(rng, k, size=(), conc=1.0):
    return rng.dirichlet(np.full(k, conc), size=size)


# --- agreement with references -----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMED)
@pytest.mark.parametrize("k", [1, 2, 7, 50])
def test_matches_reference_on_random_batches(name, k):
    rng = np.random.default_rng(k)
    p, q = dirichlet(rng, k, (2, 30), conc=0.7)
    got = call(name, p, q)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (30,)
    np.testing.assert_allclose(got, ref(name, p, q), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("a", [-3.0, -1.0, -0.3, 0.2, 0.5, 0.7, 1.5, 2.0, 4.0])
def test_alpha_matches_reference(a):
    rng = np.random.default_rng(7)
    p, q = dirichlet(rng, 9, (2, 20))
    np.testing.assert_allclose(
        dv.alpha_divergence(p, q, alpha=a), ref("alpha", p, q, a), rtol=1e-9, atol=1e-13
    )


def test_alpha_special_cases():
    rng = np.random.default_rng(3)
    p, q = dirichlet(rng, 6, (2, 10))
    np.testing.assert_allclose(
        dv.alpha_divergence(p, q, alpha=2.0), 0.5 * dv.pearson(p, q), rtol=1e-12
    )
    np.testing.assert_allclose(
        dv.alpha_divergence(p, q, alpha=-1.0), 0.5 * dv.neyman(p, q), rtol=1e-12
    )
    np.testing.assert_allclose(
        dv.alpha_divergence(p, q, alpha=0.5), 4.0 * dv.hellinger2(p, q), rtol=1e-12
    )
    np.testing.assert_array_equal(dv.alpha_divergence(p, q, alpha=1.0), dv.kl(p, q))
    np.testing.assert_array_equal(dv.alpha_divergence(p, q, alpha=0), dv.reverse_kl(p, q))


@pytest.mark.parametrize("delta", [1e-3, 1e-6, 1e-9, 1e-12, -1e-9])
def test_alpha_near_one_and_zero_is_accurate(delta):
    p = [0.1, 0.2, 0.3, 0.4]
    q = [0.4, 0.3, 0.2, 0.1]
    mpmath.mp.dps = 50
    for a in (1 + delta, delta):
        am = mpmath.mpf(a)
        # generator form Σ q f(p/q): well conditioned even though Σp, Σq are 1 only to 1e-16
        s = sum(
            mpmath.mpf(pi) ** am * mpmath.mpf(qi) ** (1 - am) - am * pi - (1 - am) * qi
            for pi, qi in zip(p, q)
        )
        exact = float(s / (am * (am - 1)))
        assert dv.alpha_divergence(p, q, alpha=a) == pytest.approx(exact, rel=1e-10)


def test_js_is_the_divergence_not_scipys_distance():
    p, q = [0.9, 0.1, 0.0], [0.1, 0.3, 0.6]
    assert dv.js(p, q) == pytest.approx(ssd.jensenshannon(p, q) ** 2, rel=1e-12)
    assert dv.js([1.0, 0.0], [0.0, 1.0]) == pytest.approx(math.log(2), rel=1e-15)


# --- zero conventions --------------------------------------------------------------------------


def test_zero_conventions_by_hand():
    p = [0.5, 0.5, 0.0]
    q = [0.5, 0.0, 0.5]
    assert dv.kl(p, q) == math.inf
    assert dv.reverse_kl(p, q) == math.inf
    assert dv.pearson(p, q) == math.inf and dv.neyman(p, q) == math.inf
    assert dv.jeffreys(p, q) == math.inf
    assert dv.tv(p, q) == pytest.approx(0.5)
    assert dv.hellinger2(p, q) == pytest.approx(0.5)
    assert dv.triangular(p, q) == pytest.approx(1.0)
    assert dv.js(p, q) == pytest.approx(0.5 * math.log(2))
    # 0·f(0/0) = 0: a shared zero does not matter
    a, b = [0.3, 0.7, 0.0], [0.6, 0.4, 0.0]
    for name in NAMED:
        assert call(name, a, b) == pytest.approx(call(name, a[:2], b[:2]), rel=1e-14)
    # q = 0 < p with finite slope: p·lim f(u)/u (alpha < 1: 1/(1-α))
    assert dv.alpha_divergence([1.0, 0.0], [0.5, 0.5], alpha=0.5) == pytest.approx(
        4 * (1 - math.sqrt(0.5))
    )
    assert dv.alpha_divergence([0.5, 0.5], [1.0, 0.0], alpha=0.5) == pytest.approx(
        4 * (1 - math.sqrt(0.5))
    )
    assert dv.alpha_divergence([0.5, 0.5], [1.0, 0.0], alpha=2.0) == math.inf
    assert dv.alpha_divergence([1.0, 0.0], [0.5, 0.5], alpha=-1.0) == math.inf
    # p = 0 < q is finite for KL(P||Q)
    assert dv.kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))


def test_single_category_and_identical():
    for name in NAMED:
        assert call(name, [1.0], [1.0]) == 0.0
        p = np.array([0.2, 0.0, 0.8])
        assert call(name, p, p) == 0.0
    assert dv.alpha_divergence([1.0], [1.0], alpha=0.3) == 0.0


def test_tiny_entries_stay_finite_and_accurate():
    p = np.array([1 - 2e-300, 1e-300, 1e-300])
    q = np.array([1 - 2e-12, 1e-12, 1e-12])
    # KL ≈ 2e-12: the inputs' own rounding (1 − 2e-12 is exact only to 1e-16) limits agreement
    assert dv.kl(p, q) == pytest.approx(ref("kl", p, q), abs=2e-16)
    assert dv.kl(q, p) == pytest.approx(ref("kl", q, p), rel=1e-10)
    assert dv.pearson(q, p) == pytest.approx(2e-24 / 1e-300, rel=1e-9)  # no overflow
    assert np.isfinite(dv.js(p, q)) and np.isfinite(dv.jeffreys(p, q))


def test_float32_large_k_against_float64():
    rng = np.random.default_rng(0)
    p, q = dirichlet(rng, 10_000, (2, 4))
    for name in NAMED:
        got = call(name, torch.tensor(p, dtype=torch.float32), torch.tensor(q, dtype=torch.float32))
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), ref(name, p, q), rtol=2e-4, atol=1e-5)


# --- batching, broadcasting, array boundary ---------------------------------------------------


@pytest.mark.parametrize("name", [*NAMED, "alpha_divergence"])
def test_broadcasting_equals_loop(name):
    rng = np.random.default_rng(1)
    p = dirichlet(rng, 5, (3, 4))
    q = dirichlet(rng, 5, (4,))
    kw = {"alpha": 0.3} if name == "alpha_divergence" else {}
    got = call(name, p, q, **kw)
    assert got.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert got[i, j] == pytest.approx(call(name, p[i, j], q[j], **kw), rel=1e-13)


def test_array_boundary(device):
    p, q = [0.2, 0.8], [0.5, 0.5]
    out = dv.kl(p, q)
    assert type(out) is float
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        pt = torch.tensor(p, dtype=dtype, device=device)
        qt = torch.tensor(q, dtype=dtype, device=device)
        got = dv.kl(pt, qt)
        assert got.dtype == dtype and got.device.type == device.type and got.shape == ()
        assert float(got) == pytest.approx(out, rel=1e-2)
    mixed = dv.kl(torch.tensor(p, dtype=torch.float32, device=device), np.array(q))
    assert isinstance(mixed, torch.Tensor) and mixed.dtype == torch.float32
    promo = dv.kl(torch.tensor(p, dtype=torch.float32), torch.tensor(q, dtype=torch.float64))
    assert promo.dtype == torch.float64


@pytest.mark.parametrize("name", [*NAMED, "alpha_divergence", "f_divergence"])
def test_gradcheck_float64(name):
    rng = np.random.default_rng(2)
    p = torch.tensor(dirichlet(rng, 5, (3,)), dtype=torch.float64, requires_grad=True)
    q = torch.tensor(dirichlet(rng, 5, (3,)), dtype=torch.float64, requires_grad=True)
    extra = {"f_divergence": ("jeffreys",)}.get(name, ())
    kw = {"alpha": 0.3} if name == "alpha_divergence" else {}
    fn = getattr(dv, name)
    # tolerance: the inputs leave the simplex slightly under perturbation; validation allows 1e-6
    assert torch.autograd.gradcheck(
        lambda a, b: fn(a, b, *extra, **kw), (p, q), eps=1e-8, atol=1e-5
    )


def test_gradient_against_finite_differences_and_closed_form():
    p = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.4, 0.4, 0.2], dtype=torch.float64)
    dv.kl(p, q).backward()
    # d/dp Σ p log(p/q) − p + q = log(p/q)
    torch.testing.assert_close(p.grad, torch.log(p.detach() / q))


@pytest.mark.parametrize("name", [*NAMED, "alpha_divergence", "f_divergence"])
def test_gradients_are_nan_free_at_zero_entries(name):
    p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.5, 0.0, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    extra = {"f_divergence": ("js",)}.get(name, ())
    kw = {"alpha": 0.3} if name == "alpha_divergence" else {}
    out = getattr(dv, name)(p, q, *extra, **kw)
    if torch.isfinite(out):
        out.backward()
        assert not bool(torch.isnan(p.grad).any()) and not bool(torch.isnan(q.grad).any())


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMED)
def test_bad_input_messages(name):
    fn = getattr(dv, name)
    ok = [0.5, 0.5]
    with pytest.raises(ValueError, match="p must be non-negative, found 1 negative"):
        fn([1.5, -0.5], ok)
    with pytest.raises(ValueError, match="q must be finite, found 1 NaN"):
        fn(ok, [math.nan, 1.0])
    with pytest.raises(ValueError, match="p must be finite, found 0 NaN and 1 inf"):
        fn([math.inf, 0.0], ok)
    with pytest.raises(ValueError, match=r"same number of categories K .* \(2,\) and \(3,\)"):
        fn(ok, [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="leading shapes that do not broadcast"):
        fn(np.full((2, 2), 0.5), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="p must have at least one category"):
        fn(np.zeros((2, 0)), np.zeros((2, 0)))
    with pytest.raises(ValueError, match="p is empty"):
        fn(np.zeros((0, 2)), ok)
    with pytest.raises(ValueError, match=r"p must sum to 1 .*normalize=True"):
        fn([0.5, 0.6], ok)
    with pytest.raises(ValueError, match="p must have at least one axis"):
        fn(0.5, ok)
    with pytest.raises(TypeError, match="p must be a floating-point tensor"):
        fn(torch.tensor([1, 0]), ok)
    with pytest.raises(TypeError, match="q must be an array or tensor, got str"):
        fn(ok, "ab")
    with pytest.raises(TypeError, match="normalize must be a bool"):
        fn(ok, ok, normalize=1)


def test_normalize_option():
    p, q = [1.0, 3.0], [2.0, 2.0]
    assert dv.kl(p, q, normalize=True) == pytest.approx(dv.kl([0.25, 0.75], [0.5, 0.5]))
    with pytest.raises(ValueError, match="row summing to 0"):
        dv.kl([0.0, 0.0], q, normalize=True)
    # within tolerance (1e-6 in float64) is accepted as is
    assert np.isfinite(dv.tv([0.5, 0.5 + 5e-7], [0.5, 0.5]))


def test_alpha_and_f_argument_errors():
    with pytest.raises(ValueError, match="alpha must be finite"):
        dv.alpha_divergence([1.0], [1.0], alpha=math.nan)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        dv.alpha_divergence([1.0], [1.0], alpha=None)
    with pytest.raises(ValueError, match="unknown f-divergence 'nope'; valid names"):
        dv.f_divergence([1.0], [1.0], "nope")
    with pytest.raises(TypeError, match="from_generator"):
        dv.f_divergence([1.0], [1.0], lambda u: u)
    bad = dv.FDivergence(
        name="nanny", f=lambda u: u * math.nan, conjugate=lambda t: t, domain=(-math.inf, 1.0),
        activation=lambda v: v, f_prime_at_1=0.0, f_at_0=0.0, slope_at_inf=1.0,
        strictly_convex=False, symmetric=False,
    )  # fmt: skip
    with pytest.raises(ValueError, match="'nanny' returned NaN"):
        dv.f_divergence([0.5, 0.5], [0.5, 0.5], bad)


# --- generic form -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMED)
def test_generic_form_matches_named_with_zeros(name):
    rng = np.random.default_rng(5)
    p, q = dirichlet(rng, 8, (2, 40), conc=0.5)
    p[:10, :3] = 0.0
    q[5:15, 2:4] = 0.0
    p /= p.sum(-1, keepdims=True)
    q /= q.sum(-1, keepdims=True)
    got, want = dv.f_divergence(p, q, name), call(name, p, q)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-10, atol=1e-13)


def test_gan_record_is_two_js_minus_log4():
    rng = np.random.default_rng(6)
    p, q = dirichlet(rng, 5, (2, 10))
    np.testing.assert_allclose(dv.f_divergence(p, q, "gan"), 2 * dv.js(p, q) - math.log(4))


@pytest.mark.parametrize("name", ["kl", "reverse_kl", "js"])
def test_fast_path_agrees_with_autograd_path(name):
    # without autograd, KL/JS use a fewer-pass formula; with it, NaN-free masked summands
    rng = np.random.default_rng(8)
    p, q = dirichlet(rng, 12, (2, 50), conc=0.5)
    p[:20, :4] = 0.0
    q[10:30, 3:6] = 0.0
    p /= p.sum(-1, keepdims=True)
    q /= q.sum(-1, keepdims=True)
    pt, qt = torch.tensor(p), torch.tensor(q)
    fast = call(name, pt, qt)
    slow = call(name, pt.clone().requires_grad_(True), qt).detach()
    assert torch.equal(torch.isinf(fast), torch.isinf(slow))
    fin = torch.isfinite(slow)
    torch.testing.assert_close(fast[fin], slow[fin], rtol=1e-12, atol=1e-15)
