"""Divergences from a cross-fitted classifier's density ratio, and the classifier two-sample test.

A classifier trained to tell ``x ~ P`` (label 1) from ``y ~ Q`` (label 0) estimates the
log density ratio ``log p/q`` as its logit minus the log prior odds ``log(n_x/n_y)`` of its
training set. With K-fold cross-fitting every point is scored by a model that never saw it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy import stats
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from threadpoolctl import threadpool_limits

from divergences._validation import check_choice, check_positive_int
from divergences.estimators._common import check_samples, get_record, resolve_device
from divergences.estimators._mlp import MLPClassifier
from divergences.estimators._record import Estimate, check_confidence, make_estimate
from divergences.estimators.discriminator import js_terms

__all__ = ["classifier_divergence", "classifier_two_sample_test"]

_NAMED = ("auto", "quadratic", "logistic", "boosting", "mlp")
# Newton steps with a Cholesky solve: these logistic models have many more rows than features
_SOLVER = "newton-cholesky"


def _candidates(spec: Any, d: int) -> list[Any]:
    """The classifiers to cross-fit: ``"auto"`` is a choice between two for D <= 30."""
    if isinstance(spec, str) and spec == "auto":
        return ["quadratic", "boosting"] if d <= 30 else ["mlp"]
    return [spec]


def _make_classifier(spec: Any, seed: int, device: torch.device) -> Any:
    if not isinstance(spec, str):
        return clone(spec)
    if spec == "quadratic":
        return make_pipeline(
            StandardScaler(),
            PolynomialFeatures(2, include_bias=False),
            StandardScaler(),
            LogisticRegression(C=1.0, max_iter=2000, solver=_SOLVER),
        )
    if spec == "logistic":
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, solver=_SOLVER)
        )
    if spec == "boosting":  # early stopping on a held-back fifth: small samples do not overfit
        return HistGradientBoostingClassifier(
            max_iter=300,
            max_leaf_nodes=15,
            min_samples_leaf=50,
            early_stopping=True,
            validation_fraction=0.2,
            n_iter_no_change=10,
            random_state=seed,
        )
    return MLPClassifier(seed=seed, device=device)


def _check_classifier(spec: Any) -> None:
    if isinstance(spec, str):
        check_choice(spec, "classifier", _NAMED)
    elif not (hasattr(spec, "fit") and hasattr(spec, "predict_proba")):
        raise TypeError(
            "classifier must be one of "
            f"{', '.join(map(repr, _NAMED))} or a scikit-learn classifier with fit and "
            f"predict_proba, got {type(spec).__name__}"
        )


def _held_out_logits(model: Any, X: np.ndarray, clip: float) -> tuple[np.ndarray, int]:
    """Logit of P(label 1 | x), clipped to [logit(clip), logit(1 − clip)]; count clipped."""
    if isinstance(model, MLPClassifier):  # exact logits, no round trip through probabilities
        logit = np.asarray(model.decision_function(X), dtype=np.float64)
    else:
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        col = list(model.classes_).index(1)
        p = proba[:, col]
        with np.errstate(divide="ignore"):
            logit = np.log(p) - np.log1p(-p)
    bound = math.log1p(-clip) - math.log(clip)
    n_clipped = int((np.abs(logit) > bound).sum())
    return np.clip(logit, -bound, bound), n_clipped


def _cross_fit(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    classifier: Any,
    n_folds: int,
    clip: float,
    seed: int,
    device: Any,
) -> dict[str, Any]:
    """Held-out estimates of log p/q at every point of x and y by K-fold cross-fitting.

    Every candidate of :func:`_candidates` is fitted on the same folds; the one whose
    held-out log-ratio gives the largest JS lower bound (the smallest balanced held-out
    log-loss) is kept.
    """
    xn = x.detach().cpu().double().numpy()
    yn = y.detach().cpu().double().numpy()
    n, m = xn.shape[0], yn.shape[0]
    rng = np.random.default_rng(seed)
    fx = np.array_split(rng.permutation(n), n_folds)
    fy = np.array_split(rng.permutation(m), n_folds)
    dev = resolve_device(device, x)
    specs = _candidates(classifier, xn.shape[1])
    sx, sy = np.empty((len(specs), n)), np.empty((len(specs), m))
    fold_x, fold_y = np.empty(n, dtype=np.int64), np.empty(m, dtype=np.int64)
    n_clipped = np.zeros(len(specs), dtype=np.int64)
    for k in range(n_folds):
        tx = np.concatenate([fx[j] for j in range(n_folds) if j != k])
        ty = np.concatenate([fy[j] for j in range(n_folds) if j != k])
        X = np.concatenate([xn[tx], yn[ty]])
        lab = np.concatenate([np.ones(len(tx), dtype=np.int64), np.zeros(len(ty), np.int64)])
        prior = math.log(len(tx) / len(ty))  # the training set's log prior odds
        for c, spec in enumerate(specs):
            model = _make_classifier(spec, seed + k, dev)
            # one OpenMP thread for the trees: theirs otherwise spin against torch's idle workers
            limit = 1 if spec == "boosting" else None
            with threadpool_limits(limits=limit, user_api="openmp"):
                model.fit(X, lab)
                lx, cx = _held_out_logits(model, xn[fx[k]], clip)
                ly, cy = _held_out_logits(model, yn[fy[k]], clip)
            sx[c, fx[k]], sy[c, fy[k]] = lx - prior, ly - prior
            n_clipped[c] += cx + cy
        fold_x[fx[k]], fold_y[fy[k]] = k, k
    js = get_record("js")
    scores = [float(np.subtract(*(t.mean() for t in _f_terms(js, a, b)))) for a, b in zip(sx, sy)]
    best = int(np.argmax(scores))
    names = [s if isinstance(s, str) else type(s).__name__ for s in specs]
    return {
        "log_ratio_x": sx[best],
        "log_ratio_y": sy[best],
        "fold_x": fold_x,
        "fold_y": fold_y,
        "clipped_fraction": int(n_clipped[best]) / (n + m),
        "classifier": names[best],
        "candidates": dict(zip(names, scores)) if len(specs) > 1 else None,
    }


def _c2st(fit: dict[str, Any]) -> dict[str, float]:
    """Balanced held-out accuracy of the rule ``log p/q > 0`` and its one-sided p-value.

    When the classifier was chosen among several on the same held-out points, the p-value is
    Bonferroni-corrected for that choice.
    """
    sx, sy = fit["log_ratio_x"], fit["log_ratio_y"]
    tpr, fpr = float((sx > 0).mean()), float((sy > 0).mean())
    n, m = sx.size, sy.size
    pooled = (tpr * n + fpr * m) / (n + m)
    denom = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    z = (tpr - fpr) / denom if denom > 0 else 0.0
    se = 0.5 * math.sqrt(tpr * (1 - tpr) / n + fpr * (1 - fpr) / m)
    n_tried = len(fit["candidates"] or [None])
    return {
        "accuracy": 0.5 * (tpr + 1 - fpr),
        "accuracy_stderr": se,
        "z": z,
        "p_value": min(1.0, n_tried * float(stats.norm.sf(z))),
    }


def _f_terms(rec: Any, sx: np.ndarray, sy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample terms of E_P[T] − E_Q[f*(T)] at T = f'(r), r = exp(log-ratio)."""
    if rec.name == "js":
        a, b = js_terms(torch.from_numpy(sx), torch.from_numpy(sy))
        return 0.5 * a.numpy(), -0.5 * b.numpy()
    r = torch.from_numpy(np.exp(np.concatenate([sx, sy]))).requires_grad_(True)
    with torch.enable_grad():
        (t,) = torch.autograd.grad(rec.f(r).sum(), r)
    t = t.detach()
    a, b = t[: sx.size], rec.conjugate(t[sx.size :])
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise FloatingPointError(
            f"f'(r) or f*(f'(r)) of {rec.name!r} is not finite at the clipped density ratios; "
            "raise clip"
        )
    return a.numpy(), b.numpy()


