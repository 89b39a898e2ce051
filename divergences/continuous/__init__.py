"""Continuous distributions: closed forms, integrals and sampling.

Continuous distributions: Gaussian closed forms (:mod:`~divergences.continuous.gaussian`), the
Fréchet/Bures distance (:mod:`~divergences.continuous.frechet`), any f-divergence by 1-D
quadrature or Monte Carlo (:mod:`~divergences.continuous.integrals`), and inverse-CDF sampling
(:mod:`~divergences.continuous.sampling`).
"""

from __future__ import annotations

from divergences.continuous.frechet import frechet_distance
from divergences.continuous.gaussian import (
    gaussian_bhattacharyya,
    gaussian_chi2,
    gaussian_hellinger2,
    gaussian_kl,
    gaussian_renyi,
)
from divergences.continuous.integrals import (
    MonteCarloResult,
    QuadratureResult,
    f_divergence_1d,
    monte_carlo_f_divergence,
)
from divergences.continuous.sampling import empirical_quantile_sample, inverse_cdf_sample

__all__ = [
    "MonteCarloResult",
    "QuadratureResult",
    "empirical_quantile_sample",
    "f_divergence_1d",
    "frechet_distance",
    "gaussian_bhattacharyya",
    "gaussian_chi2",
    "gaussian_hellinger2",
    "gaussian_kl",
    "gaussian_renyi",
    "inverse_cdf_sample",
    "monte_carlo_f_divergence",
]
