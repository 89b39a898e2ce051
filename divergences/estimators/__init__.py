"""Divergences estimated from samples, each returning an :class:`Estimate` with error bars.

- :func:`estimate` — one door to every method (a registry, :data:`METHODS`).
- :func:`js_from_discriminator` — the JS lower bound implied by any discriminator's logits.
- :func:`classifier_divergence`, :func:`classifier_two_sample_test` — cross-fitted classifier.
- :func:`knn_kl`, :func:`knn_divergence` — k-nearest-neighbour estimators.
- :func:`variational_divergence` — f-GAN variational lower bound with a neural critic.
- :func:`plugin_divergence` — histogram plug-in for low dimension.
"""

from __future__ import annotations

from divergences.estimators._estimate import METHODS, estimate
from divergences.estimators._record import Estimate
from divergences.estimators.classifier import classifier_divergence, classifier_two_sample_test
from divergences.estimators.discriminator import js_from_discriminator
from divergences.estimators.knn import ensemble_weights, knn_divergence, knn_kl
from divergences.estimators.plugin import plugin_divergence
from divergences.estimators.variational import variational_divergence

__all__ = [
    "METHODS",
    "Estimate",
    "classifier_divergence",
    "classifier_two_sample_test",
    "ensemble_weights",
    "estimate",
    "js_from_discriminator",
    "knn_divergence",
    "knn_kl",
    "plugin_divergence",
    "variational_divergence",
]