def _validate(
    x: Any, y: Any, classifier: Any, n_folds: Any, clip: Any, seed: Any, confidence: Any
) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    tx, ty = check_samples(x, y, min_samples=n_folds, why=f" for n_folds={n_folds}")
    _check_classifier(classifier)
    if not isinstance(clip, float) or not 0.0 < clip < 0.5:
        raise ValueError(f"clip must be a float in (0, 0.5), got {clip!r}")
    check_positive_int(seed, "seed", minimum=0)
    return tx, ty, n_folds, check_confidence(confidence)


def classifier_divergence(
    x: Any,
    y: Any,
    divergence: Any = "js",
    *,
    classifier: Any = "auto",
    n_folds: int = 5,
    clip: float = 1e-6,
    confidence: float = 0.95,
    seed: int = 0,
    device: Any = None,
) -> Estimate:
    r"""f-divergence D_f(P‖Q) from a K-fold cross-fitted classifier's density ratio.

    Each fold's model is fitted on the other folds; its logit minus the training log prior
    odds ``log(n_x/n_y)`` estimates ``log r = log p/q`` at the held-out points. The estimate
    is the variational form at ``T = f'(r)``:

    .. math:: \hat D_f = \tfrac1N\sum_i f'(r(x_i)) - \tfrac1M\sum_j f^*(f'(r(y_j)))

    which equals D_f at the true ratio, is a **lower bound** in expectation for any other
    ratio (the gap is second order in the ratio's error), and for JS is exactly
    ``log 2 + ½ mean log D(x) + ½ mean log(1 − D(y))``. KL, χ² and other unbounded members
    are far noisier than JS (their terms are unbounded in r). Probabilities are clipped to
    ``[clip, 1 − clip]`` (the clipped fraction is in ``details``).

    ``classifier="auto"`` cross-fits two models on the same folds and uses the one with the
    larger held-out JS bound (the smaller balanced held-out log-loss; ``details["candidates"]``
    holds both bounds; picking the larger of two lower bounds on the same points is
    optimistic by a small fraction of the standard error): a logistic regression on
    standardised ``[x, x ⊗ x]`` features (``"quadratic"``: well-specified for Gaussian pairs,
    whose log-ratio is quadratic) and early-stopped histogram gradient boosting
    (``"boosting"``: any shape), for D ≤ 30; above, a torch MLP (on CUDA when present).
    The quadratic model alone is biased low on heavy-tailed pairs, where the choice is much
    closer (``benchmarks/RESULTS.md``, estimators). Either can be asked for by name,
    as can ``"logistic"`` (linear), ``"mlp"``, or any scikit-learn classifier (cloned per
    fold). Convergence warnings of the classifier are passed through.

    Standard error: the larger of the CLT error over the held-out per-sample terms,
    ``sqrt(var(a)/N + var(b)/M)``, and the between-fold spread ``sd(fold values)/√K``.

    Args:
        x: Samples of P, ``(N, D)`` or ``(N,)``; NumPy or torch.
        y: Samples of Q, ``(M, D)`` or ``(M,)``.
        divergence: Registry name (``"js"``, ``"kl"``, ``"tv"``, ...) or an FDivergence.
        classifier: See above.
        n_folds: Number of cross-fitting folds K (>= 2; each sample needs >= K points).
        clip: Probability clipping level in (0, 0.5).
        confidence: Level of the normal interval.
        seed: Seeds the fold split and the classifiers.
        device: Torch device for ``"mlp"`` (default: CUDA when present).

    Returns:
        ``Estimate`` (method ``"classifier"``); ``details``: ``clipped_fraction``,
        ``fold_values``, ``stderr_clt``, ``stderr_folds``, ``accuracy``, ``p_value`` (the
        classifier two-sample test from the same fit), ``classifier`` (the one used),
        ``candidates`` (held-out JS bound of each, for ``"auto"``), ``lower_bound``.

    References:
        Sugiyama, Suzuki & Kanamori, "Density Ratio Estimation in Machine Learning" (2012);
        Nguyen, Wainwright & Jordan, IEEE Trans. Inf. Theory 56 (2010) (variational form);
        Chernozhukov et al., "Double/debiased machine learning" (2018) (cross-fitting);
        Lopez-Paz & Oquab, "Revisiting classifier two-sample tests", ICLR 2017.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(500, 1)), rng.normal(size=(500, 1)) + 1.0
        >>> e = classifier_divergence(x, y, "js", n_folds=2)
        >>> 0.05 < e.value < 0.18  # the true JS is 0.1106
        True
    """
    tx, ty, n_folds, confidence = _validate(x, y, classifier, n_folds, clip, seed, confidence)
    rec = get_record(divergence)
    fit = _cross_fit(
        tx, ty, classifier=classifier, n_folds=n_folds, clip=clip, seed=seed, device=device
    )
    a, b = _f_terms(rec, fit["log_ratio_x"], fit["log_ratio_y"])
    n, m = a.size, b.size
    value = float(a.mean() - b.mean())
    folds = np.array(
        [a[fit["fold_x"] == k].mean() - b[fit["fold_y"] == k].mean() for k in range(n_folds)]
    )
    se_clt = math.sqrt(a.var(ddof=1) / n + b.var(ddof=1) / m)
    se_folds = float(folds.std(ddof=1) / math.sqrt(n_folds))
    test = _c2st(fit)
    details = {
        "clipped_fraction": fit["clipped_fraction"],
        "fold_values": folds.tolist(),
        "stderr_clt": se_clt,
        "stderr_folds": se_folds,
        "accuracy": test["accuracy"],
        "p_value": test["p_value"],
        "classifier": fit["classifier"],
        "candidates": fit["candidates"],
        "n_folds": n_folds,
        "lower_bound": True,
    }
    return make_estimate(
        value,
        max(se_clt, se_folds),
        n_x=n,
        n_y=m,
        method="classifier",
        divergence=rec.name,
        confidence=confidence,
        details=details,
    )


