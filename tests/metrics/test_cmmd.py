"""CMMD against a float64 NumPy transcription of the paper's formula (google-research cmmd)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metrics import cmmd


def oracle(x, y, *, unbiased=False, sigma=10.0, scale=1000.0, normalize=True):
    """distance.py's ``mmd`` (biased) in float64 NumPy; ``unbiased`` drops the i = j terms."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if normalize:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        y = y / np.linalg.norm(y, axis=1, keepdims=True)
    gamma = 1 / (2 * sigma**2)

    def k(a, b):
        sq = np.diag(a @ a.T)[:, None] + np.diag(b @ b.T)[None, :] - 2 * a @ b.T
        return np.exp(-gamma * sq)

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if unbiased:
        n, m = len(x), len(y)
        return scale * ((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())  # fmt: skip
    return scale * (kxx.mean() + kyy.mean() - 2 * kxy.mean())


def jackknife(x, y, k, **kw):
    vals = []
    for g in range(k):
        vals.append(oracle(x[np.arange(len(x)) % k != g], y[np.arange(len(y)) % k != g], **kw))
    vals = np.array(vals)
    return np.sqrt((k - 1) / k * ((vals - vals.mean()) ** 2).sum())


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("n,m,d", [(40, 40, 768), (57, 23, 5), (4, 9, 1)])
def test_matches_the_formula_and_a_brute_force_jackknife(estimator, n, m, d):
    rng = np.random.default_rng(n + m + d)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.2
    e = cmmd(x, y, estimator=estimator, tile=7)
    unb = estimator == "unbiased"
    assert e.value == pytest.approx(oracle(x, y, unbiased=unb), rel=1e-10, abs=1e-12)
    k = e.details["groups"]
    assert k == min(10, n // 2, m // 2)
    assert e.stderr == pytest.approx(jackknife(x, y, k, unbiased=unb), rel=1e-8, abs=1e-12)
    lo, hi = e.ci
    assert lo < e.value < hi and e.n_x == n and e.n_y == m and e.details["estimator"] == estimator


def test_torch_and_numpy_inputs_agree_and_options_reach_the_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 16)) * 3, rng.normal(size=(20, 16))
    a = cmmd(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    assert a.value == pytest.approx(oracle(x, y), rel=1e-5)
    b = cmmd(x, y, sigma=0.5, scale=1.0, normalize=False)
    assert b.value == pytest.approx(oracle(x, y, sigma=0.5, scale=1.0, normalize=False), rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float64, (9, 3), elements=st.floats(-1e3, 1e3)),
    arrays(np.float64, (7, 3), elements=st.floats(-1e3, 1e3)),
    st.floats(1e-3, 1e3),
)
def test_laws_symmetry_scale_invariance_and_zero_on_equal_sets(x, y, c):
    assume((np.linalg.norm(x, axis=1) > 0).all() and (np.linalg.norm(y, axis=1) > 0).all())
    for est in ("biased", "unbiased"):
        v = cmmd(x, y, estimator=est).value
        assert cmmd(y, x, estimator=est).value == pytest.approx(v, rel=1e-9, abs=1e-9)
        assert cmmd(c * x, y, estimator=est).value == pytest.approx(v, rel=1e-9, abs=1e-9)
    assert cmmd(x, x).value == pytest.approx(0, abs=1e-9)
    assert cmmd(x, y).value >= -1e-9  # the V-statistic of a positive-definite kernel


def test_bad_input_is_refused():
    x = np.ones((5, 3))
    with pytest.raises(ValueError, match="at least 4 samples"):
        cmmd(x[:3], x)
    with pytest.raises(ValueError, match="all zeros"):
        cmmd(np.zeros((5, 3)), x)
    with pytest.raises(ValueError, match="estimator must be one of"):
        cmmd(x, x, estimator="mle")
    with pytest.raises(ValueError, match="sigma must be"):
        cmmd(x, x, sigma=0)
    with pytest.raises(ValueError, match="groups must be >= 2"):
        cmmd(x, x, groups=1)
    with pytest.raises(ValueError, match="same dimension"):
        cmmd(x, np.ones((5, 4)))
    with pytest.raises(ValueError, match="finite"):
        cmmd(np.full((5, 3), np.nan), x)
