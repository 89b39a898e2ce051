"""Kernel collections of the MMD tests: one kernel, MMDAgg's and MMD-FUSE's (private).

Each collection is a block function ``(rows, w) -> (k, len(rows), N)`` of kernel values
on the pooled sample (float64, centred and rescaled by a power of two by the caller), and a
description of each kernel for the test's ``details``.

* ``"mmd"``: the kernels of :func:`divergences.mmd2` with the same conventions (gaussian
  ``exp(−‖·‖₂²/(2σ²))`` summed over bandwidths, laplace ``exp(−‖·‖₂/σ)``, polynomial,
  energy ``−‖·‖₂``) and the median heuristic.
* MMDAgg (Schrab et al., JMLR 2023, the ``mmdagg`` package's default collection): laplace
  ``exp(−‖·‖₁/λ)`` and gaussian ``exp(−‖·‖₂²/λ²)``, each with ``L`` bandwidths in geometric
  progression from ``λ_min/2`` to ``2 λ_max`` of the pooled distances (``λ_min`` the smallest
  distance, or the 5 % quantile floored at 0.1 when the smallest is below 0.1; ``λ_max``
  floored at 0.3), weights ``uniform``/``decreasing``/``increasing``/``centred`` split
  evenly between the two kernels.
* MMD-FUSE (Biggs, Schrab & Gretton, NeurIPS 2023, the ``mmdfuse`` package's default):
  laplace ``exp(−√2‖·‖₁/λ)`` and gaussian ``exp(−‖·‖₂²/(2λ²))`` with ``L`` bandwidths
  evenly spaced from half the 5 % quantile to twice the 95 % quantile of the pooled distances
  (zero distances replaced by the median).

The distances of the collections are those between distinct points of the pooled sample
(its first 1000 points when larger: a function of the shuffled pooled sample, so the test
stays exact); the packages use the cross distances of the first 500 points of each sample.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from divergences._pairwise import dists, sq_dists
from divergences.kernels import _median_pairwise

Tensor = torch.Tensor

__all__ = ["WEIGHTS", "agg_collection", "fuse_collection", "mmd_kernel", "weights"]

WEIGHTS = ("uniform", "decreasing", "increasing", "centred")
_MAX_BANDWIDTH_POINTS = 1000


def mmd_kernel(kernel: str, bw: Tensor | None, poly: tuple[int, float, float] | None):
    """Block function of one kernel of :func:`divergences.mmd2` (bandwidths already rescaled)."""

    def block(a: Tensor, w: Tensor) -> Tensor:
        if kernel == "energy":
            return -dists(a, w).unsqueeze(0)
        if kernel == "polynomial":
            assert poly is not None
            degree, gamma, coef0 = poly
            return ((gamma * (a @ w.T) + coef0) ** degree).unsqueeze(0)
        assert bw is not None
        if kernel == "gaussian":
            sq = sq_dists(a, w).unsqueeze(-1)
            return torch.exp(-sq / (2.0 * bw * bw)).sum(-1).unsqueeze(0)
        d = dists(a, w).unsqueeze(-1)
        return torch.exp(-d / bw).sum(-1).unsqueeze(0)

    return block


def median_bandwidth(w: Tensor) -> Tensor:
    """Median heuristic on the pooled sample (all of it up to 2000 points, as ``mmd2``)."""
    return _median_pairwise(w, 2000, torch.Generator().manual_seed(0))


def _pair_distances(w: Tensor, p: float) -> Tensor:
    z = w[:_MAX_BANDWIDTH_POINTS]
    return torch.pdist(z, p=p)


def weights(kind: str, count: int) -> Tensor:
    """MMDAgg's weights over ``count`` bandwidths (Schrab et al. 2023, Section 5.1)."""
    i = torch.arange(1, count + 1, dtype=torch.float64)
    if kind == "uniform":
        raw = torch.ones(count, dtype=torch.float64)
    elif kind == "decreasing":
        raw = 1.0 / i
    elif kind == "increasing":
        raw = 1.0 / (count + 1 - i)
    else:  # centred
        raw = 1.0 / ((count + 1) / 2 - i).abs().add(1.0 if count % 2 else 0.5)
    return raw / raw.sum()


