"""Gaussian closed forms, 1-D quadrature and Monte Carlo: against scipy quadrature, scipy's
multivariate normal with Monte Carlo, scipy.linalg.sqrtm, closed forms, laws and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from divergences.continuous import (
    MonteCarloResult,
    QuadratureResult,
    f_divergence_1d,
    frechet_distance,
    gaussian_bhattacharyya,
    gaussian_chi2,
    gaussian_hellinger2,
    gaussian_kl,
    gaussian_renyi,
    monte_carlo_f_divergence,
)
from divergences.fdiv.family import get_f_divergence as get

CLOSED = {
    "kl": gaussian_kl,
    "bhattacharyya": gaussian_bhattacharyya,
    "hellinger2": gaussian_hellinger2,
    "chi2": gaussian_chi2,
}


def _rand_cov(rng, d, ridge=0.3):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + ridge * np.eye(d)


def _gaussians(seed, d):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(d), _rand_cov(rng, d), rng.standard_normal(d), _rand_cov(rng, d)


# --- 1-D: every closed form against direct scipy quadrature ---------------------------------

PAIRS_1D = [(0.0, 1.0, 1.0, 1.0), (0.3, 0.7, -0.5, 1.3), (2.0, 1.5, 0.0, 1.2), (0.0, 1.0, 0.0, 1.0)]


def _quad(fn):
    return integrate.quad(fn, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-11, limit=200)[0]


def _ref_1d(name, m1, s1, m2, s2, alpha=None):
    p, q = stats.norm(m1, s1), stats.norm(m2, s2)
    if name == "kl":
        return _quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)))
    if name == "renyi":
        mass = _quad(lambda x: np.exp(alpha * p.logpdf(x) + (1 - alpha) * q.logpdf(x)))
        return math.log(mass) / (alpha - 1)
    bc = _quad(lambda x: np.exp(0.5 * (p.logpdf(x) + q.logpdf(x))))
    if name == "bhattacharyya":
        return -math.log(bc)
    if name == "hellinger2":
        return 1.0 - bc
    return _quad(lambda x: np.exp(2 * p.logpdf(x) - q.logpdf(x))) - 1.0  # chi2


@pytest.mark.parametrize("pair", PAIRS_1D)
@pytest.mark.parametrize("name", sorted(CLOSED))
def test_closed_forms_match_quadrature_1d(name, pair):
    m1, s1, m2, s2 = pair
    got = CLOSED[name]([m1], [[s1**2]], [m2], [[s2**2]])
    ref = _ref_1d(name, m1, s1, m2, s2)
    assert isinstance(got, float)
    assert got == pytest.approx(ref, rel=1e-8, abs=1e-11)


@pytest.mark.parametrize("pair", PAIRS_1D)
@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.9, 1.5, 2.0])
def test_renyi_matches_quadrature_1d(alpha, pair):
    m1, s1, m2, s2 = pair
    got = gaussian_renyi([m1], [[s1**2]], [m2], [[s2**2]], alpha)
    assert got == pytest.approx(_ref_1d("renyi", m1, s1, m2, s2, alpha), rel=1e-8, abs=1e-11)


@pytest.mark.parametrize(
    "record, closed",
    [
        ("kl", gaussian_kl),
        ("hellinger2", gaussian_hellinger2),
        ("pearson", gaussian_chi2),
        ("reverse_kl", lambda m1, c1, m2, c2: gaussian_kl(m2, c2, m1, c1)),
    ],
)
@pytest.mark.parametrize("log_densities", [False, True])
def test_f_divergence_1d_matches_closed_forms(record, closed, log_densities):
    m1, s1, m2, s2 = 0.3, 0.8, -0.4, 1.1
    p, q = stats.norm(m1, s1), stats.norm(m2, s2)
    fp, fq = (p.logpdf, q.logpdf) if log_densities else (p.pdf, q.pdf)
    # plain densities underflow in the far tails; a finite support keeps them positive
    support = (-np.inf, np.inf) if log_densities else (-25.0, 25.0)
    res = f_divergence_1d(fp, fq, record, log_densities=log_densities, support=support)
    assert isinstance(res, QuadratureResult)
    assert res.value == pytest.approx(closed([m1], [[s1**2]], [m2], [[s2**2]]), rel=1e-7)
    assert 0.0 <= res.abserr < 1e-6


@pytest.mark.parametrize("alpha", [-0.5, 0.3, 2.0])
def test_f_divergence_1d_alpha_family_matches_renyi(alpha):
    # alpha-divergence with f = (u^α − 1 − α(u − 1))/(α(α − 1)): D = (e^{(α−1)R_α} − 1)/(α(α−1))
    m1, s1, m2, s2 = 0.0, 1.0, 0.5, 1.2
    if alpha < 0:  # Rényi of order α < 0 via the swap identity D_α(P‖Q) ∝ D_{1−α}(Q‖P)
        renyi = alpha / (1 - alpha) * gaussian_renyi([m2], [[s2**2]], [m1], [[s1**2]], 1 - alpha)
    else:
        renyi = gaussian_renyi([m1], [[s1**2]], [m2], [[s2**2]], alpha)
    want = math.expm1((alpha - 1) * renyi) / (alpha * (alpha - 1))
    got = f_divergence_1d(stats.norm(m1, s1).logpdf, stats.norm(m2, s2).logpdf,
                          get("alpha", alpha=alpha), log_densities=True)  # fmt: skip
    assert got.value == pytest.approx(want, rel=1e-7)


def test_f_divergence_1d_js_and_tv_against_direct_quadrature():
    p, q = stats.norm(0.0, 1.0), stats.norm(1.5, 1.0)

    def js_density(x):
        a, b = p.pdf(x), q.pdf(x)
        m = 0.5 * (a + b)
        return 0.5 * (a * math.log(a / m) if a > 0 else 0.0) + 0.5 * (
            b * math.log(b / m) if b > 0 else 0.0
        )

    js_ref = _quad(js_density)
    assert f_divergence_1d(p.pdf, q.pdf, "js", points=[0.75]).value == pytest.approx(js_ref)
    # TV between equal-variance normals: 2Φ(|Δ|/2σ) − 1
    tv = f_divergence_1d(p.pdf, q.pdf, "tv", points=[0.75]).value
    assert tv == pytest.approx(2 * stats.norm.cdf(0.75) - 1, rel=1e-9)


def test_f_divergence_1d_infinite_when_supports_differ():
    p, q = stats.norm(), stats.expon()
    res = f_divergence_1d(p.logpdf, q.logpdf, "kl", log_densities=True)
    assert res == (math.inf, 0.0)
    with pytest.warns(RuntimeWarning, match="log_densities=True"):
        assert f_divergence_1d(p.pdf, q.pdf, "kl").value == math.inf
    # Q = Exp has mass only where P > 0, so reverse_kl(P‖Q) = KL(Q‖P) is finite; TV ≤ 1
    # TV = ½(P(x < 0) + ∫₀^∞ |φ − e^{−x}|) = ½ exactly, as φ(x) < e^{−x} for all x > 0
    tv = f_divergence_1d(p.pdf, q.pdf, "tv", points=[0.0]).value
    assert tv == pytest.approx(0.5, abs=1e-10)
    rkl = f_divergence_1d(p.logpdf, q.logpdf, "reverse_kl", log_densities=True, points=[0.0])
    ref = _quad(lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x)) if x > 0 else 0.0)
    assert rkl.value == pytest.approx(ref, rel=1e-7)


def test_f_divergence_1d_log_densities_survive_underflow():
    # q underflows (|x| > 38) long before p does: only log-densities give the finite answer
    p, q = stats.norm(0.0, 3.0), stats.norm(0.0, 1.0)
    want = gaussian_kl([0.0], [[9.0]], [0.0], [[1.0]])
    got = f_divergence_1d(p.logpdf, q.logpdf, "kl", log_densities=True)
    assert got.value == pytest.approx(want, rel=1e-8)
    with pytest.warns(RuntimeWarning, match="q is 0 at x = .* only underflowed"):
        assert f_divergence_1d(p.pdf, q.pdf, "kl").value == math.inf
    with pytest.warns(RuntimeWarning, match="p is 0 at x = .* only underflowed"):
        assert f_divergence_1d(q.pdf, p.pdf, "reverse_kl").value == math.inf


def test_f_divergence_1d_finite_support_and_points():
    a, b = stats.beta(2.0, 3.0), stats.beta(3.0, 2.0)
    ref = _quad(lambda x: a.pdf(x) * math.log(a.pdf(x) / b.pdf(x)) if 0 < x < 1 else 0.0)
    got = f_divergence_1d(a.pdf, b.pdf, "kl", support=(0.0, 1.0), points=[0.5])
    assert got.value == pytest.approx(ref, rel=1e-8)
    # narrow, far-apart modes: split at the modes
    p, q = stats.norm(0.0, 0.01), stats.norm(30.0, 0.01)
    hel = f_divergence_1d(p.logpdf, q.logpdf, "hellinger2", log_densities=True, points=[0, 30])
    assert hel.value == pytest.approx(1.0, abs=1e-9)


def test_f_divergence_1d_errors():
    p = stats.norm()
    with pytest.raises(ValueError, match="q integrates to 2"):
        f_divergence_1d(p.pdf, lambda x: 2 * p.pdf(x), "kl")
    with pytest.raises(ValueError, match="p returned -"):
        f_divergence_1d(lambda x: -p.pdf(x), p.pdf, "kl")
    with pytest.raises(ValueError, match="p returned nan"):
        f_divergence_1d(lambda x: math.nan, p.pdf, "kl")
    with pytest.raises(ValueError, match="support must satisfy lo < hi"):
        f_divergence_1d(p.pdf, p.pdf, "kl", support=(1.0, 0.0))
    with pytest.raises(TypeError, match="support must be a pair"):
        f_divergence_1d(p.pdf, p.pdf, "kl", support=3.0)
    with pytest.raises(TypeError, match="q must be a callable"):
        f_divergence_1d(p.pdf, 3.0, "kl")
    with pytest.raises(ValueError, match="unknown f-divergence"):
        f_divergence_1d(p.pdf, p.pdf, "nope")
    with pytest.raises(TypeError, match="log_densities must be a bool"):
        f_divergence_1d(p.pdf, p.pdf, "kl", log_densities=1)


# --- d-D: closed forms against Monte Carlo with scipy's multivariate normal ------------------


@pytest.mark.parametrize("d", [3, 4, 5])
def test_closed_forms_match_monte_carlo(d):
    rng = np.random.default_rng(100 + d)
    m1, c2 = 0.4 * rng.standard_normal(d), _rand_cov(rng, d, ridge=0.5)
    c1, m2 = 0.8 * c2 + 0.1 * _rand_cov(rng, d, ridge=0.1), np.zeros(d)
    p, q = stats.multivariate_normal(m1, c1), stats.multivariate_normal(m2, c2)
    x = p.rvs(size=200_000, random_state=rng)
    r = p.logpdf(x) - q.logpdf(x)  # log p/q at samples of P
    refs = {
        "kl": r,
        "bc": np.exp(-0.5 * r),  # E_P[√(q/p)] = ∫√(pq)
        "renyi3": np.exp(0.5 * r),  # E_P[(p/q)^{1/2}] = ∫p^{3/2} q^{-1/2}
        "chi2": np.exp(r),  # E_P[p/q] = ∫p²/q
    }
    mean = {k: v.mean() for k, v in refs.items()}
    err = {k: v.std(ddof=1) / math.sqrt(len(v)) for k, v in refs.items()}
    tol = 6.0

    def close(got, k, transform):
        lo, hi = transform(mean[k] - tol * err[k]), transform(mean[k] + tol * err[k])
        assert min(lo, hi) - 1e-12 <= got <= max(lo, hi) + 1e-12, (got, lo, hi)

    close(gaussian_kl(m1, c1, m2, c2), "kl", lambda v: v)
    close(gaussian_bhattacharyya(m1, c1, m2, c2), "bc", lambda v: -math.log(v))
    close(gaussian_hellinger2(m1, c1, m2, c2), "bc", lambda v: 1 - v)
    close(gaussian_renyi(m1, c1, m2, c2, 1.5), "renyi3", lambda v: 2 * math.log(v))
    close(gaussian_chi2(m1, c1, m2, c2), "chi2", lambda v: v - 1)


@pytest.mark.parametrize(
    "name, closed",
    [("kl", gaussian_kl), ("hellinger2", gaussian_hellinger2), ("pearson", gaussian_chi2),
     ("reverse_kl", lambda a, b, c, d: gaussian_kl(c, d, a, b)),
     ("js", None)],
)  # fmt: skip
def test_monte_carlo_f_divergence_matches_closed_forms(name, closed):
    d = 3
    rng = np.random.default_rng(7)
    m1, c2 = 0.3 * rng.standard_normal(d), _rand_cov(rng, d, ridge=0.6)
    c1, m2 = 0.9 * c2, np.zeros(d)
    p, q = stats.multivariate_normal(m1, c1), stats.multivariate_normal(m2, c2)
    xq, xp = q.rvs(size=40_000, random_state=rng), p.rvs(size=40_000, random_state=rng)
    by_q = monte_carlo_f_divergence(p.logpdf(xq), q.logpdf(xq), name, samples_from="q")
    by_p = monte_carlo_f_divergence(p.logpdf(xp), q.logpdf(xp), name, samples_from="p")
    assert isinstance(by_q, MonteCarloResult) and isinstance(by_q.value, float)
    if closed is None:  # JS: no closed form; the two sampling identities must agree
        want, extra = by_p.value, by_p.stderr
    else:
        want, extra = closed(m1, c1, m2, c2), 0.0
    for est in (by_q, by_p):
        assert 0 < est.stderr < 0.08
        assert abs(est.value - want) < 6 * math.hypot(est.stderr, extra) + 1e-12


def test_monte_carlo_kl_stays_in_log_space():
    # log-ratios of ±1000 overflow exp(): the KL forms in r never call it
    lp = torch.tensor([0.0, -1000.0, 5.0], dtype=torch.float64)
    lq = torch.tensor([1000.0, 0.0, 5.0], dtype=torch.float64)
    res = monte_carlo_f_divergence(lp, lq, "kl", samples_from="p")
    assert float(res.value) == pytest.approx((-1000.0 - 1000.0 + 0.0) / 3)
    res = monte_carlo_f_divergence(lp, lq, "reverse_kl", samples_from="q")
    assert float(res.value) == pytest.approx((1000.0 + 1000.0) / 3)
    # Q-side KL with a ratio e^1000 is honestly infinite, and so is its standard error
    res = monte_carlo_f_divergence(lq, lp, "kl", samples_from="q")
    assert float(res.value) == math.inf and float(res.stderr) == math.inf
    # finite-slope divergences use the slope where the ratio overflows (JS: f(u)/u → ½ log 2)
    res = monte_carlo_f_divergence([800.0, 800.0], [0.0, 0.0], "js", samples_from="p")
    assert res.value == pytest.approx(0.5 * math.log(2.0))


def test_monte_carlo_torch_autograd_and_batch():
    lp = torch.randn(2, 50, dtype=torch.float32, requires_grad=True)
    lq = torch.randn(2, 50, dtype=torch.float32)
    res = monte_carlo_f_divergence(lp, lq, "kl", samples_from="p")
    assert res.value.shape == (2,) and res.value.dtype == torch.float32
    res.value.sum().backward()
    assert torch.allclose(lp.grad, torch.full_like(lp, 1 / 50))  # d mean(lp − lq) / d lp_i
    ref = (lp - lq).detach().double()
    assert torch.allclose(res.stderr.double(), ref.std(-1) / math.sqrt(50), rtol=1e-5)


def test_monte_carlo_errors():
    with pytest.raises(ValueError, match="log_q is -inf"):
        monte_carlo_f_divergence([0.0, 0.0], [0.0, -np.inf], "kl", samples_from="q")
    with pytest.raises(ValueError, match="log_p is -inf"):
        monte_carlo_f_divergence([0.0, -np.inf], [0.0, 0.0], "kl", samples_from="p")
    with pytest.raises(ValueError, match="log_p contains NaN"):
        monte_carlo_f_divergence([0.0, np.nan], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"log_q contains \+inf"):
        monte_carlo_f_divergence([0.0, 0.0], [0.0, np.inf])
    with pytest.raises(ValueError, match="N >= 2"):
        monte_carlo_f_divergence([0.0], [0.0])
    with pytest.raises(ValueError, match="same shape"):
        monte_carlo_f_divergence([0.0, 1.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="samples_from must be one of"):
        monte_carlo_f_divergence([0.0, 1.0], [0.0, 1.0], samples_from="x")
    # p = 0 at a sample of Q is allowed: f(0) enters (reverse KL: +inf)
    assert monte_carlo_f_divergence([0.0, -np.inf], [0.0, 0.0], "reverse_kl").value == math.inf
    assert monte_carlo_f_divergence([0.0, -np.inf], [0.0, 0.0], "tv").value == 0.25


# --- Fréchet distance ------------------------------------------------------------------------


def _ref_frechet(m1, c1, m2, c2):
    covmean = scipy.linalg.sqrtm(c1 @ c2)
    return float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean).real)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("d", [1, 2, 5, 16])
def test_frechet_matches_scipy_sqrtm(d, seed):
    m1, c1, m2, c2 = _gaussians(seed, d)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(_ref_frechet(m1, c1, m2, c2), rel=1e-9)


@pytest.mark.parametrize("rank1, rank2", [(2, 6), (3, 3), (1, 4), (6, 2)])
def test_frechet_singular_covariances(rank1, rank2):
    rng = np.random.default_rng(rank1 * 10 + rank2)
    d = 6
    a, b = rng.standard_normal((d, rank1)), rng.standard_normal((d, rank2))
    c1, c2 = a @ a.T, b @ b.T  # rank-deficient
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    # independent reference: tr sqrt(Σ1 Σ2) = tr sqrtm(Aᵀ Σ2 A), a small PSD matrix
    inner = scipy.linalg.sqrtm(a.T @ c2 @ a).real
    ref = np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(inner)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rounding-level negatives must be clamped silently
        got = frechet_distance(m1, c1, m2, c2)
    assert got == pytest.approx(ref, rel=1e-8, abs=1e-9)


def test_frechet_closed_forms():
    # 1-D: (m1 − m2)² + (s1 − s2)²; commuting (diagonal) covariances: Σ(√a − √b)²
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[0.25]]) == pytest.approx(9 + 1.5**2)
    a, b = np.array([1.0, 4.0, 0.0]), np.array([9.0, 1.0, 2.0])
    want = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b)) == pytest.approx(want)
    # identical inputs give exactly 0, never a small negative number
    _, c, _, _ = _gaussians(3, 30)
    assert frechet_distance(np.ones(30), c, np.ones(30), c) == 0.0
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]], squared=False) == pytest.approx(
        math.sqrt(10.0)
    )


def _sym_args(fn):
    """Wrap ``fn(mu1, cov1, mu2, cov2)`` so gradcheck's one-entry perturbations stay symmetric."""
    return lambda m1, c1, m2, c2: fn(m1, 0.5 * (c1 + c1.mT), m2, 0.5 * (c2 + c2.mT))


