"""MMD² of every relabelling from one pass over the pooled kernel matrix (private).

For a labelling ``a ∈ {0, 1}^N`` (1 for the first sample, ``n`` ones) and a kernel matrix
``K`` with zero diagonal, every MMD² is a function of

    ``aᵀKa`` (within the first sample), ``aᵀr`` with ``r = K1``, ``1ᵀK1`` and ``aᵀdiag``,

so a batch of relabellings is one matrix product ``K A`` with the ``(N, C)`` indicator matrix
``A`` (Schrab et al. 2023, Appendix C): the kernel values are computed once, permutations
only re-sum them. Memory: the ``(k, N, N)`` stack of kernel matrices is kept while it has at
most :data:`BUDGET` entries (``N <= 5792`` for one kernel, 256 MiB in float64); beyond, the
rows are computed in tiles and each tile is used for as many relabellings as fit in the
budget at once (tiles are recomputed only when the relabellings take several passes).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Tensor = torch.Tensor
BlockFn = Callable[[Tensor, Tensor], Tensor]

__all__ = ["BUDGET", "mmd_table", "tie_tolerance"]

BUDGET = 1 << 25


def _absmax(t: Tensor) -> float:
    lo, hi = torch.aminmax(t)
    return max(-float(lo), float(hi))


def _chunks(count: int, size: int):
    for i in range(0, count, size):
        yield i, min(count, i + size)


def mmd_table(
    w: Tensor,
    labels: Tensor,
    block_fn: BlockFn,
    n_kernels: int,
    *,
    unbiased: bool,
    frobenius: bool = False,
    pairs: bool = False,
    budget: int = BUDGET,
    tile: int = 1024,
) -> tuple[Tensor, Tensor, float]:
    """MMD² of each kernel for each labelling, float64.

    Args:
        w: ``(N, D)`` pooled sample (float64).
        labels: ``(C, N)`` bool, each row with the same number ``n`` of True (first sample).
        block_fn: ``block_fn(rows, w) -> (n_kernels, len(rows), N)`` kernel values.
        n_kernels: number of kernels stacked by ``block_fn``.
        unbiased: U-statistic (diagonal left out) or V-statistic.
        frobenius: also return ``sqrt(Σ_{i≠j} K_ij²)`` per kernel (for MMD-FUSE).
        pairs: the wild scheme's layout (rows ``i`` and ``n + i`` form pair ``i``, every
            labelling takes one of each pair): see :func:`_pair_table`.
        budget: entries of float64 kept at once (kernel stack, products).
        tile: rows of a kernel tile in the tiled regime.

    Returns:
        ``(table (n_kernels, C), frob (n_kernels,) or empty, kmax)`` with ``kmax`` the largest
        ``|K_ij|`` (for the rounding tolerance of ties).
    """
    if pairs:
        return _pair_table(w, labels, block_fn, n_kernels, unbiased=unbiased,
                           frobenius=frobenius, budget=budget, tile=tile)  # fmt: skip
    N, C = w.shape[0], labels.shape[0]
    n = int(labels[0].sum())
    m = N - n
    dev = w.device
    diag = torch.zeros(n_kernels, N, dtype=torch.float64, device=dev)
    rows = torch.zeros(n_kernels, N, dtype=torch.float64, device=dev)
    frob = torch.zeros(n_kernels, dtype=torch.float64, device=dev)
    kmax = 0.0
    full = n_kernels * N * N <= budget

    def tile_values(i0: int, i1: int) -> Tensor:
        kb = block_fn(w[i0:i1], w).to(torch.float64)
        r = torch.arange(i1 - i0, device=dev)
        diag[:, i0:i1] = kb[:, r, r + i0]
        kb[:, r, r + i0] = 0.0
        return kb

    first_pass: dict[tuple[int, int], bool] = {}

    def stats_of(kb: Tensor, i0: int, i1: int) -> None:
        nonlocal kmax
        if (i0, i1) in first_pass:
            return
        first_pass[(i0, i1)] = True
        rows[:, i0:i1] = kb.sum(2)
        if frobenius:
            frob.add_(kb.square().sum((1, 2)))
        kmax = max(kmax, _absmax(kb), _absmax(diag[:, i0:i1]))

    sxx = torch.empty(n_kernels, C, dtype=torch.float64, device=dev)
    if full:
        kfull = torch.empty(n_kernels, N, N, dtype=torch.float64, device=dev)
        for i0, i1 in _chunks(N, tile):
            kfull[:, i0:i1] = tile_values(i0, i1)
            stats_of(kfull[:, i0:i1], i0, i1)
        step = max(1, budget // (2 * n_kernels * N))
        for c0, c1 in _chunks(C, step):
            a = labels[c0:c1].T.to(torch.float64)
            sxx[:, c0:c1] = (a.unsqueeze(0) * torch.matmul(kfull, a)).sum(1)
        del kfull
    else:
        step = max(1, budget // (4 * N))
        for c0, c1 in _chunks(C, step):
            a = labels[c0:c1].T.to(torch.float64)
            acc = torch.zeros(n_kernels, c1 - c0, dtype=torch.float64, device=dev)
            for i0, i1 in _chunks(N, tile):
                kb = tile_values(i0, i1)
                stats_of(kb, i0, i1)
                acc += (a[i0:i1].unsqueeze(0) * torch.matmul(kb, a)).sum(1)
            sxx[:, c0:c1] = acc
    af = labels.T.to(torch.float64)
    ar = rows @ af  # aᵀr
    total = rows.sum(1, keepdim=True)
    sxy = ar - sxx
    syy = total - 2.0 * ar + sxx
    if unbiased:
        table = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * sxy / (n * m)
    else:
        dx = diag @ af
        dy = diag.sum(1, keepdim=True) - dx
        table = (sxx + dx) / n**2 + (syy + dy) / m**2 - 2.0 * sxy / (n * m)
    return table, frob.sqrt() if frobenius else frob[:0], kmax


def _pair_table(
    w: Tensor,
    labels: Tensor,
    block_fn: BlockFn,
    n_kernels: int,
    *,
    unbiased: bool,
    frobenius: bool,
    budget: int,
    tile: int,
) -> tuple[Tensor, Tensor, float]:
    """MMD² of within-pair relabellings from the ``n × n`` matrix ``H`` (Schrab et al., App. C).

    With pair ``i`` = rows ``(p_i, q_i) = (i, n + i)`` and signs ``s_i = ±1`` (+1 when ``p_i`` is
    labelled "x"), ``H = K_pp − K_pq − K_qp + K_qq`` with zero diagonal and
    ``Q = sᵀHs``: ``MMD²_u = Q (1/(2n(n−1)) + 1/(2n²)) + S (1/(2n(n−1)) − 1/(2n²)) − 2D/n²`` and
    ``MMD²_V = (Q + G − 2D)/n²``, where ``S`` sums ``K`` over pairs of distinct pairs, ``D`` the
    within-pair ``k(p_i, q_i)`` and ``G`` the diagonal: a quarter of the pooled product's cost.
    """
    n, C = w.shape[0] // 2, labels.shape[0]
    dev = w.device
    f64 = torch.float64
    total = torch.zeros(n_kernels, dtype=f64, device=dev)  # every entry of K
    self_d = torch.zeros(n_kernels, dtype=f64, device=dev)  # k(p_i, p_i) + k(q_i, q_i)
    pair_d = torch.zeros(n_kernels, dtype=f64, device=dev)  # k(p_i, q_i)
    frob = torch.zeros(n_kernels, dtype=f64, device=dev)
    kmax = 0.0
    signs = labels[:, :n].T.to(f64) * 2.0 - 1.0  # (n, C)
    full = n_kernels * n * n <= budget
    hfull = torch.empty(n_kernels, n, n, dtype=f64, device=dev) if full else None
    q = torch.zeros(n_kernels, C, dtype=f64, device=dev)
    step = C if full else max(1, budget // (4 * n))
    for c0, c1 in _chunks(C, step):
        sc = signs[:, c0:c1]
        for i0, i1 in _chunks(n, tile):
            if hfull is not None and c0 > 0:
                h = hfull[:, i0:i1]
            else:
                kp = block_fn(w[i0:i1], w).to(f64)
                kq = block_fn(w[n + i0 : n + i1], w).to(f64)
                r = torch.arange(i1 - i0, device=dev)
                if c0 == 0:
                    sp, sq = kp[:, r, i0 + r], kq[:, r, n + i0 + r]
                    total += kp.sum((1, 2)) + kq.sum((1, 2))
                    self_d += sp.sum(1) + sq.sum(1)
                    pair_d += kp[:, r, n + i0 + r].sum(1)
                    kmax = max(kmax, _absmax(kp), _absmax(kq))
                    if frobenius:
                        frob += kp.square().sum((1, 2)) + kq.square().sum((1, 2))
                        frob -= sp.square().sum(1) + sq.square().sum(1)
                h = kp[:, :, :n] - kp[:, :, n:] - kq[:, :, :n] + kq[:, :, n:]
                h[:, r, i0 + r] = 0.0
                if hfull is not None:
                    hfull[:, i0:i1] = h
            q[:, c0:c1] += (sc[i0:i1].unsqueeze(0) * torch.matmul(h, sc)).sum(1)
    s_off = total - self_d - 2.0 * pair_d
    if unbiased:
        a, b = 1.0 / (2 * n * (n - 1)), 1.0 / (2 * n * n)
        table = q * (a + b) + (s_off * (a - b) - 2.0 * pair_d / n**2)[:, None]
    else:
        table = (q + (self_d - 2.0 * pair_d)[:, None]) / n**2
    return table, frob.sqrt() if frobenius else frob[:0], kmax


def tie_tolerance(kmax: float, n: int, m: int) -> float:
    """Rounding bound on an MMD² from float64 sums of kernel values at most ``kmax``."""
    eps = torch.finfo(torch.float64).eps
    return 1e3 * eps * kmax * ((n + m) / min(n, m)) ** 2
