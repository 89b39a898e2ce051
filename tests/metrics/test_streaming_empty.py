"""Streaming accumulators: any split of the same rows, empty and fully masked pieces included,
in any order, gives what the whole gives (FeatureStats, FID, KID, PRDC, IS, jackknife groups)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import FID, KID, FeatureStats, InceptionScore, fid, inception_score, kid
from metrics._jackknife import merge_all
from metrics.prdc import PRDC, prdc

_EPS = float(np.finfo(np.float64).eps)


@st.composite
def _split(draw, max_rows=40, far=True):
    """Rows ``x`` (offset + spread · normal) and a split of them into pieces, some empty.

    Some columns may instead hold one value for every row, anywhere up to 1e308: an offset
    with no spread, next to columns whose spread may be 1e-150 (translation invariance).
    """
    n = draw(st.integers(0, max_rows))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    spread = 10.0 ** draw(st.integers(-150, 150))
    offset = spread * draw(st.sampled_from([0.0, 1.0, -1e3, 1e6]))
    x = offset + spread * np.random.default_rng(seed).normal(size=(n, d))
    for j in draw(st.lists(st.integers(0, d - 1), max_size=d - 1 if far else 0, unique=True)):
        x[:, j] = draw(st.floats(-1.7e308, 1.7e308, allow_nan=False))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))  # repeated cuts: empty pieces
    pieces = [x[a:b] for a, b in zip([0, *cuts], [*cuts, n])]
    order = draw(st.permutations(range(len(pieces))))
    return x, [pieces[i] for i in order], draw(st.lists(st.booleans(), min_size=len(pieces)))


def _masked(piece: np.ndarray, junk: int) -> tuple[np.ndarray, np.ndarray]:
    """``piece`` with ``junk`` extra rows of huge values that the mask drops."""
    d = piece.shape[1]
    extra = np.full((junk, d), 1e300) * np.where(np.arange(junk * d) % 2, 1, -1).reshape(junk, d)
    rows = np.concatenate([extra, piece]) if junk else piece
    return rows, np.arange(len(rows)) >= junk


@settings(max_examples=100)
@given(_split(), st.integers(0, 3))
def test_feature_stats_any_split_gives_the_moments_of_the_whole(split, junk):
    """Pieces go in through ``update`` (with all-False masked rows and fully masked batches
    in between) or as separately built states through ``merge``, in a random order.

    Tolerance: the Chan merge and the float64 reference (NumPy's two-pass mean and cov) each
    err by a few ``n · eps`` relative to the centred products ``|x| · |x - mean|``; 64 n eps
    of that bounds both with room (n <= 40 rows, at most 7 pieces).
    """
    x, pieces, as_state = split
    d = x.shape[1]
    s = FeatureStats()
    for piece, separate in zip(pieces, as_state):
        rows, valid = _masked(piece, junk)
        s.update(rows[:junk], valid=np.zeros(junk, bool))  # a fully masked batch
        if separate:
            s.merge(FeatureStats().update(rows, valid=valid))
        else:
            s.update(rows, valid=valid)
        s.merge(FeatureStats(dim=d))  # an empty state
    assert s.n == len(x)
    if len(x) == 0:
        with pytest.raises(ValueError, match="empty"):
            _ = s.mean
        return
    const = (x == x[0]).all(0) & (np.abs(x[0]) > 1e200)  # the offset-only columns
    live = x[:, ~const]
    big = float(np.abs(live).max()) or 1.0
    centred = float(np.abs(live - live.mean(0)).max())
    tol = 64 * len(x) * _EPS
    mean = s.mean.numpy()
    np.testing.assert_array_equal(mean[const], x[0, const])  # n equal values: that value
    np.testing.assert_allclose(mean[~const], live.mean(0), rtol=0, atol=tol * big)
    if len(x) >= 2:  # compared as cov / big: no overflow at 1e150 (cov() itself would raise)
        ref = np.atleast_2d(np.cov(live / big, rowvar=False)) * big
        c, e = s._scaled_cov()
        got = c.numpy() * (np.ldexp(1.0, e) / big) * np.ldexp(1.0, e)
        assert not got[const].any() and not got[:, const].any()  # exactly 0
        # + (n eps)² |x|²: NumPy's own mean of n equal values may be off by an ulp, which
        # gives a constant column a variance of ~(eps |x|)² where ours is exactly 0
        atol = tol * centred + tol * tol * big
        np.testing.assert_allclose(got[np.ix_(~const, ~const)], ref, rtol=0, atol=atol)
    fid_fake = FID().update_real(x[:0]).update_fake(x).update_fake(x[:0], valid=[])
    assert fid_fake.fake.n == len(x)


@settings(max_examples=40)
@given(_split(max_rows=30, far=False), st.integers(0, 2**32 - 1))
def test_feature_buffers_any_split_give_the_function_on_the_whole(split, seed):
    """KID, PRDC and IS keep their rows: pieces in the same order, empty ones among them (any
    dtype), give exactly the function on the concatenation; jackknife groups that are empty
    merge as the identity."""
    x, pieces, _ = split
    if len(x):  # unit scale: the buffers' own magnitude laws are tested elsewhere
        centre, scale = x.mean(0), np.abs(x - x.mean(0)).max() + 1
        x, pieces = (x - centre) / scale, [(p - centre) / scale for p in pieces]
    rows = np.concatenate(pieces)
    y = np.random.default_rng(seed).normal(size=(12, x.shape[1]))
    kid_acc, prdc_acc = KID(subsets=3, subset_size=2, seed=1), PRDC(k_pr=1, k_dc=1)
    is_acc = InceptionScore(splits=2, input="logits")
    for p in pieces:
        for acc in (kid_acc, prdc_acc):
            acc.update_real(y[:0].astype(np.float32)).update_fake(p).update_real(y[:0])
        is_acc.update(np.zeros((0, x.shape[1] + 1), np.float16))
        is_acc.update(np.concatenate([p, p[:, :1]], axis=1))
    for acc in (kid_acc, prdc_acc):
        acc.update_real(y)
    if len(rows) >= 2:
        assert kid_acc.compute() == kid(y, rows, subsets=3, subset_size=2, seed=1)
        assert prdc_acc.compute() == prdc(y, rows, k=1)._asdict()
        logits = np.concatenate([rows, rows[:, :1]], axis=1)
        assert is_acc.compute() == inception_score(logits, splits=2, input="logits")
    groups = [FeatureStats(dim=x.shape[1]).update(p) for p in pieces]
    merged = merge_all([FeatureStats(), *groups, FeatureStats()])
    assert merged.n == len(x)
    if len(x) >= 2:
        torch.testing.assert_close(merged.cov(), FeatureStats().update(x).cov(), rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    "feed, rows",
    [
        (lambda m, x: m.update_fake(x[:0]), 0),
        (lambda m, x: m.update_fake(x[:1]).update_fake(x[:0]), 1),
        (lambda m, x: m.update_fake(x, valid=np.zeros(len(x), bool)), 0),
        (lambda m, x: m.update_fake(x[:3], valid=[True, False, False]), 1),
    ],
)
def test_fid_with_too_few_rows_is_a_clear_error(rng, feed, rows):
    """Fewer than 2 fake rows (after empty and masked batches) is a ValueError naming the
    side, never LAPACK's error; adding rows afterwards gives the FID of exactly those rows."""
    x = rng.normal(size=(20, 3))
    m = feed(FID().update_real(x).update_fake(x[:0]), x)
    with pytest.raises(ValueError, match=f"FID needs at least 2 fake samples .* got {rows}"):
        m.compute()
    want = fid(x, np.concatenate([x[:rows], x]))
    assert m.update_fake(x).compute() == pytest.approx(want, rel=1e-9, abs=1e-12)
