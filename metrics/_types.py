"""Small result records shared by the metrics."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Score"]


class Score(NamedTuple):
    """A metric averaged over subsets or splits: ``mean`` and the standard deviation ``std``
    (population, ``ddof=0``, as torch-fidelity, torchmetrics and the original IS code) over
    ``n`` subsets/splits. Unpacks as ``mean, std, n = score``."""

    mean: float
    std: float
    n: int

    def __float__(self) -> float:
        return float(self.mean)
