"""Optimal transport: distances, plans and potentials.

:func:`wasserstein` (1-D exact, assignment, log-domain Sinkhorn, sliced) and
:func:`sinkhorn_divergence` (:mod:`~divergences.transport.wasserstein`, with the Sinkhorn solver
in ``_sinkhorn`` and the exact 1-D and sliced integrals in ``_exact1d``); :func:`transport`, the
:class:`Transport` record and its plans (:mod:`~divergences.transport.ot`,
:mod:`~divergences.transport.record`, :mod:`~divergences.transport.plans`), and
:func:`unbalanced_sinkhorn_divergence`, built on a batched solver (``_entropic`` on the blocks of
``_tiles``, gradients from the potentials in ``_grad``, exact plans in ``_exact``).
"""

from __future__ import annotations

from divergences.transport.ot import transport, unbalanced_sinkhorn_divergence
from divergences.transport.plans import DENSE_MAX, EntropicPlan, SparsePlan, TransportPlan
from divergences.transport.record import Transport
from divergences.transport.wasserstein import sinkhorn_divergence, wasserstein

__all__ = [
    "DENSE_MAX",
    "EntropicPlan",
    "SparsePlan",
    "Transport",
    "TransportPlan",
    "sinkhorn_divergence",
    "transport",
    "unbalanced_sinkhorn_divergence",
    "wasserstein",
]
