"""Fused tiled k-NN candidate search in Triton (p = 2); never writes the N×M distance matrix.

One program handles BLOCK_N rows of x of one set b. It streams y in BLOCK_M-column tiles,
scores each tile in registers and merges it into a running, unsorted top-KK list per row
(best scores and indices, held in registers), then writes only (BLOCK_N, KK) candidates.

* D <= SMALL_D: the score is the exact squared distance sum_d (x_d - y_d)^2 (no cancellation),
  so KK = k candidates suffice.
* larger D: the score is ||y_j||^2 - 2 x_i . y_j from ``tl.dot`` on data centred at the mean of
  y; KK = k + a few candidates (tf32 dots for D >= TF32_MIN_DIM with a certificate: rows whose
  ranking the tf32 error bound cannot certify are searched again in full fp32).

The public engine then recomputes the candidates' distances exactly and re-ranks them.
Imported lazily, only when CUDA is present (or under ``TRITON_INTERPRET=1`` in tests).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

# triton is imported on first use only (see _kernel), so that importing this module (doctest
# collection, CPU-only installs) never imports it; the kernel body reads these globals.
triton: Any = None
tl: Any = None

SMALL_D = 8
EXTRA = 4
TF32_MIN_DIM = 64


def _knn_tile_kernel(
    X, Y, YN, XLEN, YLEN, OUT_S, OUT_I,
    N, M, D,
    sxb, sxn, sxd, syb, sym, syd, sob, son,
    KK: tl.constexpr, KPAD: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr,
    DIRECT: tl.constexpr, EXCLUDE_SELF: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    b = tl.program_id(1)
    rows = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    kcol = tl.arange(0, KPAD)
    xlen = tl.load(XLEN + b)
    ylen = tl.load(YLEN + b)
    row_ok = rows < xlen
    xb = X + b * sxb
    yb = Y + b * syb
    # running top-KK per row: +inf slots to fill, -inf in the padding slots (never replaced)
    best_s = tl.where(kcol[None, :] < KK, float("inf"), float("-inf")) + tl.zeros(
        (BLOCK_N, KPAD), dtype=tl.float32
    )
    best_i = tl.zeros((BLOCK_N, KPAD), dtype=tl.int64) - 1
    for j0 in range(0, ylen, BLOCK_M):
        cols = j0 + tl.arange(0, BLOCK_M)
        col_ok = cols < ylen
        acc = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
        if DIRECT:
            for d in range(0, D):
                xd = tl.load(xb + rows * sxn + d * sxd, mask=row_ok, other=0.0).to(tl.float32)
                yd = tl.load(yb + cols * sym + d * syd, mask=col_ok, other=0.0).to(tl.float32)
                diff = xd[:, None] - yd[None, :]
                acc += diff * diff
            s = acc
        else:
            for d0 in range(0, D, BLOCK_D):
                dd = d0 + tl.arange(0, BLOCK_D)
                xt = tl.load(
                    xb + rows[:, None] * sxn + dd[None, :] * sxd,
                    mask=row_ok[:, None] & (dd[None, :] < D),
                    other=0.0,
                )
                yt = tl.load(
                    yb + cols[None, :] * sym + dd[:, None] * syd,
                    mask=col_ok[None, :] & (dd[:, None] < D),
                    other=0.0,
                )
                acc = tl.dot(xt, yt, acc, input_precision=PRECISION)
            yn = tl.load(YN + b * M + cols, mask=col_ok, other=0.0)
            s = yn[None, :] - 2.0 * acc
        s = tl.where(col_ok[None, :], s, float("inf"))
        if EXCLUDE_SELF:
            s = tl.where(rows[:, None] == cols[None, :], float("inf"), s)
        # insert the tile's best entries while some row still improves (at most KK passes)
        it = 0
        go = 1
        while go > 0:
            tmin = tl.min(s, axis=1)
            targ = tl.argmin(s, axis=1)
            worst = tl.max(best_s, axis=1)
            wpos = tl.argmax(best_s, axis=1)
            upd = tmin < worst
            hit = upd[:, None] & (kcol[None, :] == wpos[:, None])
            best_s = tl.where(hit, tmin[:, None], best_s)
            best_i = tl.where(hit, (j0 + targ)[:, None].to(tl.int64), best_i)
            s = tl.where(tl.arange(0, BLOCK_M)[None, :] == targ[:, None], float("inf"), s)
            it += 1
            go = tl.max(upd.to(tl.int32), axis=0) * (it < KK)
    out = b * sob + rows[:, None] * son + kcol[None, :]
    omask = row_ok[:, None] & (kcol[None, :] < KK)
    tl.store(OUT_S + out, best_s, mask=omask)
    tl.store(OUT_I + out, best_i, mask=omask)


@functools.lru_cache(maxsize=1)
def _kernel():
    """Import triton and JIT-wrap the kernel (honours TRITON_INTERPRET at that moment)."""
    global triton, tl
    try:
        import triton
        import triton.language as tl
    except ImportError as exc:
        raise RuntimeError(
            "engine='triton' needs the triton package (it ships with CUDA builds of torch)"
        ) from exc
    return triton.jit(_knn_tile_kernel)


def _launch(x, y, yn, xlen, ylen, kk, exclude_self, precision):
    kernel = _kernel()
    B, N, D = x.shape
    M = y.shape[1]
    direct = D <= SMALL_D
    kpad = max(2, triton.next_power_of_2(kk))
    out_s = torch.full((B, N, kpad), math.inf, dtype=torch.float32, device=x.device)
    out_i = torch.full((B, N, kpad), -1, dtype=torch.int64, device=x.device)
    block_n, block_m, block_d = 64, 64, 32
    grid = (triton.cdiv(N, block_n), B)
    kernel[grid](
        x, y, yn, xlen, ylen, out_s, out_i,
        N, M, D,
        x.stride(0), x.stride(1), x.stride(2), y.stride(0), y.stride(1), y.stride(2),
        out_s.stride(0), out_s.stride(1),
        KK=kk, KPAD=kpad, BLOCK_N=block_n, BLOCK_M=block_m, BLOCK_D=block_d,
        DIRECT=direct, EXCLUDE_SELF=exclude_self, PRECISION=precision,
    )  # fmt: skip
    return out_s[..., :kk], out_i[..., :kk]


def triton_knn_candidates(
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    exclude_self: bool,
    x_len: list[int],
    y_len: list[int],
    *,
    allow_tf32: bool = True,
) -> torch.Tensor:
    """Candidate indices (B, N, KK) of the k nearest rows of y (p = 2), ``-1`` for padding."""
    B, _, D = x.shape
    dev = x.device
    valid = min(y_len) - (1 if exclude_self else 0)
    direct = D <= SMALL_D
    kk = k if direct else min(k + EXTRA, valid)
    mu = torch.stack([y[b, : y_len[b]].mean(0, dtype=torch.float64) for b in range(B)])
    mu = mu.unsqueeze(1).float()
    xc = (x.float() - mu).contiguous()
    yc = (y.float() - mu).contiguous()
    yn = yc.square().sum(-1).contiguous()
    xlen = torch.tensor(x_len, dtype=torch.int32, device=dev)
    ylen = torch.tensor(y_len, dtype=torch.int32, device=dev)
    use_tf32 = allow_tf32 and not direct and D >= TF32_MIN_DIM
    s, idx = _launch(xc, yc, yn, xlen, ylen, kk, exclude_self, "tf32" if use_tf32 else "ieee")
    if use_tf32:
        idx = _certify_or_redo(xc, yc, yn, xlen, ylen, s, idx, k, exclude_self, x_len)
    return idx


def _certify_or_redo(xc, yc, yn, xlen, ylen, s, idx, k, exclude_self, x_len):
    """Re-search in fp32 the rows whose tf32 ranking is not certified.

    tf32 rounds each factor to 11 significant bits, so |error of x.y| <= (2^-10 + D 2^-23)
    ||x|| ||y|| (plus fp32 accumulation). A point outside the KK candidates has a true score
    >= (KK-th approximate score) - 2 err; if that is above the exact k-th score of the
    candidates, the k nearest are among them.
    """
    B, N, D = xc.shape
    kk = idx.shape[-1]
    if kk == k and kk == min(int(ylen.min()), yc.shape[1]) - int(exclude_self):
        return idx  # every valid point is a candidate
    b = torch.arange(B, device=xc.device).view(-1, 1, 1)
    yg = yc[b, idx.clamp_min(0)]
    exact = yn[b, idx.clamp_min(0)] - 2.0 * (xc.unsqueeze(2).double() * yg.double()).sum(-1)
    kth = exact.sort(-1).values[..., k - 1]
    ymax = yn.clamp_min(0).sqrt().amax(-1).view(B, 1).double()
    err = 2.0 * (2.0**-10 + D * 2.0**-23) * xc.double().norm(dim=-1) * ymax + 1e-6 * ymax**2
    ok = s.double().amax(-1) - 2.0 * err >= kth
    ok |= torch.arange(N, device=xc.device).view(1, N) >= xlen.view(B, 1)
    if bool(ok.all()):
        return idx
    _, redo = _launch(xc, yc, yn, xlen, ylen, kk, exclude_self, "ieee")
    return torch.where(ok.unsqueeze(-1), idx, redo)
