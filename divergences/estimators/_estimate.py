"""``estimate()``: one door to the estimators, through a registry of methods.

The dispatcher imports every estimator; each estimator imports only the shared record
(:mod:`divergences.estimators._record`), so the graph has no cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from divergences._validation import check_choice
from divergences.estimators._record import Estimate
from divergences.estimators.classifier import classifier_divergence
from divergences.estimators.knn import knn_divergence
from divergences.estimators.plugin import plugin_divergence
from divergences.estimators.variational import variational_divergence

__all__ = ["METHODS", "estimate"]

# method name -> estimator(x, y, divergence, **options) -> Estimate
METHODS: dict[str, Callable[..., Estimate]] = {
    "classifier": classifier_divergence,
    "knn": knn_divergence,
    "variational": variational_divergence,
    "plugin": plugin_divergence,
}


def estimate(
    x: Any,
    y: Any,
    divergence: Any = "js",
    *,
    method: str = "classifier",
    **options: Any,
) -> Estimate:
    r"""Estimate D(P‖Q) from samples ``x ~ P`` and ``y ~ Q`` with a standard error and interval.

    One door to the four estimators; ``options`` go to the chosen one:

    - ``"classifier"`` → :func:`classifier_divergence` (cross-fitted density ratio; any
      f-divergence; JS is a lower bound when the classifier is imperfect).
    - ``"knn"`` → :func:`knn_divergence` (Wang–Kulkarni–Verdú KL, Póczos–Schneider α family;
      ``base="gaussian"`` for a Gaussian start).
    - ``"variational"`` → :func:`variational_divergence` (f-GAN lower bound with a neural critic).
    - ``"plugin"`` → :func:`plugin_divergence` (histograms, d ≤ 3).

    Args:
        x: Samples from P, shape ``(N, D)`` (or ``(N,)`` for D = 1); NumPy or torch.
        y: Samples from Q, shape ``(M, D)`` (or ``(M,)``).
        divergence: Registry name (``"js"``, ``"kl"``, ...) or an ``FDivergence`` record
            (for ``"knn"`` also ``"renyi"``/``"alpha"`` with ``alpha=``).
        method: One of ``"classifier"``, ``"knn"``, ``"variational"``, ``"plugin"``.
        **options: Keyword options of the chosen estimator (``seed``, ``confidence``, ...).

    Returns:
        An :class:`Estimate` (Python floats whatever the input array type).

    .. math:: D_f(P\|Q) = \mathbb{E}_Q[f(p/q)]

    References:
        See the individual estimators.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2)) + 3.0
        >>> e = estimate(x, y, "js", method="classifier", n_folds=2)
        >>> e.value > 0.5, e.method
        (True, 'classifier')
    """
    check_choice(method, "method", tuple(METHODS))
    return METHODS[method](x, y, divergence, **options)
