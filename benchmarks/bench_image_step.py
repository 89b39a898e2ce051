"""Time one SNGAN training step (ResNet, 32 px, hinge loss, n_critic D updates + 1 G update, Adam).

Both loops train the same networks (:class:`gan.nets.Generator` / :class:`gan.nets.Discriminator`,
identical initial weights) on the same batch size with Adam(2e-4, β = (0, 0.9)), fp32, data
resident on the device (random images: this times the step, not a loader).

- ``plain``: the recipe as peers write it (mimicry, the SNGAN updater): D on the real and the
  fake batch in two forwards, ``G(z).detach()`` for D's fakes, losses written inline, both
  losses read with ``.item()`` every step.
- ``ours``: the same step built from :mod:`gan.losses` (``hinge_d_loss``/``hinge_g_loss``):
  D scores real and fake in one forward on the concatenated batch (exact: D has no batch norm,
  so each sample is scored on its own; one spectral-norm power iteration per D update instead
  of two), D's fakes drawn under ``no_grad``, gradients set to ``None``, foreach Adam, the
  losses read every ``--log-every`` steps.
- ``ours + DiffAugment``: ``ours`` with :class:`gan.augment.DiffAugment` (colour, translation,
  cutout) on every image D sees, to show what the augmentation costs.

A step is timed as the median over interleaved repeats (plain, ours, ours + aug, plain, ...),
so a busy machine slows all loops alike.

    python benchmarks/bench_image_step.py                       # CPU: narrow nets, batch 16
    python benchmarks/bench_image_step.py --g-ch 256 --d-ch 128 --batch 64   # the CIFAR-10 widths
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time

import torch

from gan.augment import DiffAugment
from gan.losses import hinge_d_loss, hinge_g_loss
from gan.nets import Discriminator, Generator

Z_DIM = 128


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class PlainLoop:
    """The peer recipe, written out."""

    def __init__(self, g, d, data, batch, n_critic, device):
        self.g, self.d, self.data, self.batch, self.n_critic = g, d, data, batch, n_critic
        self.device = device
        self.opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.0, 0.9))
        self.opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.0, 0.9))

    def step(self, i: int) -> None:
        g, d, b = self.g, self.d, self.batch
        for _ in range(self.n_critic):
            real = self.data[torch.randint(len(self.data), (b,), device=self.device)]
            fake = g(torch.randn(b, Z_DIM, device=self.device)).detach()
            self.opt_d.zero_grad()
            loss_d = torch.relu(1 - d(real)).mean() + torch.relu(1 + d(fake)).mean()
            loss_d.backward()
            self.opt_d.step()
        self.opt_g.zero_grad()
        loss_g = -d(g(torch.randn(b, Z_DIM, device=self.device))).mean()
        loss_g.backward()
        self.opt_g.step()
        _ = loss_d.item(), loss_g.item()  # the recipes print these every step


class OurLoop:
    """The same step from the project's modules, with fewer operations and host syncs."""

    def __init__(self, g, d, data, batch, n_critic, device, *, augment, log_every, bf16, cl):
        self.g, self.d, self.data, self.batch, self.n_critic = g, d, data, batch, n_critic
        self.device, self.log_every = device, log_every
        fused = {"foreach": True}
        self.opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.0, 0.9), **fused)
        self.opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.0, 0.9), **fused)
        self.aug = DiffAugment(seed=0) if augment else (lambda x: x)
        self.amp = (
            torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        )
        self.cl = cl
        if cl:
            self.g.to(memory_format=torch.channels_last)
            self.d.to(memory_format=torch.channels_last)
        self.losses = torch.zeros(2, device=device)

    def _fmt(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cl else x

    def step(self, i: int) -> None:
        g, d, b, dev = self.g, self.d, self.batch, self.device
        for _ in range(self.n_critic):
            real = self.data[torch.randint(len(self.data), (b,), device=dev)]
            with torch.no_grad(), self.amp:
                fake = g(torch.randn(b, Z_DIM, device=dev))
            self.opt_d.zero_grad(set_to_none=True)
            with self.amp:
                x = self._fmt(self.aug(torch.cat([real, fake.to(real.dtype)])))
                out = d(x).float()
                loss_d = hinge_d_loss(out[:b], out[b:])
            loss_d.backward()
            self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        with self.amp:
            loss_g = hinge_g_loss(
                d(self._fmt(self.aug(g(torch.randn(b, Z_DIM, device=dev))))).float()
            )
        loss_g.backward()
        self.opt_g.step()
        if (i + 1) % self.log_every == 0:
            _ = self.losses.copy_(torch.stack([loss_d.detach(), loss_g.detach()])).tolist()


def main() -> None:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50 if cuda else 4, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=64 if cuda else 16)
    p.add_argument("--n-critic", type=int, default=5)
    p.add_argument("--g-ch", type=int, default=256 if cuda else 64, help="G width (paper: 256)")
    p.add_argument("--d-ch", type=int, default=128 if cuda else 64, help="D width (paper: 128)")
    p.add_argument("--log-every", type=int, default=10, help="ours: read the losses every k steps")
    p.add_argument("--bf16", action="store_true", help="ours: bf16 autocast")
    p.add_argument("--channels-last", action="store_true", help="ours: channels-last tensors")
    args = p.parse_args()
    device = torch.device("cuda" if cuda else "cpu")

    torch.manual_seed(0)
    g0, d0 = Generator(Z_DIM, 32, 3, ch=args.g_ch), Discriminator(32, 3, ch=args.d_ch)
    data = torch.rand(1024, 3, 32, 32, device=device) * 2 - 1

    def nets():
        return copy.deepcopy(g0).to(device), copy.deepcopy(d0).to(device)

    common = (data, args.batch, args.n_critic, device)
    extra = {"log_every": args.log_every, "bf16": args.bf16, "cl": args.channels_last}
    loops = {
        "plain loop (peer recipe)": PlainLoop(*nets(), *common),
        "ours (gan.nets + gan.losses)": OurLoop(*nets(), *common, augment=False, **extra),
        "ours + DiffAugment": OurLoop(*nets(), *common, augment=True, **extra),
    }
    times: dict[str, list[float]] = {k: [] for k in loops}
    for loop in loops.values():  # warm-up: allocator, kernels, first power iterations
        loop.step(0)
    _sync(device)
    for _ in range(args.repeats):
        for name, loop in loops.items():
            t0 = time.perf_counter()
            for i in range(args.steps):
                loop.step(i)
            _ = loop.g.l1.weight.sum().item()  # the last step's work is done before the clock stops
            _sync(device)
            times[name].append((time.perf_counter() - t0) / args.steps)

    name = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"device: {name}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(
        f"SNGAN ResNet 32 px, G ch={args.g_ch}, D ch={args.d_ch}, batch {args.batch}, "
        f"n_critic {args.n_critic}, {args.steps} steps x {args.repeats} repeats (median)"
        + (", ours: bf16" if args.bf16 else "")
        + (", ours: channels-last" if args.channels_last else "")
    )
    ref = statistics.median(times["plain loop (peer recipe)"])
    print(f"{'loop':<32}{'ms/step':>10}{'steps/s':>9}{'speed-up':>10}")
    for k, ts in times.items():
        t = statistics.median(ts)
        print(f"{k:<32}{t * 1e3:>10.1f}{1 / t:>9.2f}{ref / t:>9.2f}x")


if __name__ == "__main__":
    main()
