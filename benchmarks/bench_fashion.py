"""Fashion-MNIST: our preset against the DCGAN loop a user would otherwise run, same data, same time.

- ``ours``: ``divergences train --data fashion-mnist [--conditional]`` (the ``fashion-mnist``
  or ``fashion-mnist-cond`` preset: :func:`gan.config.resolve_config`), trained by
  :func:`gan.training.train`, sampled from its EMA generator (classes in proportion to
  the data when conditional). Its training wall time T (evaluation excluded) sets the budget.
- ``plain``: pytorch/examples ``dcgan/main.py`` adapted to 28 px: the same DCGAN layout started
  at 7 × 7 (nz 100, ngf = ndf = 64, BatchNorm in G and D, N(0, 0.02) init), ``BCELoss`` on
  sigmoid outputs with real label 1 / fake label 0, Adam(2e-4, β = (0.5, 0.999)), batch 64,
  D on the real and the detached fake batch, then G through D, the losses read every step;
  data resident, reshuffled every epoch. It trains for the same wall time T.
- ``step``: ms per step of the trainer and of a plain loop (written as above) on the *same*
  networks (the preset's), interleaved repeats, median: the trainer's overhead.

Quality, in the shipped Fashion-MNIST features (``metrics.networks.features.fashion_features``):
FID(generated, test) with ``--eval-n`` samples against the 10,000 test images, and the
yardstick FID(train, test) with as many training images; for conditional runs the shipped
classifier's accuracy on generated samples (n / 10 per class) relative to its accuracy on
the real test images, overall and the worst class.

    python benchmarks/bench_fashion.py --conditional --seeds 0 1 2         # the full comparison
    python benchmarks/bench_fashion.py --steps 3 --eval-n 100 --step-repeats 1   # a smoke run
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time

import torch
from torch import nn

from gan.clusters import cluster_labels
from gan.conditional import class_accuracy, generate, proportional_labels
from gan.config import resolve_config
from gan.models import DCGANDiscriminator, DCGANGenerator, build_models
from gan.reporting import read_jsonl
from gan.speed import cpu_bf16
from gan.training import train
from gan.training.start import float32_width
from metrics.fid import fid_from_stats
from metrics.io.datasets import load_split
from metrics.networks.features import fashion_features, fashion_logits
from metrics.stats import FeatureStats


class PlainDCGAN:
    """pytorch/examples' DCGAN training loop (BCE on sigmoid outputs), at 28 px.

    With ``labels`` (one per training image) the networks are conditional, ``g(z, y)`` and
    ``d(x, y)``, real batches keep their labels and fake labels are those of random images.
    """

    def __init__(self, g, d, data: torch.Tensor, *, nz: int, seed: int, batch: int = 64,
                 labels: torch.Tensor | None = None):  # fmt: skip
        self.g, self.d, self.data, self.nz, self.labels = g, d, data, nz, labels
        self.opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.crit, self.batch = nn.BCELoss(), batch
        self.gen = torch.Generator().manual_seed(seed)
        self.order, self.pos = torch.randperm(len(data), generator=self.gen), 0

    def _d(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return torch.sigmoid(self.d(x) if y is None else self.d(x, y)).view(-1)

    def step(self) -> None:
        if self.pos + self.batch > len(self.order):  # a new epoch
            self.order, self.pos = torch.randperm(len(self.data), generator=self.gen), 0
        pick = self.order[self.pos : self.pos + self.batch]
        real = self.data[pick]
        self.pos += self.batch
        b = len(real)
        y_r = y_f = None
        if self.labels is not None:
            y_r = self.labels[pick]
            y_f = self.labels[torch.randint(len(self.labels), (b,), generator=self.gen)]
        ones, zeros = torch.ones(b), torch.zeros(b)
        self.d.zero_grad()
        err_real = self.crit(self._d(real, y_r), ones)
        err_real.backward()
        z = torch.randn(b, self.nz, generator=self.gen)
        fake = self.g(z) if y_f is None else self.g(z, y_f)
        err_fake = self.crit(self._d(fake.detach(), y_f), zeros)
        err_fake.backward()
        self.opt_d.step()
        self.g.zero_grad()
        err_g = self.crit(self._d(fake, y_f), ones)
        err_g.backward()
        self.opt_g.step()
        _ = (err_real + err_fake).item(), err_g.item()  # the example prints these every step


def _images(name_split, root):
    x, y = load_split("fashion-mnist", name_split, data_root=root)
    return x.unsqueeze(1).float() / 127.5 - 1.0, y


class Judge:
    """FID against the test split in the shipped features, and the classifier's accuracy."""

    def __init__(self, root, n: int):
        self.test, self.y_test = _images("test", root)
        train_x, _ = _images("train", root)
        self.feat, self.clf = fashion_features(device="cpu"), fashion_logits(device="cpu").eval()
        self.test_stats = self.stats(self.test)
        keep = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))[:n]
        self.yardstick = fid_from_stats(self.test_stats, self.stats(train_x[keep]))
        self.acc_test = class_accuracy(self._logits, self.test, self.y_test, 10)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.clf(((x + 1) / 2).clamp(0, 1))

    @torch.no_grad()
    def stats(self, x: torch.Tensor) -> FeatureStats:
        s = FeatureStats()
        for i in range(0, len(x), 1000):
            s.update(self.feat(((x[i : i + 1000] + 1) / 2).clamp(0, 1)).double())
        return s

    def fid(self, x: torch.Tensor) -> float:
        return fid_from_stats(self.test_stats, self.stats(x))


