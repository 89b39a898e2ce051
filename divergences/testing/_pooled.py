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
        budget: entries of float64 kept at once (kernel stack, products).
        tile: rows of a kernel tile in the tiled regime.

    Returns:
        ``(table (n_kernels, C), frob (n_kernels,) or empty, kmax)`` with ``kmax`` the largest
        ``|K_ij|`` (for the rounding tolerance of ties).
    """
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
        kmax = max(kmax, float(kb.abs().amax()), float(diag[:, i0:i1].abs().amax()))

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


def tie_tolerance(kmax: float, n: int, m: int) -> float:
    """Rounding bound on an MMD² from float64 sums of kernel values at most ``kmax``."""
    eps = torch.finfo(torch.float64).eps
    return 1e3 * eps * kmax * ((n + m) / min(n, m)) ** 2
