"""Fréchet distance and FID to float64 accuracy against independent NumPy/SciPy routes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given, settings
from hypothesis import strategies as st

import divergences as dv
import metrics


def _ref_eigh(m1, c1, m2, c2):
    """tr(Σ₁^½ Σ₂ Σ₁^½)^½ through two symmetric eigen-decompositions (for well-conditioned Σ₁)."""
    w, v = np.linalg.eigh(c1)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    nu = np.linalg.eigvalsh(s @ c2 @ s)
    tr = np.trace(c1) + np.trace(c2) - 2 * np.sqrt(np.clip(nu, 0, None)).sum()
    return float(((m1 - m2) ** 2).sum() + tr)


def _ref_sqrtm(m1, c1, m2, c2):
    """pytorch-fid's route: scipy's sqrtm of the non-symmetric product."""
    s = sl.sqrtm(c1 @ c2)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(s).real)


def _scale(m1, c1, m2, c2):
    """What the trace terms cancel from: a backward-stable result is exact to eps times this."""
    return float(np.trace(c1) + np.trace(c2) + ((m1 - m2) ** 2).sum())


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(1, 48),
    decades=st.floats(0.0, 9.0),
    shift=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_commuting_covariances_against_the_closed_form(d, decades, shift, seed):
    # Σ₁ = Q diag(a) Qᵀ, Σ₂ = Q diag(b) Qᵀ: W₂² = ‖Δμ‖² + Σ (√a − √b)², with no cancellation.
    # Spectra span up to 9 decades, so the product's eigenvalues span up to 18, far below
    # D·eps of the largest; each of them must still count.
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    a = 10.0 ** -np.sort(rng.uniform(0, decades, d))
    b = a * rng.uniform(0.25, 4.0, d)
    c1, c2 = (q * a) @ q.T, (q * b) @ q.T
    m1, m2 = rng.normal(size=d), rng.normal(size=d) * shift
    want = float(((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    got = dv.frechet_distance(m1, c1, m2, c2)
    # Q is orthogonal to rounding: the inputs carry O(d·eps) relative errors of the traces
    assert abs(got - want) <= 1e-10 * want + 64 * d * 2.2e-16 * _scale(m1, c1, m2, c2)


@pytest.mark.parametrize(("decades", "rel"), [(3, 1e-10), (8, 1e-9)])
def test_fid_of_features_matches_eigvals_and_sqrtm(decades, rel):
    # features whose covariance spans 3 or 8 decades (Inception's span more), FID of the order
    # of the traces. With 8 decades the product's smallest eigenvalues are ~1e-16 of the
    # largest: eigvals, sqrtm and ours then differ by ~1e-10 relative (each √ν carries an
    # absolute error ~eps·ν_max/√ν), so the bound is 1e-9 there.
    rng = np.random.default_rng(0)
    d, n = 256, 3000
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    spec = 10.0 ** np.linspace(0, -decades, d)
    x = (rng.normal(size=(n, d)) * np.sqrt(spec)) @ q.T
    y = (rng.normal(size=(n, d)) * np.sqrt(2 * spec)) @ q.T + 0.1
    m1, m2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ev = np.linalg.eigvals(c1 @ c2).astype(complex)
    ref = float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.sqrt(ev).real.sum())
    assert _ref_sqrtm(m1, c1, m2, c2) == pytest.approx(ref, rel=rel)
    assert dv.frechet_distance(m1, c1, m2, c2) == pytest.approx(ref, rel=rel)
    assert metrics.fid(x, y) == pytest.approx(ref, rel=rel)


def test_singular_covariances_stay_exact():
    # n < d on both sides: true zero eigenvalues must not add rounding noise's square roots
    rng = np.random.default_rng(1)
    d, n = 64, 20
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    m1, m2 = a.mean(0), b.mean(0)
    # reference: work in the joint support (rank ≤ 2n − 2 < d) with an orthonormal basis
    basis, _ = np.linalg.qr(np.hstack([(a - m1).T, (b - m2).T]))
    p1, p2 = basis.T @ c1 @ basis, basis.T @ c2 @ basis
    want = ((m1 - m2) ** 2).sum() + _ref_eigh(np.zeros(1), p1, np.zeros(1), p2)
    assert dv.frechet_distance(m1, c1, m2, c2) == pytest.approx(want, rel=1e-9)
    assert dv.frechet_distance(m1, c1, m1, c1) == 0.0
