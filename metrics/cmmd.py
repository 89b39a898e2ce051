r"""CMMD: the MMD of CLIP image embeddings with a Gaussian kernel (Jayasumana et al., CVPR 2024).

.. math:: \mathrm{CMMD} = 1000 \Big(\tfrac{1}{n^2}\sum_{i,j} k(x_i, x_j)
    + \tfrac{1}{m^2}\sum_{i,j} k(y_i, y_j) - \tfrac{2}{nm}\sum_{i,j} k(x_i, y_j)\Big),\quad
    k(x, y) = \exp\!\big(-\|x - y\|^2 / (2\sigma^2)\big),\ \sigma = 10,

on L2-normalised CLIP ViT-L/14@336 embeddings (``features="clip"``, :func:`metrics.clip_image`).
The reference code (google-research/google-research ``cmmd/distance.py``, ``mmd``) computes
this **biased** V-statistic (Gretton et al. 2012, Eq. 5: the means include the ``i = j``
terms); ``estimator="unbiased"`` gives the U-statistic, which leaves them out of the two
within-set sums (``1/(n(n-1)) Σ_{i≠j}``). Its embeddings are L2-normalised by the CLIP model
(scenic's ``normalize=True``), so ``normalize=True`` here.

The standard error is a delete-a-group jackknife (sample ``i`` in group ``i mod K`` on both
sides, as for FID in :mod:`metrics._jackknife`). All ``K²`` block sums of the three kernel
matrices are accumulated once, in float64 tiles of bounded size, so every leave-one-group-out
value costs ``O(K²)`` and the whole computation costs one MMD.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from divergences import Estimate
from divergences._validation import check_positive_int
from metrics._jackknife import _t_quantile
from metrics._types import feature_pair

__all__ = ["ESTIMATORS", "cmmd"]

ESTIMATORS = ("biased", "unbiased")
SIGMA = 10.0
SCALE = 1000.0


def _block_sums(a: torch.Tensor, b: torch.Tensor, ga: list, gb: list, gamma: float, tile: int,
                symmetric: bool) -> torch.Tensor:  # fmt: skip
    """``S[p, q] = Σ_{i ∈ ga[p], j ∈ gb[q]} exp(−γ ‖a_i − b_j‖²)`` (float64, tiles of ≤ tile²)."""
    k = len(ga)
    out = torch.zeros(len(ga), len(gb), dtype=torch.float64, device=a.device)
    na, nb = (a * a).sum(1), (b * b).sum(1)
    for p in range(k):
        for q in range(p if symmetric else 0, len(gb)):
            total = torch.zeros((), dtype=torch.float64, device=a.device)
            for i in range(0, len(ga[p]), tile):
                ia = ga[p][i : i + tile]
                for j in range(0, len(gb[q]), tile):
                    jb = gb[q][j : j + tile]
                    d2 = (na[ia, None] + nb[None, jb] - 2 * a[ia] @ b[jb].T).clamp_(min=0)
                    total += d2.mul_(-gamma).exp_().sum()
            out[p, q] = total
            if symmetric:
                out[q, p] = total
    return out


def _value(sxx, syy, sxy, n, m, unbiased: bool) -> Any:
    """MMD² from kernel sums (tensors or floats); the within-set diagonals are 1 each."""
    if unbiased:
        return (sxx - n) / (n * (n - 1)) + (syy - m) / (m * (m - 1)) - 2 * sxy / (n * m)
    return sxx / n**2 + syy / m**2 - 2 * sxy / (n * m)


def cmmd(
    real: Any,
    fake: Any,
    *,
    estimator: str = "biased",
    sigma: float = SIGMA,
    scale: float = SCALE,
    normalize: bool = True,
    groups: int = 10,
    confidence: float = 0.95,
    tile: int = 2048,
) -> Estimate:
    """CMMD between real and generated CLIP embeddings, with a jackknife standard error.

    Args:
        real: embeddings ``(N, D)`` (NumPy or torch; e.g. ``metrics.clip_image`` outputs).
        fake: embeddings ``(M, D)``.
        estimator: ``"biased"`` (the reference code's V-statistic, default) or ``"unbiased"``.
        sigma: the Gaussian kernel's bandwidth σ (the paper's 10).
        scale: the factor applied to the MMD² (the paper's 1000).
        normalize: divide each embedding by its L2 norm first (as the reference does).
        groups: jackknife groups K (at most ``N // 2`` and ``M // 2`` are used).
        confidence: level of the interval ``value ± t_{K−1} · stderr``.
        tile: rows per side of one kernel tile (memory ``tile² · 8`` bytes).

    Returns:
        An :class:`~divergences.Estimate` (``method="cmmd"``; Python floats) with ``details``
        ``{"estimator", "sigma", "scale", "groups", "normalize"}``.

    Raises:
        ValueError: fewer than 4 samples a side, different dimensions, non-finite values,
            a zero embedding with ``normalize``, or a bad option.

    References:
        Jayasumana et al., "Rethinking FID: Towards a Better Evaluation Metric for Image
        Generation", CVPR 2024; google-research/google-research ``cmmd/distance.py``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(40, 8)), rng.normal(size=(30, 8)) + 1
        >>> e = cmmd(x, y)
        >>> e.value > 3 * e.stderr, e.method
        (True, 'cmmd')
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    for name, v in (("sigma", sigma), ("scale", scale)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf:
            raise ValueError(f"{name} must be a positive finite number, got {v!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    groups, tile = check_positive_int(groups, "groups"), check_positive_int(tile, "tile")
    if groups < 2:
        raise ValueError(f"groups must be >= 2 (the jackknife needs two groups), got {groups}")
    x, y, _ = feature_pair(real, fake, min_samples=4, why=" for CMMD and its standard error")
    x, y = x.detach().double(), y.detach().double()
    if normalize:
        nx, ny = x.norm(dim=1, keepdim=True), y.norm(dim=1, keepdim=True)
        if bool((nx == 0).any()) or bool((ny == 0).any()):
            raise ValueError("cmmd: an embedding is all zeros and cannot be L2-normalised")
        x, y = x / nx, y / ny
    n, m = x.shape[0], y.shape[0]
    k = min(groups, n // 2, m // 2)
    gx = [torch.arange(g, n, k, device=x.device) for g in range(k)]
    gy = [torch.arange(g, m, k, device=y.device) for g in range(k)]
    gamma = 1.0 / (2.0 * float(sigma) ** 2)
    sxx = _block_sums(x, x, gx, gx, gamma, tile, True)
    syy = _block_sums(y, y, gy, gy, gamma, tile, True)
    sxy = _block_sums(x, y, gx, gy, gamma, tile, False)
    unbiased = estimator == "unbiased"
    value = float(_value(sxx.sum(), syy.sum(), sxy.sum(), n, m, unbiased)) * scale
    cx = torch.tensor([len(g) for g in gx], dtype=torch.float64, device=x.device)
    cy = torch.tensor([len(g) for g in gy], dtype=torch.float64, device=x.device)
    loo_xx = sxx.sum() - 2 * sxx.sum(1) + sxx.diagonal()
    loo_yy = syy.sum() - 2 * syy.sum(1) + syy.diagonal()
    loo_xy = sxy.sum() - sxy.sum(1) - sxy.sum(0) + sxy.diagonal()
    loo = _value(loo_xx, loo_yy, loo_xy, n - cx, m - cy, unbiased) * scale
    se = math.sqrt((k - 1) / k * float(((loo - loo.mean()) ** 2).sum()))
    half = _t_quantile(0.5 + confidence / 2, k - 1) * se
    details = {"estimator": estimator, "sigma": float(sigma), "scale": float(scale),
               "groups": k, "normalize": bool(normalize)}  # fmt: skip
    return Estimate(value, se, (value - half, value + half), n, m, "cmmd", details, "cmmd",
                    float(confidence))  # fmt: skip
