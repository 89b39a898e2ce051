"""The f-divergence family and exact discrete divergences.

The f-divergence family ``D_f(P‖Q) = E_Q[f(p/q)]``: frozen records with exact conjugates
(:mod:`~divergences.fdiv.family`), and exact divergences between probability vectors
(:mod:`~divergences.fdiv.discrete`).
"""

from __future__ import annotations

from divergences.fdiv.discrete import (
    alpha_divergence,
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
from divergences.fdiv.family import (
    FDivergence,
    f_divergence_names,
    from_generator,
    get_f_divergence,
)

__all__ = [
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
]
