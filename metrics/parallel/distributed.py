"""Helpers for ``torch.distributed`` that are no-ops in a single process.

Metric state is merged by summing sufficient statistics (``all_reduce``), never by gathering
features, and never counting the duplicates a padded sampler adds: shard work with
:func:`shard_range` (disjoint, unpadded) or mask a ``DistributedSampler``'s padding with
:func:`sampler_valid_mask`. The GAN trainer uses the same helpers.

Reference: the pattern of ``NVlabs/edm:torch_utils/distributed.py`` (rank/world helpers) and
``NVlabs/edm:fid.py`` (``all_reduce`` of float64 sums).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = [
    "all_reduce_max",
    "all_reduce_sum",
    "barrier",
    "broadcast_shards",
    "get_rank",
    "get_world_size",
    "is_distributed",
    "sampler_valid_mask",
    "shard_range",
]


def is_distributed() -> bool:
    """True when ``torch.distributed`` is available and a process group is initialised."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def get_rank() -> int:
    """This process's rank (0 without a process group)."""
    return torch.distributed.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """The number of processes (1 without a process group)."""
    return torch.distributed.get_world_size() if is_distributed() else 1


def barrier() -> None:
    """Wait for every process (a no-op without a process group)."""
    if is_distributed():
        torch.distributed.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over all processes, in place, and return it (unchanged in one process).

    With the NCCL backend the tensor must live on this rank's GPU; it is moved there and back
    if needed, so callers may keep CPU state (the torchmetrics ``compute_on_cpu`` pitfall).

    Example:
        >>> all_reduce_sum(torch.tensor([1.0, 2.0]))
        tensor([1., 2.])
    """
    if not is_distributed():
        return t
    if torch.distributed.get_backend() == "nccl" and t.device.type != "cuda":
        tmp = t.to(torch.device("cuda", torch.cuda.current_device()))
        torch.distributed.all_reduce(tmp, op=torch.distributed.ReduceOp.SUM)
        t.copy_(tmp)
        return t
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    """Elementwise maximum of ``t`` over all processes, in place (unchanged in one process)."""
    if not is_distributed():
        return t
    op = torch.distributed.ReduceOp.MAX
    if torch.distributed.get_backend() == "nccl" and t.device.type != "cuda":
        tmp = t.to(torch.device("cuda", torch.cuda.current_device()))
        torch.distributed.all_reduce(tmp, op=op)
        t.copy_(tmp)
        return t
    torch.distributed.all_reduce(t, op=op)
    return t


def broadcast_shards(*tensors: torch.Tensor) -> Iterator[tuple[bool, list[torch.Tensor]]]:
    """Visit every rank's shard in turn: yields ``(is_own, [tensors of rank r])`` for r = 0, 1, ...

    Each rank passes its own tensors (same trailing shapes and dtypes on every rank, any
    length along dim 0, empty allowed); rank ``r``'s are broadcast to all in step ``r``, so at
    most one foreign shard is held at a time. Every rank must consume the whole iterator. In
    one process it yields the given tensors once.

    Example:
        >>> [(own, [t.tolist() for t in ts]) for own, ts in broadcast_shards(torch.ones(2))]
        [(True, [[1.0, 1.0]])]
    """
    if not is_distributed():
        yield True, list(tensors)
        return
    rank, world = get_rank(), get_world_size()
    dev = tensors[0].device
    sizes = torch.zeros(world, len(tensors), dtype=torch.int64, device=dev)
    sizes[rank] = torch.tensor([t.shape[0] for t in tensors], dtype=torch.int64)
    all_reduce_sum(sizes)
    nccl = torch.distributed.get_backend() == "nccl"
    for r in range(world):
        if r == rank:
            bufs = [t.contiguous() for t in tensors]
        else:
            bufs = [
                torch.empty((int(sizes[r, i]), *t.shape[1:]), dtype=t.dtype, device=dev)
                for i, t in enumerate(tensors)
            ]
        for i, b in enumerate(bufs):
            if b.numel() == 0:  # every rank knows the sizes, so all skip together
                continue
            if nccl and b.device.type != "cuda":
                tmp = b.to(torch.device("cuda", torch.cuda.current_device()))
                torch.distributed.broadcast(tmp, src=r)
                bufs[i] = tmp.to(dev)
            else:
                torch.distributed.broadcast(b, src=r)
        yield r == rank, bufs


def shard_range(n: int, rank: int | None = None, world_size: int | None = None) -> range:
    """The indices of ``range(n)`` this rank handles: contiguous, disjoint, no padding.

    Shard sizes differ by at most one (as ``numpy.array_split``); every index is owned by
    exactly one rank, so merged statistics count each sample once.

    Example:
        >>> [list(shard_range(5, r, 2)) for r in range(2)]
        [[0, 1, 2], [3, 4]]
    """
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    base, extra = divmod(int(n), world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))


def sampler_valid_mask(
    n_total: int, n_local: int, rank: int | None = None, world_size: int | None = None
) -> torch.Tensor:
    """Mask of the samples a ``DistributedSampler(drop_last=False)`` gave this rank for real.

    Such a sampler pads the index list to a multiple of ``world_size`` by repeating its start and
    gives rank ``r`` the positions ``r, r + W, r + 2W, ...``; positions ``>= n_total`` are
    padding. Pass the mask (in the sampler's order) to ``FeatureStats.update(x, valid=...)``.

    Args:
        n_total: length of the dataset.
        n_local: number of samples this rank received (``len(sampler)``).
        rank: this process's rank; None reads it from ``torch.distributed`` (0 without it).
        world_size: number of processes; None reads it like ``rank``.

    Returns:
        Bool tensor ``(n_local,)``; False marks a duplicate to ignore.

    Example:
        >>> sampler_valid_mask(5, 3, rank=1, world_size=2).tolist()
        [True, True, False]
    """
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    positions = rank + world_size * torch.arange(n_local)
    return positions < n_total
