"""Improved precision/recall and density/coverage from k-NN balls, in bounded memory.

With ``r_k(x)`` the distance from a point to its k-th nearest neighbour in its own set (itself
excluded), ``B(x, r) = {z : ||z - x|| <= r}`` (closed ball: the ``<=`` convention of StyleGAN2-ADA
and torch-fidelity; prdc and piq use ``<``):

.. math::
    P = \\tfrac1M \\textstyle\\sum_j [\\exists i: \\hat y_j \\in B(x_i, r_k(x_i))],\\quad
    R = \\tfrac1N \\sum_i [\\exists j: x_i \\in B(\\hat y_j, r_k(\\hat y_j))],\\\\
    D = \\tfrac{1}{kM} \\sum_j \\sum_i [\\hat y_j \\in B(x_i, r_k(x_i))],\\quad
    C = \\tfrac1N \\sum_i [\\exists j: \\hat y_j \\in B(x_i, r_k(x_i))]

for real ``x`` (N) and fake ``ŷ`` (M). Radii come from :func:`divergences.neighbors.engine.knn`
(``exclude_self=True``) and are recomputed exactly in float64; the ball tests run in tiles
(never an ``N × M`` matrix) with exact float64 recomputation near the boundary, so the result
equals the dense formula with ``<=`` exactly. The only difference from the prdc package is the
tie convention: with ``<`` a set compared with itself has density/coverage 0 when points are
duplicated (clovaai/generative-evaluation-prdc#7); with ``<=`` it has precision = recall =
coverage = 1.

All four are invariant under scaling the features by any constant; the features are brought
to unit scale by a power of two (exact) first, so any finite float64 magnitude works.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from divergences._validation import check_positive_int
from divergences.neighbors import knn
from metrics._balls import BallTest, ball_tests, exact_distances
from metrics._buffer import FeatureBuffer
from metrics._types import feature_pair
from metrics.stats import _exponent, _pow2

__all__ = [
    "PRDC",
    "DensityCoverage",
    "PrecisionRecall",
    "PrecisionRecallDensityCoverage",
    "density_coverage",
    "prdc",
    "precision_recall",
]


class PrecisionRecall(NamedTuple):
    """Improved precision and recall (fractions in [0, 1])."""

    precision: float
    recall: float


class DensityCoverage(NamedTuple):
    """Density (>= 0, about 1 when fake matches real) and coverage (in [0, 1])."""

    density: float
    coverage: float


class PrecisionRecallDensityCoverage(NamedTuple):
    """All four, with one ``k`` (as ``prdc.compute_prdc``)."""

    precision: float
    recall: float
    density: float
    coverage: float


def kth_neighbour_radii(x: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """float64 ``(N,)`` distance to the k-th nearest other point, for each k in ``ks``."""
    k_max = max(ks)
    _, idx = knn(x, x, k_max, exclude_self=True)
    rows = torch.arange(x.shape[0], device=x.device).repeat_interleave(k_max)
    d = exact_distances(x, x, rows, idx.reshape(-1)).reshape(x.shape[0], k_max)
    d = d.sort(dim=1).values  # exact float64 order (the engine may rank in float32)
    return {k: d[:, k - 1].contiguous() for k in ks}


def _prepare(real: Any, fake: Any, ks: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _ = feature_pair(real, fake)
    for name, k in ks.items():
        check_positive_int(k, name)
        for t, n in ((x, "real"), (y, "fake")):
            if t.shape[0] <= k:
                raise ValueError(
                    f"{n} needs more than {name}={k} samples for k-NN radii, got {t.shape[0]}"
                )
    if x.dtype != y.dtype:
        y = y.to(x.dtype)
    x, y = x.detach(), y.detach()
    # the ball tests are scale invariant: one exact power of two brings the features to unit
    # scale, so squared distances (float32 tiles, float64 checks) neither overflow nor underflow
    k = max(_exponent(x), _exponent(y))
    if k:
        x, y = x * _pow2(-k), y * _pow2(-k)
    return x, y


def _prdc_impl(x: torch.Tensor, y: torch.Tensor, k_pr: int | None, k_dc: int | None) -> dict:
    """The four metrics (those whose k is given) from one set of tile sweeps."""
    ks_real = tuple(k for k in {k_pr, k_dc} if k is not None)
    r_real = kth_neighbour_radii(x, ks_real)
    out: dict[str, float] = {}
    # fake queries against real balls: precision (any) and density (counts)
    tests = []
    if k_pr is not None and k_pr != k_dc:
        tests.append(("precision", BallTest(r_real[k_pr], "center", count=False)))
    if k_dc is not None:
        tests.append(("density", BallTest(r_real[k_dc], "center", count=True)))
    res = ball_tests(y, x, [t for _, t in tests])
    for (name, _), v in zip(tests, res):
        if name == "density":
            out["density"] = float(v.double().sum() / (k_dc * y.shape[0]))
            if k_pr == k_dc:  # same balls: a fake is inside one iff its count is positive
                out["precision"] = float((v > 0).double().mean())
        else:
            out["precision"] = float((v > 0).double().mean())
    # real queries against fakes: recall (fake balls) and coverage (own ball)
    tests = []
    if k_pr is not None:
        r_fake = kth_neighbour_radii(y, (k_pr,))[k_pr]
        tests.append(("recall", BallTest(r_fake, "center", count=False)))
    if k_dc is not None:
        tests.append(("coverage", BallTest(r_real[k_dc], "query", count=False)))
    res = ball_tests(x, y, [t for _, t in tests])
    for (name, _), v in zip(tests, res):
        out[name] = float((v > 0).double().mean())
    return out


def precision_recall(real: Any, fake: Any, *, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall of fake features against real ones.

    Args:
        real: real features ``(N, D)``, N > k.
        fake: generated features ``(M, D)``, M > k.
        k: neighbour rank defining the balls (3 in Kynkäänniemi et al.).

    Returns:
        :class:`PrecisionRecall` (closed balls, ``<=``; see the module docstring).

    References:
        Kynkäänniemi et al., "Improved precision and recall metric for assessing generative
        models" (2019); matches ``NVlabs/stylegan2-ada-pytorch`` ``metrics/precision_recall.py``
        (``<=``) and ``prdc.compute_prdc`` up to the tie convention.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(200, 2))
        >>> precision_recall(x, x)
        PrecisionRecall(precision=1.0, recall=1.0)
        >>> p, r = precision_recall(x, x * 0.1)
        >>> p > 0.9 and r < 0.5
        True
    """
    x, y = _prepare(real, fake, {"k": k})
    res = _prdc_impl(x, y, k, None)
    return PrecisionRecall(res["precision"], res["recall"])


