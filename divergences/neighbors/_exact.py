"""Exact distances and the steps shared by the nearest-neighbour engines.

Behind :func:`divergences.neighbors.engine.knn`; inputs are already validated. All engines take
batched inputs ``x`` (B, N, D), ``y`` (B, M, D) and per-set lengths ``x_len``/``y_len`` (B,) as
Python ints. The kd-tree returns final ``(dist, idx)`` (cKDTree's float64 distances are exact); the
p != 2 brute force (:mod:`divergences.neighbors._brute_lp`) and the Triton kernel return candidate
indices (B, N, kk) that :func:`rerank` ranks by exact distances. The certified p = 2 brute force
lives in :mod:`divergences.neighbors._brute_l2`. :func:`finalize` turns exact no-grad distances into
the output (differentiable recomputation only when autograd needs it).
"""

from __future__ import annotations

import math

import torch

# Extra candidates kept by the p != 2 tiled engine (torch.cdist tiles, a few ulps of error, no
# cancellation) beyond k, re-ranked by exact distances.
EXTRA_CANDIDATES = 4
# Number of score entries (rows x columns) of one tile: 2^22 floats = 16 MiB in float32.
DEFAULT_TILE_ELEMENTS = 1 << 22
# Rows per chunk of the exact recomputation, bounded so that chunk * kk * D stays small.
RECOMPUTE_ELEMENTS = 1 << 22


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype computes in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def pair_distances(diff: torch.Tensor, p: float, *, squared: bool = False) -> torch.Tensor:
    """``||diff||_p`` over the last axis, with a zero (sub)gradient at ``diff = 0``.

    The plain ``sqrt``/``pow`` formulas have an infinite or NaN derivative at 0; the double
    ``where`` keeps the forward value exact and the backward finite. Each row is divided by
    its max-abs first, so the result is exact at any magnitude (no power under/overflows);
    for p = 2 without a gradient, only the rows whose plain sum of squares is out of range.
    """
    if (
        p == 2.0
        and diff.dim() > 1
        and diff.numel()
        and not (diff.requires_grad and torch.is_grad_enabled())
    ):
        return _l2_fast(diff, squared)
    return _rescaled_norm(diff, p).square() if squared else _rescaled_norm(diff, p)


def _rescaled_norm(diff: torch.Tensor, p: float) -> torch.Tensor:
    a = diff.abs()
    if math.isinf(p):
        d = a.amax(-1)
    elif p == 1.0:
        d = a.sum(-1)
    else:
        # scale by the largest coordinate so |diff|^p neither overflows nor underflows
        m = a.amax(-1, keepdim=True)
        pos = m > 0
        safe_m = torch.where(pos, m, torch.ones_like(m))
        r = a / safe_m
        s = r.square().sum(-1) if p == 2.0 else r.pow(p).sum(-1)  # in [1, D] where m > 0
        pos = pos.squeeze(-1)
        s = torch.where(pos, s, torch.ones_like(s))
        root = s.sqrt() if p == 2.0 else s.pow(1.0 / p)
        d = torch.where(pos, safe_m.squeeze(-1) * root, a.new_zeros(()))
    return d


def _l2_fast(diff: torch.Tensor, squared: bool) -> torch.Tensor:
    """``||diff||_2`` by a plain sum of squares where that sum is in range, else rescaled.

    Where the sum lies in ``[2 tiny / eps, max]`` the squares that underflow add less
    than one rounding in total (for ``D < 2^24``), so it is as accurate as the rescaled formula.
    """
    d = torch.linalg.vector_norm(diff, dim=-1)
    fi = torch.finfo(diff.dtype)
    s = d.square()
    ok = (s >= fi.smallest_normal / fi.eps * 2.0) & (s <= fi.max)
    if not bool(ok.all()):
        bad = (~ok).nonzero(as_tuple=True)
        d[bad] = _rescaled_norm(diff[bad], 2.0)
    return d.square() if squared else d


