"""Precision/recall and density/coverage against dense brute force and the prdc package."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import metrics._balls as balls
from metrics.prdc import PRDC, density_coverage, prdc, precision_recall
from tests.metrics._oracles import prdc_dense


def _all(x, y, k_pr=3, k_dc=5):
    p, r = precision_recall(x, y, k=k_pr)
    d, c = density_coverage(x, y, k=k_dc)
    return {"precision": p, "recall": r, "density": d, "coverage": c}


@pytest.mark.parametrize("n, m, d", [(6, 7, 1), (50, 40, 2), (120, 80, 16), (60, 90, 200)])
def test_matches_dense_brute_force(rng, n, m, d):
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) * 1.2 + 0.2
    assert _all(x, y) == prdc_dense(x, y, 3, 5)
    assert dict(prdc(x, y, k=4)._asdict()) == prdc_dense(x, y, 4, 4)


def test_ties_and_duplicates_use_closed_balls():
    x = np.repeat(np.arange(5.0)[:, None], 2, axis=0)  # every point duplicated
    got = _all(x, x, k_pr=1, k_dc=1)
    assert got == prdc_dense(x, x, 1, 1)
    assert got["precision"] == got["recall"] == got["coverage"] == 1.0
    # a fake exactly on the sphere of a real ball is inside (<=)
    real = np.array([[0.0], [1.0], [3.0], [6.0]])  # k=1 radius of 0.0 is 1.0
    fake = np.array([[-1.0], [10.0], [20.0]])
    assert precision_recall(real, fake, k=1).precision == pytest.approx(1 / 3)


def test_agrees_with_prdc_package_without_ties(rng):
    prdc_pkg = pytest.importorskip("prdc")
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(150, 8)) + 0.3
    want = prdc_pkg.compute_prdc(x, y, nearest_k=5)
    got = prdc(x, y, k=5)
    for key in ("precision", "recall", "density", "coverage"):
        assert getattr(got, key) == pytest.approx(float(want[key]), abs=1e-12)
    # with ties the package's strict < gives a lower density/coverage on identical sets
    xd = np.repeat(x[:50], 2, axis=0)
    pkg = prdc_pkg.compute_prdc(xd, xd, nearest_k=1)
    assert prdc(xd, xd, k=1).coverage == 1.0 > float(pkg["coverage"])


def test_tiling_and_float32_give_identical_results(rng, monkeypatch):
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (rng.normal(size=(250, 5)) * 0.9).astype(np.float32)
    want = _all(x.astype(np.float64), y.astype(np.float64))
    assert _all(torch.from_numpy(x), torch.from_numpy(y)) == want
    monkeypatch.setattr(balls, "_TILE_ROWS", 7)
    monkeypatch.setattr(balls, "_TILE_ENTRIES", 7 * 13)
    monkeypatch.setattr(balls, "_PAIR_ENTRIES", 16)
    assert _all(x, y) == want


@settings(max_examples=40)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(6, 30),
    m=st.integers(6, 30),
    d=st.integers(1, 4),
    grid=st.booleans(),
)
def test_laws_against_dense(seed, n, m, d, grid):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    if grid:  # many exact ties
        x, y = np.round(x), np.round(y)
    got = _all(x, y)
    assert got == prdc_dense(x, y, 3, 5)
    assert all(0 <= got[k] <= 1 for k in ("precision", "recall", "coverage"))
    same = _all(x, x)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0


def test_class_matches_function(rng):
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    m = PRDC(k_pr=3, k_dc=5).update_real(x[:25]).update_real(x[25:]).update_fake(y)
    assert m.compute() == _all(x, y)


def test_errors(rng):
    x = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="fake needs more than k=3 samples for k-NN radii, got 3"):
        precision_recall(x, x[:3])
    with pytest.raises(ValueError, match="same dimension D"):
        density_coverage(x, rng.normal(size=(10, 2)))
    with pytest.raises(ValueError, match="fake must be finite"):
        prdc(x, np.full((10, 3), np.inf))
    with pytest.raises(ValueError, match=r"real must have shape \(N, D\)"):
        prdc(x[0], x)
    with pytest.raises(ValueError, match="k must be >= 1"):
        precision_recall(x, x, k=0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(-1000, 1000), d=st.integers(1, 5))
def test_scale_invariance_at_any_magnitude(seed, k, d):
    # c = 2**k scales the features exactly: every ball test, hence all four values, is equal
    r = np.random.default_rng(seed)
    x, y = r.normal(size=(60, d)), r.normal(size=(50, d)) * 1.3 + 0.2
    want = prdc(x, y, k=3)
    assert prdc(x * 2.0**k, y * 2.0**k, k=3) == want
    xt = torch.tensor(x * 2.0**k, dtype=torch.float32) if abs(k) < 100 else None
    if xt is not None:  # float32 tensors too (features beyond float32's squares included)
        yt = torch.tensor(y * 2.0**k, dtype=torch.float32)
        assert prdc(xt, yt, k=3) == prdc(xt.double() / 2.0**k, yt.double() / 2.0**k, k=3)
