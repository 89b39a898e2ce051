"""The core's two-sample divergences as evaluation metrics (one registry for ``evaluate``).

Each entry maps ``(real, fake, **options)`` (feature tensors ``(N, D)``, ``(M, D)``) to a float or
an :class:`~divergences.estimators.Estimate`; all the maths lives in :mod:`divergences`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["TWO_SAMPLE", "TWO_SAMPLE_TESTS", "two_sample", "two_sample_tests"]


def _js(real: torch.Tensor, fake: torch.Tensor, **options: Any) -> Any:
    from divergences.estimators import classifier_divergence

    return classifier_divergence(real, fake, "js", **options)


def _c2st(real: torch.Tensor, fake: torch.Tensor, **options: Any) -> Any:
    from divergences.estimators import classifier_two_sample_test

    return classifier_two_sample_test(real, fake, **options)


def _knn_kl(real: torch.Tensor, fake: torch.Tensor, **options: Any) -> Any:
    from divergences.estimators import knn_kl

    return knn_kl(real, fake, **options)


def _chamfer(real: torch.Tensor, fake: torch.Tensor, **options: Any) -> float:
    from divergences.sets import chamfer

    return float(chamfer(real, fake, **options))


def _mmd2(real: torch.Tensor, fake: torch.Tensor, **options: Any) -> float:
    from divergences.kernels import mmd2

    return float(mmd2(real, fake, **options))


def _sliced_wasserstein(real: torch.Tensor, fake: torch.Tensor, **options: Any) -> float:
    from divergences.transport import wasserstein

    options.setdefault("generator", torch.Generator().manual_seed(0))
    return float(wasserstein(real, fake, method="sliced", **options))


TWO_SAMPLE: dict[str, Callable[..., Any]] = {
    "js": _js,
    "c2st": _c2st,
    "knn_kl": _knn_kl,
    "chamfer": _chamfer,
    "mmd2": _mmd2,
    "sliced_wasserstein": _sliced_wasserstein,
}
"""name → metric: ``js`` (cross-fitted classifier JS, nats, with stderr), ``c2st`` (classifier
two-sample test; held-out accuracy with stderr and p-value), ``knn_kl`` (k-NN KL(real‖fake)),
``chamfer`` (mean symmetric Chamfer), ``mmd2`` (unbiased MMD², Gaussian kernel, median
bandwidth), ``sliced_wasserstein`` (sliced W1, 128 projections, seed 0)."""


def two_sample(name: str, real: Any, fake: Any, **options: Any) -> Any:
    """Run one of :data:`TWO_SAMPLE` on two feature sets (float64 for NumPy input).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(100, 2))
        >>> round(two_sample("chamfer", x, x), 6)
        0.0
    """
    if name not in TWO_SAMPLE:
        raise ValueError(f"unknown two-sample metric {name!r}; choose from {sorted(TWO_SAMPLE)}")
    x = real if isinstance(real, torch.Tensor) else torch.as_tensor(real, dtype=torch.float64)
    y = fake if isinstance(fake, torch.Tensor) else torch.as_tensor(fake, dtype=torch.float64)
    return TWO_SAMPLE[name](x, y.to(x.dtype), **options)


TWO_SAMPLE_TESTS = ("mmd", "energy", "knn")
"""The permutation tests ``two_sample_tests`` runs by default (each O(N²) once, then re-sums)."""


def two_sample_tests(
    real: Any,
    fake: Any,
    *,
    tests: Any = TWO_SAMPLE_TESTS,
    permutations: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Permutation two-sample tests of real against fake features: name → ``TestResult``.

    Each test is :func:`divergences.two_sample_test` with its default options, ``permutations``
    relabellings and a CPU generator seeded with ``seed`` (the same for every test).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(60, 2))
        >>> r = two_sample_tests(x, x + 3.0, tests=["mmd"], permutations=99)
        >>> r["mmd"].p_value, r["mmd"].reject
        (0.01, True)
    """
    from divergences import two_sample_test
    from divergences._validation import check_positive_int

    names = [tests] if isinstance(tests, str) else list(tests)
    if not names or not all(isinstance(t, str) for t in names):
        raise ValueError(f"tests must be a non-empty list of statistic names, got {tests!r}")
    seed = check_positive_int(seed, "seed", minimum=0)
    out = {}
    for name in names:
        gen = torch.Generator().manual_seed(seed)
        out[name] = two_sample_test(
            real, fake, name, permutations=permutations, alpha=alpha, generator=gen
        )
    return out
