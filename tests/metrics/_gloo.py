"""Run a function on 2 gloo processes on CPU and collect what each rank returns."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch.distributed as dist
import torch.multiprocessing as mp


def _rank_main(rank: int, world: int, init: str, out_dir: str, body: Callable) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        arrays = {k: np.asarray(v) for k, v in body(rank).items()}
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **arrays)
    finally:
        dist.destroy_process_group()


def spawn_gloo(body: Callable[[int], dict], tmp_path: Path, world: int = 2) -> list[dict]:
    """Run ``body(rank)`` in ``world`` spawned processes; return each rank's dict of arrays.

    ``body`` must be a module-level function (spawn pickles it by name).
    """
    init = f"file://{tmp_path / 'rendezvous'}"
    args = (world, init, str(tmp_path), body)
    mp.start_processes(_rank_main, args=args, nprocs=world, start_method="spawn")
    out = []
    for rank in range(world):
        with np.load(tmp_path / f"rank{rank}.npz", allow_pickle=False) as f:
            out.append({k: f[k] for k in f.files})
    return out
