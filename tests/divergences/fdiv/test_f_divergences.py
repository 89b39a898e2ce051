"""The f-divergence records: generators, conjugates, activations, constants, registry."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.optimize
import scipy.special
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import divergences as dv
from divergences.fdiv._numeric import exp_lambertw_log, numeric_conjugate

ALPHAS = [-2.0, -0.5, 0.25, 0.5, 0.75, 1.5, 2.0, 3.0]
RECORDS = [dv.get_f_divergence(n) for n in dv.f_divergence_names() if n != "alpha"] + [
    dv.get_f_divergence("alpha", alpha=a) for a in ALPHAS
]
IDS = [r.name + "".join(f"_{v:g}" for _, v in r.params) for r in RECORDS]


def f64(x):
    return torch.as_tensor(x, dtype=torch.float64)


def f_np(rec, u):
    return rec.f(f64(np.asarray(u, dtype=np.float64))).numpy()


def grid_sup(rec, t):
    """Independent sup_{u>=0} (u t - f(u)): dense log grid, then scipy bounded refinement."""
    s = np.linspace(-35.0, 35.0, 20001)
    u = np.exp(s)
    with np.errstate(all="ignore"):
        g = u * t - f_np(rec, u)
    g = np.where(np.isnan(g), -np.inf, g)
    i = int(np.argmax(g))
    lo, hi = s[max(i - 1, 0)], s[min(i + 1, len(s) - 1)]
    res = scipy.optimize.minimize_scalar(
        lambda x: -(math.exp(x) * t - float(f_np(rec, [math.exp(x)])[0])),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-12},
    )
    best = max(-res.fun, g[i])
    return max(best, -rec.f_at_0) if math.isfinite(rec.f_at_0) else best


def interior_ts(rec):
    """t values whose maximiser u* = (f')^{-1}(t) lies in [e^-30, e^30], plus t <= f'(0+)."""
    u = np.exp(np.linspace(-6, 6, 9))
    h = 1e-6
    fp = (f_np(rec, u * (1 + h)) - f_np(rec, u * (1 - h))) / (2 * h * u)
    return np.concatenate([fp, [fp[0] - 3.0, rec.f_prime_at_1 + 0.01]])


# --- registry -------------------------------------------------------------------------------


def test_names_and_get():
    assert set(dv.f_divergence_names()) == {
        "kl", "reverse_kl", "js", "gan", "tv", "pearson", "neyman", "hellinger2",
        "jeffreys", "triangular", "alpha",
    }  # fmt: skip
    assert (
        dv.get_f_divergence("JS")
        is dv.get_f_divergence("js")
        is dv.get_f_divergence("jensen_shannon")
    )
    assert dv.get_f_divergence("chi2") is dv.get_f_divergence("pearson")
    rec = dv.get_f_divergence("kl")
    assert dv.get_f_divergence(rec) is rec
    assert dv.get_f_divergence("alpha", alpha=0.5) is dv.get_f_divergence("alpha", alpha=0.5)


def test_alpha_limits_return_kl_and_reverse_kl():
    assert dv.get_f_divergence("alpha", alpha=1.0) is dv.get_f_divergence("kl")
    assert dv.get_f_divergence("alpha", alpha=0) is dv.get_f_divergence("reverse_kl")
    # and the generators approach them (up to the linear term, which integrates to 0)
    u = f64([0.1, 0.5, 2.0, 7.0])
    near1 = dv.get_f_divergence("alpha", alpha=1 + 1e-7).f(u)
    torch.testing.assert_close(near1, u * torch.log(u) - (u - 1), rtol=1e-5, atol=1e-7)
    near0 = dv.get_f_divergence("alpha", alpha=1e-7).f(u)
    torch.testing.assert_close(near0, -torch.log(u) + (u - 1), rtol=1e-5, atol=1e-7)


def test_get_errors():
    with pytest.raises(ValueError, match=r"unknown f-divergence 'kll'; valid names: kl, "):
        dv.get_f_divergence("kll")
    with pytest.raises(ValueError, match="exactly one parameter alpha"):
        dv.get_f_divergence("alpha")
    with pytest.raises(ValueError, match="alpha must be finite"):
        dv.get_f_divergence("alpha", alpha=math.nan)
    with pytest.raises(ValueError, match="alpha must be finite"):
        dv.get_f_divergence("alpha", alpha=math.inf)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        dv.get_f_divergence("alpha", alpha="0.5")
    with pytest.raises(ValueError, match="'kl' takes no parameters"):
        dv.get_f_divergence("kl", alpha=2.0)
    with pytest.raises(TypeError, match="name must be a string"):
        dv.get_f_divergence(3)


def test_records_are_frozen():
    with pytest.raises(AttributeError):
        dv.get_f_divergence("kl").name = "x"


# --- generators and constants -----------------------------------------------------------------


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_f_at_one_convex_and_constants(rec):
    u = f64(np.exp(np.linspace(-8, 8, 201)))
    fu = rec.f(u)
    assert float(rec.f(f64(1.0))) == pytest.approx(rec.f_at_1, abs=1e-15)
    # convexity: second differences on a log grid are >= 0 (chord above the function)
    mid = rec.f((u[1:] + u[:-1]) / 2)
    assert bool(((fu[1:] + fu[:-1]) / 2 - mid >= -1e-12 * (1 + fu[1:].abs())).all())
    # f(0) is the limit u -> 0+
    f_small = float(rec.f(f64(1e-40)))
    f0 = float(rec.f(f64(0.0)))
    assert f0 == rec.f_at_0 or math.isclose(f0, rec.f_at_0, rel_tol=1e-12)
    if math.isfinite(rec.f_at_0):
        assert f_small == pytest.approx(rec.f_at_0, abs=1e-4)
    else:
        assert f_small > 5.0
    # slope at infinity
    ratio = float(rec.f(f64(1e40))) / 1e40
    if math.isfinite(rec.slope_at_inf):
        assert ratio == pytest.approx(rec.slope_at_inf, abs=1e-3 * (1 + abs(rec.slope_at_inf)))
    else:
        assert ratio > 20.0
    # f'(1) by central differences
    h = 1e-6
    fd1 = float((rec.f(f64(1 + h)) - rec.f(f64(1 - h))) / (2 * h))
    assert fd1 == pytest.approx(rec.f_prime_at_1, abs=1e-6)
    assert rec.domain == (-math.inf, rec.slope_at_inf)


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_symmetric_flag_matches_the_divergence(rec):
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(6), size=(2, 50))
    d_pq = dv.f_divergence(p, q, rec)
    d_qp = dv.f_divergence(q, p, rec)
    assert np.allclose(d_pq, d_qp, rtol=1e-10) == rec.symmetric


def test_strict_convexity_flags():
    strict = {r.name for r in RECORDS if r.strictly_convex}
    assert "tv" not in strict and {"kl", "js", "hellinger2", "pearson"} <= strict


# --- conjugates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_conjugate_matches_numerical_sup(rec):
    ts = interior_ts(rec)
    got = rec.conjugate(f64(ts)).numpy()
    ref = np.array([grid_sup(rec, t) for t in ts])
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)
    # beyond the domain: +inf, and the grid sup is large there
    if math.isfinite(rec.slope_at_inf):
        t_out = rec.slope_at_inf + 0.1
        assert float(rec.conjugate(f64(t_out))) == math.inf
        assert grid_sup(rec, t_out) > 1e10


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_fenchel_equality_at_the_maximiser(rec):
    # f*(f'(u)) = u f'(u) - f(u) for differentiable f (not tv at u = 1)
    u = f64(np.exp(np.linspace(-4, 4, 17)))
    u = u[(u - 1).abs() > 1e-3]
    x = u.clone().requires_grad_(True)
    (fp,) = torch.autograd.grad(rec.f(x).sum(), x)
    torch.testing.assert_close(rec.conjugate(fp), u * fp - rec.f(u), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
@settings(max_examples=150)
@given(u=st.floats(0.0, 1e6), t=st.floats(-1e3, 1e3))
def test_fenchel_young(rec, u, t):
    fu = float(rec.f(f64(u)))
    ft = float(rec.conjugate(f64(t)))
    assert not math.isnan(fu) and not math.isnan(ft)
    if math.isinf(fu) or math.isinf(ft):
        return
    assert fu + ft >= u * t - 1e-9 * (1 + abs(u * t) + abs(fu) + abs(ft))


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_activation_maps_into_domain(rec):
    v = f64(np.concatenate([np.linspace(-30, 30, 121), [-1e3, 1e3]]))
    g = rec.activation(v)
    lo, hi = rec.domain
    assert bool((g <= hi).all()) and bool((g >= lo).all())
    mod = v.abs() <= 20
    assert bool(torch.isfinite(rec.conjugate(g[mod])).all())
    assert bool(torch.isfinite(rec.conjugate_of_activation(v[v.abs() <= 100])).all())
    assert not bool(torch.isnan(rec.conjugate_of_activation(v)).any())
    torch.testing.assert_close(
        rec.conjugate_of_activation(v[mod]), rec.conjugate(g[mod]), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("name", ["js", "gan", "hellinger2", "neyman", "reverse_kl"])
def test_stable_conjugate_of_activation_against_mpmath(name):
    rec = dv.get_f_divergence(name)
    mpmath.mp.dps = 60
    vs = [-60.0, -35.0, 35.0, 60.0]
    for v in vs:
        vm = mpmath.mpf(v)
        sig = 1 / (1 + mpmath.exp(-vm))
        g = {
            "js": (mpmath.log(2) + mpmath.log(sig)) / 2,
            "gan": mpmath.log(sig),
            "hellinger2": (1 - mpmath.exp(vm)) / 2,
            "neyman": 1 - mpmath.exp(vm),
            "reverse_kl": -mpmath.exp(-vm),
        }[name]
        conj = {
            "js": -mpmath.log(2 - mpmath.exp(2 * g)) / 2,
            "gan": -mpmath.log(1 - mpmath.exp(g)),
            "hellinger2": g / (1 - 2 * g),
            "neyman": 2 - 2 * mpmath.sqrt(1 - g),
            "reverse_kl": -1 - mpmath.log(-g),
        }[name]
        got = float(rec.conjugate_of_activation(f64(v)))
        assert got == pytest.approx(float(conj), rel=1e-12, abs=1e-300)


def test_rescaled_conjugates_follow_the_scaling_rule():
    # (c f)*(t) = c f*(t / c): our js = ½ Nowozin's JS, our hellinger2 = ½ Nowozin's
    t = f64(np.linspace(-5, 0.3, 12))
    nowozin_js = -torch.log(2 - torch.exp(2 * t))
    torch.testing.assert_close(dv.get_f_divergence("js").conjugate(t), 0.5 * nowozin_js)
    nowozin_h = (2 * t) / (1 - 2 * t)
    torch.testing.assert_close(dv.get_f_divergence("hellinger2").conjugate(t), 0.5 * nowozin_h)


def test_exact_conjugates_are_tighter_than_nowozins_extension():
    # Nowozin's Pearson f* = t + t²/4 and TV f* = t extend f to u < 0; ours take u >= 0 only.
    t = f64([-6.0, -3.0, -2.0, -1.0])
    assert bool((dv.get_f_divergence("pearson").conjugate(t) <= t + t**2 / 4).all())
    assert dv.get_f_divergence("pearson").conjugate(f64(-6.0)).item() == -1.0
    assert dv.get_f_divergence("tv").conjugate(f64(-3.0)).item() == -0.5


def test_lambertw_helper_against_scipy():
    x = np.linspace(-40, 300, 500)
    s = exp_lambertw_log(f64(x)).numpy()
    small = x < 600
    ref = np.log(scipy.special.lambertw(np.exp(x[small])).real)
    np.testing.assert_allclose(s[small], ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_conjugate_gradcheck(rec):
    if rec.name == "tv":  # piecewise linear: check away from the kinks at ±½
        ts = np.array([-2.0, -0.4, 0.0, 0.3])
    else:
        u = np.exp(np.linspace(-3, 3, 7))
        ts = (f_np(rec, u * (1 + 1e-6)) - f_np(rec, u * (1 - 1e-6))) / (2e-6 * u)
    t = f64(ts).requires_grad_(True)
    assert torch.autograd.gradcheck(rec.conjugate, (t,), eps=1e-7, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_conjugate_float32_and_no_nan_grad(rec):
    t = torch.tensor([-50.0, -3.0, -0.5, 0.0, 0.2, 0.9, 5.0, 50.0], requires_grad=True)
    out = rec.conjugate(t)
    assert out.dtype == torch.float32 and not bool(torch.isnan(out).any())
    fin = torch.isfinite(out)
    (g,) = torch.autograd.grad(out[fin].sum(), t)
    assert not bool(torch.isnan(g).any())


# --- f-GAN variational bound -------------------------------------------------------------------


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_variational_bound_below_divergence_with_equality_at_optimum(rec):
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(8))
    q = rng.dirichlet(np.ones(8))
    d = dv.f_divergence(p, q, rec)
    pt, qt = f64(p), f64(q)
    for _ in range(20):  # random critics T in the domain
        v = f64(rng.normal(scale=3.0, size=8))
        t = rec.activation(v)
        bound = float((pt * t).sum() - (qt * rec.conjugate_of_activation(v)).sum())
        assert bound <= d + 1e-12
    # optimal critic T* = f'(p/q) (tv: a subgradient, sign(p - q)/2)
    u = (pt / qt).requires_grad_(True)
    (t_star,) = torch.autograd.grad(rec.f(u).sum(), u)
    if rec.name == "tv":
        t_star = 0.5 * torch.sign(pt - qt)
    best = float((pt * t_star).sum() - (qt * rec.conjugate(t_star)).sum())
    assert best == pytest.approx(d, rel=1e-9, abs=1e-12)


def test_variational_bound_method_on_samples():
    rec = dv.get_f_divergence("gan")
    v = torch.zeros(10)
    # D(x) = ½ everywhere: bound = 2 log ½ = -log 4 = GAN divergence at P = Q
    assert float(rec.variational_bound(v, v)) == pytest.approx(-math.log(4), rel=1e-6)


# --- user-defined members ---------------------------------------------------------------------


@pytest.mark.parametrize("rec", RECORDS, ids=IDS)
def test_from_generator_recovers_builtin_constants_and_conjugate(rec):
    if rec.name == "gan":  # f(1) = -log 4 is not a valid user generator
        with pytest.raises(ValueError, match=r"f\(1\) = 0"):
            dv.from_generator("g", rec.f)
        return
    user = dv.from_generator("user_" + rec.name, rec.f)
    assert user.f_at_0 == rec.f_at_0 or user.f_at_0 == pytest.approx(rec.f_at_0)
    assert user.slope_at_inf == rec.slope_at_inf or user.slope_at_inf == pytest.approx(
        rec.slope_at_inf
    )
    assert user.f_prime_at_1 == pytest.approx(rec.f_prime_at_1, abs=1e-6)
    assert user.strictly_convex == rec.strictly_convex
    assert user.symmetric == rec.symmetric
    ts = f64(interior_ts(rec))
    torch.testing.assert_close(user.conjugate(ts), rec.conjugate(ts), rtol=1e-9, atol=1e-10)
    t_out = f64([rec.slope_at_inf + 1.0]) if math.isfinite(rec.slope_at_inf) else None
    if t_out is not None:
        assert float(user.conjugate(t_out)) == math.inf
    # activation maps into the domain; conjugate differentiable with gradient u*(t)
    v = f64(np.linspace(-20, 20, 41))
    assert bool((user.activation(v) <= user.domain[1]).all())
    t = ts[2:5].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(user.conjugate(t).sum(), t)
    (g_ref,) = torch.autograd.grad(rec.conjugate(t).sum(), t)
    torch.testing.assert_close(g, g_ref, rtol=1e-6, atol=1e-9)


def test_numeric_conjugate_warns_outside_range():
    kl = dv.get_f_divergence("kl")
    with pytest.warns(RuntimeWarning, match="outside"):
        numeric_conjugate(kl.f, f64([400.0]), slope_at_inf=math.inf, f_at_0=0.0)


def test_from_generator_user_function_and_overrides():
    # Le Cam / triangular-like: f = (u-1)^2/(u+1) given in another form
    rec = dv.from_generator("tri", lambda u: u - 3 + 4 / (u + 1), description="triangular")
    p, q = [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]
    assert dv.f_divergence(p, q, rec) == pytest.approx(dv.triangular(p, q), rel=1e-12)
    assert rec.description == "triangular" and rec.symmetric
    over = dv.from_generator("kl2", lambda u: torch.xlogy(u, u), slope_at_inf=math.inf,
                             strictly_convex=False, symmetric=True)  # fmt: skip
    assert over.strictly_convex is False and over.symmetric is True


def test_from_generator_validation():
    with pytest.raises(ValueError, match=r"must satisfy f\(1\) = 0"):
        dv.from_generator("bad", lambda u: u**2)
    with pytest.raises(ValueError, match="must be convex"):
        dv.from_generator("bad", lambda u: torch.sin(u - 1))
    with pytest.raises(ValueError, match="NaN at u = 0"):
        dv.from_generator("bad", lambda u: u * torch.log(u))
    with pytest.raises(TypeError, match=r"must map a torch\.Tensor to a torch\.Tensor"):
        dv.from_generator("bad", lambda u: 0.0)
    with pytest.raises(TypeError, match="f must be callable"):
        dv.from_generator("bad", 3)
    with pytest.raises(TypeError, match="elementwise"):
        dv.from_generator("bad", lambda u: (u - 1).sum())
