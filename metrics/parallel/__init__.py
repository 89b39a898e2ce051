"""Runtime: ``torch.distributed`` helpers, used by the streaming metrics and the trainer.

Each helper does the one-process thing when no process group is initialised, so code that
calls them runs unchanged on one process (:mod:`metrics.parallel.distributed`).
"""

from __future__ import annotations

from metrics.parallel.distributed import (
    all_reduce_max,
    all_reduce_sum,
    barrier,
    broadcast_shards,
    get_rank,
    get_world_size,
    is_distributed,
    sampler_valid_mask,
    shard_range,
)

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
