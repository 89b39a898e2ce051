"""Helpers for ``torch.distributed`` that are no-ops in a single process.

Metric state is merged by summing sufficient statistics (``all_reduce``), never by gathering
features, and never counting the duplicates a padded sampler adds: shard work with
:func:`shard_range` (disjoint, unpadded) or mask a ``DistributedSampler``'s padding with
:func:`sampler_valid_mask`. The GAN trainer uses the same helpers.

Reference: the pattern of ``NVlabs/edm:torch_utils/distributed.py`` (rank/world helpers) and
``NVlabs/edm:fid.py`` (``all_reduce`` of float64 sums).
"""

from __future__ import annotations

import torch

__all__ = [
    "all_reduce_sum",
    "barrier",
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
