"""Time the trainer's step against a plain loop of the same networks and batch, in one run.

Two cases. ``--case ring8`` (the demo): the ring8 preset's MLPs (4 x 64, batch 512,
non-saturating loss, R1 = 0.1, EMA 0.999, Adam 2e-3 with β = (0.5, 0.9)) against the same
algorithm written as a plain loop (default Adam, a per-parameter EMA, ``.item()`` every
step), timed at the preset's thread count and at torch's default one (what a loop that sets
none runs at); data and schedule come from the preset, evaluation is off. ``--case dcgan``:
the widely copied DCGAN recipe (pytorch/examples ``dcgan/main.py``): 64 × 64
images, nz = 100, 64 base channels, batch 128, BCE on sigmoid outputs, Adam 2e-4
β = (0.5, 0.999), fp32, losses read with ``.item()`` every step. Both loops use the same
networks (gan.models.DCGANGenerator / DCGANDiscriminator) and data resident on the device
(random images: this measures the step, not a data loader). The trainer runs through
``gan.training.train`` (non-saturating loss, EMA, bf16 autocast on CUDA, optional
torch.compile, host sync only every ``log_every`` steps); its time per step is the median over
log intervals after the first (warm-up / compilation).

    python benchmarks/bench_train.py                 # ring8, 600 timed steps
    python benchmarks/bench_train.py --case dcgan    # CPU: a few steps; CUDA: 200 steps
    python benchmarks/bench_train.py --case dcgan --steps 300 --compile
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan.config import TrainConfig
from gan.data import load_data
from gan.losses import r1_penalty
from gan.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from gan.reporting import read_jsonl
from gan.training import train

NZ, CH, BATCH, SIZE = 100, 64, 128, 64
DEFAULT_THREADS = torch.get_num_threads()  # before anything changes it


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


def ring8_reference(cfg: TrainConfig, steps: int, warmup: int, r1_every: int = 1) -> float:
    """The ring8 preset's step as a plain loop; returns seconds per step after ``warmup``."""
    torch.manual_seed(0)
    ring = load_data("ring8")
    g = MLPGenerator(cfg.z_dim, 2, hidden=cfg.hidden, layers=cfg.g_layers)
    d = MLPDiscriminator(2, hidden=cfg.hidden, layers=cfg.d_layers)
    g_ema = copy.deepcopy(g).requires_grad_(False)
    betas = (cfg.beta1, cfg.beta2)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=betas)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=betas)
    b, gen = cfg.batch_size, torch.Generator().manual_seed(0)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        lazy = i % r1_every == 0
        real = ring.sample(b, gen).requires_grad_(lazy)
        fake = g(torch.randn(b, cfg.z_dim))
        logit_r, logit_f = d(real), d(fake.detach())
        loss_d = F.softplus(-logit_r).mean() + F.softplus(logit_f).mean()
        if lazy:
            loss_d = loss_d + 0.5 * cfg.r1 * r1_every * r1_penalty(logit_r, real)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-d(fake)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for p_ema, p in zip(g_ema.parameters(), g.parameters()):
                p_ema.mul_(cfg.ema).add_(p, alpha=1 - cfg.ema)
        _ = loss_d.item(), loss_g.item()
    return (time.perf_counter() - t0) / steps


def _median_step(run_dir: str) -> float:
    """Median seconds per step over the log intervals after the first (warm-up)."""
    recs = [r for r in read_jsonl(f"{run_dir}/log.jsonl") if r.get("kind") == "train"]
    per = [r["sec_per_step"] for r in recs[1:]] or [recs[0]["sec_per_step"]]
    return statistics.median(per)


