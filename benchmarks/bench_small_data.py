"""Small data: does DiffAugment lower FID when D sees only 10 % of the digits training set?

Protocol (issue 14's target; Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
GAN Training", §4.2 trains on 10 % / 20 % of CIFAR-10): the ``digits`` preset (MLP pair, R1,
EMA) on ``data_fraction=0.1`` of the stored training set (one fixed subset), once without
augmentation and once with DiffAugment (p = 1, real and fake images in D's and G's steps),
the same seeds for both. Each run is scored by the trainer's own final evaluation:
FID(generated, test) in the shipped digits network's features, and FID(subset, test) for
scale. Target: the mean FID over the seeds is ≥ 25 % lower with DiffAugment.

    python benchmarks/bench_small_data.py                              # 3 seeds, 20k steps
    python benchmarks/bench_small_data.py --policy color,translation,cutout --steps 5000

Runs go to ``--out/<augment>-<policy>-s<seed>``; a finished run (its ``evaluation.json``) is
reused. ``--jobs`` runs trainings in parallel processes of one CPU thread each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch


def _run(args: tuple[str, str, int, int, float, str]) -> dict:
    augment, policy, seed, steps, fraction, out = args
    from gan.config import TrainConfig
    from gan.training import train

    run = Path(out)
    if not (run / "evaluation.json").is_file():
        cfg = TrainConfig.from_preset(
            "digits", data_fraction=fraction, steps=steps, augment=augment,
            augment_policy=policy, seed=seed, rejection=False, threads=1, progress=False,
            plots=False, ckpt_every=0, out=str(run),
        )  # fmt: skip
        t0 = time.perf_counter()
        train(cfg, overwrite=run.exists())  # an unfinished run starts again
        (run / "took.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
    ev = json.loads((run / "evaluation.json").read_text())
    took = (run / "took.txt").read_text().strip() if (run / "took.txt").is_file() else "?"
    return {"augment": augment, "seed": seed, "fid": ev["fid"],
            "fid_subset_test": ev["fid_train_test"], "took_s": took}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0-2", help="e.g. 0-2 or 0,3")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--policy", default="translation", help="DiffAugment's transforms")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="runs/bench_small_data")
    a = ap.parse_args()
    if "-" in a.seeds:
        lo, hi = (int(s) for s in a.seeds.split("-"))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(s) for s in a.seeds.split(",")]
    tag = a.policy.replace(",", "+")
    jobs = [
        (aug, a.policy, s, a.steps, a.fraction, f"{a.out}/{aug}-{tag}-f{a.fraction}-{a.steps}-s{s}")
        for s in seeds
        for aug in ("none", "diffaug")
    ]
    print(f"torch {torch.__version__}, CPU, {a.jobs} processes x 1 thread; digits preset, "
          f"data_fraction {a.fraction}, {a.steps} steps, DiffAugment policy {a.policy!r}")  # fmt: skip
    with ProcessPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(_run, jobs))
    print(f"{'augment':8} {'seed':>4} {'FID(gen, test)':>15} {'FID(subset, test)':>18} {'s':>7}")
    for r in rows:
        print(f"{r['augment']:8} {r['seed']:>4} {r['fid']:15.2f} {r['fid_subset_test']:18.2f} "
              f"{r['took_s']:>7}")  # fmt: skip
    mean = {k: statistics.mean(r["fid"] for r in rows if r["augment"] == k)
            for k in ("none", "diffaug")}  # fmt: skip
    drop = 1 - mean["diffaug"] / mean["none"]
    verdict = "met" if drop >= 0.25 else "NOT met"
    print(f"mean FID: none {mean['none']:.2f}, DiffAugment {mean['diffaug']:.2f}: "
          f"{100 * drop:.1f} % lower (target >= 25 %: {verdict})")  # fmt: skip


if __name__ == "__main__":
    main()
