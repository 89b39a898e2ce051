"""kNN estimators (KL, α family) and the variational bound: references, laws, errors."""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from scipy.stats import special_ortho_group
from sklearn.exceptions import ConvergenceWarning

from divergences.estimators import (
    ensemble_weights,
    knn_divergence,
    knn_kl,
    variational_divergence,
)


def _wkv_reference(x, y, k):
    """Plain WKV by brute force with distinct-point distances (independent float64 oracle)."""
    n, d = x.shape
    m = y.shape[0]
    dxx, dxy = cdist(x, x), cdist(x, y)
    rho = np.array([np.sort(r[r > 0])[k - 1] for r in dxx])
    nu = np.array([np.sort(r[r > 0])[k - 1] for r in dxy])
    return d * np.mean(np.log(nu / rho)) + math.log(m / (n - 1)), rho, nu


def _sorted_positive(dist):
    return [np.sort(r[r > 0]) for r in dist]


def _kl_oracle(x, y, w):
    """Σ_k w_k · WKV_k by brute force (k-th distinct neighbour; distinct-location counts)."""
    n, d = x.shape
    ux, uy = np.unique(x, axis=0), np.unique(y, axis=0)
    rx, ry = _sorted_positive(cdist(x, ux)), _sorted_positive(cdist(x, uy))
    ks = range(len(w))
    terms = [d * np.mean([np.log(ry[i][k] / rx[i][k]) for i in range(n)]) for k in ks]
    return float(np.dot(w, terms)) + math.log(len(uy) / (len(ux) - 1))


def _alpha_oracle(x, y, alpha, k, kind):
    """Póczos–Schneider ∫p^α q^(1−α) by brute force, then the named transform."""
    d = x.shape[1]
    ux, uy = np.unique(x, axis=0), np.unique(y, axis=0)
    rho = np.array([r[k - 1] for r in _sorted_positive(cdist(x, ux))])
    nu = np.array([r[k - 1] for r in _sorted_positive(cdist(x, uy))])
    b = math.gamma(k) ** 2 / (math.gamma(k - alpha + 1) * math.gamma(k + alpha - 1))
    gx, gy = len(ux), len(uy)
    integral = b * np.mean(((gx - 1) * rho**d / (gy * nu**d)) ** (1 - alpha))
    if kind == "hellinger2":
        return 1 - integral
    if kind == "renyi":
        return math.log(integral) / (alpha - 1)
    return (integral - 1) / (alpha * (alpha - 1))


def _jackknife_oracle(fn, x, y):
    """Jackknife standard error re-running ``fn`` with each distinct location deleted."""
    var = 0.0
    for s, other, first in ((x, y, True), (y, x, False)):
        loo = []
        for loc in np.unique(s, axis=0):
            rest = s[~(s == loc).all(1)]
            loo.append(fn(rest, other) if first else fn(other, rest))
        loo = np.array(loo)
        g = len(loo)
        var += (g - 1) / g * ((loo - loo.mean()) ** 2).sum()
    return math.sqrt(var)


@pytest.mark.parametrize(
    "kind, k, correction, alpha, dim",
    [
        ("kl", 1, "none", None, 2),
        ("kl", 4, "ensemble", None, 2),
        ("kl", 5, "ensemble", None, 4),  # weights over k = 1..5 (d >= 4)
        ("reverse_kl", 2, "none", None, 2),
        ("jeffreys", 3, "ensemble", None, 5),
        ("hellinger2", 3, None, None, 2),
        ("renyi", 2, None, 0.7, 2),
        ("alpha", 4, None, -0.5, 2),
    ],
)
@pytest.mark.parametrize("duplicates", [False, True])
def test_jackknife_is_exact_delete_one(rng, kind, k, correction, alpha, dim, duplicates):
    x, y = rng.normal(size=(23, dim)), rng.normal(size=(17, dim)) * 1.3 + 0.4
    if duplicates:  # repeated points inside x and shared between x and y
        x = np.concatenate([x, x[:3]])
        y = np.concatenate([y, x[5:7]])
    opts = {"k": k}
    if correction is not None:
        opts["correction"] = correction
    if alpha is not None:
        opts["alpha"] = alpha
    with pytest.warns(RuntimeWarning, match="heavy ties") if duplicates else nullcontext():
        e = knn_divergence(x, y, kind, **opts)
    if kind in ("kl", "reverse_kl", "jeffreys"):
        w = ensemble_weights(k, dim) if correction == "ensemble" else np.eye(k)[-1]

        def fn(a, b):
            if kind == "kl":
                return _kl_oracle(a, b, w)
            if kind == "reverse_kl":
                return _kl_oracle(b, a, w)
            return _kl_oracle(a, b, w) + _kl_oracle(b, a, w)

    else:
        a_ = 0.5 if kind == "hellinger2" else alpha

        def fn(a, b):
            return _alpha_oracle(a, b, a_, k, kind)

    assert e.value == pytest.approx(fn(x, y), abs=1e-10)
    assert e.stderr == pytest.approx(_jackknife_oracle(fn, x, y), rel=1e-9, abs=1e-12)
    assert e.details["stderr_method"].startswith("delete-1 jackknife")


