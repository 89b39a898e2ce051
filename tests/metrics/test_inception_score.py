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
    s = inception_score(z, 1, input="logits")  # few small rows may all be >= 0: say so
    assert 1 - 1e-9 <= s.mean <= c + 1e-9
    perm = np.random.default_rng(seed + 1).permutation(n)
    assert inception_score(z[perm], 1, input="logits").mean == pytest.approx(s.mean, rel=1e-10)


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


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_low_precision_probabilities_are_read_as_probabilities(rng, dtype):
    logits = torch.tensor(rng.normal(size=(400, 10)) * 2)
    p = torch.softmax(logits.to(dtype), dim=1)  # rows sum to 1 only to the dtype's precision
    p64 = p.double() / p.double().sum(1, keepdim=True)
    want = inception_score_splits(p64.numpy(), 4)
    for arg in (p, p.float().numpy().astype(np.float16) if dtype == torch.float16 else p):
        got = inception_score(arg, 4)
        assert got.mean == pytest.approx(want.mean(), rel=1e-9)
        assert inception_score(arg, 4, input="probs").mean == pytest.approx(want.mean(), rel=1e-9)
    # and the logits themselves (negative entries) in the same dtype
    assert inception_score(logits.to(dtype), 4).mean == pytest.approx(
        inception_score(logits, 4).mean, rel=3e-2
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    c=st.integers(2, 300),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
)
def test_auto_detects_softmax_of_any_dtype(seed, c, dtype):
    z = torch.tensor(np.random.default_rng(seed).normal(size=(6, c)) * 4)
    p = torch.softmax(z, 1).to(dtype)
    p64 = p.double() / p.double().sum(1, keepdim=True)
    assert inception_score(p, 1).mean == pytest.approx(inception_score(p64, 1).mean, rel=1e-9)


def test_probs_that_do_not_sum_to_one_are_refused(rng):
    p = _softmax(rng.normal(size=(20, 5)))
    p[7] *= 1.01
    with pytest.raises(ValueError, match=r"probs .*row 7 sums to 1\.01"):
        inception_score(p, 1, input="probs")
    # a float16 rounding-level deviation is accepted, the same deviation in float64 is not
    q = torch.tensor(_softmax(rng.normal(size=(20, 5))))
    q[3] *= 1 + 2e-3
    with pytest.raises(ValueError, match="row 3 sums to"):
        inception_score(q, 1, input="probs")
    inception_score(q.to(torch.float16), 1, input="probs")


def test_auto_refuses_ambiguous_input(rng):
    relu_logits = np.abs(rng.normal(size=(20, 5)))  # >= 0 but not probabilities
    with pytest.raises(ValueError, match=r"ambiguous .*20 of 20 rows .*input='logits'"):
        inception_score(relu_logits, 1)
    assert inception_score(relu_logits, 1, input="logits").mean >= 1.0
    mixed = np.vstack([_softmax(rng.normal(size=(5, 5))), relu_logits[:5]])
    with pytest.raises(ValueError, match="5 of 10 rows"):
        inception_score(mixed, 1)


def test_streaming_keeps_the_dtype_tolerance_and_checks_updates(rng):
    p = torch.softmax(torch.tensor(rng.normal(size=(40, 6))), 1)
    m = InceptionScore(splits=2).update(p[:20].to(torch.float16)).update(p[20:])
    want = inception_score(torch.cat([p[:20].half().double(), p[20:]]), 2, input="logits")
    assert m.compute().mean != want.mean  # read as probabilities, not logits
    assert m.compute().mean == pytest.approx(
        inception_score(torch.cat([p[:20].half().double() / p[:20].half().double().sum(1, True),
                                   p[20:]]), 2).mean, rel=1e-9)  # fmt: skip
    with pytest.raises(ValueError, match="C=3 classes, earlier updates had C=6"):
        m.update(torch.ones(4, 3) / 3)
    with pytest.raises(ValueError, match="must be finite"):
        m.update(torch.full((2, 6), float("nan")))
    with pytest.raises(ValueError, match="C >= 2"):
        m.update(torch.ones(4))
