"""Time the trainer's step against the plain DCGAN reference loop, same model and batch, one run.

The reference is the widely copied DCGAN recipe (pytorch/examples ``dcgan/main.py``): 64 × 64
images, nz = 100, 64 base channels, batch 128, BCE on sigmoid outputs, Adam 2e-4
β = (0.5, 0.999), fp32, losses read with ``.item()`` every step. Both loops use the same
networks (gan.models.DCGANGenerator / DCGANDiscriminator) and data resident on the device
(random images: this measures the step, not a data loader). The trainer runs through
``gan.training_loop.train`` (non-saturating loss, EMA, bf16 autocast on CUDA, optional
torch.compile, host sync only every ``log_every`` steps); its time per step is the median over
log intervals after the first (warm-up / compilation).

    python benchmarks/bench_train.py                 # CPU: a few steps; CUDA: 200 steps
    python benchmarks/bench_train.py --steps 300 --compile
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan.config import TrainConfig
from gan.models import DCGANDiscriminator, DCGANGenerator
from gan.reporting import read_jsonl
from gan.training_loop import train

NZ, CH, BATCH, SIZE = 100, 64, 128, 64


def reference_loop(data: torch.Tensor, steps: int, warmup: int, device: torch.device) -> float:
    """The plain DCGAN loop; returns seconds per step after ``warmup`` steps."""
    torch.manual_seed(0)
    g = DCGANGenerator(NZ, (3, SIZE, SIZE), channels=CH).to(device)
    d_core = DCGANDiscriminator((3, SIZE, SIZE), channels=CH).to(device)
    d = nn.Sequential(d_core, nn.Sigmoid())
    crit = nn.BCELoss()
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones = torch.ones(BATCH, device=device)
    zeros = torch.zeros(BATCH, device=device)
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        real = data[torch.randint(len(data), (BATCH,), device=device)]
        d.zero_grad()
        err_real = crit(d(real), ones)
        err_real.backward()
        fake = g(torch.randn(BATCH, NZ, device=device))
        err_fake = crit(d(fake.detach()), zeros)
        err_fake.backward()
        opt_d.step()
        g.zero_grad()
        err_g = crit(d(fake), ones)
        err_g.backward()
        opt_g.step()
        _ = (err_real + err_fake).item(), err_g.item()  # the recipe prints these every step
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def trainer_loop(data_path: Path, steps: int, log_every: int, compile_: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            data=str(data_path),
            loss="ns",
            arch="dcgan",
            z_dim=NZ,
            channels=CH,
            batch_size=BATCH,
            lr_g=2e-4,
            lr_d=2e-4,
            beta1=0.5,
            beta2=0.999,
            steps=steps,
            log_every=log_every,
            ckpt_every=0,
            eval_samples=0,
            plots=False,
            progress=False,
            compile=compile_,
            out=f"{tmp}/run",
        )
        train(cfg)
        recs = [r for r in read_jsonl(f"{tmp}/run/log.jsonl") if r.get("kind") == "train"]
    per = [r["sec_per_step"] for r in recs[1:]] or [recs[0]["sec_per_step"]]
    return statistics.median(per)


def main() -> None:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=200 if cuda else 8)
    p.add_argument("--compile", action="store_true", help="torch.compile in the trainer")
    args = p.parse_args()
    device = torch.device("cuda" if cuda else "cpu")
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (1024, 3, SIZE, SIZE)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npy"
        np.save(path, images)
        data = torch.from_numpy(images).to(device)
        log_every = max(2, args.steps // 8)
        warm = 3 if not cuda else 20
        t_ref = reference_loop(data, args.steps, warm, device)
        t_ours = trainer_loop(path, args.steps + log_every, log_every, args.compile)
    name = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"device: {name}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"DCGAN 64x64, nz={NZ}, ch={CH}, batch {BATCH}, {args.steps} timed steps")
    print(f"{'loop':<34}{'ms/step':>10}{'it/s':>9}{'speed-up':>10}")
    print(
        f"{'plain reference (fp32, .item())':<34}{1000 * t_ref:>10.1f}{1 / t_ref:>9.1f}{1.0:>10.2f}"
    )
    label = "gan.train" + (" (compile)" if args.compile else "") + (" (bf16)" if cuda else "")
    print(f"{label:<34}{1000 * t_ours:>10.1f}{1 / t_ours:>9.1f}{t_ref / t_ours:>10.2f}")


if __name__ == "__main__":
    main()
