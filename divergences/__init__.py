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
# [/f_divergences + discrete]
# [continuous + sampling]
# [/continuous + sampling]
# [neighbors + sets]
# [/neighbors + sets]
# [kernels + transport]
# [/kernels + transport]
# [estimators]
# [/estimators]

__all__ = [
    "__version__",
    # [f_divergences + discrete]
    # [/f_divergences + discrete]
    # [continuous + sampling]
    # [/continuous + sampling]
    # [neighbors + sets]
    # [/neighbors + sets]
    # [kernels + transport]
    # [/kernels + transport]
    # [estimators]
    # [/estimators]
]