def ring8_case(
    steps: int, compile_: bool, rounds: int, r1_every: int = 0, loop_threads: tuple[int, ...] = ()
) -> tuple[dict[int, float], dict[int, float], float]:
    """Seconds per step of the plain loop with R1 every step and with the trainer's R1 period,
    at each thread count in ``loop_threads``, and of the trainer (at its preset's threads);
    each the best of ``rounds`` interleaved rounds."""
    log_every = max(50, steps // 6)
    base = TrainConfig.from_preset("ring8", device="cpu")
    every = r1_every or base.r1_every
    refs: dict[int, list] = {t: [] for t in loop_threads}
    lazy: dict[int, list] = {t: [] for t in loop_threads}
    ours = []
    for _ in range(rounds):  # interleaved, so that a busy machine slows both alike
        for t in loop_threads:
            torch.set_num_threads(t)
            refs[t].append(ring8_reference(base, steps, warmup=log_every))
            lazy[t].append(ring8_reference(base, steps, warmup=log_every, r1_every=every))
        with tempfile.TemporaryDirectory() as tmp:
            cfg = base.replace(steps=steps + log_every, log_every=log_every, ckpt_every=0,
                               eval_samples=0, plots=False, progress=False, compile=compile_,
                               r1_every=every, out=f"{tmp}/run")  # fmt: skip
            train(cfg)
            ours.append(_median_step(cfg.out))
    return ({t: min(v) for t, v in refs.items()}, {t: min(v) for t, v in lazy.items()},
            min(ours))  # fmt: skip


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
        return _median_step(f"{tmp}/run")


def main() -> None:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser()
    p.add_argument("--case", choices=("ring8", "dcgan"), default="ring8")
    p.add_argument("--steps", type=int, default=None, help="timed steps")
    p.add_argument("--rounds", type=int, default=3, help="ring8: interleaved rounds (best of)")
    p.add_argument("--compile", action="store_true", help="torch.compile in the trainer")
    p.add_argument(
        "--threads", type=int, default=0, help="dcgan: torch threads (0: torch's default)"
    )
    p.add_argument(
        "--r1-every", type=int, default=0, help="ring8: lazy R1 period (0: the preset's)"
    )
    args = p.parse_args()
    if args.threads and args.case == "dcgan":
        torch.set_num_threads(args.threads)
    if args.case == "ring8":
        preset = TrainConfig.from_preset("ring8")
        # a user's loop runs at torch's default thread count; the preset sets its own
        loop_threads = tuple(dict.fromkeys([preset.threads or DEFAULT_THREADS, DEFAULT_THREADS]))
        t_ref, t_lazy, t_ours = ring8_case(
            args.steps or 600, args.compile, args.rounds, args.r1_every, loop_threads
        )
        every = args.r1_every or preset.r1_every
        ours = "gan.train" + (" (compile)" if args.compile else "")
        print(f"device: CPU, torch {torch.__version__}, trainer threads {preset.threads}, "
              f"torch's default threads {DEFAULT_THREADS}")  # fmt: skip
        print(f"ring8 preset step (MLP 4x64, batch 512, R1, EMA), best of {args.rounds}")
        for t in loop_threads:
            tag = f"{t} thread" + ("s" if t > 1 else "")
            _table(t_ref[t], t_ours, f"plain loop, {tag}, R1 each step", ours)
            if every > 1:
                _table(t_lazy[t], t_ours, f"plain loop, {tag}, R1 every {every}", ours)
        return
    args.steps = args.steps or (200 if cuda else 8)
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
    label = "gan.train" + (" (compile)" if args.compile else "") + (" (bf16)" if cuda else "")
    _table(t_ref, t_ours, "plain reference (fp32, .item())", label)


def _table(t_ref: float, t_ours: float, ref_label: str, label: str) -> None:
    print(f"{'loop':<38}{'ms/step':>10}{'it/s':>9}{'speed-up':>10}")
    print(f"{ref_label:<38}{1000 * t_ref:>10.2f}{1 / t_ref:>9.1f}{1.0:>10.2f}")
    print(f"{label:<38}{1000 * t_ours:>10.2f}{1 / t_ours:>9.1f}{t_ref / t_ours:>10.2f}")


if __name__ == "__main__":
    main()
