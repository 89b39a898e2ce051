"""two_sample_test: the laws of a permutation test (validity, invariances, determinism)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from divergences.testing import STATISTICS, two_sample_test

FAST = {
    "mmd-agg": {"n_bandwidths": 3},
    "mmd-fuse": {"n_bandwidths": 3},
    "knn": {"k": 2},
    "wasserstein": {"n_projections": 8},
}


def _null_p_values(name, seeds, n=8, m=10, d=2, permutations=39, **kw):
    ps = []
    for s in seeds:
        rng = np.random.default_rng(s)
        x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
        gen = torch.Generator().manual_seed(s)
        r = two_sample_test(x, y, name, permutations=permutations, generator=gen, **kw)
        ps.append(r.p_value)
    return np.array(ps)


@pytest.mark.parametrize("name", [s for s in STATISTICS if s != "c2st"])
def test_p_values_are_uniform_under_the_null(name):
    # (1 + Binomial) / (B + 1) is discrete with steps 1/40: a loose KS level absorbs that
    ps = _null_p_values(name, range(120), **FAST.get(name, {}))
    assert scipy.stats.kstest(ps, "uniform").pvalue > 1e-3
    assert np.mean(ps <= 0.1) <= 0.1 + 3 * np.sqrt(0.09 / 120)


@pytest.mark.slow
def test_c2st_p_values_are_uniform_under_the_null():
    # held-out accuracies on a small fold tie a lot: the p-values are super-uniform
    ps = _null_p_values("c2st", range(60), n=12, m=12, classifier="logistic")
    for u in (0.05, 0.1, 0.25, 0.5):
        assert np.mean(ps <= u) <= u + 3 * np.sqrt(u * (1 - u) / 60)


def test_randomized_ties_make_a_constant_statistic_uniform():
    # every relabelling ties: conservative p = 1, randomized p = the uniform draw itself
    x, y = np.arange(6.0)[:, None], np.arange(6.0, 13.0)[:, None]
    ps = []
    for s in range(200):
        gen = torch.Generator().manual_seed(s)
        r = two_sample_test(x, y, lambda a, b: 1.0, permutations=19, generator=gen,
                            ties="randomize")  # fmt: skip
        assert two_sample_test(x, y, lambda a, b: 1.0, permutations=19).p_value == 1.0
        assert 0.0 <= r.p_value < 1.0 and r.details["ties"] == "randomize"
        ps.append(r.p_value)
    assert scipy.stats.kstest(ps, "uniform").pvalue > 1e-3


def test_randomized_ties_give_level_alpha_exactly_for_a_discrete_statistic():
    # knn at n = m = 5 takes few values: the conservative test rejects under alpha. Over every
    # observed split of one pooled sample (exact enumeration), the randomized test's rejection
    # probability averaged over the tie draw is alpha exactly (the randomized test's law)
    w = np.random.default_rng(3).normal(size=(10, 2))
    alpha, draws = 0.1, 4
    rej, cons = [], []
    for i, sp in enumerate(itertools.combinations(range(10), 5)):
        mask = np.zeros(10, bool)
        mask[list(sp)] = True
        x, y = w[mask], w[~mask]
        cons.append(two_sample_test(x, y, "knn", k=1, alpha=alpha, exact=True).reject)
        rej += [two_sample_test(x, y, "knn", k=1, alpha=alpha, exact=True, ties="randomize",
                                generator=torch.Generator().manual_seed(draws * i + s)).reject
                for s in range(draws)]  # fmt: skip
    # only the tie draws are random, independent Bernoulli(r_s) with mean r_s = alpha: the
    # variance of their mean is at most alpha (1 - alpha) / count (Jensen); 3 sd
    sd = np.sqrt(alpha * (1 - alpha) / len(rej))
    assert abs(np.mean(rej) - alpha) <= 3 * sd
    assert np.mean(cons) < alpha - 3 * sd


def test_wild_p_values_are_uniform_and_exact_enumerates_signs():
    ps = _null_p_values("mmd", range(120), n=9, m=9, resampling="wild")
    assert scipy.stats.kstest(ps, "uniform").pvalue > 1e-3
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    for name, kw in (("energy", {}), ("mmd", {"bandwidth": 1.0}), ("mmd-agg", FAST["mmd-agg"])):
        r = two_sample_test(x, y, name, resampling="wild", permutations=100, **kw)
        perm = two_sample_test(x, y, name, permutations=100, exact=False, **kw)
        assert r.exact and r.permutations == 2**5
        if name != "mmd-agg":  # the statistic does not depend on the scheme
            assert r.statistic == pytest.approx(perm.statistic, rel=1e-12)
        # brute force: swap within the pairs (x_i, y_i), statistic by the permutation path
        vals = []
        for s in itertools.product([0, 1], repeat=5):
            sw = np.array(s, bool)[:, None]
            a, b = np.where(sw, y, x), np.where(sw, x, y)
            vals.append(two_sample_test(a, b, name, permutations=1, exact=False, **kw).statistic)
        vals = np.array(vals)
        if name == "mmd-agg":
            continue  # its statistic is a p-value within the scheme: not comparable
        np.testing.assert_allclose(np.sort(r.details["null"]), np.sort(vals), rtol=1e-10)
        assert r.p_value == pytest.approx(np.mean(vals >= r.statistic - 1e-12 * np.abs(vals).max()))


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)


@settings(max_examples=15)
@given(
    arrays(np.float64, st.tuples(st.integers(2, 7), st.integers(1, 3)), elements=finite),
    st.data(),
    st.sampled_from(["mmd", "energy", "knn", "chamfer", "wasserstein", "mmd-agg"]),
)
def test_invariant_to_swapping_and_to_row_order(x, data, name):
    m = data.draw(st.integers(2, 7))
    y = data.draw(arrays(np.float64, (m, x.shape[1]), elements=finite))
    kw = {"permutations": 20, "exact": False, **FAST.get(name, {})}
    if name == "knn":
        kw["k"] = 1
    if name == "mmd":
        kw["bandwidth"] = 1.0  # the median of data with many duplicates is 0 (an error)
    r = two_sample_test(x, y, name, **kw)
    rs = two_sample_test(y, x, name, **kw)
    perm_x, perm_y = data.draw(st.permutations(range(len(x)))), data.draw(st.permutations(range(m)))
    ro = two_sample_test(x[list(perm_x)], y[list(perm_y)], name, **kw)
    for other in (rs, ro):
        assert other.p_value == r.p_value
        assert other.statistic == pytest.approx(r.statistic, rel=1e-12, abs=1e-300)


@settings(max_examples=15)
@given(st.integers(2, 4), st.integers(2, 4), st.integers(0, 2**31 - 1))
def test_exact_enumeration_equals_brute_force(n, m, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    r = two_sample_test(x, y, "energy", permutations=1000)
    assert r.exact
    z = np.concatenate([x, y])
    stats = []
    for idx in itertools.combinations(range(n + m), n):
        mask = np.zeros(n + m, bool)
        mask[list(idx)] = True
        stats.append(two_sample_test(z[mask], z[~mask], "energy", permutations=1,
                                     exact=False).statistic)  # fmt: skip
    stats = np.array(stats)
    assert r.p_value == pytest.approx(np.mean(stats >= r.statistic - 1e-12 * stats.max()))
    assert r.p_value >= 1 / len(stats)


def test_deterministic_given_the_generator_and_honest_floor():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) + 3.0
    a = two_sample_test(x, y, permutations=99, generator=torch.Generator().manual_seed(5))
    b = two_sample_test(x, y, permutations=99, generator=torch.Generator().manual_seed(5))
    assert a.p_value == b.p_value and np.array_equal(a.details["null"], b.details["null"])
    assert a.p_value == pytest.approx(1 / 100)  # never 0
    assert (
        two_sample_test(x, y, permutations=99).p_value
        == two_sample_test(x, y, permutations=99).p_value
    )  # default generator: seeded


def test_torch_inputs_keep_device_and_numpy_inputs_match():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(25, 2))
    r_np = two_sample_test(x, y, "mmd", permutations=49)
    r_t = two_sample_test(torch.tensor(x), torch.tensor(y), "mmd", permutations=49)
    assert r_np.p_value == r_t.p_value and r_np.statistic == pytest.approx(r_t.statistic)
    r32 = two_sample_test(torch.tensor(x).float(), torch.tensor(y).float(), permutations=49)
    assert r32.statistic == pytest.approx(r_np.statistic, rel=1e-5)
    assert isinstance(r_t.statistic, float) and isinstance(r_t.reject, bool)


@pytest.mark.parametrize(
    "name", ["mmd", "energy", "knn", "chamfer", "wasserstein", "mmd-agg", "mmd-fuse"]
)
def test_same_on_the_device(device, name):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + 0.3
    cpu = two_sample_test(x, y, name, permutations=99)
    dev = two_sample_test(torch.tensor(x, device=device), torch.tensor(y, device=device), name,
                          permutations=99)  # fmt: skip
    assert dev.p_value == cpu.p_value
    assert dev.statistic == pytest.approx(cpu.statistic, rel=1e-9)


def test_large_magnitudes_are_scale_free():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(15, 2)), rng.normal(size=(12, 2)) + 0.5
    # not mmd-agg: its bandwidth grid has absolute floors (0.1, 0.3), as in the paper's code
    for name in ("mmd", "energy", "chamfer", "wasserstein", "knn", "mmd-fuse"):
        base = two_sample_test(x, y, name, permutations=49)
        for c in (2.0**-900, 2.0**900):
            big = two_sample_test(x * c, y * c, name, permutations=49)
            assert big.p_value == base.p_value, (name, c)
