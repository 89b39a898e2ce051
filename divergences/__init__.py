"""divergences: how far apart two distributions are, from their samples or densities.

The core package: the f-divergence family (exact on discrete distributions and Gaussians),
distances between sample sets on one nearest-neighbour engine, and estimators of
divergences from samples with error bars. Pure math on tensors: no file I/O, no
``torch.distributed``, no models.
"""

from __future__ import annotations

__version__ = "0.1.0"

# --- exports are grouped by module; each block is edited only by that module's owner -------
# [f_divergences + discrete]
from divergences.discrete import (
    alpha,
    f_divergence,
    hellinger2,
    jeffreys,
    js,
    kl,
    neyman,
    pearson,
    reverse_kl,
    triangular,
    tv,
)
from divergences.f_divergences import FDivergence, from_generator, get, names

# [/f_divergences + discrete]
# [continuous + sampling]
from divergences.continuous import (
    MonteCarloResult,
    QuadratureResult,
    f_divergence_1d,
    frechet_distance,
    gaussian_bhattacharyya,
    gaussian_chi2,
    gaussian_hellinger2,
    gaussian_kl,
    gaussian_renyi,
    monte_carlo_f_divergence,
)
from divergences.sampling import empirical_quantile_sample, inverse_cdf_sample

# [/continuous + sampling]
# [neighbors + sets]
from divergences.neighbors import knn
from divergences.sets import chamfer, hausdorff, nearest_pair_distance

# [/neighbors + sets]
# [kernels + transport]
from divergences.kernels import energy_distance, median_heuristic, mmd2
from divergences.transport import sinkhorn_divergence, wasserstein

# [/kernels + transport]
# [estimators]
from divergences.estimators import (
    Estimate,
    classifier_divergence,
    classifier_two_sample_test,
    estimate,
    js_from_discriminator,
    knn_divergence,
    knn_kl,
    plugin_divergence,
    variational_bound,
)

# [/estimators]

__all__ = [
    "__version__",
    # [f_divergences + discrete]
    "FDivergence",
    "alpha",
    "f_divergence",
    "from_generator",
    "get",
    "hellinger2",
    "jeffreys",
    "js",
    "kl",
    "names",
    "neyman",
    "pearson",
    "reverse_kl",
    "triangular",
    "tv",
    # [/f_divergences + discrete]
    # [continuous + sampling]
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
    # [/continuous + sampling]
    # [neighbors + sets]
    "chamfer",
    "hausdorff",
    "knn",
    "nearest_pair_distance",
    # [/neighbors + sets]
    # [kernels + transport]
    "energy_distance",
    "median_heuristic",
    "mmd2",
    "sinkhorn_divergence",
    "wasserstein",
    # [/kernels + transport]
    # [estimators]
    "Estimate",
    "classifier_divergence",
    "classifier_two_sample_test",
    "estimate",
    "js_from_discriminator",
    "knn_divergence",
    "knn_kl",
    "plugin_divergence",
    "variational_bound",
    # [/estimators]
]
