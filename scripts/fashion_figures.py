"""The README's Fashion-MNIST figures from a conditional run: a per-class sample grid and curves.

``classes.png``: one row per class (label order: T-shirt/top, Trouser, Pullover, Dress, Coat,
Sandal, Shirt, Sneaker, Bag, Ankle boot), 8 samples of the EMA generator each (noise seed 0),
28-px tiles at 2x, no axes; ``curves.png``: FID and KID in the shipped fashion features and
the shipped classifier's accuracy (mean, worst class, real test images) against steps, from
the run's periodic evaluations (``log.jsonl``). Both written atomically, over an existing
file only with ``--overwrite``.

Usage:
    .venv/bin/python scripts/fashion_figures.py RUN_DIR OUT_PREFIX [--overwrite]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan.sampling import load_run  # noqa: E402
from metrics.io.atomic import atomic_open  # noqa: E402

PER, PAD = 8, 2


def class_grid(run: Path, out: Path, overwrite: bool = False) -> None:
    from PIL import Image

    cfg, g, _, data = load_run(run)
    k = data.n_classes
    y = torch.arange(k).repeat_interleave(PER)
    z = torch.randn(len(y), cfg.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x = ((g(z, y) + 1) * 127.5).clamp(0, 255).round().to(torch.uint8)[:, 0].numpy()
    s = x.shape[-1]
    canvas = np.full((k * (s + PAD) + PAD, PER * (s + PAD) + PAD), 255, np.uint8)
    for i in range(len(y)):
        r, c = divmod(i, PER)
        canvas[PAD + r * (s + PAD) : PAD + r * (s + PAD) + s,
               PAD + c * (s + PAD) : PAD + c * (s + PAD) + s] = x[i]  # fmt: skip
    img = Image.fromarray(canvas)
    img = img.resize((img.width * 2, img.height * 2), Image.NEAREST)
    with atomic_open(out, overwrite=overwrite, what="grid") as fh:
        img.save(fh, format="png", optimize=True)


def curves(run: Path, out: Path, overwrite: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ev = [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
          if r.get("kind") == "eval"]  # fmt: skip
    steps = [e["step"] for e in ev]
    fig, ax = plt.subplots(1, 3, figsize=(9, 2.4))
    ax[0].plot(steps, [e["fid"] for e in ev], "o-", label="FID(gen, test)")
    ax[0].axhline(ev[0]["fid_train_test"], color="0.5", ls="--", label="FID(train, test)")
    ax[0].axhline(3 * ev[0]["fid_train_test"], color="0.5", ls=":", label="3 × FID(train, test)")
    ax[0].set_yscale("log")
    # plain numbers on the log axis: 20 and 50 read faster than 2 × 10¹ and 5 × 10¹
    ax[0].set_yticks([t for t in (5, 10, 20, 50, 100, 200, 500, 1000)
                      if min(ev[0]["fid_train_test"], *(e["fid"] for e in ev)) / 1.5 <= t
                      <= 1.5 * max(e["fid"] for e in ev)], minor=False)  # fmt: skip
    ax[0].yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax[0].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax[0].set_title("FID, fashion features", fontsize=9)
    ax[0].legend(fontsize=7)
    ax[1].plot(steps, [e["kid"] for e in ev], "o-")
    ax[1].set_title("KID, fashion features", fontsize=9)
    ax[2].plot(steps, [e["class_accuracy"] for e in ev], "o-", label="mean")
    ax[2].plot(steps, [e["class_accuracy_min"] for e in ev], "s-", label="worst class")
    ax[2].axhline(ev[0]["class_accuracy_test"], color="0.5", ls="--", label="real test images")
    ax[2].set_title("classifier accuracy", fontsize=9)
    ax[2].set_ylim(0, 1)
    ax[2].legend(fontsize=7)
    for a in ax:
        a.set_xlabel("step", fontsize=8)
        a.tick_params(labelsize=7)
        a.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_open(out, overwrite=overwrite, what="curves") as fh:
        fig.savefig(fh, dpi=80, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("prefix", help="output prefix: PREFIX-classes.png and PREFIX-curves.png")
    p.add_argument("--overwrite", action="store_true", help="replace existing figures")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    class_grid(args.run, Path(f"{args.prefix}-classes.png"), args.overwrite)
    curves(args.run, Path(f"{args.prefix}-curves.png"), args.overwrite)


if __name__ == "__main__":
    main()
