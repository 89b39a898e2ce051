"""divergences: how far apart two distributions are, from their samples or densities.

The core package: the f-divergence family (exact on discrete distributions and Gaussians),
distances between sample sets on one nearest-neighbour engine, and estimators of
divergences from samples with error bars. Pure math on tensors: no file I/O, no
``torch.distributed``, no models. Subpackages: ``fdiv``, ``continuous``, ``neighbors``,
``transport``, ``estimators``, ``testing`` (two-sample tests); modules ``sets`` and ``kernels``.
"""

from __future__ import annotations

__version__ = "0.1.0"

# f-divergence family and exact discrete divergences
from divergences.fdiv import (
    FDivergence,
    alpha_divergence,
    f_divergence,
    f_divergence_names,
    from_generator,
    get_f_divergence,
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

# continuous distributions and sampling
from divergences.continuous import (
    MonteCarloResult,
    QuadratureResult,
    empirical_quantile_sample,
    f_divergence_1d,
    frechet_distance,
    gaussian_bhattacharyya,
    gaussian_chi2,
    gaussian_hellinger2,
    gaussian_kl,
    gaussian_renyi,
    inverse_cdf_sample,
    monte_carlo_f_divergence,
)

# nearest neighbours and set distances
from divergences.neighbors import knn
from divergences.sets import chamfer, hausdorff, nearest_pair_distance

# kernel and transport distances
from divergences.kernels import energy_distance, median_heuristic, mmd2
from divergences.transport import sinkhorn_divergence, wasserstein

# transport plans and potentials (binds the name `transport` to the function: the subpackage
# stays importable as `divergences.transport.<module>` through sys.modules)
from divergences.transport import (
    EntropicPlan,
    SparsePlan,
    Transport,
    TransportPlan,
    transport,
    unbalanced_sinkhorn_divergence,
)

# estimators from samples
from divergences.estimators import (
    Estimate,
    classifier_divergence,
    classifier_two_sample_test,
    estimate,
    js_from_discriminator,
    knn_divergence,
    knn_kl,
    plugin_divergence,
    variational_divergence,
)

# two-sample tests with permutation p-values
from divergences.testing import TestResult, two_sample_test

__all__ = [
    "__version__",
    # f-divergence family and exact discrete divergences
    "FDivergence",
    "alpha_divergence",
    "f_divergence",
    "f_divergence_names",
    "from_generator",
    "get_f_divergence",
    "hellinger2",
    "jeffreys",
    "js",
    "kl",
    "neyman",
    "pearson",
    "reverse_kl",
    "triangular",
    "tv",
    # continuous distributions and sampling
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
    # nearest neighbours and set distances
    "chamfer",
    "hausdorff",
    "knn",
    "nearest_pair_distance",
    # kernel and transport distances
    "energy_distance",
    "median_heuristic",
    "mmd2",
    "sinkhorn_divergence",
    "wasserstein",
    # transport plans and potentials
    "EntropicPlan",
    "SparsePlan",
    "Transport",
    "TransportPlan",
    "transport",
    "unbalanced_sinkhorn_divergence",
    # estimators from samples
    "Estimate",
    "classifier_divergence",
    "classifier_two_sample_test",
    "estimate",
    "js_from_discriminator",
    "knn_divergence",
    "knn_kl",
    "plugin_divergence",
    "variational_divergence",
    # two-sample tests with permutation p-values
    "TestResult",
    "two_sample_test",
]
