"""Optimal transport: Wasserstein distances and the Sinkhorn divergence.

Optimal transport: :func:`wasserstein` (1-D exact, assignment, log-domain Sinkhorn, sliced) and
:func:`sinkhorn_divergence` (:mod:`~divergences.transport.wasserstein`), with the Sinkhorn solver
in ``_sinkhorn`` and the exact 1-D and sliced integrals in ``_exact1d``.
"""

from __future__ import annotations

from divergences.transport.wasserstein import sinkhorn_divergence, wasserstein

__all__ = ["sinkhorn_divergence", "wasserstein"]