def test_batch_means_stderr_option(rng):
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 0.5
    a, b = knn_kl(x, y, k=4, stderr="batch", seed=4), knn_kl(x, y, k=4, stderr="batch", seed=4)
    assert a == b and len(a.details["group_values"]) == 10
    assert knn_kl(x, y, k=4, stderr="batch", seed=5).stderr != a.stderr
    assert a.value == knn_kl(x, y, k=4).value  # the estimate does not depend on stderr=
    assert knn_kl(x[:100], y).details["k"] == 100 // 16  # the default K follows the size
    vals = np.array(a.details["group_values"])
    assert a.stderr == pytest.approx(vals.std(ddof=1) / math.sqrt(10), rel=1e-12)


@pytest.mark.parametrize("k, n, m, d", [(1, 60, 80, 1), (3, 50, 40, 3), (2, 70, 70, 5)])
def test_plain_wkv_matches_brute_force(rng, k, n, m, d):
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.5
    ref, _, _ = _wkv_reference(x, y, k)
    e = knn_kl(x, y, k=k, correction="none", n_groups=2)
    assert e.value == pytest.approx(ref, abs=1e-10)


def _distinct_wkv_loops(x, y, k):
    """Plain WKV, k-th distinct neighbour convention, by explicit float64 loops.

    Distinct locations as Python sets of tuples; for each point of x, the sorted positive
    distances to them; sample sizes in the constant are the numbers of locations.
    """
    lx, ly = sorted({tuple(r) for r in x}), sorted({tuple(r) for r in y})
    d = x.shape[1]
    total = 0.0
    for p in x:
        dist = [[math.dist(p, q) for q in locs] for locs in (lx, ly)]
        rho, nu = (sorted(v for v in row if v > 0)[k - 1] for row in dist)
        total += d * math.log(nu / rho)
    return total / len(x) + math.log(len(ly) / (len(lx) - 1))


def test_duplicates_use_distinct_points(rng):
    x = rng.normal(size=(40, 2))
    x = np.concatenate([x, x[:10], x[:5]])  # triplicates and duplicates
    y = np.concatenate([rng.normal(size=(50, 2)), x[:3], x[:1]])  # y shares points with x
    with pytest.warns(RuntimeWarning, match="heavy ties"):  # uneven copy counts
        e = knn_kl(x, y, k=2, correction="none", n_groups=2)
    assert math.isfinite(e.value) and e.value == pytest.approx(
        _distinct_wkv_loops(x, y, 2), abs=1e-10
    )
    # copies beyond the first: 15 in x, 1 in y; and 3 locations shared by x and y
    assert e.details["ties"] == 15 + 1 + 3
    assert e.details["distinct"] == (40, 53)
    with pytest.raises(
        ValueError,
        match="x needs at least k \\+ 2 = 3 samples at distinct locations, got 1 \\(of 40",
    ):
        knn_kl(np.zeros(40), np.arange(40.0), k=1, correction="none", n_groups=2)


def test_heavy_ties_need_enough_distinct_points(rng):
    x, y = np.round(rng.normal(size=(200, 1))), rng.normal(size=(200, 1))
    with pytest.raises(ValueError, match="x needs at least k \\+ 2 = 10 samples at distinct"):
        knn_kl(x, y, k=8)
    with pytest.raises(ValueError, match="at least 24 samples at distinct locations"):
        knn_kl(x, y, k=4, correction="none", stderr="batch")


def test_default_k_follows_the_distinct_counts(rng):
    x, y = rng.normal(size=(120, 2)), rng.normal(size=(100, 2))
    assert knn_kl(x, y).details["k"] == 100 // 16
    assert knn_kl(np.vstack([x, x]), np.vstack([y, y, y])).details["k"] == 100 // 16
    big = rng.normal(size=(400, 2))
    assert knn_kl(big, big + 1).details["k"] == 8  # the cap for d <= 3
    assert knn_kl(big.repeat(3, 1), big.repeat(3, 1) + 1).details["k"] == 12  # d >= 4


