"""mode_coverage on constructed samples with known answers, laws and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import mode_coverage, mode_coverage_from_counts


def _ring(k=8, radius=2.0):
    a = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(a), np.sin(a)], 1)


def test_true_mixture_samples_are_98_9_percent_high_quality():
    rng = np.random.default_rng(0)
    centers, std, n = _ring(), 0.02, 40000
    x = centers[rng.integers(0, 8, n)] + std * rng.normal(size=(n, 2))
    r = mode_coverage(x, centers, std)
    want = 1 - math.exp(-4.5)  # P(chi2_2 <= 9)
    assert abs(r.high_quality - want) < 4 * math.sqrt(want * (1 - want) / n)
    assert r.modes == 8 and r.n_modes == 8
    assert 0 <= r.reverse_kl < 0.002
    assert r.counts.sum() == round(r.high_quality * n)


def test_collapse_to_one_mode_and_no_mode():
    centers = _ring(k=5)
    x = np.repeat(centers[[2]], 10, 0)
    r = mode_coverage(x, centers, 0.1)
    assert (r.modes, r.high_quality) == (1, 1.0)
    assert r.reverse_kl == pytest.approx(math.log(5), rel=1e-12)
    assert r.counts.tolist() == [0, 0, 10, 0, 0]
    far = mode_coverage(np.full((4, 2), 100.0), centers, 0.1)
    assert (far.modes, far.high_quality, far.reverse_kl) == (0, 0.0, math.inf)


def test_boundary_is_inclusive_and_per_mode_std():
    centers = np.array([[0.0], [10.0]])
    x = np.array([[3.0], [10.0 + 1.5], [10.0 - 1.6]])  # exactly 3 std of mode 0; mode 1 std .5
    r = mode_coverage(x, centers, np.array([1.0, 0.5]))
    assert r.counts.tolist() == [1, 1]
    assert r.high_quality == pytest.approx(2 / 3)


def test_min_count_and_known_histogram():
    centers = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    x = np.concatenate([np.repeat(centers[[0]], 6, 0), np.repeat(centers[[1]], 2, 0)])
    r = mode_coverage(x, centers, 0.5, min_count=3)
    assert r.modes == 1
    p = np.array([6, 2, 0]) / 8
    assert r.reverse_kl == pytest.approx(sum(v * math.log(3 * v) for v in p if v > 0))


@settings(max_examples=80)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 9), n=st.integers(1, 60))
def test_laws(seed, k, n):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, 2)) * 5
    x = rng.normal(size=(n, 2)) * 3
    r = mode_coverage(x, centers, 1.0)
    assert 0 <= r.modes <= k and 0.0 <= r.high_quality <= 1.0
    if r.counts.sum():
        assert -1e-12 <= r.reverse_kl <= math.log(k) + 1e-12
    perm = rng.permutation(n)
    r2 = mode_coverage(x[perm], centers, 1.0)
    assert r2.counts.tolist() == r.counts.tolist() and r2.reverse_kl == pytest.approx(r.reverse_kl)
    r3 = mode_coverage(torch.tensor(x, dtype=torch.float32), centers, 1.0)
    assert r3.modes == r.modes or abs(r3.high_quality - r.high_quality) <= 1 / n


def test_errors():
    c = _ring()
    with pytest.raises(ValueError, match="same dimension D"):
        mode_coverage(np.zeros((3, 3)), c, 1.0)
    with pytest.raises(ValueError, match="std must be positive"):
        mode_coverage(np.zeros((3, 2)), c, 0.0)
    with pytest.raises(ValueError, match=r"std must be a scalar or have shape \(8,\)"):
        mode_coverage(np.zeros((3, 2)), c, np.ones(3))
    with pytest.raises(ValueError, match="samples must be finite"):
        mode_coverage(np.full((3, 2), np.nan), c, 1.0)
    with pytest.raises(ValueError, match=r"samples must have shape \(N, D\)"):
        mode_coverage(np.zeros((0, 2)), c, 1.0)
    with pytest.raises(ValueError, match="n_std must be a positive finite number"):
        mode_coverage(np.zeros((3, 2)), c, 1.0, n_std=-1)
    with pytest.raises(ValueError, match="min_count must be >= 1"):
        mode_coverage(np.zeros((3, 2)), c, 1.0, min_count=0)


def test_from_counts_equals_mode_coverage_on_the_union(rng):
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    parts = [centres[rng.integers(0, 3, 300)] + rng.normal(size=(300, 2)) * 0.4 for _ in range(3)]
    whole = mode_coverage(np.concatenate(parts), centres, 0.4)
    counts = sum(mode_coverage(p, centres, 0.4).counts for p in parts)
    merged = mode_coverage_from_counts(counts, 900)
    assert merged.modes == whole.modes and merged.high_quality == whole.high_quality
    assert merged.reverse_kl == whole.reverse_kl
    assert np.array_equal(merged.counts, whole.counts)


@pytest.mark.parametrize(
    "counts, n, kwargs, match",
    [
        ([1.5, 2.0], 5, {}, "counts must be a non-empty 1-D integer array"),
        ([[1, 2]], 5, {}, "counts must be a non-empty 1-D integer array"),
        ([], 5, {}, "counts must be a non-empty 1-D integer array"),
        ([1, -1], 5, {}, "counts must be non-negative"),
        ([3, 4], 5, {}, "n_samples must be >= counts.sum\\(\\)=7"),
        ([3, 4], 0, {}, "n_samples must be"),
        ([3, 4], 9, {"min_count": 0}, "min_count must be"),
    ],
)
def test_from_counts_bad_input(counts, n, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mode_coverage_from_counts(np.array(counts, dtype=None if counts else np.int64), n, **kwargs)
