"""The exact nearest-neighbour engine and its back ends.

The exact nearest-neighbour engine: :func:`knn` (:mod:`~divergences.neighbors.engine`) in front
of a kd-tree (``_kdtree``), the certified p = 2 brute force (``_brute_l2``), the p != 2 brute
force (``_brute_lp``) and the fused Triton kernel on CUDA (``_triton``, ``_triton_kernel``);
exact distances and the shared steps are in ``_exact``.
"""

from __future__ import annotations

from divergences.neighbors.engine import ENGINES, KDTREE_MAX_DIM, knn

__all__ = ["ENGINES", "KDTREE_MAX_DIM", "knn"]