def test_frechet_gradients():
    d = 4
    args = [torch.tensor(v, requires_grad=True) for v in _gaussians(11, d)]
    assert torch.autograd.gradcheck(_sym_args(frechet_distance), args)
    root = _sym_args(lambda *a: frechet_distance(*a, squared=False))
    assert torch.autograd.gradcheck(root, args)
    # repeated eigenvalues (autograd through eigh would give NaN): Σ1 = 4I, Σ2 = I
    c1 = (4.0 * torch.eye(d, dtype=torch.float64)).requires_grad_()
    c2 = torch.eye(d, dtype=torch.float64, requires_grad=True)
    m = torch.zeros(d, dtype=torch.float64)
    frechet_distance(m, c1, m, c2).backward()
    # f = tr Σ1 + tr Σ2 − 2 tr (Σ1^½ Σ2 Σ1^½)^½: ∂/∂Σ1 = I − Σ1^{-½}, ∂/∂Σ2 = I − Σ1^½
    assert torch.allclose(c1.grad, 0.5 * torch.eye(d, dtype=torch.float64))
    assert torch.allclose(c2.grad, -torch.eye(d, dtype=torch.float64))
    sym = _sym_args(frechet_distance)
    assert torch.autograd.gradcheck(lambda a, b: sym(m, a, m, b), (c1, c2))


