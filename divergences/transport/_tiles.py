"""Batched blocks of the entropic plan ``π_ij = exp(r_i + c_j − C_ij/ε)``, never all at once.

Private helpers of :mod:`divergences.transport`; inputs are validated there. Sets are batched,
``x (B, N, D)`` and ``y (B, M, D)``; padded or weightless points carry a row term ``r_i`` or a
column term ``c_j`` equal to :func:`neg` (they get no mass). Every routine visits the pairs by
blocks of at most ``tile²`` entries, so memory is O(tile² + N + M) for any N, M.

For ``p = 2`` a block of logits is one batched matrix product of augmented vectors,
``[2x_i/ε, 1, r_i − |x_i|²/ε] · [y_j, c_j − |y_j|²/ε, 1]`` (the expansion of the squared
distance; callers centre and rescale the data first, as for
:func:`~divergences._pairwise.sq_dists`).
Other powers use exact distances (``torch.cdist`` without the matrix-product shortcut).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

Tensor = torch.Tensor


def neg(dtype: torch.dtype) -> float:
    """A finite stand-in for ``log 0`` (no ``inf − inf`` in matrix products)."""
    return -0.125 * torch.finfo(dtype).max


# blocks of about a million entries stay in cache better than tile² (the memory bound) ones
BLOCK_MAX = 1 << 20


def block_shape(m: int, tile: int) -> tuple[int, int]:
    """``(rows, cols)`` of a block of at most ``min(tile², BLOCK_MAX)`` entries, whole rows."""
    budget = min(tile * tile, BLOCK_MAX)
    cols = min(m, budget)
    return max(1, budget // cols), cols


class Pairs:
    """The ground cost ``‖x_i − y_j‖^p`` between two batched sets, visited block by block."""

    def __init__(self, x: Tensor, y: Tensor, p: float, tile: int):
        self.x, self.y, self.p, self.tile = x, y, p, tile
        self.xx = (x * x).sum(-1) if p == 2 else None
        self.yy = (y * y).sum(-1) if p == 2 else None

    def transpose(self) -> Pairs:
        out = Pairs.__new__(Pairs)
        out.x, out.y, out.p, out.tile = self.y, self.x, self.p, self.tile
        out.xx, out.yy = self.yy, self.xx
        return out

    def cost(self, i0: int, i1: int, j0: int, j1: int) -> Tensor:
        """``(B, i1 − i0, j1 − j0)`` block of the cost."""
        xi, yj = self.x[:, i0:i1], self.y[:, j0:j1]
        if self.p == 2:
            assert self.xx is not None and self.yy is not None
            sq = torch.baddbmm(
                self.xx[:, i0:i1, None] + self.yy[:, None, j0:j1], xi, yj.transpose(1, 2), alpha=-2
            )
            return sq.clamp_min_(0.0)
        d = torch.cdist(xi, yj, compute_mode="donot_use_mm_for_euclid_dist")
        return d if self.p == 1 else d.pow_(self.p)

    def blocks(
        self, r: Tensor, c: Tensor, inv_eps: Tensor
    ) -> Iterator[tuple[int, int, int, int, Tensor]]:
        """Yield ``(i0, i1, j0, j1, L)`` with ``L = r_i + c_j − C_ij·inv_eps``.

        ``L`` lives in one buffer reused from block to block (no fresh pages for every block):
        use it, in place if you like, before asking for the next one.

        Args:
            r: ``(B, N)`` row terms.
            c: ``(B, M)`` column terms.
            inv_eps: ``(B,)`` inverse temperatures.
        """
        bsz, n, m = self.x.shape[0], self.x.shape[1], self.y.shape[1]
        rows, cols = block_shape(m, self.tile)
        ie = inv_eps.view(-1, 1)
        buf = torch.empty(bsz * min(rows, n) * cols, dtype=r.dtype, device=r.device)
        if self.p == 2:
            assert self.xx is not None and self.yy is not None
            ones_y = torch.ones_like(c).unsqueeze(-1)
            yt = torch.cat([self.y, (c - self.yy * ie).unsqueeze(-1), ones_y], -1)
            yt = yt.transpose(1, 2).contiguous()
            x2 = self.x * (2 * ie).unsqueeze(-1)
            rt = r - self.xx * ie
        for i0 in range(0, n, rows):
            i1 = min(n, i0 + rows)
            if self.p == 2:
                xt = torch.cat(
                    [x2[:, i0:i1], torch.ones_like(rt[:, i0:i1, None]), rt[:, i0:i1, None]], -1
                )
            for j0 in range(0, m, cols):
                j1 = min(m, j0 + cols)
                blk = buf[: bsz * (i1 - i0) * (j1 - j0)].view(bsz, i1 - i0, j1 - j0)
                if self.p == 2:
                    yt_j = yt if j1 - j0 == m else yt[:, :, j0:j1]
                    yield i0, i1, j0, j1, torch.bmm(xt, yt_j, out=blk)
                else:
                    blk.copy_(self.cost(i0, i1, j0, j1)).mul_(-ie.unsqueeze(-1))
                    blk += r[:, i0:i1, None]
                    blk += c[:, None, j0:j1]
                    yield i0, i1, j0, j1, blk


def floor(dtype: torch.dtype) -> float:
    """Exponents below this are raised to it before ``exp`` in sums: no subnormal results.

    Subnormal results make ``exp`` many times slower; ``e^floor`` is ``2^8`` times the smallest
    normal number, so a sum of ``M`` raised terms moves a sum of order 1 by ``M e^floor``.
    """
    return math.log(torch.finfo(dtype).tiny) + 8.0


def _lse_exact(pairs: Pairs, r: Tensor, c: Tensor, inv_eps: Tensor) -> Tensor:
    """``LSE_j (r_i + c_j − C_ij/ε)`` for every row: running max and rescaled sums."""
    b, n = r.shape
    lo = floor(r.dtype)
    top = torch.full((b, n), -math.inf, dtype=r.dtype, device=r.device)
    acc = torch.zeros_like(top)
    for i0, i1, _, _, blk in pairs.blocks(r, c, inv_eps):
        mx = blk.amax(-1)
        new = torch.maximum(top[:, i0:i1], mx)
        s = blk.sub_(new.unsqueeze(-1)).clamp_min_(lo).exp_().sum(-1)
        acc[:, i0:i1] = acc[:, i0:i1] * torch.exp(top[:, i0:i1] - new) + s
        top[:, i0:i1] = new
    return top + torch.log(acc)


def lse_rows(
    pairs: Pairs, r: Tensor, c: Tensor, inv_eps: Tensor, guess: Tensor | None = None
) -> Tensor:
    """``LSE_j (r_i + c_j − C_ij/ε)`` for every row ``i``, shape ``(B, N)``.

    With ``guess`` (an estimate of the result, e.g. from the previous Sinkhorn iterate) each
    block is shifted by it inside the matrix product and summed without a max pass; rows whose
    sum leaves a safe range (a poor guess) are recomputed with a running max.
    """
    if guess is None:
        return _lse_exact(pairs, r, c, inv_eps)
    m = pairs.y.shape[1]
    top = math.log(torch.finfo(r.dtype).max)
    lo, hi = m * math.exp(-0.35 * top), math.exp(0.7 * top)
    acc = torch.zeros_like(r)
    fl = floor(r.dtype)
    for i0, i1, _, _, blk in pairs.blocks(r - guess, c, inv_eps):
        acc[:, i0:i1] += blk.clamp_min_(fl).exp_().sum(-1)
    bad = ~((acc > lo) & (acc < hi))
    out = guess + torch.log(acc)
    if bool(bad.any()):
        rows = bad.any(0).nonzero().squeeze(1)
        sub = Pairs(pairs.x[:, rows], pairs.y, pairs.p, pairs.tile)
        redo = _lse_exact(sub, r[:, rows], c, inv_eps)
        out[:, rows] = torch.where(bad[:, rows], redo, out[:, rows])
    return out


def apply(pairs: Pairs, r: Tensor, c: Tensor, inv_eps: Tensor, v: Tensor) -> Tensor:
    """``Σ_j π_ij v_jk`` for ``v (B, M, K)``: the plan times a matrix, shape ``(B, N, K)``."""
    out = torch.zeros(*r.shape, v.shape[-1], dtype=v.dtype, device=v.device)
    for i0, i1, j0, j1, blk in pairs.blocks(r, c, inv_eps):
        out[:, i0:i1] += torch.bmm(blk.exp_().to(v.dtype), v[:, j0:j1])
    return out


def argmax_rows(pairs: Pairs, c: Tensor, inv_eps: Tensor) -> Tensor:
    """``argmax_j (c_j − C_ij/ε)`` for every row (the largest entry of each plan row)."""
    b, n = pairs.x.shape[:2]
    r = torch.zeros(b, n, dtype=c.dtype, device=c.device)
    best = torch.full((b, n), -math.inf, dtype=c.dtype, device=c.device)
    idx = torch.zeros(b, n, dtype=torch.int64, device=c.device)
    for i0, i1, j0, _, blk in pairs.blocks(r, c, inv_eps):
        val, arg = blk.max(-1)
        better = val > best[:, i0:i1]
        best[:, i0:i1] = torch.where(better, val, best[:, i0:i1])
        idx[:, i0:i1] = torch.where(better, arg + j0, idx[:, i0:i1])
    return idx


def cost_sum(pairs: Pairs, r: Tensor, c: Tensor, inv_eps: Tensor) -> Tensor:
    """``Σ_ij π_ij C_ij`` per item, float64 ``(B,)``: the transport part of the entropic cost."""
    total = torch.zeros(r.shape[0], dtype=torch.float64, device=r.device)
    for i0, i1, j0, j1, blk in pairs.blocks(r, c, inv_eps):
        total += (blk.exp_() * pairs.cost(i0, i1, j0, j1)).sum((1, 2), dtype=torch.float64)
    return total


def point_grads(pairs: Pairs, r: Tensor, c: Tensor, inv_eps: Tensor) -> tuple[Tensor, Tensor]:
    """``(Σ_j π_ij ∇_x C(x_i, y_j), Σ_i π_ij ∇_y C(x_i, y_j))``, ``(B, N, D)`` and ``(B, M, D)``.

    ``∇_x ‖x − y‖^p = p ‖x − y‖^(p−2) (x − y)`` (0 where ``x = y``), so with the weights
    ``W_ij = π_ij p ‖x_i − y_j‖^(p−2)`` the sums are ``x_i Σ_j W_ij − Σ_j W_ij y_j`` and
    ``y_j Σ_i W_ij − Σ_i W_ij x_i``: one pass over the blocks.
    """
    x, y = pairs.x, pairs.y
    w_rows = torch.zeros(x.shape[:2], dtype=x.dtype, device=x.device)
    w_cols = torch.zeros(y.shape[:2], dtype=y.dtype, device=y.device)
    wy = torch.zeros_like(x)
    wx = torch.zeros_like(y)
    for i0, i1, j0, j1, blk in pairs.blocks(r, c, inv_eps):
        w = blk.exp_()
        if pairs.p == 2:
            w.mul_(2.0)
        else:
            d = torch.cdist(x[:, i0:i1], y[:, j0:j1], compute_mode="donot_use_mm_for_euclid_dist")
            pos = d > 0
            w = torch.where(pos, w * pairs.p * torch.where(pos, d, 1.0).pow(pairs.p - 2), 0.0)
        w_rows[:, i0:i1] += w.sum(-1)
        w_cols[:, j0:j1] += w.sum(1)
        wy[:, i0:i1] += torch.bmm(w, y[:, j0:j1])
        wx[:, j0:j1] += torch.bmm(w.transpose(1, 2), x[:, i0:i1])
    return x * w_rows.unsqueeze(-1) - wy, y * w_cols.unsqueeze(-1) - wx