def test_batch_groups_keep_copies_together(rng):
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(160, 2)) + 0.5
    e = knn_kl(x, y, k=4, stderr="batch", seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = knn_kl(np.vstack([x, x]), np.vstack([y, y]), k=4, stderr="batch", seed=3)
    # each group holds both copies of its locations: the same groups, the same values
    np.testing.assert_allclose(d.details["group_values"], e.details["group_values"], atol=1e-10)
    assert d.stderr == pytest.approx(e.stderr, rel=1e-9)


def test_split_by_location_partitions_rows_and_keeps_copies_together():
    from divergences.estimators._common import split_by_location, split_indices

    loc = np.array([3, 1, 3, 0, 2, 1, 1, 4, 0])
    parts = split_by_location(loc, 3, np.random.default_rng(0))
    assert sorted(np.concatenate(parts).tolist()) == list(range(loc.size))
    assert all(
        len(set(loc[p]) & set(loc[q])) == 0 for i, p in enumerate(parts) for q in parts[i + 1 :]
    )
    assert sorted(len(set(loc[p])) for p in parts) == [1, 2, 2]
    plain = split_by_location(np.arange(10), 3, np.random.default_rng(5))
    same = split_indices(10, 3, np.random.default_rng(5))
    assert [p.tolist() for p in plain] == [p.tolist() for p in same]


def test_ensemble_is_weighted_sum_of_plain(rng):
    x, y = rng.normal(size=(120, 3)), rng.normal(size=(100, 3)) * 1.2
    w = ensemble_weights(6, 3)
    plain = [knn_kl(x, y, k=k, correction="none", n_groups=2).value for k in range(1, 7)]
    e = knn_kl(x, y, k=6, n_groups=2)
    assert e.value == pytest.approx(float(np.dot(w, plain)), abs=1e-10)


@settings(max_examples=200)
@given(st.integers(2, 40), st.integers(1, 30), st.integers(1, 3))
def test_ensemble_weights_constraints(k, d, L):
    if L + 1 > k:
        with pytest.raises(ValueError, match="too small"):
            ensemble_weights(k, d, L)
        return
    w = ensemble_weights(k, d, L)
    ks = np.arange(1, k + 1)
    assert w.sum() == pytest.approx(1.0, abs=1e-6)
    for l in range(1, L + 1):
        g = np.array([math.gamma(j + 2 * l / d) / math.gamma(j) for j in ks])
        assert abs(w @ g) < 1e-6 * max(1.0, np.abs(w).max() * g.max())


def test_orthogonal_invariance_exact_and_affine_within_tolerance(rng):
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + np.array([1.0, 0.0, 0.0])
    e = knn_kl(x, y)
    rot = special_ortho_group.rvs(3, random_state=1)
    er = knn_kl(x @ rot.T + 5.0, y @ rot.T + 5.0)
    assert er.value == pytest.approx(e.value, abs=1e-8)
    a = np.array([[2.0, 0.3, 0.0], [0.0, 0.5, 0.1], [0.2, 0.0, 1.5]])
    ea = knn_kl(x @ a.T - 1.0, y @ a.T - 1.0)
    assert abs(ea.value - e.value) < 3 * e.stderr


def test_identical_distributions_cover_zero(rng):
    x, y = rng.normal(size=(800, 2)), rng.normal(size=(600, 2))
    e = knn_kl(x, y)
    assert e.ci[0] < 0 < e.ci[1] or abs(e.value) < 3 * e.stderr


def test_unequal_sizes_against_closed_form(rng):
    # KL(N(0,1) ‖ N(0,4)) = log 2 + 1/8 - 1/2
    truth = math.log(2.0) + 1 / 8 - 0.5
    x, y = rng.normal(size=1500), 2.0 * rng.normal(size=4000)
    e = knn_kl(x, y)
    assert (e.n_x, e.n_y) == (1500, 4000)
    assert abs(e.value - truth) < 4 * e.stderr + 0.01
    r = knn_divergence(y, x, "reverse_kl")
    assert abs(r.value - truth) < 4 * r.stderr + 0.02


def test_alpha_family_coarse(rng):
    x, y = rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2)) + np.array([1.0, 0.0])
    h = knn_divergence(x, y, "hellinger2")
    assert abs(h.value - (1 - math.exp(-1 / 8))) < 4 * h.stderr + 0.02
    r = knn_divergence(x, y, "renyi", alpha=0.5)  # Rényi-α of unit Gaussians: α|μ|²/2
    assert abs(r.value - 0.25) < 4 * r.stderr + 0.04
    a = knn_divergence(x, y, "alpha", alpha=0.5)  # (∫√pq − 1)/(α(α−1)) = 4 · hellinger2
    assert a.value == pytest.approx(4 * h.value, rel=1e-10)
    j = knn_divergence(x, y, "jeffreys")
    assert abs(j.value - 1.0) < 4 * j.stderr + 0.1


def test_reproducible_and_torch_inputs(rng, device):
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 0.5
    a, b = knn_kl(x, y), knn_kl(x, y)
    assert a == b and a.details == b.details
    tx, ty = torch.tensor(x, device=device), torch.tensor(y, device=device)
    t = knn_kl(tx, ty)
    assert isinstance(t.value, float) and t.value == pytest.approx(a.value, abs=1e-9)
    assert t.stderr == pytest.approx(a.stderr, rel=1e-9)


