"""Data-parallel training with 2 gloo processes on CPU; GPU smoke tests (skipped without CUDA)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gan.config import TrainConfig
from gan.training_loop import train


def _worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        cfg = TrainConfig(data="ring8", steps=12, batch_size=64, hidden=32, g_layers=2,
                          d_layers=2, r1=0.1, log_every=4, ckpt_every=4, eval_samples=300,
                          progress=False, plots=False, rejection=False, out=out)  # fmt: skip
        res = train(cfg)
        torch.save({k: v.clone() for k, v in res.generator.state_dict().items()},
                   os.path.join(os.path.dirname(out), f"g{rank}.pt"))  # fmt: skip
        torch.save({k: v.clone() for k, v in res.discriminator.state_dict().items()},
                   os.path.join(os.path.dirname(out), f"d{rank}.pt"))  # fmt: skip
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes(tmp_path):
    out = str(tmp_path / "run")
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), out), nprocs=2, join=True)
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert sum('"kind": "train"' in x for x in lines) == 3  # rank 0 only, no duplicates
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert len(ck["rng"]) == 2 and not torch.equal(ck["rng"][0], ck["rng"][1])
    for name in ("g", "d"):
        a = torch.load(tmp_path / f"{name}0.pt", weights_only=True)
        b = torch.load(tmp_path / f"{name}1.pt", weights_only=True)
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs across ranks"


@pytest.mark.gpu
def test_cuda_bf16_compile_smoke(tmp_path):
    cfg = TrainConfig(data="ring8", steps=20, batch_size=256, hidden=64, log_every=10,
                      progress=False, plots=False, eval_samples=500, device="cuda", amp=True,
                      out=str(tmp_path / "r"))  # fmt: skip
    res = train(cfg)
    assert next(res.generator.parameters()).is_cuda
    assert res.evaluation["modes"] >= 0
    res = train(cfg.replace(compile=True, r1=0.0, out=str(tmp_path / "c")))
    assert res.step == 20
