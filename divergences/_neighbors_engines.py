"""Private engines behind :func:`divergences.neighbors.knn` (inputs are already validated).

All engines take batched inputs ``x`` (B, N, D), ``y`` (B, M, D) and per-set lengths
``x_len``/``y_len`` (B,) as Python ints. The kd-tree returns final ``(dist, idx)`` (cKDTree's
float64 distances are exact); the p != 2 brute force here (and the Triton kernel) return
candidate indices (B, N, kk) that :func:`rerank` ranks by exact distances. The certified
p = 2 brute force lives in :mod:`divergences._neighbors_brute`. :func:`finalize` turns exact
no-grad distances into the output (differentiable recomputation only when autograd needs it).
"""

from __future__ import annotations

import math

import numpy as np
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
    its max-abs first, so the result is exact at any magnitude (no power under/overflows).
    """
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


def _as_numpy64(t: torch.Tensor) -> np.ndarray:
    """A float64 NumPy view or copy (NumPy converts; no multi-threaded torch pass)."""
    t = t.detach()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t.cpu().numpy().astype(np.float64, copy=False)


def _order_ties(d: np.ndarray, i: np.ndarray) -> None:
    """In place: rows where equal distances are not listed by increasing index get sorted."""
    bad = ((d[:, 1:] == d[:, :-1]) & (i[:, 1:] < i[:, :-1])).any(1)
    if bad.any():
        r = np.flatnonzero(bad)
        o = np.lexsort((i[r], d[r]), axis=-1)
        d[r] = np.take_along_axis(d[r], o, 1)
        i[r] = np.take_along_axis(i[r], o, 1)


def kdtree(
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    p: float,
    exclude_self: bool,
    x_len: list[int],
    y_len: list[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """scipy cKDTree (all cores) on float64 copies, one tree per set.

    cKDTree's distances are exact float64 distances of the (float64-converted) coordinates
    while their squares stay in the normal range (the caller rescales the data and re-solves
    rows below :func:`resolution_floor`), so they are returned as they are (float32 for
    float32 inputs, float64 otherwise). Returns ``(dist, idx)``, each (B, N, k), sorted by
    (distance, index).
    """
    from scipy.spatial import cKDTree

    B, N, _ = x.shape
    out_dt = np.float32 if x.dtype == torch.float32 else np.float64
    dist = np.full((B, N, k), np.inf, dtype=out_dt)
    out = np.full((B, N, k), -1, dtype=np.int64)
    kq = k + 1 if exclude_self else k
    for b in range(B):
        xb = _as_numpy64(x[b, : x_len[b]])
        same = exclude_self or (y is x and y_len[b] == x_len[b])  # exclude_self: equal sets
        yb = xb if same else _as_numpy64(y[b, : y_len[b]])
        tree = cKDTree(yb, balanced_tree=False, compact_nodes=False)  # 2x faster build
        db, ib = tree.query(xb, k=kq, p=p, workers=-1)
        if kq == 1:
            db, ib = db[:, None], ib[:, None]
        ib = ib.astype(np.int64, copy=False)
        if exclude_self:
            # drop the index i itself (not merely a zero distance: duplicates are kept);
            # when i is not among the k + 1 found, every one of them is at least as close,
            # so drop the last
            rows = np.arange(ib.shape[0])
            is_self = ib == rows[:, None]
            drop = np.where(is_self.any(1), is_self.argmax(1), kq - 1)
            keep = np.ones_like(ib, dtype=bool)
            keep[rows, drop] = False
            ib = ib[keep].reshape(ib.shape[0], k)
            db = db[keep].reshape(ib.shape[0], k)
        if k > 1:
            _order_ties(db, ib)
        dist[b, : x_len[b]] = db
        out[b, : x_len[b]] = ib
    return torch.from_numpy(dist), torch.from_numpy(out)


def _centre(x: torch.Tensor, y: torch.Tensor, y_len: list[int], dtype: torch.dtype):
    """Shift both sets by the mean of the valid points of y (any common shift keeps the
    distances; this one keeps ``||x||`` and ``||y||`` at the scale of the spread)."""
    mu = torch.stack([y[b, : y_len[b]].mean(0, dtype=torch.float64) for b in range(y.shape[0])])
    mu = mu.unsqueeze(1).to(dtype)
    return x.to(dtype) - mu, y.to(dtype) - mu


def brute(
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    p: float,
    exclude_self: bool,
    x_len: list[int],
    y_len: list[int],
    tile: int | None = None,
) -> torch.Tensor:
    """Blocked brute force for p != 2 (p = 2 has the certified engine in ``_neighbors_brute``);
    returns candidate indices (B, N, kk) with kk = k + a few, to be re-ranked exactly.

    Each (B, tile_n, tile_m) tile is a ``torch.cdist`` (accurate to a few ulps: no
    cancellation), merged into a running top-kk per row.
    """
    B, N, _ = x.shape
    M = y.shape[1]
    cdt = compute_dtype(x.dtype)
    valid = min(y_len) - (1 if exclude_self else 0)
    kk = min(k + EXTRA_CANDIDATES, valid)
    elems = DEFAULT_TILE_ELEMENTS if tile is None else tile * tile
    tm = min(M, tile or 4096)
    tn = max(1, min(N, elems // max(1, B * tm)))
    x, y = _centre(x.detach(), y.detach(), y_len, cdt)
    ylen_t = torch.tensor(y_len, device=x.device).view(B, 1, 1)
    out = torch.full((B, N, kk), -1, dtype=torch.int64, device=x.device)
    for i0 in range(0, N, tn):
        xb = x[:, i0 : i0 + tn]
        n = xb.shape[1]
        best_s = torch.full((B, n, kk), math.inf, dtype=cdt, device=x.device)
        best_i = torch.full((B, n, kk), -1, dtype=torch.int64, device=x.device)
        for j0 in range(0, M, tm):
            m = min(tm, M - j0)
            s = torch.cdist(xb, y[:, j0 : j0 + m], p=p)
            cols = torch.arange(j0, j0 + m, device=x.device)
            if j0 + m > min(y_len):  # padded columns in this tile
                s = s.masked_fill(cols.view(1, 1, m) >= ylen_t, math.inf)
            if exclude_self and i0 < j0 + m and j0 < i0 + n:  # the diagonal crosses the tile
                rows = torch.arange(i0, i0 + n, device=x.device)
                s = s.masked_fill(rows.view(1, n, 1) == cols.view(1, 1, m), math.inf)
            if m > kk:
                s, pos = torch.topk(s, kk, dim=-1, largest=False, sorted=False)
                ci = cols[pos]
            else:
                ci = cols.expand(B, n, m)
            cand_s = torch.cat([best_s, s], dim=-1)
            cand_i = torch.cat([best_i, ci], dim=-1)
            best_s, pos = torch.topk(cand_s, kk, dim=-1, largest=False, sorted=False)
            best_i = cand_i.gather(-1, pos)
        out[:, i0 : i0 + n] = best_i
    return out


def resolution_floor(p: float, dtype: torch.dtype) -> float:
    """Smallest distance (data of max-abs ~1) whose sum of p-th powers a selection engine
    computing in ``dtype`` still resolves to full relative precision (16x margin)."""
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
    """Exact k-NN of the query rows ``q[rows]`` among all of ``r`` (2-D, valid rows only) by
    distances from the coordinates (:func:`pair_distances`, any magnitude), chunked; sorted by
    (distance, index). For rows a selection engine could not resolve."""
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
    """Exact no-grad distances → output: differentiable recomputation of the k kept when
    autograd needs it, x's dtype, ``+inf``/``-1`` at padded rows of x."""
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
