"""PNG plots of a run (matplotlib with the Agg backend, imported lazily).

``samples.png``: generated points over the data for 2-D sets, an image grid for images;
``curves.png``: losses, D(real)/D(fake) and the evaluation metrics against steps.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan.data import Data
from gan.reporting import read_jsonl
from metrics._atomic import atomic_open

__all__ = ["plot_curves", "plot_run", "plot_samples"]


def _save(fig, path: str | Path, *, dpi: int) -> None:
    # Atomic, like every file of a run: a kill mid-write leaves the previous image.
    with atomic_open(path, what="plot") as fh:
        fig.savefig(fh, dpi=dpi, format="png")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_samples(fake: torch.Tensor, data: Data, path: str | Path, *, seed: int = 0) -> None:
    """Scatter of 2-D samples over real ones, or a grid of up to 64 images."""
    plt = _plt()
    fake = fake.detach().float().cpu()
    if data.is_image:
        k = min(64, len(fake))
        cols = 8
        rows = (k + cols - 1) // cols
        c, h, w = fake.shape[1:]
        grid = torch.ones(rows * (h + 1), cols * (w + 1), c)
        for i in range(k):
            r, q = divmod(i, cols)
            grid[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = (
                fake[i].permute(1, 2, 0) + 1
            ) / 2
        fig, ax = plt.subplots(figsize=(cols, rows))
        ax.imshow(grid.clamp(0, 1).squeeze(-1).numpy(), cmap="gray" if c == 1 else None)
        ax.axis("off")
    else:
        held = data.centers if data.centers is not None else data.train
        gen = torch.Generator(device=held.device if held is not None else "cpu")
        real = data.sample(len(fake), gen.manual_seed(seed)).float().cpu()
        if real.shape[1] != 2:
            real, fake = real[:, :2], fake[:, :2]
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.4, label="data")
        ax.scatter(fake[:, 0], fake[:, 1], s=2, alpha=0.4, label="generated")
        ax.set_aspect("equal")
        ax.legend(loc="upper right", markerscale=4)
    fig.tight_layout()
    _save(fig, path, dpi=120)
    plt.close(fig)


def plot_curves(log_path: str | Path, path: str | Path) -> None:
    """Training losses, D outputs and evaluation metrics from a run's ``log.jsonl``."""
    plt = _plt()
    records = read_jsonl(log_path)
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    panels = [("losses", ["loss_d", "loss_g"]), ("D outputs", ["d_real", "d_fake"])]
    eval_keys = [k for k in (evals[-1] if evals else {}) if k not in ("kind", "step", "final")]
    eval_keys = [k for k in eval_keys if isinstance(evals[-1][k], (int, float))]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (title, keys) in zip(axes, panels):
        for k in keys:
            pts = [(r["step"], r[k]) for r in train if isinstance(r.get(k), (int, float))]
            if pts:
                ax.plot(*zip(*pts), label=k)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend()
    for k in eval_keys[:8]:
        pts = [(r["step"], r[k]) for r in evals if isinstance(r.get(k), (int, float))]
        axes[2].plot(*zip(*pts), marker="o", label=k)
    axes[2].set_title("evaluation")
    axes[2].set_xlabel("step")
    if eval_keys:
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def plot_run(run_dir: str | Path, g: nn.Module, data: Data, cfg) -> None:
    """Write ``samples.png`` and ``curves.png`` into ``run_dir``."""
    run_dir = Path(run_dir)
    device = next(g.parameters()).device
    gen = torch.Generator(device).manual_seed(cfg.seed)
    n = 64 if data.is_image else 2500
    fake = g(torch.randn(n, cfg.z_dim, generator=gen, device=device))
    plot_samples(fake, data, run_dir / "samples.png", seed=cfg.seed)
    plot_curves(run_dir / "log.jsonl", run_dir / "curves.png")