@pytest.mark.parametrize(
    "args, kwargs, exc, match",
    [
        (("kl",), {"k": 30}, ValueError, "x needs at least k \\+ 2 = 32 samples at distinct"),
        (("kl",), {"stderr": "bootstrap"}, ValueError, "stderr must be one of"),
        (("kl",), {"stderr": None}, ValueError, "stderr must be one of"),
        (("renyi",), {}, ValueError, "needs alpha="),
        (("alpha",), {"alpha": 1.0}, ValueError, "must not be 0 or 1"),
        (("kl",), {"alpha": 0.5}, ValueError, "alpha is only used"),
        (("renyi",), {"alpha": 9.0}, ValueError, "1 - k < alpha < k \\+ 1"),
        (("tv",), {}, ValueError, "divergence \\(knn\\) must be one of"),
        (("kl",), {"correction": "magic"}, ValueError, "correction must be one of"),
        (("kl",), {"n_groups": 1}, ValueError, "n_groups must be >= 2"),
        ((3,), {}, TypeError, "divergence must be a name"),
    ],
)
def test_knn_bad_options(rng, args, kwargs, exc, match):
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(40, 2))
    with pytest.raises(exc, match=match):
        knn_divergence(x, y, *args, **kwargs)


def test_knn_bad_samples(rng):
    x = rng.normal(size=(30, 2))
    with pytest.raises(ValueError, match="y must be finite"):
        knn_kl(x, np.full((30, 2), np.inf))
    with pytest.raises(ValueError, match="same dimension D"):
        knn_kl(x, rng.normal(size=(30, 3)))
    with pytest.raises(ValueError, match="y needs at least k \\+ 2 = 10 samples at distinct"):
        knn_kl(x, x[:9], k=8)
    with pytest.raises(ValueError, match="stderr='batch' needs at least 24 samples"):
        knn_kl(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), k=4, stderr="batch")


# --- variational -------------------------------------------------------------------------------


def _quick(x, y, div, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return variational_divergence(x, y, div, lr=1e-2, max_epochs=40, **kw)


def test_variational_lower_bounds(rng):
    x, y = rng.normal(size=(600, 1)), rng.normal(size=(600, 1)) + 1.0
    tv = _quick(x, y, "tv")  # truth 2Φ(1/2) − 1 = 0.3829
    assert tv.value < 0.3829 + 3 * tv.stderr and tv.value > 0.2
    kl = _quick(x, y, "kl")
    assert kl.value < 0.5 + 3 * kl.stderr and kl.value > 0.25
    far = _quick(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 30.0, "js")
    assert far.value > math.log(2.0) - 0.05
    assert far.details["lower_bound"] and far.n_x == 300 and far.details["n_eval"] == (150, 150)


def test_variational_reproducible_and_zero_for_identical(rng):
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    a, b = _quick(x, y, "js", seed=2), _quick(x, y, "js", seed=2)
    assert a == b
    assert a.value < 3 * a.stderr + 0.01


def test_variational_bad_input(rng):
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    with pytest.raises(ValueError, match="x needs at least 10 samples"):
        variational_divergence(x[:5], y)
    with pytest.raises(ValueError, match="train_fraction must be in"):
        variational_divergence(x, y, train_fraction=1.5)
    with pytest.raises(ValueError, match="lr must be a positive float"):
        variational_divergence(x, y, lr=-1.0)
    with pytest.warns(ConvergenceWarning, match="still improving"):
        variational_divergence(x, y + 3.0, "js", max_epochs=1)


@pytest.mark.parametrize("base", ["none", "gaussian"])
@pytest.mark.parametrize("kind", ["kl", "hellinger2"])
def test_duplicating_every_point_keeps_estimate_and_interval(rng, base, kind):
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(300, 2)) + np.array([0.7, 0.0])
    e = knn_divergence(x, y, kind, base=base)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # equal copy counts are handled, not warned about
        for xd, yd in ((np.vstack([x, x]), np.vstack([y, y])), (np.vstack([x, x, x]), y)):
            d = knn_divergence(xd, yd, kind, base=base)
            assert d.stderr > 0
            # the law: copies neither move the value out of its interval nor narrow it
            assert d.ci[0] <= e.value <= d.ci[1]
            assert abs(d.value - e.value) < 0.05 * e.stderr
            assert d.stderr >= e.stderr / math.sqrt(2)


def test_heavy_ties_warn(rng):
    x, y = np.round(rng.normal(size=(500, 2))), np.round(rng.normal(size=(500, 2)) + 0.5)
    with pytest.warns(RuntimeWarning, match="heavy ties"):
        e = knn_divergence(x, y, "kl")
    assert e.stderr > 0
