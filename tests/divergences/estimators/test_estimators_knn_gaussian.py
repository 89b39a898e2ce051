"""The Gaussian start of the kNN estimators: ball masses, brute-force oracles, laws, errors."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats
from scipy.spatial.distance import cdist

from divergences.estimators import ensemble_weights, knn_divergence, knn_kl
from divergences.estimators._gaussian_start import fit_frame, log_mass_ratio, log_ncx2_cdf


def _ball_mass_quad(a: float, r: float, d: int) -> float:
    """P(‖Z − a·e_1‖ ≤ r), Z ~ N(0, I_d), by quadrature over the first coordinate."""
    if d == 1:
        return special.ndtr(a + r) - special.ndtr(a - r)
    c = 1 / math.sqrt(2 * math.pi)

    def inner(z: float) -> float:  # N(0, 1) density times the χ²_{d−1} CDF
        return (
            c * math.exp(-0.5 * z * z) * special.gammainc((d - 1) / 2, (r * r - (z - a) ** 2) / 2)
        )

    return integrate.quad(inner, a - r, a + r, epsabs=0, epsrel=1e-12, limit=200)[0]


def _log_ncx2_mp(x: float, df: int, nc: float) -> float:
    """log P(χ²_df(nc) ≤ x) by the Poisson mixture at 60 digits (mpmath)."""
    with mpmath.workdps(60):
        lam, half = mpmath.mpf(nc) / 2, mpmath.mpf(x) / 2
        total = mpmath.mpf(0)
        for j in range(int(nc / 2 + 15 * math.sqrt(nc / 2 + 1) + 60)):
            w = mpmath.exp(-lam) * lam**j / mpmath.factorial(j)
            total += w * mpmath.gammainc(mpmath.mpf(df) / 2 + j, 0, half, regularized=True)
        return float(mpmath.log(total))


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(1, 12),
    a=st.floats(0.0, 6.0),
    r=st.floats(0.05, 4.0),
)
def test_log_ncx2_cdf_is_the_gaussian_ball_mass(d, a, r):
    mass = _ball_mass_quad(a, r, d)
    if mass < 1e-250:
        return
    got = float(log_ncx2_cdf(np.array([r * r]), d, np.array([a * a]))[0])
    assert got == pytest.approx(math.log(mass), abs=1e-8, rel=1e-8)


@pytest.mark.parametrize(
    "x, df, nc",
    [(1e-4, 5, 1600.0), (1e-12, 50, 10.0), (1e-3, 200, 0.0), (2.0, 3, 2500.0), (1e-30, 20, 0.0)],
)
def test_log_ncx2_cdf_in_the_log_domain_where_it_underflows(x, df, nc):
    ref = _log_ncx2_mp(x, df, nc)
    assert ref < math.log(1e-280)  # the case is in the log-domain branch
    got = float(log_ncx2_cdf(np.array([x]), df, np.array([nc]))[0])
    assert got == pytest.approx(ref, rel=1e-10)


def test_log_mass_ratio_tends_to_the_mahalanobis_ball_volume(rng):
    d = 4
    t = torch.from_numpy(rng.normal(size=(50, d)) @ rng.normal(size=(d, d)))
    frame = fit_frame(t, "x")
    white = frame.whiten(t[:3])
    r = torch.full((3, 1), 1e-6, dtype=torch.float64)
    log_vol = 0.5 * d * math.log(math.pi) - math.lgamma(d / 2 + 1) + d * math.log(1e-6)
    got = log_mass_ratio(r, white, frame)
    log_det = 0.5 * np.linalg.slogdet(np.cov(t.numpy(), rowvar=False))[1]
    np.testing.assert_allclose(got.numpy().ravel(), log_vol + log_det, atol=1e-9)


def _frames(x, y):
    return [(a.mean(0), np.cov(a, rowvar=False).reshape(a.shape[1], -1)) for a in (x, y)]


def _log_rel_masses(a, pts, k, frame):
    """log G(B(a_i, r_ik)) − log g(a_i), r_ik the k-th positive Mahalanobis distance from a_i
    to the distinct rows of ``pts`` in the frame (oracle; a_i itself is skipped at 0)."""
    mean, cov = frame
    vi = np.linalg.inv(cov)
    dist = cdist(a, np.unique(pts, axis=0), metric="mahalanobis", VI=vi)
    rows = [np.sort(row[row > 0])[:k] for row in dist]
    norms = np.sqrt(np.einsum("ij,jk,ik->i", a - mean, vi, a - mean))
    d = a.shape[1]
    log_g = stats.multivariate_normal(mean, cov).logpdf(a).reshape(-1)
    out = np.empty((a.shape[0], k))
    for i, row in enumerate(rows):
        for j, r in enumerate(row):
            out[i, j] = math.log(_ball_mass_quad(norms[i], r, d)) - log_g[i]
    return out


def _counts(x, y):
    return len(np.unique(x, axis=0)), len(np.unique(y, axis=0))


def _kl_oracle(x, y, w, frames):
    gx, gy = _counts(x, y)
    mr = _log_rel_masses(x, x, len(w), frames[0])
    mn = _log_rel_masses(x, y, len(w), frames[1])
    return float(((mn - mr) @ w).mean()) + math.log(gy / (gx - 1))


def _hellinger_oracle(x, y, k, frames):
    gx, gy = _counts(x, y)
    mr = _log_rel_masses(x, x, k, frames[0])[:, k - 1]
    mn = _log_rel_masses(x, y, k, frames[1])[:, k - 1]
    b = math.gamma(k) ** 2 / (math.gamma(k + 0.5) * math.gamma(k - 0.5))
    return 1 - b * np.mean(np.exp(0.5 * (math.log((gx - 1) / gy) + mr - mn)))


@pytest.mark.parametrize("d, k, correction", [(1, 1, "none"), (2, 3, "ensemble"), (3, 2, "none")])
def test_gaussian_start_matches_brute_force(rng, d, k, correction):
    x = rng.normal(size=(30, d)) @ rng.normal(size=(d, d)) + 0.3
    y = rng.standard_t(4, size=(26, d)) * 1.4
    w = ensemble_weights(k, d) if correction == "ensemble" else np.eye(k)[-1]
    e = knn_kl(x, y, k=k, correction=correction, base="gaussian")
    assert e.value == pytest.approx(_kl_oracle(x, y, w, _frames(x, y)), abs=1e-8)
    assert e.details["base"] == "gaussian"
    h = knn_divergence(x, y, "hellinger2", k=3, base="gaussian")
    assert h.value == pytest.approx(_hellinger_oracle(x, y, 3, _frames(x, y)), abs=1e-8)


def test_gaussian_start_jackknife_deletes_locations_with_the_frames_kept(rng):
    x, y = rng.normal(size=(11, 2)), rng.normal(size=(9, 2)) * 1.2 + 0.5
    x = np.concatenate([x, x[:2]])  # copies within x
    y = np.concatenate([y, y[:1], x[3:4]])  # a copy within y, and a point of x in y
    frames = _frames(x, y)  # fitted once to all points, copies included
    w = ensemble_weights(3, 2)
    with pytest.warns(RuntimeWarning, match="heavy ties"):
        e = knn_kl(x, y, k=3, base="gaussian")
    # the shared point is skipped at Mahalanobis distance exactly 0 in y's frame
    assert e.value == pytest.approx(_kl_oracle(x, y, w, frames), abs=1e-8)
    assert e.details["ties"] == 2 + 1 + 1
    var = 0.0
    for s, first in ((x, True), (y, False)):
        loo = []
        for loc in np.unique(s, axis=0):
            rest = s[~(s == loc).all(1)]  # the location with all its copies
            loo.append(_kl_oracle(rest, y, w, frames) if first else _kl_oracle(x, rest, w, frames))
        loo = np.array(loo)
        g = len(loo)
        var += (g - 1) / g * ((loo - loo.mean()) ** 2).sum()
    assert e.stderr == pytest.approx(math.sqrt(var), rel=1e-7)


def test_gaussian_start_points_of_x_copied_into_y_stay_at_distance_zero(rng):
    """A point of x repeated through y is one location, whitened once per frame: it is
    skipped at distance exactly 0 (as the oracle does), never met at a rounding-sized one."""
    x = rng.normal(size=(60, 3)) @ rng.normal(size=(3, 3)) + 3.0
    y = rng.normal(size=(60, 3)) + 3.0
    y[::5] = x[4]  # many copies, at offsets across any solver block
    with pytest.warns(RuntimeWarning, match="heavy ties"):
        e = knn_kl(x, y, k=4, correction="none", base="gaussian")
    assert e.details["ties"] == (12 - 1) + 1
    assert e.value == pytest.approx(_kl_oracle(x, y, np.eye(4)[-1], _frames(x, y)), abs=1e-8)


@pytest.mark.parametrize("kind", ["kl", "jeffreys", "hellinger2"])
def test_gaussian_start_is_exactly_affine_invariant(rng, kind):
    d = 3
    x, y = rng.laplace(size=(300, d)), rng.normal(size=(250, d)) * 1.3 + 0.2
    a = rng.normal(size=(d, d)) + 2 * np.eye(d)
    b = rng.normal(size=d) * 5
    e1 = knn_divergence(x, y, kind, base="gaussian")
    e2 = knn_divergence(x @ a.T + b, y @ a.T + b, kind, base="gaussian")
    assert e2.value == pytest.approx(e1.value, rel=1e-9, abs=1e-11)
    assert e2.stderr == pytest.approx(e1.stderr, rel=1e-7)


def test_gaussian_start_removes_the_high_dimensional_bias_on_gaussians(rng):
    d, n = 10, 3000
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d)) * math.sqrt(1.3)
    y[:, 0] += 1.0
    truth = 0.5 * (d / 1.3 - d + 1 / 1.3 + d * math.log(1.3))
    e = knn_kl(x, y, base="gaussian")
    plain = knn_kl(x, y)
    assert abs(e.value - truth) < 3 * e.stderr
    assert abs(e.value - truth) < abs(plain.value - truth)


def test_gaussian_start_tail_points_stay_finite(rng):
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    x[0] = [40.0, 0.0, 0.0]  # far in the tail: its ball masses underflow doubles
    x[1] = [40.0, 1e-3, 0.0]
    e = knn_kl(x, y, base="gaussian", k=4)
    assert math.isfinite(e.value) and math.isfinite(e.stderr)


def test_gaussian_start_torch_and_numpy_agree(rng):
    x, y = rng.normal(size=(120, 2)), rng.normal(size=(90, 2)) + 0.3
    a = knn_kl(x, y, base="gaussian")
    b = knn_kl(torch.from_numpy(x), torch.from_numpy(y), base="gaussian")
    assert a == b


def test_gaussian_start_bad_input(rng):
    x, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    with pytest.raises(ValueError, match="base"):
        knn_kl(x, y, base="student")
    with pytest.raises(ValueError, match=r"more samples than dimensions \+ 1 in y"):
        knn_kl(x, y[:4], k=1, correction="none", base="gaussian")
    x[:, 2] = x[:, 0] - 2 * x[:, 1]
    with pytest.raises(ValueError, match="covariance of x is singular"):
        knn_kl(x, y, base="gaussian")


def test_gaussian_start_on_every_device(rng, device):
    """On CUDA the frames and the search run there; the masses are computed on the host."""
    x, y = rng.normal(size=(400, 3)), rng.laplace(size=(300, 3))
    ref = knn_kl(x, y, base="gaussian", k=4)
    tx, ty = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    e = knn_kl(tx, ty, base="gaussian", k=4)
    assert e.value == pytest.approx(ref.value, rel=1e-9)
    assert e.stderr == pytest.approx(ref.stderr, rel=1e-7)
    h = knn_divergence(tx.float(), ty.float(), "hellinger2", base="gaussian")
    ref_h = knn_divergence(
        x.astype(np.float32), y.astype(np.float32), "hellinger2", base="gaussian"
    )
    assert h.value == pytest.approx(ref_h.value, abs=1e-6)