def _low_rank_cases():
    d = 5
    eye = torch.eye(d, dtype=torch.float64)

    def cov(f):  # rank-deficient for a D × r factor, positive definite for a D × D one + ridge
        return f @ f.T if f.shape[1] < d else f @ f.T + 0.1 * eye

    return [(d, r1, r2, cov) for r1, r2 in [(2, 5), (5, 2), (2, 3), (3, 2), (1, 1)]]


@pytest.mark.parametrize("d, r1, r2, cov", _low_rank_cases())
@pytest.mark.parametrize("squared", [True, False])
def test_frechet_gradients_singular_covariances(d, r1, r2, cov, squared):
    # Σ = A Aᵀ with A of shape (D, r < D): singular, but W₂ is differentiable in A as long as
    # the rank is kept; the pseudo-inverse closed forms must give that derivative exactly
    g = torch.Generator().manual_seed(10 * r1 + r2)
    a = torch.randn(d, r1, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(d, r2, generator=g, dtype=torch.float64, requires_grad=True)
    m1 = torch.randn(d, generator=g, dtype=torch.float64, requires_grad=True)
    m2 = torch.zeros(d, dtype=torch.float64)

    def f(m, x, y):
        return frechet_distance(m, cov(x), m2, cov(y), squared=squared)

    assert torch.autograd.gradcheck(f, (m1, a, b))


def test_frechet_batched_gradient_mixes_singular_and_definite():
    # one batch element singular, one positive definite: the batch takes the eigh route and
    # must agree (value and gradient) with the elements computed one by one
    g = torch.Generator().manual_seed(4)
    d = 4
    a = torch.randn(2, d, d, generator=g, dtype=torch.float64)
    a[0, :, 2:] = 0.0  # rank 2
    c1 = (a @ a.mT).requires_grad_()
    c2 = torch.randn(d, d, generator=g, dtype=torch.float64)
    c2 = (c2 @ c2.T + 0.5 * torch.eye(d, dtype=torch.float64)).expand(2, d, d)
    m = torch.zeros(d, dtype=torch.float64)
    out = frechet_distance(m, c1, m, c2)
    (grad,) = torch.autograd.grad(out.sum(), c1)
    for i in range(2):
        ci = c1[i].detach().requires_grad_()
        vi = frechet_distance(m, ci, m, c2[i])
        (gi,) = torch.autograd.grad(vi, ci)
        assert float(out[i].detach()) == pytest.approx(float(vi.detach()), rel=1e-10, abs=1e-12)
        torch.testing.assert_close(grad[i], gi, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("n1, n2", [(10, 64), (64, 10), (12, 7), (100, 100)])
def test_frechet_from_samples_matches_nuclear_norm(n1, n2):
    # tr (Σ1 Σ2)^½ = ‖Yc Xcᵀ‖_* / sqrt((n1−1)(n2−1)) for sample covariances: an SVD oracle
    # that is exact for singular covariances (n < d) and needs no matrix square root
    rng = np.random.default_rng(n1 * n2)
    d = 48
    x, y = rng.standard_normal((n1, d)) * 2.0, rng.standard_normal((n2, d)) + 0.5
    xc, yc = x - x.mean(0), y - y.mean(0)
    nuc = np.linalg.svd(yc @ xc.T, compute_uv=False).sum() / math.sqrt((n1 - 1) * (n2 - 1))
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    want = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(c1) + np.trace(c2) - 2 * nuc
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = frechet_distance(x.mean(0), c1, y.mean(0), c2)
    assert got == pytest.approx(want, rel=1e-10)
    assert frechet_distance(x.mean(0), c1, x.mean(0), c1) < 1e-10 * np.trace(c1)


def test_frechet_warns_and_raises_on_indefinite():
    c = np.diag([1.0, 2.0, -1e-10])
    with pytest.warns(RuntimeWarning, match="cov2 has negative eigenvalues"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), c)
    with pytest.raises(ValueError, match="cov1 must be positive semi-definite"):
        frechet_distance(np.zeros(3), np.diag([1.0, 2.0, -0.5]), np.zeros(3), np.eye(3))
    with pytest.raises(TypeError, match="squared must be a bool"):
        frechet_distance([0.0], [[1.0]], [0.0], [[1.0]], squared=1)


# --- array boundary, batching, autograd ------------------------------------------------------

ALL = [*CLOSED.values(), frechet_distance, lambda *a: gaussian_renyi(*a, alpha=0.7)]


@pytest.mark.parametrize("fn", ALL)
def test_torch_in_torch_out_and_batching(fn, device):
    d, b = 3, 4
    gs = [_gaussians(s, d) for s in range(b)]
    stacked = [torch.tensor(np.stack(v), dtype=torch.float32, device=device) for v in zip(*gs)]
    out = fn(*stacked)
    assert out.shape == (b,) and out.dtype == torch.float32 and out.device.type == device.type
    loop = np.array([fn(*g) for g in gs])
    np.testing.assert_allclose(out.cpu().numpy(), loop, rtol=2e-4, atol=1e-5)
    # broadcasting: one Q against a batch of P; NumPy batch in → NumPy array out
    m1, c1 = np.stack([g[0] for g in gs]), np.stack([g[1] for g in gs])
    got = fn(m1, c1, gs[0][2], gs[0][3])
    assert isinstance(got, np.ndarray) and got.shape == (b,)
    np.testing.assert_allclose(got, [fn(g[0], g[1], gs[0][2], gs[0][3]) for g in gs], rtol=1e-10)


@pytest.mark.parametrize("fn", [*CLOSED.values(), lambda *a: gaussian_renyi(*a, alpha=2.5)])
def test_density_forms_gradcheck(fn):
    args = [torch.tensor(v, requires_grad=True) for v in _gaussians(5, 3)]
    args[1].data = 0.8 * args[3].data + 0.1 * torch.eye(3, dtype=torch.float64)  # finite χ², D_2.5
    assert torch.autograd.gradcheck(_sym_args(fn), args)


def test_infinite_where_the_integral_diverges():
    # χ²: 2σ2² − σ1² ≤ 0 → +inf; direct quadrature of p²/q diverges too
    assert gaussian_chi2([0.0], [[3.0]], [0.0], [[1.0]]) == math.inf
    assert gaussian_renyi([0.0], [[3.0]], [0.0], [[1.0]], alpha=3.0) == math.inf
    assert math.isfinite(gaussian_renyi([0.0], [[3.0]], [0.0], [[1.0]], alpha=1.4))
    # batched: finite entries keep finite gradients next to infinite ones
    c1 = torch.tensor([[[3.0]], [[1.2]]], dtype=torch.float64, requires_grad=True)
    z, eye = torch.zeros(2, 1, dtype=torch.float64), torch.eye(1, dtype=torch.float64)
    out = gaussian_chi2(z, c1, z[0], eye)
    assert out[0] == math.inf and math.isfinite(float(out[1].detach()))
    out[1].backward()
    assert torch.isfinite(c1.grad).all()


def test_tiny_asymmetry_is_symmetrised():
    m1, c1, m2, c2 = _gaussians(2, 4)
    noisy = c1 + 1e-12 * np.triu(np.ones((4, 4)), 1)
    assert gaussian_kl(m1, noisy, m2, c2) == pytest.approx(gaussian_kl(m1, c1, m2, c2), rel=1e-9)


def test_errors():
    m, c = np.zeros(2), np.eye(2)
    with pytest.raises(ValueError, match="cov1 must be symmetric"):
        gaussian_kl(m, [[1.0, 0.5], [0.0, 1.0]], m, c)
    with pytest.raises(ValueError, match="cov2 must be positive definite; its smallest eigen"):
        gaussian_kl(m, c, m, [[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="cov1 must be positive definite"):
        gaussian_hellinger2(m, -c, m, c)
    with pytest.raises(ValueError, match="mu2 must be finite, found 1 NaN"):
        gaussian_kl(m, c, [0.0, np.nan], c)
    with pytest.raises(ValueError, match="cov1 must be finite"):
        frechet_distance(m, [[np.inf, 0.0], [0.0, 1.0]], m, c)
    with pytest.raises(ValueError, match="must share the dimension D"):
        gaussian_kl(m, c, np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="cov2 must be square"):
        gaussian_kl(m, c, m, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"mu1 must have shape \(\.\.\., D\)"):
        gaussian_kl(0.0, c, m, c)
    with pytest.raises(ValueError, match="do not broadcast"):
        gaussian_kl(np.zeros((3, 2)), c, np.zeros((4, 2)), c)
    with pytest.raises(TypeError, match="share one dtype"):
        gaussian_kl(torch.zeros(2), torch.eye(2, dtype=torch.float64), m, c)
    with pytest.raises(TypeError, match="mu1 must be an array or tensor"):
        gaussian_kl(None, c, m, c)
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
            gaussian_renyi(m, c, m, c, alpha=bad)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        gaussian_renyi(m, c, m, c, alpha=True)


# --- laws (hypothesis) ------------------------------------------------------------------------

seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, 5)


@settings(max_examples=40)
@given(seeds, dims)
def test_kl_nonnegative_and_zero_on_identical(seed, d):
    m1, c1, m2, c2 = _gaussians(seed, d)
    assert gaussian_kl(m1, c1, m2, c2) >= 0.0
    assert gaussian_kl(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_hellinger2(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-12)
    h = gaussian_hellinger2(m1, c1, m2, c2)
    assert 0.0 <= h <= 1.0
    assert h == pytest.approx(gaussian_hellinger2(m2, c2, m1, c1), rel=1e-9, abs=1e-14)


@settings(max_examples=60)
@given(seeds, dims)
def test_frechet_symmetric_and_triangle(seed, d):
    rng = np.random.default_rng(seed)
    g = [(rng.standard_normal(d), _rand_cov(rng, d, ridge=0.01)) for _ in range(3)]
    w = {}
    for i in range(3):
        for j in range(3):
            w[i, j] = frechet_distance(*g[i], *g[j], squared=False)
    assert w[0, 1] == pytest.approx(w[1, 0], rel=1e-7, abs=1e-9)
    assert w[0, 0] == pytest.approx(0.0, abs=1e-6)
    assert w[0, 2] <= w[0, 1] + w[1, 2] + 1e-9


@settings(max_examples=40)
@given(seeds, dims, st.floats(0.05, 4.0), st.floats(0.05, 4.0))
def test_renyi_monotone_in_alpha(seed, d, a, b):
    m1, c1, m2, c2 = _gaussians(seed, d)
    lo, hi = min(a, b), max(a, b)
    r_lo, r_hi = (gaussian_renyi(m1, c1, m2, c2, x) for x in (lo, hi))
    assert r_lo <= r_hi * (1 + 1e-9) + 1e-12
    assert r_lo >= 0.0


@settings(max_examples=30)
@given(seeds, dims)
def test_renyi_tends_to_kl(seed, d):
    m1, c1, m2, c2 = _gaussians(seed, d)
    kl = gaussian_kl(m1, c1, m2, c2)
    for eps in (1e-5, -1e-5):
        r = gaussian_renyi(m1, c1, m2, c2, 1.0 + eps)
        assert r == pytest.approx(kl, rel=1e-3, abs=1e-7)
    assert gaussian_renyi(m1, c1, m2, c2, 1.0) == kl
    half = gaussian_renyi(m1, c1, m2, c2, 0.5)
    assert half == pytest.approx(2 * gaussian_bhattacharyya(m1, c1, m2, c2), rel=1e-12)


@pytest.mark.parametrize("d", [1, 9, 300])
def test_congruence_lower_matches_dense_products(d):
    from divergences.continuous.frechet import _congruence_lower

    gen = np.random.default_rng(d)
    a = gen.normal(size=(d, d))
    a = torch.from_numpy(a @ a.T)
    lower = torch.from_numpy(np.tril(gen.normal(size=(d, d))))
    ref = (lower.numpy().T @ a.numpy()) @ lower.numpy()
    got = _congruence_lower(lower, a).numpy()
    assert np.abs(got - ref).max() <= 1e-12 * np.abs(ref).max()
