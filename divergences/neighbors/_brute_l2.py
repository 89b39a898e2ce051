"""Exact brute-force nearest neighbours for p = 2: tiled matrix products, certified selection.

Scores ``||x_i||^2 + ||y_j||^2 - 2 x_i . y_j`` are computed tile by tile with one matrix
product (``addmm``/``baddbmm`` into a preallocated buffer) on data centred at the mean of y.
Such a score differs from the exact squared distance by at most ``tau_ij = c (||x_i||^2 +
||y_j||^2)`` with ``c = 1.25 (D + 16) u`` (``u`` the unit roundoff of the product: the dot
product bound ``gamma_D sum |x_k y_k|``, plus the rounding of the norms, of the sums and of the
centring). Per row we keep the best ``k + 1`` scores (k = 1: a running min and second min);
a row is *certified* when its (k+1)-th score exceeds its k-th by more than ``2 tau``: then the
selected k are the exact k nearest. Every other row (near-ties, duplicates, far-off data) is
re-solved exactly: all points whose score lies within ``2 tau`` of the k-th are candidates,
and candidates are ranked by float64 distances from the coordinates (ties by index).

Exact distances come from the coordinates ``x0``/``y0`` (the caller's) with each difference
divided by its max-abs, while the scores may use copies rescaled by a power of two; the
certification band has an absolute floor for products that underflow.

Memory: inputs, centred copies and one (B, tile_n, tile_m) score buffer.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from divergences.neighbors._exact import compute_dtype, pair_distances

# Score entries of one tile (rows x columns), 32 MiB in float32: fewer, larger tiles mean fewer
# multi-threaded launches and a slightly faster matrix product (RESULTS.md).
TILE_ELEMENTS = 1 << 23
TILE_COLUMNS = 4096
# Candidate pairs whose exact distance is computed at once in the fallback (pairs x D).
PAIR_ELEMENTS = 1 << 22
CAST_ELEMENTS = 1 << 17
INF = math.inf
# float64 inputs of at least this dimension are scored in float32 (crossover: RESULTS.md)
F32_SCORES_MIN_DIM = 3
# Groups of the index-free min passes (see _min2_grouped): 64 strided column groups per row,
# 32-row groups per column.
GROUPS = 64
GROUP_ROWS = 32


def unit_roundoff(dtype: torch.dtype, device: torch.device) -> float:
    """Unit roundoff of a matrix product in ``dtype`` under torch's precision flags.

    Unit roundoff of a matrix product in ``dtype`` under torch's current precision flags
    (tf32 or bf16 products on reduced precision settings widen the certification band).
    """
    if dtype == torch.float64:
        return 2.0**-53
    prec = torch.get_float32_matmul_precision()
    if prec == "medium":
        return 2.0**-8
    tf32 = device.type == "cuda" and bool(torch.backends.cuda.matmul.allow_tf32)
    if prec == "high" or tf32:
        return 2.0**-11
    return 2.0**-24


class _Prepared:
    """Everything the L2 engines precompute once per call.

    Centred copies in the compute dtype, squared norms (+inf at padding), norm maxima, and
    the tile sizes with their score buffer.
    """

    def __init__(self, x, y, x_len, y_len, x0=None, y0=None, tile=None):
        B, N, D = x.shape
        self.cdt = cdt = score_dtype(x.dtype, D)
        M = y.shape[1]
        dev = x.device
        self.B, self.N, self.M, self.dev = B, N, M, dev
        self.tn, self.tm = _tiles(N, M, B, tile)
        self.buf = _buffer(B, self.tn, self.tm, cdt, dev)
        mu = torch.stack([y[b, : y_len[b]].mean(0, dtype=torch.float64) for b in range(B)])
        # centre in the input's precision before any rounding to the score dtype, so that the
        # rounding error is relative to the centred coordinates the error bound uses
        mu = mu.unsqueeze(1).to(x.dtype)
        self.x = _centred(x.detach(), mu, cdt)
        self.y = self.x if y is x else _centred(y.detach(), mu, cdt)
        # exact distances come from these coordinates (the caller's, not the rescaled copies)
        self.x0 = x.detach() if x0 is None else x0
        self.y0 = y.detach() if y0 is None else y0
        self.xn = self.x.square().sum(-1)
        self.yn = self.xn if y is x else self.y.square().sum(-1)
        self.xpad = torch.arange(N, device=dev).view(1, N) >= torch.tensor(x_len, device=dev).view(
            B, 1
        )
        self.ypad = torch.arange(M, device=dev).view(1, M) >= torch.tensor(y_len, device=dev).view(
            B, 1
        )
        self.xn_max = self.xn.masked_fill(self.xpad, 0).amax(-1)  # (B,)
        self.yn_max = self.yn.masked_fill(self.ypad, 0).amax(-1)
        # padded points score +inf, so they are never selected and need no masking pass
        self.xn_inf = self.xn.masked_fill(self.xpad, INF)
        self.yn_inf = self.yn.masked_fill(self.ypad, INF)
        self.c = 1.25 * (D + 16) * unit_roundoff(cdt, dev)
        # absolute floor of the score error: products that underflow lose up to tiny each
        self.floor = 4.0 * (D + 2) * torch.finfo(cdt).tiny

    def side(self, forward: bool = True) -> _Side:
        """The query/reference view of one direction: x in y (forward) or y in x."""
        if forward:
            return _Side(
                self.x0, self.y0, self.x, self.xn, self.xpad, self.y, self.yn_inf, self.yn_max
            )
        return _Side(self.y0, self.x0, self.y, self.yn, self.ypad, self.x, self.xn_inf, self.xn_max)


def _centred(t: torch.Tensor, mu: torch.Tensor, cdt: torch.dtype) -> torch.Tensor:
    """``(t - mu)`` in ``cdt``, subtracted in ``t``'s dtype, row block by row block."""
    if t.dtype == cdt:
        return t - mu
    out = torch.empty(t.shape, dtype=cdt, device=t.device)
    if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64):
        # NumPy subtracts and rounds in one pass
        np.subtract(t.numpy(), mu.numpy(), out=out.numpy(), casting="same_kind")
        return out
    step = max(1, CAST_ELEMENTS // max(1, t.shape[0] * t.shape[2]))  # cache-sized blocks
    for i in range(0, t.shape[1], step):
        out[:, i : i + step].copy_(t[:, i : i + step] - mu)
    return out


class _Side(NamedTuple):
    """Queries and references of one direction, in the caller's and the centred coordinates."""

    q0: torch.Tensor
    r0: torch.Tensor
    qc: torch.Tensor
    qn: torch.Tensor
    qpad: torch.Tensor
    rc: torch.Tensor
    rn_inf: torch.Tensor
    rn_max: torch.Tensor


def score_dtype(dtype: torch.dtype, dim: int) -> torch.dtype:
    """The dtype of the scores (products): float32 unless float64 input of low dimension.

    Float64 inputs of dimension ``>= F32_SCORES_MIN_DIM`` are scored in float32 (twice the
    matrix-product rate) and certified with float32's bound; the distances stay float64.
    """
    if dtype == torch.float64:
        return torch.float64 if dim < F32_SCORES_MIN_DIM else torch.float32
    return compute_dtype(dtype)


def _tiles(n: int, m: int, batch: int, tile: int | None) -> tuple[int, int]:
    if tile is not None:
        return min(n, tile), min(m, tile)
    tm = min(m, TILE_COLUMNS)
    return max(1, min(n, TILE_ELEMENTS // max(1, batch * tm))), tm


def _scores(out, xb, yb, ynb, xnb=None):
    """``out[b] = ||y||^2 - 2 x y^T`` (+ ``||x||^2`` when given) for one tile, in place."""
    if xb.shape[0] == 1:
        torch.addmm(ynb[0], xb[0], yb[0].T, alpha=-2, out=out[0])
    else:
        torch.baddbmm(ynb.unsqueeze(1), xb, yb.transpose(1, 2), alpha=-2, out=out)
    if xnb is not None:
        out.add_(xnb.unsqueeze(-1))
    return out


def _buffer(B, tn, tm, cdt, dev):
    flat = torch.empty(B * tn * tm, dtype=cdt, device=dev)
    return lambda n, m: flat[: B * n * m].view(B, n, m)


def _min2(S, dim, off):
    """Min, its index (+ off) and the second min of ``S`` along ``dim``; S restored."""
    v, a = S.min(dim)
    a_ = a.unsqueeze(dim)
    S.scatter_(dim, a_, INF)
    v2 = S.amin(dim)
    S.scatter_(dim, a_, v.unsqueeze(dim))
    return v, a + off, v2


def _min2_grouped(S, dim, off):
    """As :func:`_min2`, with index-free ``amin`` passes.

    As :func:`_min2`, with index-free ``amin`` passes (much faster than ``min`` with indices,
    above all along dim -2): min of each group of entries, then min, argmin and second min
    inside the best group only; the second min overall is the smaller of the best group's
    second min and the second-best group min. Needs ``GROUPS`` | m (rows) or ``GROUP_ROWS`` | n
    (columns); other tiles use :func:`_min2`.
    """
    B, n, m = S.shape
    if dim == -1:
        if m % GROUPS:
            return _min2(S, dim, off)
        V = S.view(B, n, m // GROUPS, GROUPS)  # group q = columns q, q + GROUPS, ...
        gm = V.amin(2)  # (B, n, GROUPS)
        _, q = gm.min(-1)
        gm.scatter_(-1, q.unsqueeze(-1), INF)
        E = V.gather(3, q.view(B, n, 1, 1).expand(B, n, m // GROUPS, 1)).squeeze(3)
        v, t = E.min(-1)
        E.scatter_(-1, t.unsqueeze(-1), INF)
        return v, t * GROUPS + q + off, torch.minimum(E.amin(-1), gm.amin(-1))
    if n % GROUP_ROWS:
        return _min2(S, dim, off)
    V = S.view(B, n // GROUP_ROWS, GROUP_ROWS, m)  # group r = rows r*G .. r*G + G - 1
    gm = V.amin(2)  # (B, n // G, m)
    _, r = gm.min(1)
    gm.scatter_(1, r.unsqueeze(1), INF)
    E = V.gather(1, r.view(B, 1, 1, m).expand(B, 1, GROUP_ROWS, m)).squeeze(1)  # (B, G, m)
    v, t = E.min(1)
    E.scatter_(1, t.unsqueeze(1), INF)
    return v, r * GROUP_ROWS + t + off, torch.minimum(E.amin(1), gm.amin(1))


def _merge2(b1, i1, b2, v, a, v2):
    """Running (min, argmin, second min); earlier (smaller index) entries win ties."""
    better = v < b1
    b2 = torch.where(better, torch.minimum(b1, v2), torch.minimum(b2, v))
    return torch.where(better, v, b1), torch.where(better, a, i1), b2


def _exact_sq(q0, r0, qi, ri):
    """Float64 distances ``||q0[qi] - r0[ri]||`` for flat index pairs.

    Float64 distances ``||q0[qi] - r0[ri]||`` for flat index pairs, chunked (rows are
    gathered first, then converted: no float64 copy of a whole set), each difference scaled
    by its max-abs (exact at any magnitude; the ranking of squared distances is the same).
    """
    D = q0.shape[-1]
    step = max(1, CAST_ELEMENTS // D)  # cache-sized blocks: no page faults on fresh buffers
    n = ri.numel()

    def rows(s: int) -> torch.Tensor:  # qi None: the query rows in order, no gather
        return q0[s : s + step] if qi is None else q0.index_select(0, qi[s : s + step])

    out = [
        pair_distances(
            rows(s).double() - r0.index_select(0, ri[s : s + step]).double(),
            2.0,
        )
        for s in range(0, n, step)
    ]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64, device=q0.device)


def _fallback(qc, qn, rc, rn_inf, q0, r0, rows, thr, k, exclude_self, tile):
    """Exact k-NN of the query rows ``rows`` of one set from its candidates.

    Exact k-NN of the query rows ``rows`` of one set (2-D tensors): every reference whose
    score is ``<= thr`` is a candidate, ranked by float64 distance then index.

    Returns float64 distances and indices, each (len(rows), k), sorted.
    """
    R, M = rows.numel(), rc.shape[0]
    dev = qc.device
    tn, tm = _tiles(R, M, 1, tile)
    buf = _buffer(1, tn, tm, qc.dtype, dev)
    out_d = torch.empty(R, k, dtype=torch.float64, device=dev)
    out_i = torch.empty(R, k, dtype=torch.int64, device=dev)
    for s0 in range(0, R, tn):
        rr = rows[s0 : s0 + tn]
        n, t = rr.numel(), thr[s0 : s0 + tn].unsqueeze(1)
        best_d = torch.full((n, k), INF, dtype=torch.float64, device=dev)
        best_i = torch.full((n, k), -1, dtype=torch.int64, device=dev)
        xb = qc.index_select(0, rr).unsqueeze(0)
        xnb = qn.index_select(0, rr).unsqueeze(0)
        for j0 in range(0, M, tm):
            m = min(tm, M - j0)
            S = _scores(buf(n, m), xb, rc[None, j0 : j0 + m], rn_inf[None, j0 : j0 + m], xnb)[0]
            if exclude_self:
                hit = (rr >= j0) & (rr < j0 + m)
                S[hit.nonzero()[:, 0], rr[hit] - j0] = INF
            pr, pc = (S <= t).nonzero(as_tuple=True)
            if pr.numel() == 0:
                continue
            dense = torch.full((n, m), INF, dtype=torch.float64, device=dev)
            dense[pr, pc] = _exact_sq(q0, r0, rr[pr], pc + j0)
            cat_d = torch.cat([best_d, dense], 1)
            cat_i = torch.cat([best_i, torch.arange(j0, j0 + m, device=dev).expand(n, m)], 1)
            if k == 1:
                best_d, pos = cat_d.min(1, keepdim=True)  # first minimum: smaller index wins
            else:
                best_d, pos = torch.sort(cat_d, dim=1, stable=True)
                best_d, pos = best_d[:, :k], pos[:, :k]
            best_i = cat_i.gather(1, pos)
        out_d[s0 : s0 + n], out_i[s0 : s0 + n] = best_d, best_i
    return out_d, out_i


def _finish(P, side, idx, vk, vk1, k, excl, tile):
    """Certify rows of one direction; exact float64 distances, sorted, (B, N, k)."""
    q0, r0, qc, qn, qpad, rc, rn_inf, rn_max = side
    B = idx.shape[0]
    tau2 = 2 * P.c * (qn + rn_max.unsqueeze(1)) + P.floor
    ok = ((vk1 - vk) > tau2) | qpad
    d = _gather_sq(q0, r0, idx)
    if k > 1:
        o = torch.argsort(idx, dim=-1, stable=True)
        d, idx = d.gather(-1, o), idx.gather(-1, o)
        o = torch.argsort(d, dim=-1, stable=True)
        d, idx = d.gather(-1, o), idx.gather(-1, o)
    if not bool(ok.all()):
        for b in range(B):
            rows = (~ok[b]).nonzero()[:, 0]
            if rows.numel():
                thr = vk[b, rows] + tau2[b, rows]
                fd, fi = _fallback(
                    qc[b], qn[b], rc[b], rn_inf[b], q0[b], r0[b], rows, thr, k, excl, tile
                )
                d[b, rows], idx[b, rows] = fd, fi
    return d, idx.masked_fill(qpad.unsqueeze(-1), -1)


def _gather_sq(q0, r0, idx):
    B, M, D = r0.shape
    flat = idx.clamp_min(0) + M * torch.arange(B, device=idx.device).view(-1, 1, 1)
    qi = None  # k = 1: pair p is query row p
    if idx.shape[-1] > 1:
        qi = torch.arange(q0.shape[0] * q0.shape[1], device=idx.device).view(B, -1, 1)
        qi = qi.expand_as(idx).reshape(-1)
    sq = _exact_sq(q0.reshape(-1, D), r0.reshape(-1, D), qi, flat.reshape(-1))
    return sq.view(idx.shape)


def knn_l2(x, y, k, exclude_self, x_len, y_len, tile=None, x0=None, y0=None):
    """Exact k-NN (p = 2) of the rows of ``x`` (B, N, D) among ``y`` (B, M, D).

    ``x0``/``y0`` (default ``x``/``y``) are the coordinates that the exact distances are
    computed from; ``x``/``y`` may be copies rescaled by a power of two per set (the scores).

    Returns float64 distances and int64 indices (B, N, k), sorted by (distance, index);
    padded rows get ``+inf`` and ``-1``.
    """
    P = _Prepared(x, y, x_len, y_len, x0, y0, tile)
    B, N, M, dev, tn, tm, buf = P.B, P.N, P.M, P.dev, P.tn, P.tm, P.buf
    kk = k + 1
    vk = torch.empty(B, N, dtype=P.cdt, device=dev)
    vk1 = torch.empty_like(vk)
    idx = torch.empty(B, N, k, dtype=torch.int64, device=dev)
    for i0 in range(0, N, tn):
        n = min(tn, N - i0)
        xb = P.x[:, i0 : i0 + n]
        if k == 1:
            b1 = torch.full((B, n), INF, dtype=P.cdt, device=dev)
            b2, i1 = b1.clone(), torch.zeros(B, n, dtype=torch.int64, device=dev)
        else:
            bs = torch.full((B, n, kk), INF, dtype=P.cdt, device=dev)
            bi = torch.zeros(B, n, kk, dtype=torch.int64, device=dev)
        for j0 in range(0, M, tm):
            m = min(tm, M - j0)
            S = _scores(buf(n, m), xb, P.y[:, j0 : j0 + m], P.yn_inf[:, j0 : j0 + m])
            if exclude_self and i0 < j0 + m and j0 < i0 + n:
                torch.diagonal(S, offset=i0 - j0, dim1=1, dim2=2).fill_(INF)
            if k == 1:
                b1, i1, b2 = _merge2(b1, i1, b2, *_min2_grouped(S, -1, j0))
                continue
            if m > kk:
                s, pos = torch.topk(S, kk, dim=-1, largest=False, sorted=False)
            else:
                s, pos = S.clone(), torch.arange(m, device=dev).expand(B, n, m)
            bs, o = torch.topk(torch.cat([bs, s], -1), kk, dim=-1, largest=False, sorted=False)
            bi = torch.cat([bi, pos + j0], -1).gather(-1, o)
        if k == 1:
            vk[:, i0 : i0 + n], vk1[:, i0 : i0 + n], idx[:, i0 : i0 + n, 0] = b1, b2, i1
        else:
            bs, o = torch.sort(bs, -1)
            idx[:, i0 : i0 + n] = bi.gather(-1, o)[..., :k]
            vk[:, i0 : i0 + n], vk1[:, i0 : i0 + n] = bs[..., k - 1], bs[..., k]
    # the row constant ||x_i||^2 was left out of the scores: add it for the thresholds
    vk, vk1 = vk + P.xn, vk1 + P.xn
    return _finish(P, P.side(), idx, vk, vk1, k, exclude_self, tile)


def nearest_both_l2(x, y, x_len, y_len, tile=None, x0=None, y0=None):
    """Nearest neighbour in both directions from one pass over the score tiles (p = 2).

    Returns ``((dx, ix), (dy, iy))``: float64 distances and indices of shapes (B, N, 1) for
    x in y and (B, M, 1) for y in x, as :func:`knn_l2` would give for each direction
    (``x0``/``y0`` as there).
    """
    P = _Prepared(x, y, x_len, y_len, x0, y0, tile)
    B, N, M, dev, tn, tm, buf = P.B, P.N, P.M, P.dev, P.tn, P.tm, P.buf
    full = dict(dtype=P.cdt, device=dev)
    rv1, rv2 = torch.empty(B, N, **full), torch.empty(B, N, **full)
    ri = torch.empty(B, N, dtype=torch.int64, device=dev)
    cv1, cv2 = torch.full((B, M), INF, **full), torch.full((B, M), INF, **full)
    ci = torch.zeros(B, M, dtype=torch.int64, device=dev)
    for i0 in range(0, N, tn):
        n = min(tn, N - i0)
        xb, xnb = P.x[:, i0 : i0 + n], P.xn_inf[:, i0 : i0 + n]
        b1 = torch.full((B, n), INF, **full)
        b2, i1 = b1.clone(), torch.zeros(B, n, dtype=torch.int64, device=dev)
        for j0 in range(0, M, tm):
            m = min(tm, M - j0)
            S = _scores(buf(n, m), xb, P.y[:, j0 : j0 + m], P.yn_inf[:, j0 : j0 + m], xnb)
            b1, i1, b2 = _merge2(b1, i1, b2, *_min2_grouped(S, -1, j0))
            cs = slice(j0, j0 + m)
            cv1[:, cs], ci[:, cs], cv2[:, cs] = _merge2(
                cv1[:, cs], ci[:, cs], cv2[:, cs], *_min2_grouped(S, -2, i0)
            )
        rv1[:, i0 : i0 + n], rv2[:, i0 : i0 + n], ri[:, i0 : i0 + n] = b1, b2, i1
    fwd = _finish(P, P.side(True), ri.unsqueeze(-1), rv1, rv2, 1, False, tile)
    bwd = _finish(P, P.side(False), ci.unsqueeze(-1), cv1, cv2, 1, False, tile)
    return fwd, bwd
