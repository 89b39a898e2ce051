"""two_sample_test: every statistic on every split against a float64 NumPy brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance

import divergences as dv
from divergences.testing import two_sample_test
from divergences.transport._exact1d import directions


# ---- NumPy references -----------------------------------------------------------------------
def _gram(a, b, kernel, bw=None, degree=3, gamma=None, coef0=1.0):
    if kernel == "polynomial":
        return (gamma * a @ b.T + coef0) ** degree
    d = cdist(a, b)
    if kernel == "energy":
        return -d
    bws = np.atleast_1d(bw)
    if kernel == "gaussian":
        return sum(np.exp(-(d**2) / (2 * s**2)) for s in bws)
    return sum(np.exp(-d / s) for s in bws)


def ref_mmd(x, y, kernel="gaussian", unbiased=True, **kw):
    kxx, kyy, kxy = _gram(x, x, kernel, **kw), _gram(y, y, kernel, **kw), _gram(x, y, kernel, **kw)
    n, m = len(x), len(y)
    if unbiased:
        return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())  # fmt: skip
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


def ref_knn(x, y, k):
    z = np.concatenate([x, y])
    lab = np.r_[np.ones(len(x)), np.zeros(len(y))]
    d = cdist(z, z)
    np.fill_diagonal(d, np.inf)
    nb = np.argsort(d, axis=1, kind="stable")[:, :k]
    return float((lab[nb] == lab[:, None]).mean())


def ref_chamfer(x, y):
    d = cdist(x, y)
    return d.min(1).mean() + d.min(0).mean()


def ref_w1d(x, y, p):
    if p == 1:
        return wasserstein_distance(x[:, 0], y[:, 0])
    assert len(x) == len(y)  # p != 1 on equal sizes: sorted differences
    return float(np.mean(np.abs(np.sort(x[:, 0]) - np.sort(y[:, 0])) ** p) ** (1 / p))


def ref_sliced(x, y, theta, p):
    vals = []
    for th in theta:
        a, b = np.sort(x @ th), np.sort(y @ th)
        if p == 1:
            vals.append(wasserstein_distance(a, b))
        else:
            vals.append(np.mean(np.abs(a - b) ** p))
    return float(np.mean(vals) ** (1 / p)) if p != 1 else float(np.mean(vals))


def ref_assignment(x, y, p):
    c = cdist(x, y) ** p
    i, j = linear_sum_assignment(c)
    return float(c[i, j].mean() ** (1 / p))


def all_splits(x, y, fn):
    """The statistic of every split of the pooled sample into sizes (n, m)."""
    z = np.concatenate([x, y])
    n = len(x)
    out = []
    for idx in itertools.combinations(range(len(z)), n):
        mask = np.zeros(len(z), bool)
        mask[list(idx)] = True
        out.append(fn(z[mask], z[~mask]))
    return np.array(out)


def exact_p(obs, splits, rtol=1e-9):
    tol = rtol * max(1.0, np.abs(splits).max())
    return float(np.mean(splits >= obs - tol))


def _data(seed, n=4, m=5, d=2, shift=0.7):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + shift


CASES = [
    ("mmd", {}, lambda x, y, bw: ref_mmd(x, y, "gaussian", bw=bw)),
    ("mmd", {"kernel": "laplace", "bandwidth": 0.8},
     lambda x, y, bw: ref_mmd(x, y, "laplace", bw=0.8)),
    ("mmd", {"kernel": "gaussian", "bandwidth": [0.5, 2.0]},
     lambda x, y, bw: ref_mmd(x, y, "gaussian", bw=[0.5, 2.0])),
    ("mmd", {"kernel": "energy", "unbiased": False},
     lambda x, y, bw: ref_mmd(x, y, "energy", False)),
    ("mmd", {"kernel": "polynomial"},
     lambda x, y, bw: ref_mmd(x, y, "polynomial", gamma=1 / x.shape[1])),
    ("energy", {}, lambda x, y, bw: ref_mmd(x, y, "energy", False)),
    ("knn", {"k": 2}, lambda x, y, bw: ref_knn(x, y, 2)),
    ("chamfer", {}, lambda x, y, bw: ref_chamfer(x, y)),
]  # fmt: skip


@pytest.mark.parametrize("name, options, ref", CASES)
def test_exact_null_is_the_statistic_on_every_split(name, options, ref):
    x, y = _data(1)
    r = two_sample_test(x, y, name, permutations=200, **options)
    assert r.exact and r.permutations == math.comb(9, 4)
    bw = r.details.get("bandwidth", [None])[0]
    splits = all_splits(x, y, lambda a, b: ref(a, b, bw))
    obs = ref(x, y, bw)
    scale = max(1.0, np.abs(splits).max())
    assert r.statistic == pytest.approx(obs, rel=1e-10, abs=1e-12 * scale)
    np.testing.assert_allclose(np.sort(r.details["null"]), np.sort(splits), rtol=1e-10,
                               atol=1e-12 * scale)  # fmt: skip
    assert r.p_value == pytest.approx(exact_p(obs, splits), abs=1e-12)


def test_median_bandwidth_and_observed_equal_mmd2():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    for kernel in ("gaussian", "laplace", "energy", "polynomial"):
        r = two_sample_test(x, y, "mmd", kernel=kernel, permutations=9)
        assert r.statistic == pytest.approx(dv.mmd2(x, y, kernel=kernel), rel=1e-10, abs=1e-14)
    r = two_sample_test(x, y, "mmd", permutations=9)
    assert r.details["bandwidth"][0] == pytest.approx(dv.median_heuristic(x, y), rel=1e-12)
    r = two_sample_test(x, y, "energy", permutations=9)
    assert r.statistic == pytest.approx(dv.energy_distance(x, y), rel=1e-10)
    r = two_sample_test(x, y, "chamfer", permutations=9)
    assert r.statistic == pytest.approx(dv.chamfer(x, y), rel=1e-10)
    r = two_sample_test(x, y, "chamfer", permutations=9, squared=True, reduction="sum", p=1.0)
    assert r.statistic == pytest.approx(
        dv.chamfer(x, y, squared=True, reduction="sum", p=1.0), rel=1e-10
    )
    r = two_sample_test(x, y, "knn", permutations=9, k=4)
    assert r.statistic == pytest.approx(ref_knn(x, y, 4), abs=1e-14)


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_wasserstein_against_scipy(p):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(4, 1)), rng.normal(size=(5 if p == 1 else 4, 1)) + 0.5
    r = two_sample_test(x, y, "wasserstein", p=p, permutations=500)
    assert r.exact
    splits = all_splits(x, y, lambda a, b: ref_w1d(a, b, p))
    assert r.statistic == pytest.approx(ref_w1d(x, y, p), rel=1e-12)
    np.testing.assert_allclose(np.sort(r.details["null"]), np.sort(splits), rtol=1e-12)
    xs, ys = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    theta = directions(128, 3, None, torch.zeros(1, dtype=torch.float64)).numpy()
    r = two_sample_test(xs, ys, "wasserstein", p=p, permutations=500)
    splits = all_splits(xs, ys, lambda a, b: ref_sliced(a, b, theta, p)) if p == 1 else None
    assert r.statistic == pytest.approx(dv.wasserstein(xs, ys, p=p, method="sliced"), rel=1e-10)
    if splits is not None:
        np.testing.assert_allclose(np.sort(r.details["null"]), np.sort(splits), rtol=1e-10)
    xa, ya = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    r = two_sample_test(xa, ya, "wasserstein", p=p, method="assignment", permutations=100)
    splits = all_splits(xa, ya, lambda a, b: ref_assignment(a, b, p))
    np.testing.assert_allclose(np.sort(r.details["null"]), np.sort(splits), rtol=1e-10)


def _agg_kernels(details):
    def fn(a, b):
        vals = []
        for k in details["kernels"]:
            lam = k["bandwidth"]
            metric, power = ("cityblock", 1) if k["kernel"] == "laplace" else ("sqeuclidean", 2)
            kxx, kyy, kxy = (np.exp(-cdist(u, v, metric) / lam**power)
                             for u, v in ((a, a), (b, b), (a, b)))  # fmt: skip
            n, m = len(a), len(b)
            vals.append((kxx.sum() - n) / (n * (n - 1)) + (kyy.sum() - m) / (m * (m - 1))
                        - 2 * kxy.mean())  # fmt: skip
        return np.array(vals)

    return fn


def test_mmd_agg_exact_is_min_p_over_all_splits():
    x, y = _data(5, n=4, m=4, d=2, shift=1.0)
    r = two_sample_test(x, y, "mmd-agg", permutations=100, n_bandwidths=3)
    assert r.exact and r.permutations == 70
    table = all_splits(x, y, _agg_kernels(r.details))  # (S, k)
    obs = _agg_kernels(r.details)(x, y)
    w = np.array([k["weight"] for k in r.details["kernels"]])
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose([k["mmd2"] for k in r.details["kernels"]], obs, rtol=1e-10)
    tol = 1e-9

    def s_of(t):
        return np.min(np.mean(table >= t - tol, axis=0) / w)

    s_all = np.array([s_of(t) for t in table])
    s_obs = s_of(obs)
    assert r.statistic == pytest.approx(s_obs, rel=1e-12)
    np.testing.assert_allclose(np.sort(r.details["null"]), np.sort(s_all), rtol=1e-12)
    assert r.p_value == pytest.approx(np.mean(s_all <= s_obs * (1 + 1e-9)), abs=1e-12)


def test_mmd_agg_random_matches_its_definition():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(25, 2)) + 1.5
    r = two_sample_test(x, y, "mmd-agg", permutations=99, level_permutations=49, n_bandwidths=4)
    assert not r.exact and r.permutations == 49
    assert r.details["quantile_permutations"] == 99
    assert len(r.details["kernels"]) == 8
    obs = _agg_kernels(r.details)(x, y)
    np.testing.assert_allclose([k["mmd2"] for k in r.details["kernels"]], obs, rtol=1e-10)
    # the statistic is min_k p_k / w_k with p_k on the 99 quantile permutations
    s = min(k["p_value"] / k["weight"] for k in r.details["kernels"])
    assert r.statistic == pytest.approx(s)
    assert all(k["p_value"] * 100 == pytest.approx(round(k["p_value"] * 100))
               for k in r.details["kernels"])  # fmt: skip
    assert r.p_value <= 0.05 and r.reject


def test_mmd_fuse_statistic():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(7, 2)) + 0.5
    r = two_sample_test(x, y, "mmd-fuse", permutations=50, n_bandwidths=3)
    z = np.concatenate([x, y])
    vals = []
    for k in r.details["kernels"]:
        lam = k["bandwidth"]
        if k["kernel"] == "laplace":
            kz = np.exp(-np.sqrt(2) * cdist(z, z, "cityblock") / lam)
        else:
            kz = np.exp(-cdist(z, z, "sqeuclidean") / (2 * lam**2))
        np.fill_diagonal(kz, 0.0)
        n, m = len(x), len(y)
        mmd = (kz[:n, :n].sum() / (n * (n - 1)) + kz[n:, n:].sum() / (m * (m - 1))
               - 2 * kz[:n, n:].mean())  # fmt: skip
        nn = min(n, m)
        vals.append(nn * (nn - 1) * np.sqrt(nn * (nn - 1)) * mmd / np.sqrt((kz**2).sum()))
    fuse = np.log(np.mean(np.exp(vals)))
    assert r.statistic == pytest.approx(fuse, rel=1e-10)


def test_c2st_statistic_is_held_out_accuracy():
    from divergences.estimators.classifier import _cross_fit

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 1.5
    r = two_sample_test(x, y, "c2st", classifier="logistic", permutations=99)
    assert r.reject and r.statistic > 0.7 and r.details["classifiers"] == ["logistic"]
    assert r.details["n_test_x"] + r.details["n_test_y"] == 60  # one fold of two held out
    assert 0.3 < r.null_mean < 0.7
    r0 = two_sample_test(x, x[::-1] + 0.0, "c2st", classifier="logistic", permutations=99)
    assert not r0.reject
    assert callable(_cross_fit)


def test_callable_statistic_gets_the_splits():
    x, y = _data(9, n=3, m=4, d=1)
    r = two_sample_test(x, y, lambda a, b: float(a.mean() - b.mean()), permutations=100)
    splits = all_splits(x, y, lambda a, b: float(a.mean() - b.mean()))
    np.testing.assert_allclose(np.sort(r.details["null"]), np.sort(splits), rtol=1e-12)
    assert r.p_value == pytest.approx(exact_p(float(x.mean() - y.mean()), splits))
    seen = []
    two_sample_test(torch.tensor(x), torch.tensor(y), lambda a, b: seen.append(type(a)) or 0.0,
                    permutations=3, exact=False)  # fmt: skip
    assert set(seen) == {torch.Tensor}


@pytest.mark.parametrize("pairs", [False, True])
@pytest.mark.parametrize("unbiased", [True, False])
def test_tiled_pooled_sums_equal_the_dense_ones(pairs, unbiased):
    from divergences.testing import _kernels, _pooled
    from divergences.testing._labels import random_labellings

    rng = np.random.default_rng(10)
    w = torch.tensor(rng.normal(size=(40, 3)))
    block = _kernels._collection([("laplace", torch.tensor([0.5, 2.0])),
                                  ("gaussian", torch.tensor([1.0]))], 1.0, 1.0)  # fmt: skip
    blocks = torch.arange(20).repeat(2) if pairs else torch.zeros(40, dtype=torch.long)
    ones = [1] * 20 if pairs else [17]
    labels = random_labellings(blocks, ones, 30, torch.Generator().manual_seed(0))
    kw = {"unbiased": unbiased, "frobenius": True, "pairs": pairs}
    dense = _pooled.mmd_table(w, labels, block, 3, **kw)
    tiled = _pooled.mmd_table(w, labels, block, 3, budget=500, tile=7, **kw)
    for a, b in zip(dense[:2], tiled[:2]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    # against the brute force of every labelling
    z = w.numpy()
    for row, lab in enumerate(labels.numpy()):
        for j, (kind, lam, power) in enumerate((("cityblock", 0.5, 1), ("cityblock", 2.0, 1),
                                                ("sqeuclidean", 1.0, 2))):  # fmt: skip
            gram = lambda u, v, kind=kind, lam=lam, power=power: np.exp(  # noqa: E731
                -cdist(u, v, kind) / lam**power
            )
            a, b = z[lab], z[~lab]
            n, m = len(a), len(b)
            kxx, kyy, kxy = gram(a, a), gram(b, b), gram(a, b)
            if unbiased:
                want = ((kxx.sum() - n) / (n * (n - 1)) + (kyy.sum() - m) / (m * (m - 1))
                        - 2 * kxy.mean())  # fmt: skip
            else:
                want = kxx.mean() + kyy.mean() - 2 * kxy.mean()
            assert float(dense[0][j, row]) == pytest.approx(want, rel=1e-10, abs=1e-13)