def _agg_bandwidths(d: Tensor, count: int, unit: float) -> Tensor:
    """MMDAgg's geometric grid; the floors 0.1 and 0.3 are in the caller's units (``unit``)."""
    lo_floor, hi_floor = 0.1 * unit, 0.3 * unit
    if float(d.min()) < lo_floor:
        ds = torch.sort(d).values
        lam_min = max(float(ds[math.floor(ds.numel() * 0.05)]), lo_floor)
    else:
        lam_min = float(d.min())
    lam_min /= 2.0
    lam_max = 2.0 * max(float(d.max()), hi_floor)
    ratio = (lam_max / lam_min) ** (1.0 / (count - 1))
    return torch.tensor([lam_min * ratio**r for r in range(count)], dtype=torch.float64)


def _fuse_bandwidths(d: Tensor, count: int) -> Tensor:
    med = torch.median(d)
    ds = torch.sort(torch.where(d == 0, med, d)).values
    lo = float(ds[math.floor(ds.numel() * 0.05)]) / 2.0
    hi = float(ds[math.floor(ds.numel() * 0.95)]) * 2.0
    return torch.linspace(lo, hi, count, dtype=torch.float64)


def _collection(spec: list[tuple[str, Tensor]], gauss_div: float, lap_mul: float):
    """Block function over [(kind, bandwidths)], kind ``"laplace"`` (ℓ1) or ``"gaussian"``."""
    count = sum(bws.numel() for _, bws in spec)

    def block(a: Tensor, w: Tensor) -> Tensor:
        out = torch.empty(count, a.shape[0], w.shape[0], dtype=a.dtype, device=a.device)
        j = 0
        for kind, bws in spec:
            if kind == "laplace":
                d, scale = torch.cdist(a, w, p=1.0), lap_mul / bws
            else:
                d, scale = sq_dists(a, w), 1.0 / (gauss_div * bws**2)
            for sc in scale.tolist():  # one exp per kernel into its slice: no stacked copies
                torch.mul(d, -sc, out=out[j]).exp_()
                j += 1
        return out

    return block


def _kinds(kernel: str) -> list[str]:
    if kernel == "laplace_gaussian":
        return ["laplace", "gaussian"]
    return [kernel]


def agg_collection(
    w: Tensor, *, kernel: str, count: int, weight_kind: str, unit: float
) -> tuple[Any, Tensor, list[dict[str, Any]]]:
    """MMDAgg's kernels on ``w``: block function, weights ``(k,)`` and their descriptions.

    ``unit`` is the factor from the caller's units to ``w``'s (the floors of the grid).
    """
    spec, desc = [], []
    for kind in _kinds(kernel):
        d = _pair_distances(w, 1.0 if kind == "laplace" else 2.0)
        bws = _agg_bandwidths(d, count, unit)
        spec.append((kind, bws))
        desc += [{"kernel": kind, "bandwidth": float(b) / unit} for b in bws]
    wts = weights(weight_kind, count).repeat(len(spec)) / len(spec)
    return _collection(spec, 1.0, 1.0), wts, desc


def fuse_collection(
    w: Tensor, *, kernel: str, count: int, unit: float
) -> tuple[Any, list[dict[str, Any]]]:
    """MMD-FUSE's kernels on ``w``: block function and descriptions."""
    spec, desc = [], []
    for kind in _kinds(kernel):
        d = _pair_distances(w, 1.0 if kind == "laplace" else 2.0)
        bws = _fuse_bandwidths(d, count)
        spec.append((kind, bws))
        desc += [{"kernel": kind, "bandwidth": float(b) / unit} for b in bws]
    return _collection(spec, 2.0, math.sqrt(2.0)), desc
