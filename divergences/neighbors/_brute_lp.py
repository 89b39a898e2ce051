"""Blocked brute force for p != 2: ``torch.cdist`` tiles merged into a running top-k per row.

Behind :func:`divergences.neighbors.engine.knn`; the candidates it returns are re-ranked by
exact distances (:func:`divergences.neighbors._exact.rerank`). p = 2 has the certified engine
in :mod:`divergences.neighbors._brute_l2`.
"""

from __future__ import annotations

import math

import torch

from divergences.neighbors._exact import DEFAULT_TILE_ELEMENTS, EXTRA_CANDIDATES, compute_dtype


def _centre(x: torch.Tensor, y: torch.Tensor, y_len: list[int], dtype: torch.dtype):
    """Shift both sets by the mean of the valid points of y.

    Shift both sets by the mean of the valid points of y (any common shift keeps the
    distances; this one keeps ``||x||`` and ``||y||`` at the scale of the spread).
    """
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
    """Blocked brute force for p != 2: candidate indices to re-rank exactly.

    Blocked brute force for p != 2 (p = 2 has the certified engine in ``_neighbors_brute``);
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
                # stable: among tied scores the smaller index stays a candidate
                s, pos = torch.sort(s, dim=-1, stable=True)
                s, pos = s[..., :kk], pos[..., :kk]
                ci = cols[pos]
            else:
                ci = cols.expand(B, n, m)
            cand_s = torch.cat([best_s, s], dim=-1)
            cand_i = torch.cat([best_i, ci], dim=-1)
            best_s, pos = torch.sort(cand_s, dim=-1, stable=True)  # earlier tiles first
            best_s, pos = best_s[..., :kk], pos[..., :kk]
            best_i = cand_i.gather(-1, pos)
        out[:, i0 : i0 + n] = best_i
    return out
