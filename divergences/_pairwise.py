"""Blocked pairwise reductions: sums and log-sum-exps over all pairs without an N×M matrix.

Private helpers shared by :mod:`divergences.kernels` and :mod:`divergences.transport.wasserstein`.
They assume validated input: ``x`` of shape ``(N, D)`` and ``y`` of shape ``(M, D)``, same device
and dtype. Memory is O(tile²) in the forward pass, and also in the backward pass: when autograd is
recording, each tile is wrapped in :func:`torch.utils.checkpoint.checkpoint`, so its intermediates
are recomputed during backward instead of being kept for all N×M pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

from divergences._validation import max_abs, max_exponent, mul_pow2, pow2_exponent

Tensor = torch.Tensor
BlockFn = Callable[..., Tensor]

DEFAULT_TILE = 2048


def pooled_mean(x: Tensor, y: Tensor) -> Tensor:
    """Mean ``(D,)`` of the rows of ``x`` and ``y`` together, float64, without overflow."""
    z = torch.cat([x.detach(), y.detach()]).to(torch.float64)
    e = pow2_exponent(max_abs(z))
    return mul_pow2(mul_pow2(z, -e).mean(0), e)


def centred_unit(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, int]:
    """``((x − c) 2^-e, (y − c) 2^-e, e)``: centred on the pooled mean, then brought to unit scale.

    For a translation-invariant and scale-covariant quantity (distances, transport costs,
    shift-invariant kernels): centring first makes the power-of-two rescale follow the
    spread of the data, not its offset, so data far from the origin (a 1e300 offset with unit
    spread in another coordinate) keep their spread instead of underflowing to 0. The
    centre ``c`` is one constant for both sets (any constant is exact by invariance, so its
    own rounding does not matter; no gradient flows through it): the first point plus the
    pooled mean of the differences from it, so a coordinate where all points agree centres
    to exactly 0 (a float mean of equal values need not equal them). Each difference is
    rounded once. Inputs within a factor 4 of the dtype's maximum are halved first so that
    differences cannot overflow. Max-abs of the result is in [1/2, 1) (0 for identical points).
    """
    h = max(0, pow2_exponent(max_abs(x, y)) + 2 - max_exponent(x.dtype))
    xh, yh = mul_pow2(x, -h), mul_pow2(y, -h)
    xd, yd = xh.detach(), yh.detach()
    ref = xd[0] if xd.shape[0] else yd[0]
    c = (ref.to(torch.float64) + pooled_mean(xd - ref, yd - ref)).to(x.dtype)
    xc, yc = xh - c, yh - c
    e = pow2_exponent(max_abs(xc, yc))
    return mul_pow2(xc, -e), mul_pow2(yc, -e), e + h


def sq_dists(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distances ``(n, m)`` by the GEMM expansion, clamped at 0.

    ``‖x‖² + ‖y‖² − 2 x·y`` loses accuracy for near-duplicate points far from the origin;
    callers centre the data first (distances are translation invariant).
    """
    xx = (x * x).sum(-1, keepdim=True)
    yy = (y * y).sum(-1).unsqueeze(0)
    return torch.addmm(xx + yy, x, y.transpose(0, 1), alpha=-2.0).clamp_min_(0.0)


def _refine_small(sq: Tensor, x: Tensor, y: Tensor, xx: Tensor, yy: Tensor) -> Tensor:
    """Recompute exactly (by differences) the pairs where the expansion has cancelled.

    Where ``sq < 1e-2·(‖x‖² + ‖y‖²)`` the relative rounding error of the expansion exceeds
    about ``100·eps``; those pairs (near-duplicates) are recomputed from ``x_i − y_j``, in chunks
    of about 2²⁰ numbers so that the memory bound holds.
    """
    i, j = (sq < 1e-2 * (xx + yy)).nonzero(as_tuple=True)
    if i.numel() == 0:
        return sq
    step = max(1, (1 << 20) // x.shape[1])
    exact = torch.cat(
        [(x[i[k : k + step]] - y[j[k : k + step]]).pow(2).sum(-1) for k in range(0, len(i), step)]
    )
    return sq.index_put((i, j), exact)


def dists(x: Tensor, y: Tensor) -> Tensor:
    """Euclidean distances ``(n, m)``; near-duplicate pairs are recomputed from differences.

    The plain expansion would give ``‖x_i − y_j‖ ≈ sqrt(eps)·‖x‖`` instead of 0 for a duplicate;
    here such pairs are exact (to rounding of ``x_i − y_j``). Gradient 0 at coincident points.
    """
    xx = (x * x).sum(-1, keepdim=True)
    yy = (y * y).sum(-1).unsqueeze(0)
    sq = torch.addmm(xx + yy, x, y.transpose(0, 1), alpha=-2.0).clamp_min(0.0)
    return safe_sqrt(_refine_small(sq, x, y, xx, yy))


def row_norms(diff: Tensor) -> Tensor:
    """Euclidean norms over the last axis, exact at any magnitude.

    Euclidean norms over the last axis, exact at any magnitude: each row is divided by a
    power of two near its max-abs first (no square underflows or overflows); gradient 0 at 0.
    """
    m = diff.detach().abs().amax(-1, keepdim=True)
    ex = torch.frexp(m).exponent
    scale = torch.where(m > 0, torch.ldexp(torch.ones_like(m), ex), torch.ones_like(m))
    return safe_sqrt((diff / scale).square().sum(-1)) * scale.squeeze(-1)


def safe_sqrt(sq: Tensor) -> Tensor:
    """``sqrt`` with gradient 0 (not inf/NaN) where the argument is 0 (coincident points)."""
    pos = sq > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), 0.0)