def _sizes(args) -> dict:
    sizes = (("channels", args.width), ("g_channels", args.width), ("batch_size", args.batch))
    return {k: v for k, v in sizes if v}


def _run_ours(args, seed: int, judge: Judge) -> dict:
    over = {"data": "fashion-mnist", "conditional": args.conditional, "seed": seed,
            "eval_samples": 0, "plots": False, "progress": False, "threads": args.threads,
            **_sizes(args)}  # fmt: skip
    if args.steps:
        over["steps"] = args.steps
    if args.data_root:
        over["data_root"] = args.data_root
    cfg = resolve_config(over)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        res = train(cfg.replace(out=out))
        took = time.perf_counter() - t0
    g, gen, n = res.generator.eval(), torch.Generator().manual_seed(seed + 1), args.eval_n
    row = {"loop": "ours", "seed": seed, "steps": res.step, "seconds": took}
    if cfg.conditional:
        y = proportional_labels(n, res.data.class_counts().cpu(), gen)
        row["fid"] = judge.fid(generate(g, n, cfg.z_dim, gen, labels=y))
        per = max(2, n // 10)
        y_cls = torch.arange(10).repeat_interleave(per)
        acc, per_acc = class_accuracy(judge._logits, generate(g, len(y_cls), cfg.z_dim, gen,
                                                              labels=y_cls), y_cls, 10)  # fmt: skip
        acc_t, per_t = judge.acc_test
        row["acc_ratio"] = acc / acc_t
        row["acc_ratio_min"] = min(a / t for a, t in zip(per_acc, per_t) if t > 0)
    elif res.data.n_classes:  # clusters (cfg.clusters): drawn in proportion
        y = proportional_labels(n, res.data.class_counts().cpu(), gen)
        row["fid"] = judge.fid(generate(g, n, cfg.z_dim, gen, labels=y))
    else:
        row["fid"] = judge.fid(generate(g, n, cfg.z_dim, gen))
    return row


def _run_plain(args, seed: int, seconds: float, judge: Judge, data: torch.Tensor) -> dict:
    torch.manual_seed(seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    w = args.width or 64
    g, d = DCGANGenerator(100, (1, 28, 28), channels=w), DCGANDiscriminator((1, 28, 28), channels=w)
    loop = PlainDCGAN(g, d, data, nz=100, seed=seed, batch=args.batch or 64)
    steps, t0 = 0, time.perf_counter()
    while steps < args.min_plain_steps or time.perf_counter() - t0 < seconds:
        loop.step()
        steps += 1
    g.eval()
    with torch.no_grad():
        z = torch.randn(args.eval_n, 100, generator=torch.Generator().manual_seed(seed + 1))
        x = torch.cat([g(z[i : i + 1000]) for i in range(0, len(z), 1000)])
    return {"loop": "plain", "seed": seed, "steps": steps, "seconds": time.perf_counter() - t0,
            "fid": judge.fid(x)}  # fmt: skip


def _step_times(args, data: torch.Tensor) -> dict[str, float]:
    """ms/step of the trainer and of the plain loop on the preset's own networks."""
    over = {"data": "fashion-mnist", "conditional": False, "eval_samples": 0, "plots": False,
            "progress": False, "threads": args.threads, "log_every": 1, **_sizes(args)}  # fmt: skip
    if args.data_root:
        over["data_root"] = args.data_root
    cfg = resolve_config(over)
    # the widths the trainer picks on this CPU (gan.training.start.float32_width)
    cfg = float32_width(cfg, not (cfg.amp and cpu_bf16()))
    labels = None
    if cfg.clusters:  # the preset's networks are conditional on its clusters
        labels = cluster_labels(data, cfg.clusters, method=cfg.cluster_method)
    torch.manual_seed(0)
    g0, d0 = build_models(cfg, (1, 28, 28), n_classes=cfg.clusters)
    times: dict[str, list[float]] = {"trainer": [], "plain loop": []}
    n = args.step_count
    for _ in range(args.step_repeats):
        with tempfile.TemporaryDirectory() as out:
            train(cfg.replace(out=out, steps=n + 1, ckpt_every=0))
            logged = [
                r["sec_per_step"]
                for r in read_jsonl(f"{out}/log.jsonl")
                if r.get("kind") == "train" and r["step"] > 1
            ]  # step 1: warm-up
            times["trainer"].append(statistics.median(logged))
        loop = PlainDCGAN(copy.deepcopy(g0), copy.deepcopy(d0), data, nz=cfg.z_dim, seed=0,
                          batch=cfg.batch_size, labels=labels)  # fmt: skip
        loop.step()  # warm-up, as the trainer's step 1
        each = []
        for _ in range(n):
            t0 = time.perf_counter()
            loop.step()
            each.append(time.perf_counter() - t0)
        times["plain loop"].append(statistics.median(each))
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument(
        "--conditional", action="store_true", help="fashion-mnist-cond (else fashion-mnist)"
    )
    p.add_argument("--steps", type=int, default=0, help="our steps (0: the preset's)")
    p.add_argument("--eval-n", type=int, default=5000, help="generated samples for FID")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--min-plain-steps", type=int, default=1)
    p.add_argument("--step-count", type=int, default=20, help="timed steps per repeat")
    p.add_argument("--step-repeats", type=int, default=3)
    p.add_argument("--json", default=None, help="also write the rows here")
    p.add_argument("--width", type=int, default=0, help="channels of every network (0: 64)")
    p.add_argument("--batch", type=int, default=0, help="batch size of every loop (0: 64)")
    args = p.parse_args(argv)
    judge = Judge(args.data_root, args.eval_n)
    data, _ = _images("train", args.data_root)
    rows = []
    for seed in args.seeds:
        ours = _run_ours(args, seed, judge)
        rows += [ours, _run_plain(args, seed, ours["seconds"], judge, data)]
    steps = _step_times(args, data)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, preset "
          f"fashion-mnist{'-cond' if args.conditional else ''}, FID in the shipped fashion "
          f"features, {args.eval_n} samples vs the 10,000 test images; FID(train, test) at "
          f"equal count = {judge.yardstick:.3f}; classifier test accuracy "
          f"{judge.acc_test[0]:.4f}")  # fmt: skip
    print(f"{'loop':<7}{'seed':>5}{'steps':>8}{'seconds':>9}{'FID':>9}{'FID/yard':>10}"
          f"{'acc/test':>10}{'worst':>8}")  # fmt: skip
    for r in rows:
        acc = f"{r['acc_ratio']:>10.3f}{r['acc_ratio_min']:>8.3f}" if "acc_ratio" in r else ""
        print(f"{r['loop']:<7}{r['seed']:>5}{r['steps']:>8}{r['seconds']:>9.0f}{r['fid']:>9.3f}"
              f"{r['fid'] / judge.yardstick:>10.2f}{acc}")  # fmt: skip
    summary = {}
    for loop in ("ours", "plain"):
        f = [r["fid"] for r in rows if r["loop"] == loop]
        summary[loop] = (statistics.mean(f), statistics.pstdev(f))
        print(f"{loop}: FID mean {summary[loop][0]:.3f} ± {summary[loop][1]:.3f} over "
              f"{len(f)} seed(s)")  # fmt: skip
    print(f"FID ratio plain / ours: {summary['plain'][0] / summary['ours'][0]:.2f}")
    print(f"step (same networks): trainer {steps['trainer'] * 1e3:.1f} ms, plain loop "
          f"{steps['plain loop'] * 1e3:.1f} ms, speed ratio "
          f"{steps['plain loop'] / steps['trainer']:.2f}x")  # fmt: skip
    out = {"rows": rows, "yardstick": judge.yardstick, "step_seconds": steps}
    if args.json:
        with open(args.json, "x") as fh:  # never replaces a file
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