def gather_rows(y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``y[b, idx[b, i, j]]`` for ``y`` (B, M, D), ``idx`` (B, n, kk) → (B, n, kk, D)."""
    B, M, D = y.shape
    flat = idx.clamp_min(0) + M * torch.arange(B, device=y.device).view(-1, 1, 1)
    return y.reshape(B * M, D).index_select(0, flat.reshape(-1)).view(*idx.shape, D)


def exact_distances(
    x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, p: float, dtype: torch.dtype
) -> torch.Tensor:
    """Distances ``||x[b, i] - y[b, idx[b, i, j]]||_p`` in ``dtype`` (B, N, kk), row-chunked."""
    B, N, kk = idx.shape
    D = x.shape[-1]
    step = max(1, RECOMPUTE_ELEMENTS // max(1, B * kk * D))
    out = []
    for i0 in range(0, N, step):
        xi = x[:, i0 : i0 + step].to(dtype).unsqueeze(2)
        yi = gather_rows(y, idx[:, i0 : i0 + step]).to(dtype)
        out.append(pair_distances(xi - yi, p))
    return torch.cat(out, dim=1)


def sort_candidates(
    dist: torch.Tensor, idx: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the k smallest by (distance, index): ties are broken by the smaller index."""
    o = torch.argsort(idx, dim=-1, stable=True)
    dist, idx = dist.gather(-1, o), idx.gather(-1, o)
    o = torch.argsort(dist, dim=-1, stable=True)[..., :k]
    return dist.gather(-1, o), idx.gather(-1, o)


def resolution_floor(p: float, dtype: torch.dtype) -> float:
    """Smallest distance a selection engine in ``dtype`` resolves fully.

    Smallest distance (data of max-abs ~1) whose sum of p-th powers a selection engine
    computing in ``dtype`` still resolves to full relative precision (16x margin).
    """
    f = torch.finfo(dtype)
    base = f.tiny / f.eps
    return 16.0 * (base if math.isinf(p) else base ** (1.0 / p))


def exact_rows(
    q: torch.Tensor,
    r: torch.Tensor,
    rows: torch.Tensor,
    k: int,
    p: float,
    exclude_self: bool,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k-NN of the query rows ``q[rows]`` among all of ``r``.

    Exact k-NN of the query rows ``q[rows]`` among all of ``r`` (2-D, valid rows only) by
    distances from the coordinates (:func:`pair_distances`, any magnitude), chunked; sorted by
    (distance, index). For rows a selection engine could not resolve.
    """
    R, (M, D) = rows.numel(), r.shape
    sm = max(1, min(M, RECOMPUTE_ELEMENTS // max(1, D)))
    rc = max(1, RECOMPUTE_ELEMENTS // (sm * D))
    out_d, out_i = [], []
    for i0 in range(0, R, rc):
        ri = rows[i0 : i0 + rc]
        qi = q.index_select(0, ri).to(dtype).unsqueeze(1)
        best_d = torch.full((ri.numel(), k), math.inf, dtype=dtype, device=q.device)
        best_i = torch.full((ri.numel(), k), -1, dtype=torch.int64, device=q.device)
        for j0 in range(0, M, sm):
            cols = torch.arange(j0, min(M, j0 + sm), device=q.device)
            dd = pair_distances(qi - r[j0 : j0 + sm].to(dtype).unsqueeze(0), p)
            if exclude_self:
                dd = dd.masked_fill(ri.view(-1, 1) == cols.view(1, -1), math.inf)
            best_d, best_i = sort_candidates(
                torch.cat([best_d, dd], 1), torch.cat([best_i, cols.expand_as(dd)], 1), k
            )
        out_d.append(best_d)
        out_i.append(best_i)
    return torch.cat(out_d), torch.cat(out_i)


def rerank(
    x: torch.Tensor, y: torch.Tensor, cand: torch.Tensor, k: int, p: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact distances of candidate indices (no grad), the k smallest by (distance, index)."""
    return sort_candidates(exact_distances(x, y, cand, p, compute_dtype(x.dtype)), cand, k)


def finalize(
    x: torch.Tensor,
    y: torch.Tensor,
    dist: torch.Tensor,
    idx: torch.Tensor,
    p: float,
    x_len: list[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact no-grad distances → output (autograd, dtype, padding).

    Exact no-grad distances → output: differentiable recomputation of the k kept when
    autograd needs it, x's dtype, ``+inf``/``-1`` at padded rows of x.
    """
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        cdt = compute_dtype(x.dtype)
        dist = pair_distances(x.to(cdt).unsqueeze(2) - gather_rows(y, idx).to(cdt), p)
    if dist.dtype != x.dtype:
        dist = dist.to(x.dtype)
    N = x.shape[1]
    if any(n < N for n in x_len):
        pad = torch.arange(N, device=x.device).view(1, N, 1) >= torch.tensor(
            x_len, device=x.device
        ).view(-1, 1, 1)
        dist = dist.masked_fill(pad, math.inf)
        idx = idx.masked_fill(pad, -1)
    return dist, idx
