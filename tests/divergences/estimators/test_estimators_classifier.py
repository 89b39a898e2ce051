"""Classifier estimator, C2ST, plug-in histograms and the estimate() dispatcher."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
from scipy import special, stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from divergences.estimators import (
    classifier_divergence,
    classifier_two_sample_test,
    estimate,
    plugin_divergence,
)
from divergences.estimators._mlp import MLPClassifier
from divergences.estimators.classifier import _f_terms
from divergences.fdiv.family import get_f_divergence as get

LOG2 = math.log(2.0)


def _pair(rng, n, m, d, shift):
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d))
    y[:, 0] += shift
    return x, y


def test_identical_distributions_give_about_zero(rng):
    x, y = _pair(rng, 400, 400, 2, 0.0)
    e = classifier_divergence(x, y, "js", n_folds=3)
    assert abs(e.value) < 4 * e.stderr + 0.01
    assert e.ci[0] < 0.01
    assert e.details["p_value"] > 1e-3


def test_disjoint_supports_drive_js_to_log2(rng):
    x, y = _pair(rng, 300, 300, 2, 40.0)
    e = classifier_divergence(x, y, "js", n_folds=3, classifier="logistic")
    assert LOG2 - 0.03 < e.value <= LOG2 + 1e-12  # L2-regularised logits stay finite
    assert e.details["accuracy"] == 1.0 and e.details["p_value"] < 1e-20
    c = classifier_divergence(x, y, "js", n_folds=3, classifier="logistic", clip=0.01)
    assert c.details["clipped_fraction"] > 0.1  # clipping is reported, not hidden


def test_unequal_sizes_kl_and_js_coarse(rng):
    # KL(N(0,1) ‖ N(1,1)) = 0.5; prior-odds correction must handle n_x != n_y.
    x, y = _pair(rng, 1500, 3000, 1, 1.0)
    e = classifier_divergence(x, y, "kl")
    assert (e.n_x, e.n_y) == (1500, 3000)
    assert abs(e.value - 0.5) < 4 * e.stderr + 0.03
    js = classifier_divergence(x, y, "js")
    assert abs(js.value - 0.1106) < 4 * js.stderr + 0.01  # JS by quadrature: 0.11056


def test_generic_f_path_matches_the_js_formula(rng):
    # The autograd f' + conjugate path must reproduce log 2 + log D / log(1 - D) for JS.
    sx, sy = rng.normal(0.5, 2.0, 200), rng.normal(-0.5, 2.0, 150)
    rec = get("js")
    generic = dataclasses.replace(rec, name="js_generic")
    a0, b0 = _f_terms(rec, sx, sy)
    a1, b1 = _f_terms(generic, sx, sy)
    np.testing.assert_allclose(a1, a0, atol=1e-10)
    np.testing.assert_allclose(b1, b0, atol=1e-10)
    # and the true ratio gives back the divergence: E_P[f'(r)] - E_Q[f*(f'(r))] -> D_f
    x, y = rng.normal(size=20000), rng.normal(size=20000) + 1.0
    logr = lambda t: -0.5 * t**2 + 0.5 * (t - 1.0) ** 2  # noqa: E731
    a, b = _f_terms(get("kl"), logr(x), logr(y))
    assert abs(a.mean() - b.mean() - 0.5) < 0.05
    a, b = _f_terms(get("tv"), logr(x), logr(y))
    assert abs(a.mean() - b.mean() - (2 * stats.norm.cdf(0.5) - 1)) < 0.02


def test_seed_reproducibility(rng):
    x, y = _pair(rng, 200, 200, 2, 0.7)
    e1 = classifier_divergence(x, y, "js", n_folds=3, seed=5)
    e2 = classifier_divergence(x, y, "js", n_folds=3, seed=5)
    e3 = classifier_divergence(x, y, "js", n_folds=3, seed=6)
    assert e1 == e2 and e1.details == e2.details
    assert e1.value != e3.value


def test_c2st_is_the_same_fit(rng):
    x, y = _pair(rng, 200, 250, 2, 0.8)
    e = classifier_divergence(x, y, "js", n_folds=3, seed=1)
    t = classifier_two_sample_test(x, y, n_folds=3, seed=1)
    assert t.value == pytest.approx(e.details["accuracy"])
    assert t.details["p_value"] == pytest.approx(e.details["p_value"])
    assert t.method == "c2st" and t.divergence == "accuracy" and t.value > 0.6
    assert "p=" in str(t)


def test_custom_sklearn_classifier_and_torch_input(rng):
    x, y = _pair(rng, 200, 200, 2, 1.0)
    ref = classifier_divergence(x, y, "js", n_folds=2, classifier="logistic")
    e = classifier_divergence(
        torch.tensor(x, dtype=torch.float32),
        torch.tensor(y, dtype=torch.float32),
        "js",
        n_folds=2,
        classifier="logistic",
    )
    assert isinstance(e.value, float)
    assert e.value == pytest.approx(ref.value, abs=1e-4)
    own = classifier_divergence(x, y, "js", n_folds=2, classifier=LogisticRegression())
    assert own.details["classifier"] == "LogisticRegression"
    assert abs(own.value - ref.value) < 0.02


@pytest.mark.parametrize(
    "model",
    [
        HistGradientBoostingClassifier(max_iter=15),
        MLPClassifier((16,), max_epochs=15, batch_size=16, lr=1e-2, seed=3),
        "boosting",
    ],
)
def test_other_classifiers_run(rng, model):
    x, y = _pair(rng, 150, 150, 2, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 15 epochs on purpose
        e = classifier_divergence(x, y, "js", n_folds=2, classifier=model)
    assert 0.3 < e.value <= LOG2


def test_convergence_warnings_are_surfaced(rng):
    x, y = _pair(rng, 100, 100, 3, 1.0)
    with pytest.warns(ConvergenceWarning):
        classifier_divergence(x, y, n_folds=2, classifier=LogisticRegression(max_iter=1))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_folds": 10}, ValueError, "x needs at least 10 samples for n_folds=10"),
        ({"n_folds": 1}, ValueError, "n_folds must be >= 2"),
        ({"classifier": "svm"}, ValueError, "classifier must be one of"),
        ({"classifier": object()}, TypeError, "scikit-learn classifier"),
        ({"clip": 0.7}, ValueError, "clip must be a float in"),
        ({"divergence": "nope"}, ValueError, "nope"),
    ],
)
def test_classifier_bad_options(rng, kwargs, exc, match):
    x, y = _pair(rng, 8, 12, 2, 1.0)
    div = kwargs.pop("divergence", "js")
    with pytest.raises(exc, match=match):
        classifier_divergence(x, y, div, **kwargs)


@pytest.mark.parametrize("fn", [classifier_divergence, plugin_divergence])
def test_bad_samples(rng, fn):
    x, y = _pair(rng, 20, 20, 2, 1.0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        fn(bad, y)
    with pytest.raises(ValueError, match="same dimension D"):
        fn(x, y[:, :1])
    const = x.copy()
    yc = y.copy()
    const[:, 1] = 2.0
    yc[:, 1] = 2.0
    with pytest.raises(ValueError, match=r"features \[1\] are constant"):
        fn(const, yc)


# --- plug-in ---------------------------------------------------------------------------------


def _plugin_reference(x, y, bins, a):
    edges = [
        np.linspace(min(x[:, j].min(), y[:, j].min()), max(x[:, j].max(), y[:, j].max()), bins + 1)
        for j in range(x.shape[1])
    ]
    cx = np.histogramdd(x, bins=edges)[0].ravel() + a
    cy = np.histogramdd(y, bins=edges)[0].ravel() + a
    p, q = cx / cx.sum(), cy / cy.sum()
    return special.rel_entr(p, q).sum(), 0.5 * (
        special.rel_entr(p, (p + q) / 2).sum() + special.rel_entr(q, (p + q) / 2).sum()
    )


@pytest.mark.parametrize("d", [1, 2, 3])
def test_plugin_matches_independent_histogram(rng, d):
    x, y = _pair(rng, 300, 500, d, 0.8)
    kl_ref, js_ref = _plugin_reference(x, y, 6, 0.5)
    assert plugin_divergence(x, y, "kl", bins=6).value == pytest.approx(kl_ref, rel=1e-12)
    assert plugin_divergence(x, y, "js", bins=6).value == pytest.approx(js_ref, rel=1e-12)


def test_plugin_laws_and_reproducibility(rng):
    x = rng.normal(size=(500, 2))
    e0 = plugin_divergence(x, x.copy(), "kl")
    assert e0.value == pytest.approx(0.0, abs=1e-15)
    x, y = _pair(rng, 2000, 2000, 1, 1.0)
    a, b = plugin_divergence(x, y, "kl", seed=3), plugin_divergence(x, y, "kl", seed=3)
    assert a == b
    assert abs(a.value - 0.5) < 4 * a.stderr + 0.05
    lo, hi = a.details["percentile_ci"]
    assert lo < a.value < hi


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bins": 0}, "bins must be >= 1"),
        ({"smoothing": 0.0}, "smoothing must be positive"),
        ({"n_boot": 1}, "n_boot must be >= 2"),
    ],
)
def test_plugin_bad_options(rng, kwargs, match):
    x, y = _pair(rng, 30, 30, 1, 1.0)
    with pytest.raises(ValueError, match=match):
        plugin_divergence(x, y, **kwargs)
    with pytest.raises(ValueError, match="D <= 3"):
        plugin_divergence(rng.normal(size=(30, 4)), rng.normal(size=(30, 4)))


def test_estimate_dispatches(rng):
    x, y = _pair(rng, 300, 300, 1, 1.0)
    assert estimate(x, y, "kl", method="plugin", bins=8) == plugin_divergence(x, y, "kl", bins=8)
    with pytest.raises(ValueError, match="method must be one of"):
        estimate(x, y, method="magic")


def test_auto_keeps_the_candidate_with_the_larger_held_out_js_bound(rng):
    # Laplace coordinates: log p/q is piecewise linear, which quadratic features miss
    x = rng.laplace(size=(1500, 2))
    y = rng.laplace(size=(1500, 2)) * 1.3
    y[:, 0] += 1.0
    auto = classifier_divergence(x, y, "js", n_folds=3, seed=2)
    each = {
        c: classifier_divergence(x, y, "js", n_folds=3, seed=2, classifier=c)
        for c in ("quadratic", "boosting")
    }
    assert auto.details["candidates"] == pytest.approx({c: e.value for c, e in each.items()})
    best = max(each, key=lambda c: each[c].value)
    assert auto.details["classifier"] == best != "quadratic"
    assert auto.value == each[best].value
    kl = classifier_divergence(x, y, "kl", n_folds=3, seed=2)
    assert kl.value == classifier_divergence(x, y, "kl", n_folds=3, seed=2, classifier=best).value
    # the truth by Monte Carlo with the known densities: auto is the closer
    z = np.random.default_rng(7).laplace(size=(400_000, 2))
    shift, s = np.array([1.0, 0.0]), 1.3

    def log_q(t):
        return stats.laplace.logpdf((t - shift) / s).sum(1) - 2 * math.log(s)

    zy = z * s + shift
    lp_x, lq_x = stats.laplace.logpdf(z).sum(1), log_q(z)
    lp_y, lq_y = stats.laplace.logpdf(zy).sum(1), log_q(zy)
    js = 0.5 * np.mean(lp_x - np.logaddexp(lp_x, lq_x)) + 0.5 * np.mean(
        lq_y - np.logaddexp(lp_y, lq_y)
    )
    js += math.log(2)
    assert abs(auto.value - js) < abs(each["quadratic"].value - js)


def test_auto_prefers_the_quadratic_model_on_gaussians_and_corrects_the_test(rng):
    # Bonferroni over the two candidates
    x, y = _pair(rng, 1500, 1500, 3, 0.6)
    e = classifier_divergence(x, y, "js", n_folds=3, seed=1)
    assert e.details["classifier"] == "quadratic"
    a, b = rng.normal(size=(80, 3)), rng.normal(size=(80, 3)) + 0.3
    t = classifier_two_sample_test(a, b, n_folds=3)
    one = classifier_two_sample_test(a, b, n_folds=3, classifier=t.details["classifier"])
    assert t.value == one.value
    assert t.details["p_value"] == pytest.approx(min(1.0, 2 * one.details["p_value"]))
    assert 0 < one.details["p_value"] < 0.3  # the correction is visible
