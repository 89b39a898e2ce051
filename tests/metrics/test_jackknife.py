"""FID error bars: group statistics merge exactly; the jackknife interval covers the true FID."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import metrics
from metrics import FeatureStats
from metrics._jackknife import fid_with_error_bars, group_index, merge_all, prdc_with_error_bars


@given(n=st.integers(1, 40), k=st.integers(2, 7), bs=st.integers(1, 9), start=st.integers(0, 20))
@settings(max_examples=60, deadline=None)
def test_group_index_partitions_like_a_global_stride(n, k, bs, start):
    rows = np.arange(start, start + n)
    got = [[] for _ in range(k)]
    for lo in range(0, n, bs):
        batch = rows[lo : lo + bs]
        for g, sl in enumerate(group_index(start + lo, batch.shape[0], k)):
            got[g] += batch[sl].tolist()
    assert all(all(r % k == g for r in got[g]) for g in range(k))
    assert sorted(r for g in got for r in g) == rows.tolist()


def test_groups_merge_to_the_total():
    x = np.random.default_rng(0).normal(size=(103, 3)) * [1, 10, 100]
    groups = [FeatureStats().update(x[g::7]) for g in range(7)]
    total = merge_all(groups)
    np.testing.assert_allclose(total.mean.numpy(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(total.cov().numpy(), np.cov(x.T), rtol=1e-11)


@pytest.fixture
def one_thread():
    # thousands of tiny factorisations: with 2 threads on a busy machine each costs ~10 ms
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _true_fid(mu, s):
    # real N(0, I), fake N(mu, diag(s)): |mu|^2 + sum (1 + s - 2 sqrt(s))
    return float(mu @ mu + np.sum(1 + s - 2 * np.sqrt(s)))


@pytest.mark.slow
def test_interval_covers_the_true_fid(one_thread):
    """200 seeds, d = 2, N = M = 300, K = 10: the 95 % interval should cover the true FID
    (closed form from the true moments) in 95 % of them; with 200 seeds a binomial count has
    sd 3.1, so [177, 199] is a ±4 sd band (and a miscalibrated interval falls out of it)."""
    mu, s = np.array([0.3, 0.0]), np.array([1.5, 0.8])
    truth = _true_fid(mu, s)
    hits, plain, extrap = 0, [], []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(300, 2))
        y = rng.normal(size=(300, 2)) * np.sqrt(s) + mu
        gx = [FeatureStats().update(x[g::10]) for g in range(10)]
        gy = [FeatureStats().update(y[g::10]) for g in range(10)]
        e = fid_with_error_bars(merge_all(gx), merge_all(gy), gx, gy)
        hits += e.ci[0] <= truth <= e.ci[1]
        plain.append(e.value)
        extrap.append(e.fid_infinity)
    assert 177 <= hits <= 199, hits
    # FID is biased upward; FID∞ removes most of it
    bias, bias_inf = np.mean(plain) - truth, np.mean(extrap) - truth
    assert bias > 0 and abs(bias_inf) < 0.5 * bias


def test_reference_without_groups_holds_it_fixed():
    rng = np.random.default_rng(1)
    ref = FeatureStats.from_moments(np.zeros(2), np.eye(2))  # no count: pytorch-fid file
    fake = [FeatureStats().update(rng.normal(size=(50, 2)) + 1) for _ in range(5)]
    e = fid_with_error_bars(ref, merge_all(fake), None, fake)
    assert e.groups == 5 and e.stderr > 0 and e.ci[0] <= e.bias_corrected <= e.ci[1]
    with pytest.raises(ValueError, match="at least one side"):
        fid_with_error_bars(ref, merge_all(fake))
    with pytest.raises(ValueError, match="different group counts"):
        fid_with_error_bars(merge_all(fake), merge_all(fake), fake[:3], fake)
    with pytest.raises(ValueError, match="confidence"):
        fid_with_error_bars(ref, merge_all(fake), None, fake, confidence=1.5)


def test_evaluate_error_bar_options():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    r = metrics.evaluate(x, y, metrics="fid", options={"fid": {"groups": 0}})
    assert r["fid"].uncertainty is None and "fid_inf" not in r
    r = metrics.evaluate(x, y, metrics="fid", options={"fid": {"groups": 4, "confidence": 0.5}})
    assert r.meta["options"]["fid"]["groups"] == 4 and r["fid"].interval is None
    assert r["fid_bias_corrected"].interval is not None and r["fid_bias_corrected"].level == 0.5
    r = metrics.evaluate(x[:5], y[:5], metrics="fid")  # 5 samples: 2 groups at most
    assert r.meta["options"]["fid"]["groups"] == 2
    r = metrics.evaluate(x[:9], y, metrics="fid")  # 4 and 10 groups: coarsened to 4
    assert r.meta["options"]["fid"]["groups"] == 4
    assert r["fid"].value == pytest.approx(metrics.fid(x[:9], y), rel=1e-12)
    with pytest.raises(ValueError, match="groups"):
        metrics.evaluate(x, y, metrics="fid", options={"fid": {"groups": -1}})


def test_prdc_intervals_in_evaluate_and_errors():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(120, 2)), rng.normal(size=(100, 2)) + 0.5
    opts = {"precision_recall": {"groups": 5}, "density_coverage": {"groups": 5, "k": 4}}
    r = metrics.evaluate(x, y, metrics=["precision_recall", "density_coverage"], options=opts)
    plain = metrics.prdc(x, y, k=4)
    assert r["density"].value == plain.density and r["coverage"].value == plain.coverage
    assert r["precision"].value == metrics.precision_recall(x, y).precision
    for name in ("precision", "recall", "density", "coverage"):
        lo, hi = r[name].interval
        assert lo < r[name].value < hi and r[name].kind == "stderr"
    with pytest.raises(ValueError, match="too few to leave out"):
        prdc_with_error_bars(x[:6], y, k_pr=3, k_dc=None, groups=2)
    with pytest.raises(ValueError, match="groups must be"):
        prdc_with_error_bars(x, y, groups=1)


@pytest.mark.slow
def test_prdc_stderr_matches_the_spread_over_seeds(one_thread):
    """The jackknife standard error against the standard deviation of the metric across 40
    seeds (the quantity it estimates; itself known to ~11 %): the radii are non-smooth
    order statistics, so the delete-a-group jackknife is conservative (measured 1.3-2.0x
    here); it must not be below 0.8x (undercoverage) nor above 2.5x."""
    values, ses = [], []
    for seed in range(40):
        rng = np.random.default_rng(1000 + seed)
        x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) * 1.3
        out = prdc_with_error_bars(x, y, k_pr=3, k_dc=5, groups=10)
        values.append([out[n].value for n in sorted(out)])
        ses.append([out[n].stderr for n in sorted(out)])
    ratio = np.sqrt(np.mean(np.square(ses), 0)) / np.std(values, 0, ddof=1)
    assert np.all((0.8 < ratio) & (ratio < 2.5)), ratio


def test_leave_one_out_equals_direct_merges():
    from metrics._jackknife import _leave_one_out

    x = np.random.default_rng(5).normal(size=(60, 3)) + 7
    groups = [FeatureStats().update(x[g::6]) for g in range(6)]
    for g, s in enumerate(_leave_one_out(groups)):
        ref = np.delete(x, np.arange(g, 60, 6), axis=0)
        np.testing.assert_allclose(s.cov().numpy(), np.cov(ref.T), rtol=1e-12)
        np.testing.assert_allclose(s.mean.numpy(), ref.mean(0), rtol=1e-13)
