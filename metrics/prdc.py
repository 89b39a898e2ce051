r"""Improved precision/recall and density/coverage from k-NN balls, in bounded memory.

With ``r_k(x)`` the distance from a point to its k-th nearest neighbour in its own set (itself
excluded), ``B(x, r) = {z : ||z - x|| <= r}`` (closed ball: the ``<=`` convention of StyleGAN2-ADA
and torch-fidelity; prdc and piq use ``<``):

.. math::
    P = \tfrac1M \textstyle\sum_j [\exists i: \hat y_j \in B(x_i, r_k(x_i))],\quad
    R = \tfrac1N \sum_i [\exists j: x_i \in B(\hat y_j, r_k(\hat y_j))],\\
    D = \tfrac{1}{kM} \sum_j \sum_i [\hat y_j \in B(x_i, r_k(x_i))],\quad
    C = \tfrac1N \sum_i [\exists j: \hat y_j \in B(x_i, r_k(x_i))]

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
from metrics.parallel import all_reduce_max, all_reduce_sum, broadcast_shards
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


def kth_neighbour_radii(
    x: torch.Tensor, ks: tuple[int, ...], *, sharded: bool = False
) -> dict[int, torch.Tensor]:
    """float64 ``(N,)`` distance to the k-th nearest other point, for each k in ``ks``.

    With ``sharded`` the set is the union of every rank's ``x``: each rank finds its points'
    nearest neighbours in every shard in turn and keeps the ``max(ks)`` smallest exact
    distances (exact: the k smallest of a union are among the k smallest of each part).
    """
    k_max = max(ks)
    n = x.shape[0]
    best = torch.empty(n, 0, dtype=torch.float64, device=x.device)
    for own, (xs,) in broadcast_shards(x) if sharded else [(True, [x])]:
        kk = min(k_max, xs.shape[0] - (1 if own else 0))
        if n == 0 or kk < 1:
            continue
        _, idx = knn(x, x, kk, exclude_self=True) if own else knn(x, xs, kk)
        rows = torch.arange(n, device=x.device).repeat_interleave(kk)
        d = exact_distances(x, xs, rows, idx.reshape(-1)).reshape(n, kk)
        # exact float64 order (the engine may rank in float32)
        best = torch.cat([best, d], 1).sort(dim=1).values[:, :k_max]
    if n == 0:
        return {k: best.new_empty(0) for k in ks}
    return {k: best[:, k - 1].contiguous() for k in ks}


def _prepare(
    real: Any, fake: Any, ks: dict[str, int], sharded: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _ = feature_pair(real, fake, min_samples=0 if sharded else 1)
    sizes = torch.tensor([x.shape[0], y.shape[0]], dtype=torch.int64, device=x.device)
    if sharded:
        all_reduce_sum(sizes)
    for name, k in ks.items():
        check_positive_int(k, name)
        for size, n in zip(sizes.tolist(), ("real", "fake")):
            if size <= k:
                raise ValueError(
                    f"{n} needs more than {name}={k} samples for k-NN radii, got {size}"
                    + (" over all ranks" if sharded else "")
                )
    if x.dtype != y.dtype:
        y = y.to(x.dtype)
    x, y = x.detach(), y.detach()
    # the ball tests are scale invariant: one exact power of two brings the features to unit
    # scale, so squared distances (float32 tiles, float64 checks) neither overflow nor underflow
    exps = torch.tensor([_exponent(x), _exponent(y)], dtype=torch.int64, device=x.device)
    k = int((all_reduce_max(exps) if sharded else exps).max())
    if k:
        x, y = x * _pow2(-k), y * _pow2(-k)
    return x, y


def _sweep(q: torch.Tensor, c: torch.Tensor, tests: list[BallTest]) -> list[torch.Tensor]:
    if q.shape[0] == 0 or c.shape[0] == 0:
        return [torch.zeros(q.shape[0], dtype=torch.int64, device=q.device) for _ in tests]
    return ball_tests(q, c, tests)


def _prdc_impl(
    x: torch.Tensor, y: torch.Tensor, k_pr: int | None, k_dc: int | None, sharded: bool = False
) -> dict:
    """The four metrics (those whose k is given) from one set of tile sweeps.

    With ``sharded``, ``x`` and ``y`` are this rank's shares; every shard is visited in turn
    (:func:`metrics.parallel.broadcast_shards`), ball counts add up over shards, and the
    totals are summed over ranks, so every rank returns the result on the union.
    """
    ks_real = tuple(sorted(k for k in {k_pr, k_dc} if k is not None))
    r_real = kth_neighbour_radii(x, ks_real, sharded=sharded)
    r_fake = kth_neighbour_radii(y, (k_pr,), sharded=sharded)[k_pr] if k_pr is not None else None
    shards = broadcast_shards if sharded else (lambda *t: [(True, list(t))])
    zeros = [torch.zeros(n, dtype=torch.int64, device=x.device) for n in (y.shape[0],) * 2]
    precision, density = zeros
    # fake queries against real balls: precision (any) and density (counts)
    for _, (xs, *radii) in shards(x, *(r_real[k] for k in ks_real)):
        rs = dict(zip(ks_real, radii))
        tests = {}
        if k_pr is not None and k_pr != k_dc:
            tests["precision"] = BallTest(rs[k_pr], "center", count=False)
        if k_dc is not None:
            tests["density"] = BallTest(rs[k_dc], "center", count=True)
        for name, v in zip(tests, _sweep(y, xs, list(tests.values()))):
            if name == "density":
                density += v
            else:
                precision += v
    if k_pr is not None and k_pr == k_dc:  # same balls: a fake is inside one iff its count > 0
        precision = density
    # real queries against fakes: recall (fake balls) and coverage (own ball)
    recall, coverage = (torch.zeros(x.shape[0], dtype=torch.int64, device=x.device) for _ in "rc")
    if r_fake is None:  # unused placeholder radii keep one shard layout
        r_fake = torch.zeros(y.shape[0], dtype=torch.float64, device=y.device)
    for _, (ys, rf) in shards(y, r_fake):
        tests = {}
        if k_pr is not None:
            tests["recall"] = BallTest(rf, "center", count=False)
        if k_dc is not None:
            tests["coverage"] = BallTest(r_real[k_dc], "query", count=False)
        for name, v in zip(tests, _sweep(x, ys, list(tests.values()))):
            (recall if name == "recall" else coverage).add_(v)
    sums = torch.tensor(
        [
            float((precision > 0).sum()),
            float(density.sum()),
            float((recall > 0).sum()),
            float((coverage > 0).sum()),
            y.shape[0],
            x.shape[0],
        ],
        dtype=torch.float64,
    )
    if sharded:
        all_reduce_sum(sums)
    p, d, r, c, m, n = sums.tolist()
    out: dict[str, float] = {}
    if k_pr is not None:
        out["precision"], out["recall"] = p / m, r / n
    if k_dc is not None:
        out["density"], out["coverage"] = d / (k_dc * m), c / n
    return out


def precision_recall(real: Any, fake: Any, *, k: int = 3, sharded: bool = False) -> PrecisionRecall:
    """Improved precision and recall of fake features against real ones.

    Args:
        real: real features ``(N, D)``, N > k.
        fake: generated features ``(M, D)``, M > k.
        k: neighbour rank defining the balls (3 in Kynkäänniemi et al.).
        sharded: ``real``/``fake`` are this process's shares of the features under
            ``torch.distributed`` (any split, empty shares allowed); every rank gets the
            result on the union, equal to one process's (radii exact).

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
    x, y = _prepare(real, fake, {"k": k}, sharded)
    res = _prdc_impl(x, y, k, None, sharded)
    return PrecisionRecall(res["precision"], res["recall"])


def density_coverage(real: Any, fake: Any, *, k: int = 5, sharded: bool = False) -> DensityCoverage:
    """Density and coverage of fake features against real ones.

    Args:
        real: real features ``(N, D)``, N > k.
        fake: generated features ``(M, D)``, M > k.
        k: neighbour rank defining the real balls (5 in Naeem et al.).
        sharded: features are this process's shares (see :func:`precision_recall`).

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
    x, y = _prepare(real, fake, {"k": k}, sharded)
    res = _prdc_impl(x, y, None, k, sharded)
    return DensityCoverage(res["density"], res["coverage"])


def prdc(
    real: Any, fake: Any, *, k: int = 5, sharded: bool = False
) -> PrecisionRecallDensityCoverage:
    """Precision, recall, density and coverage with one ``k``.

    Precision, recall, density and coverage with one ``k`` (the ``prdc`` package's call);
    ``sharded`` as in :func:`precision_recall`.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(100, 4))
        >>> prdc(x, x).precision
        1.0
    """
    x, y = _prepare(real, fake, {"k": k}, sharded)
    res = _prdc_impl(x, y, k, k, sharded)
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
