"""Process-group set-up and gradient averaging for data-parallel training.

The trainer averages gradients itself (one flat ``all_reduce`` per optimiser step) instead of
wrapping G and D in ``DistributedDataParallel``: a GAN step runs each network several times
(D on real and fake, G through D) and R1/WGAN-GP need double backward, which DDP's reducer
does not support; NVlabs/stylegan2-ada-pytorch's ``training_loop.py`` averages gradients the
same way. Parameters start equal (broadcast from rank 0) and stay equal because every rank
applies the same averaged gradient.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from metrics.distributed import barrier, get_rank, get_world_size, is_distributed

__all__ = ["all_reduce_grads", "barrier", "broadcast_module", "init_from_env", "rank_and_world"]


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


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)``, ``(0, 1)`` without a process group."""
    return get_rank(), get_world_size()