def density_coverage(real: Any, fake: Any, *, k: int = 5) -> DensityCoverage:
    """Density and coverage of fake features against real ones.

    Args:
        real: real features ``(N, D)``, N > k.
        fake: generated features ``(M, D)``, M > k.
        k: neighbour rank defining the real balls (5 in Naeem et al.).

    Returns:
        :class:`DensityCoverage` (closed balls, ``<=``).

    References:
        Naeem et al., "Reliable fidelity and diversity metrics for generative models" (2020);
        matches ``prdc.compute_prdc`` (``clovaai/generative-evaluation-prdc``) except ``<=``.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(300, 3))
        >>> density_coverage(x, x).coverage
        1.0
    """
    x, y = _prepare(real, fake, {"k": k})
    res = _prdc_impl(x, y, None, k)
    return DensityCoverage(res["density"], res["coverage"])


def prdc(real: Any, fake: Any, *, k: int = 5) -> PrecisionRecallDensityCoverage:
    """Precision, recall, density and coverage with one ``k`` (the ``prdc`` package's call).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(100, 4))
        >>> prdc(x, x).precision
        1.0
    """
    x, y = _prepare(real, fake, {"k": k})
    res = _prdc_impl(x, y, k, k)
    return PrecisionRecallDensityCoverage(
        res["precision"], res["recall"], res["density"], res["coverage"]
    )


class PRDC(FeatureBuffer):
    """Streaming precision/recall (``k_pr``) and density/coverage (``k_dc``) on kept features.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(50, 2))
        >>> PRDC().update_real(x).update_fake(x).compute()["coverage"]
        1.0
    """

    def __init__(self, *, k_pr: int = 3, k_dc: int = 5) -> None:
        self.k_pr, self.k_dc = k_pr, k_dc
        super().__init__()

    def compute(self) -> dict[str, float]:
        """``{"precision", "recall", "density", "coverage"}`` on all features seen so far."""
        x, y = self._features()
        x, y = _prepare(x, y, {"k_pr": self.k_pr, "k_dc": self.k_dc})
        return _prdc_impl(x, y, self.k_pr, self.k_dc)
