"""Two-sample tests with exact permutation p-values (not the project's test suite).

:func:`two_sample_test` answers "do these two sample sets come from one distribution?" for
every distance of the core (MMD with any kernel, MMDAgg, MMD-FUSE, energy, k-NN, Chamfer,
Wasserstein, the classifier test) or any function of two samples, by permutation: the pooled
pairwise terms are computed once and every relabelling only re-sums them.
"""

from __future__ import annotations

from divergences.testing._result import TestResult
from divergences.testing.two_sample import STATISTICS, two_sample_test

__all__ = ["STATISTICS", "TestResult", "two_sample_test"]
