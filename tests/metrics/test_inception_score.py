"""Inception Score against the original formula, closed forms, laws and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.inception_score import InceptionScore, inception_score
from tests.metrics._oracles import inception_score_splits


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("n, c, splits", [(10, 2, 1), (103, 10, 10), (57, 5, 4)])
def test_matches_original_formula(rng, n, c, splits):
    logits = rng.normal(size=(n, c)) * 3
    want = inception_score_splits(_softmax(logits), splits)
    got = inception_score(logits, splits)
    assert got.mean == pytest.approx(want.mean(), rel=1e-12)
    assert got.std == pytest.approx(want.std(), rel=1e-9, abs=1e-12)
    probs = inception_score(_softmax(logits), splits)
    assert probs.mean == pytest.approx(got.mean, rel=1e-12)
    forced = inception_score(torch.tensor(_softmax(logits)), splits, input="probs")
    assert forced.mean == pytest.approx(got.mean, rel=1e-12)


def test_closed_forms():
    assert inception_score(np.full((20, 7), 1 / 7), 2).mean == pytest.approx(1.0)
    onehot = np.eye(5)[np.arange(50) % 5]  # confident and uniform over 5 classes: IS = 5
    s = inception_score(onehot, 5, input="probs")
    assert s.mean == pytest.approx(5.0, rel=1e-12) and s.std == pytest.approx(0.0, abs=1e-12)
    half = np.eye(4)[np.arange(40) % 2]  # confident, two classes used: IS = 2
    assert inception_score(half, 1).mean == pytest.approx(2.0)


@settings(max_examples=60)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), c=st.integers(2, 12))
def test_bounds(seed, n, c):
    z = np.random.default_rng(seed).normal(size=(n, c)) * 5
    s = inception_score(z, 1)
    assert 1 - 1e-9 <= s.mean <= c + 1e-9
    perm = np.random.default_rng(seed + 1).permutation(n)
    assert inception_score(z[perm], 1).mean == pytest.approx(s.mean, rel=1e-10)


def test_class_matches_function(rng):
    z = rng.normal(size=(30, 4))
    m = InceptionScore(splits=3).update(z[:11]).merge(InceptionScore(splits=3).update(z[11:]))
    assert m.compute() == inception_score(z, 3)
    with pytest.raises(ValueError, match="empty"):
        m.reset().compute()


def test_errors():
    with pytest.raises(ValueError, match=r"shape \(N, C\) with C >= 2"):
        inception_score(np.zeros(5))
    with pytest.raises(ValueError, match=r"shape \(N, C\) with C >= 2"):
        inception_score(np.zeros((5, 1)), 1)
    with pytest.raises(ValueError, match="at least splits=10 rows, got 5"):
        inception_score(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="must be finite"):
        inception_score(np.array([[np.nan, 0.0]] * 3), 1)
    with pytest.raises(ValueError, match="non-negative"):
        inception_score(np.array([[-0.5, 1.5]] * 3), 1, input="probs")
    with pytest.raises(ValueError, match="input must be one of"):
        inception_score(np.zeros((5, 3)), 1, input="softmax")