def cost_matrix(x: Tensor, y: Tensor, p: float) -> Tensor:
    """Ground cost ``‖x_i − y_j‖₂^p`` for a block (``p = 2`` avoids the square root)."""
    if p == 2:
        return sq_dists(x, y)
    if p == 1:
        return dists(x, y)
    return dists(x, y) ** p


Rows = Tensor | tuple[Tensor, ...]


def _grad_needed(*ts: Rows) -> bool:
    flat = [u for t in ts for u in (t if isinstance(t, tuple) else (t,))]
    return torch.is_grad_enabled() and any(u.requires_grad for u in flat)


def _rows(t: Rows, start: int, stop: int) -> Rows:
    if isinstance(t, tuple):
        return tuple(u[start:stop] for u in t)
    return t[start:stop]


def _block_sum(fn: BlockFn, xi: Rows, yj: Rows) -> Tensor:
    return fn(xi, yj).sum(dtype=torch.float64)


def _block_sum_offdiag(fn: BlockFn, xi: Rows) -> Tensor:
    blk = fn(xi, xi)
    return blk.sum(dtype=torch.float64) - blk.diagonal().sum(dtype=torch.float64)


def pairwise_sum(x: Rows, y: Rows | None, fn: BlockFn, *, tile: int = DEFAULT_TILE) -> Tensor:
    """Float64 ``Σ_ij fn(x, y)_ij`` tile by tile; ``y=None`` means ``Σ_{i≠j} fn(x, x)_ij``.

    ``x`` (and ``y``) may be a tuple of tensors sharing their first (row) dimension, e.g. points
    and per-point scalars; ``fn`` then receives tuples of row slices. With ``y=None``, ``fn``
    must be symmetric (``fn(a, b) = fn(b, a)ᵀ``): only tiles on and above the diagonal are
    evaluated, off-diagonal tiles count twice, and the diagonal of the diagonal tiles is left
    out (callers add the exact diagonal themselves when they need it).
    """
    grad = _grad_needed(x) if y is None else _grad_needed(x, y)

    def run(f, *args):
        if grad:
            return checkpoint(f, fn, *args, use_reentrant=False)
        return f(fn, *args)

    first = x[0] if isinstance(x, tuple) else x
    total = torch.zeros((), dtype=torch.float64, device=first.device)
    n = first.shape[0]
    if y is None:
        for i in range(0, n, tile):
            xi = _rows(x, i, i + tile)
            total = total + run(_block_sum_offdiag, xi)
            for j in range(i + tile, n, tile):
                total = total + 2.0 * run(_block_sum, xi, _rows(x, j, j + tile))
        return total
    m = (y[0] if isinstance(y, tuple) else y).shape[0]
    for i in range(0, n, tile):
        xi = _rows(x, i, i + tile)
        for j in range(0, m, tile):
            total = total + run(_block_sum, xi, _rows(y, j, j + tile))
    return total


def _lse_rows(h: Tensor, x: Tensor, y: Tensor, p: float, eps: float) -> Tensor:
    return torch.logsumexp(h.unsqueeze(0) - cost_matrix(x, y, p) / eps, dim=1)


def softmin(h: Tensor, x: Tensor, y: Tensor, p: float, eps: float, *, tile: int) -> Tensor:
    """Soft c-transform ``f_i = −ε log Σ_j exp(h_j − ‖x_i − y_j‖^p / ε)``, tile by tile.

    Args:
        h: ``(M,)`` log-weights plus scaled potential, ``log b_j + g_j / ε``.
        x: ``(N, D)`` points.
        y: ``(M, D)`` points.
        p: power of the ground cost ``‖x_i − y_j‖^p``.
        eps: entropic regularisation ``ε > 0``.
        tile: rows and columns per block of the cost matrix.

    Returns:
        ``(N,)`` in ``h``'s dtype. The log-sum-exp over ``j`` is merged across column tiles with
        ``logaddexp``, so no more than a ``tile × tile`` block of the cost exists at any time.
    """
    grad = _grad_needed(h, x, y)
    rows = []
    for i in range(0, x.shape[0], tile):
        xi = x[i : i + tile]
        acc: Tensor | None = None
        for j in range(0, y.shape[0], tile):
            args = (h[j : j + tile], xi, y[j : j + tile], p, eps)
            part = checkpoint(_lse_rows, *args, use_reentrant=False) if grad else _lse_rows(*args)
            acc = part if acc is None else torch.logaddexp(acc, part)
        rows.append(acc)
    return -eps * torch.cat([r for r in rows if r is not None])