def classifier_two_sample_test(
    x: Any,
    y: Any,
    *,
    classifier: Any = "auto",
    n_folds: int = 5,
    clip: float = 1e-6,
    confidence: float = 0.95,
    seed: int = 0,
    device: Any = None,
) -> Estimate:
    r"""Classifier two-sample test (C2ST): held-out balanced accuracy and its p-value.

    The cross-fitted classifier of :func:`classifier_divergence` (same options, same fit for
    the same seed) predicts "from P" where its prior-corrected log-ratio is positive. Under
    H0: P = Q the held-out predictions are independent of the labels, so
    ``TPR − FPR`` is tested with the pooled two-proportion z-test (one-sided):

    .. math:: z = (\mathrm{TPR} - \mathrm{FPR}) / \sqrt{\pi(1-\pi)(1/N + 1/M)}

    with π the pooled fraction predicted "P". Balanced accuracy ``½(TPR + 1 − FPR)`` is 0.5
    under H0 and 1 for disjoint supports; for N = M it is the plain accuracy. When
    ``classifier="auto"`` chose between two models on the held-out points, the p-value is
    doubled (Bonferroni), so the test keeps its level.

    Args:
        x: Samples of P, ``(N, D)`` or ``(N,)``.
        y: Samples of Q, ``(M, D)`` or ``(M,)``.
        classifier: As in :func:`classifier_divergence`.
        n_folds: Cross-fitting folds.
        clip: Probability clipping level.
        confidence: Level of the interval on the accuracy.
        seed: Seed of folds and classifiers.
        device: Torch device for ``"mlp"``.

    Returns:
        ``Estimate`` with ``divergence="accuracy"``, ``method="c2st"``; ``details`` holds
        ``p_value`` and ``z``.

    References:
        Lopez-Paz & Oquab, "Revisiting classifier two-sample tests", ICLR 2017; Friedman,
        "On multivariate goodness-of-fit and two-sample testing" (2003).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 1.0
        >>> t = classifier_two_sample_test(x, y, n_folds=3)
        >>> t.value > 0.6, t.details["p_value"] < 1e-6
        (True, True)
    """
    tx, ty, n_folds, confidence = _validate(x, y, classifier, n_folds, clip, seed, confidence)
    fit = _cross_fit(
        tx, ty, classifier=classifier, n_folds=n_folds, clip=clip, seed=seed, device=device
    )
    test = _c2st(fit)
    details = {
        "p_value": test["p_value"],
        "z": test["z"],
        "clipped_fraction": fit["clipped_fraction"],
        "classifier": fit["classifier"],
        "n_folds": n_folds,
    }
    return make_estimate(
        test["accuracy"],
        test["accuracy_stderr"],
        n_x=tx.shape[0],
        n_y=ty.shape[0],
        method="c2st",
        divergence="accuracy",
        confidence=confidence,
        details=details,
    )
