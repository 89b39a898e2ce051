"""Process-group set-up and gradient averaging for data-parallel training.

The trainer averages gradients itself (one flat ``all_reduce`` per optimiser step) instead of
wrapping G and D in ``DistributedDataParallel``: a GAN step runs each network several times
(D on real and fake, G through D) and R1/WGAN-GP need double backward, which DDP's reducer
handles only with care. NVlabs/stylegan2-ada-pytorch does wrap its networks in DDP and
controls when gradients synchronise (``misc.ddp_sync``); one flat all-reduce here keeps the
loop free of such wrappers. Parameters start equal (broadcast from rank 0) and stay equal
because every rank applies the same averaged gradient.

This module is the trainer's only door to ``torch.distributed``; every helper is a no-op in
one process.

Evaluation is sharded too (:mod:`gan.evaluation`): each rank draws its share of the samples
from its own seed (:func:`rank_seed`), sum-mergeable metric states are all-reduced and the
rest is gathered with :func:`all_gather_cat`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from metrics.parallel import barrier, get_rank, get_world_size, is_distributed

__all__ = [
    "all_gather_cat",
    "all_gather_object",
    "all_reduce_grads",
    "all_reduce_mean",
    "barrier",
    "broadcast_module",
    "broadcast_object",
    "init_from_env",
    "rank_and_world",
    "rank_seed",
]


def init_from_env(device_type: str) -> bool:
    """Initialise the default process group under torchrun (``WORLD_SIZE`` > 1); True if so.

    NCCL on GPUs, gloo on CPU. A group initialised by the caller is kept as is.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device_type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend=backend)
    return True


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (no-op in one process)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            torch.distributed.broadcast(t, src=0)


def all_reduce_grads(module: nn.Module) -> None:
    """Average the gradients of ``module`` over ranks in one flat all-reduce (no-op alone)."""
    world = get_world_size()
    if world == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over ranks, as a new tensor (``t`` itself in one process)."""
    world = get_world_size()
    if world == 1:
        return t
    t = t.clone()
    torch.distributed.all_reduce(t)
    return t / world


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s picklable ``obj`` on every rank (``obj`` itself in one process)."""
    if not is_distributed():
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's picklable ``obj`` in rank order (``[obj]`` in one process)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)``, ``(0, 1)`` without a process group."""
    return get_rank(), get_world_size()


def rank_seed(seed: int, rank: int) -> int:
    """The seed of ``rank``'s share of a sharded computation: ``seed`` itself on rank 0.

    Rank 0 keeps ``seed`` so that one process reproduces the unsharded run; rank ``r`` adds
    ``r`` times a large odd constant (the 64-bit golden ratio), modulo 2⁶³.

    Example:
        >>> rank_seed(7, 0), rank_seed(7, 1) != rank_seed(7, 2)
        (7, True)
    """
    return seed if rank == 0 else (seed + rank * 0x9E3779B97F4A7C15) % 2**63


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``t`` ``(n_r, ...)`` along dim 0 in rank order (``t`` alone).

    The shards may differ in length (they are padded to the longest for the collective and
    trimmed after). With NCCL a CPU tensor travels through this rank's GPU and comes back.
    Every rank must call it; every rank receives the concatenation.

    Example:
        >>> all_gather_cat(torch.ones(2, 3)).shape  # one process: t itself
        torch.Size([2, 3])
    """
    if not is_distributed():
        return t
    world = get_world_size()
    dev = t.device
    if torch.distributed.get_backend() == "nccl" and dev.type != "cuda":
        t = t.to(torch.device("cuda", torch.cuda.current_device()))
    t = t.contiguous()
    n = torch.tensor([t.shape[0]], dtype=torch.int64, device=t.device)
    sizes = [torch.empty_like(n) for _ in range(world)]
    torch.distributed.all_gather(sizes, n)
    counts = [int(s) for s in sizes]
    longest = max(counts)
    padded = t.new_zeros((longest, *t.shape[1:]))
    padded[: t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(world)]
    torch.distributed.all_gather(parts, padded)
    return torch.cat([p[:c] for p, c in zip(parts, counts)]).to(dev)
