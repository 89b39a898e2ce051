"""The pooled sample and its relabellings (private helpers of the two-sample test).

Why the test is exact for every statistic: the pooled sample is put in a canonical order
(rows sorted lexicographically, so that it does not depend on how the rows of ``x`` and
``y`` were ordered) and then shuffled with the caller's generator, the labels travelling with the
points. Under H0 the shuffled pooled sample ``w`` is then independent of the observed
labelling, which is uniform over the labellings the scheme allows; the relabellings are drawn
from the same uniform law. Any statistic ``T(w, labels)``, even one that breaks ties by row
index or subsamples rows, therefore gives exchangeable values, and the p-value
``(1 + #{T_b >= T}) / (1 + B)`` is valid at every sample size (Phipson & Smyth 2010).

Schemes: ``"permutation"`` relabels the pooled sample freely (``n`` labels "x" among ``N``);
``"wild"`` (``n = m``) swaps within the pairs ``(x_i, y_i)`` only: the wild bootstrap of
Schrab et al. (2023) with Rademacher signs, a restricted permutation test.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

Tensor = torch.Tensor

__all__ = ["Pooled", "count_splits", "enumerate_labellings", "pool", "random_labellings"]

# generate relabellings in chunks of about this many entries (the uniform keys are float64)
_CHUNK = 1 << 22


@dataclass(frozen=True)
class Pooled:
    """The pooled sample in test order, with the observed labels and the relabelling blocks.

    ``w`` is ``(N, D)``; ``obs`` ``(N,)`` bool, True for the points of the first sample;
    relabellings permute labels within each block (``block`` ``(N,)`` long ids,
    ``ones[b]`` labels True in block ``b``). ``swapped`` says the samples were exchanged to a
    canonical orientation (symmetric statistics only).
    """

    w: Tensor
    obs: Tensor
    block: Tensor
    ones: list[int]
    n: int
    m: int
    swapped: bool
    wild: bool = False


def _lexsort(z: Tensor) -> Tensor:
    """Indices sorting the rows of ``z`` lexicographically (stable: equal rows keep order)."""
    order = torch.arange(z.shape[0], device=z.device)
    for j in reversed(range(z.shape[1])):
        order = order[torch.sort(z[order, j], stable=True).indices]
    return order


def _first_less(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise ``a < b`` lexicographically, ``(N,)`` bool (False for equal rows)."""
    diff = a != b
    j = diff.to(torch.uint8).argmax(1, keepdim=True)
    return diff.any(1) & (torch.gather(a, 1, j) < torch.gather(b, 1, j)).squeeze(1)


def _orient(x: Tensor, y: Tensor) -> bool:
    """Whether to exchange ``x`` and ``y``: the smaller sample first, then the sorted rows."""
    if x.shape[0] != y.shape[0]:
        return x.shape[0] > y.shape[0]
    xs, ys = x[_lexsort(x)], y[_lexsort(y)]
    differ = (xs != ys).any(1).nonzero()
    if differ.numel() == 0:
        return False
    i = int(differ[0, 0])
    return bool(_first_less(ys[i : i + 1], xs[i : i + 1]))


def _randperm(n: int, gen: torch.Generator, device: torch.device) -> Tensor:
    return torch.randperm(n, generator=gen, device=gen.device).to(device)


def pool(x: Tensor, y: Tensor, *, generator: torch.Generator, symmetric: bool, scheme: str):
    """Pool ``x`` and ``y`` into test order (see the module docstring); returns :class:`Pooled`."""
    swapped = symmetric and _orient(x, y)
    if swapped:
        x, y = y, x
    n, m = x.shape[0], y.shape[0]
    dev = x.device
    if scheme == "permutation":
        z = torch.cat([x, y])
        lab = torch.cat([torch.ones(n, dtype=torch.bool), torch.zeros(m, dtype=torch.bool)])
        canon = _lexsort(z)
        order = canon[_randperm(n + m, generator, dev)]
        return Pooled(z[order], lab.to(dev)[order], torch.zeros(n + m, dtype=torch.long,
                      device=dev), [n], n, m, swapped)  # fmt: skip
    # wild: pairs (x_i, y_i) in input order, shuffled; within a pair the members are put in
    # canonical order and then swapped by a fair coin, so "x first" is a coin independent of w
    pair = _randperm(n, generator, dev)
    xp, yp = x[pair], y[pair]
    x_low = ~_first_less(yp, xp)
    coin = (torch.rand(n, generator=generator, device=generator.device) < 0.5).to(dev)
    x_first = x_low ^ coin
    first = torch.where(x_first[:, None], xp, yp)
    second = torch.where(x_first[:, None], yp, xp)
    ids = torch.arange(n, device=dev)
    return Pooled(torch.cat([first, second]), torch.cat([x_first, ~x_first]),
                  torch.cat([ids, ids]), [1] * n, n, m, swapped, wild=True)  # fmt: skip


def count_splits(block: Tensor, ones: list[int]) -> int:
    """Number of distinct labellings: the product over blocks of ``C(size, ones)``."""
    sizes = torch.bincount(block.cpu(), minlength=len(ones)).tolist()
    return math.prod(math.comb(s, k) for s, k in zip(sizes, ones))


def random_labellings(
    block: Tensor, ones: list[int], count: int, generator: torch.Generator
) -> Tensor:
    """``(count, N)`` bool: uniform relabellings within blocks, drawn with ``generator``.

    Each row sorts ``block id + U(0, 1)``: positions come out grouped by block in a uniformly
    random order, and the first ``ones[b]`` of block ``b`` are labelled True.
    """
    dev, n_pts = block.device, block.numel()
    sorted_block, _ = torch.sort(block)
    counts = torch.bincount(sorted_block, minlength=len(ones))
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n_pts, device=dev) - start[sorted_block]
    first = rank < torch.as_tensor(ones, device=dev)[sorted_block]
    out = torch.empty(count, n_pts, dtype=torch.bool, device=dev)
    step = max(1, _CHUNK // n_pts)
    for i in range(0, count, step):
        c = min(step, count - i)
        u = torch.rand(c, n_pts, generator=generator, device=generator.device, dtype=torch.float64)
        order = torch.argsort(u.to(dev) + block.to(torch.float64), dim=1)
        out[i : i + c] = torch.zeros(c, n_pts, dtype=torch.bool, device=dev).scatter_(
            1, order, first.expand(c, n_pts)
        )
    return out


def enumerate_labellings(block: Tensor, ones: list[int]) -> Tensor:
    """``(S, N)`` bool: every distinct labelling (product of combinations within blocks)."""
    members: list[list[int]] = [[] for _ in ones]
    for i, b in enumerate(block.tolist()):
        members[b].append(i)
    choices = [list(itertools.combinations(mem, k)) for mem, k in zip(members, ones)]
    rows = [sum(combo, ()) for combo in itertools.product(*choices)]
    out = torch.zeros(len(rows), block.numel(), dtype=torch.bool)
    if rows and rows[0]:
        idx = torch.tensor(rows, dtype=torch.long)
        out.scatter_(1, idx, True)
    return out.to(block.device)
