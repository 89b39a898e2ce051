"""PNG plots of a run (matplotlib with the Agg backend, imported lazily).

``samples.png``: generated points over the data for 2-D sets, an image grid for images;
``curves.png``: small multiples, one panel per quantity against steps (losses, D(real) and
D(fake), the learning rate, then each evaluation metric on its own axes, raw and after
rejection sampling together; a metric evaluated once is listed in a "final evaluation"
panel instead of a one-point curve); ``grids/samples_step<N>.png``: the image grid of the
evaluation at step N (:func:`grid_path`); ``classes.png``: one row per class for conditional
runs. Every file is written atomically.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from torch import nn

from gan.data import Data
from gan.reporting import read_jsonl
from metrics.io.atomic import atomic_open

__all__ = ["final_branch", "grid_path", "plot_class_grid", "plot_curves", "plot_image_grid",
           "plot_run", "plot_samples"]  # fmt: skip

#: Folder of the per-evaluation image grids inside a run directory.
GRIDS = "grids"


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
        plot_image_grid(fake[:64], path)
        return
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


def grid_path(run_dir: str | Path, step: int) -> Path:
    """``run_dir/grids/samples_step<step>.png``: where the grid of an evaluation goes."""
    return Path(run_dir) / GRIDS / f"samples_step{int(step)}.png"


def _tile(images: torch.Tensor, rows: int, cols: int, pad: int) -> torch.Tensor:
    """``(rows·cols, C, H, W)`` in [−1, 1] → one ``(H', W', C)`` canvas in [0, 1]."""
    n, c, h, w = images.shape
    canvas = torch.ones(rows * (h + pad) + pad, cols * (w + pad) + pad, c)
    for i in range(n):
        r, q = divmod(i, cols)
        y0, x0 = pad + r * (h + pad), pad + q * (w + pad)
        canvas[y0 : y0 + h, x0 : x0 + w] = (images[i].permute(1, 2, 0) + 1) / 2
    return canvas.clamp(0, 1)


def _show(ax, canvas: torch.Tensor) -> None:
    grey = canvas.shape[-1] == 1
    ax.imshow(canvas.squeeze(-1).numpy() if grey else canvas.numpy(),
              cmap="gray" if grey else None, vmin=0, vmax=1, interpolation="nearest")  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def _cell_inches(h: int) -> float:
    # Small images are drawn larger (crisp nearest-neighbour pixels), large ones at ~1 px.
    return max(0.45, min(1.3, h / 40))


def plot_image_grid(
    images: torch.Tensor, path: str | Path, *, cols: int = 8, title: str | None = None
) -> None:
    """A grid of images ``(N, C, H, W)`` in [−1, 1], ``cols`` per row, written atomically.

    The folder of ``path`` is created if needed.
    """
    plt = _plt()
    x = images.detach().float().cpu()
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"images must be (N, C, H, W) with N >= 1, got {tuple(x.shape)}")
    cols = min(cols, len(x))
    rows = -(-len(x) // cols)
    pad = max(1, x.shape[-1] // 16)
    cell = _cell_inches(x.shape[-1])
    fig, ax = plt.subplots(figsize=(cols * cell, rows * cell + (0.35 if title else 0)))
    _show(ax, _tile(x, rows, cols, pad))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout(pad=0.3)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _save(fig, path, dpi=max(100, int(2 * x.shape[-1] / cell)))
    plt.close(fig)


def plot_class_grid(
    images: torch.Tensor, labels: torch.Tensor, class_names: tuple[str, ...], path: str | Path,
    *, title: str | None = None,
) -> None:  # fmt: skip
    """The conditional grid: one row per class, its name on the left, written atomically.

    ``images`` ``(N, C, H, W)`` in [−1, 1] with ``labels`` ``(N,)``; row k shows the images of
    class k in their order (as many columns as the most frequent class has images).
    """
    plt = _plt()
    x, y = images.detach().float().cpu(), torch.as_tensor(labels).cpu()
    k = len(class_names)
    if x.ndim != 4 or len(x) != len(y) or k < 1:
        raise ValueError(f"images (N, C, H, W) need one label each and class_names; got "
                         f"{tuple(x.shape)}, {len(y)} labels, {k} classes")  # fmt: skip
    rows = [x[y == c] for c in range(k)]
    cols = max(1, max(len(r) for r in rows))
    c, h, w = x.shape[1:]
    cell = _cell_inches(h)
    fig, axes = plt.subplots(k, 1, figsize=(cols * cell + 0.9, k * cell + (0.4 if title else 0)),
                             squeeze=False)  # fmt: skip
    for ax, r, name in zip(axes[:, 0], rows, class_names):
        blank = -torch.ones(cols - len(r), c, h, w)  # a short class is padded with black
        _show(ax, _tile(torch.cat([r, blank]), 1, cols, max(1, w // 16)))
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, h_pad=0.1)
    _save(fig, path, dpi=max(100, int(2 * h / cell)))
    plt.close(fig)


_TRAIN_PANELS = (("losses", ("loss_d", "loss_g")), ("D outputs", ("d_real", "d_fake")),
                 ("learning rate", ("lr_d", "lr_g")))  # fmt: skip
_NOT_METRICS = ("kind", "step", "final", "n_modes", "js_fit_steps", "n_generated")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _eval_metrics(evals: list[dict]) -> list[str]:
    """Metric names in first-seen order; no error bars, per-class entries or drs_ twins."""
    names: list[str] = []
    for r in evals:
        for k, v in r.items():
            if k in _NOT_METRICS or k in names or not _is_number(v):
                continue
            if k.endswith("_stderr") or re.search(r"_\d+$", k) or k.startswith("drs_"):
                continue
            names.append(k)
    for r in evals:  # a drs_ metric without its raw twin still gets a panel
        names += [k for k in r if k.startswith("drs_") and k[4:] not in names and k not in names
                  and not k.endswith("_stderr") and _is_number(r[k])]  # fmt: skip
    return names


def final_branch(records: list[dict]) -> tuple[list[dict], list[dict], list[tuple[int, int]]]:
    """Split a log at its watchdog rollbacks: ``(kept, abandoned, [(step, best_step)])``.

    A rollback at step s to the best checkpoint b undoes the steps b+1..s: their train and
    eval records move to ``abandoned``, so the kept ones rise in step without repeats.
    """
    kept: list[dict] = []
    abandoned: list[dict] = []
    rollbacks: list[tuple[int, int]] = []
    for r in records:
        if r.get("kind") == "watchdog" and r.get("action") == "rollback":
            best = int(r.get("best_step") or 0)
            undone = [x for x in kept if x.get("kind") in ("train", "eval") and x["step"] > best]
            abandoned += undone
            kept = [x for x in kept if not any(x is u for u in undone)]
            rollbacks.append((int(r["step"]), best))
        kept.append(r)
    return kept, abandoned, rollbacks


def plot_curves(log_path: str | Path, path: str | Path) -> None:
    """Small multiples of a run's ``log.jsonl``: one panel per training quantity and metric.

    Training panels: losses, D(real)/D(fake), learning rates. Evaluation panels: each metric
    on its own axes, points joined by lines over steps, with its ``_stderr`` as error bars
    and its ``drs_`` twin (after rejection sampling) on the same axes; the final evaluation
    is a filled marker. After a watchdog rollback the undone steps are drawn faint and the
    best step it went back to is marked (see :func:`final_branch`). Metrics with a single
    evaluation are listed as text in one "final evaluation" panel; per-class entries
    (``intra_fid_3``) are left to their means.
    """
    plt = _plt()
    records, abandoned, rollbacks = final_branch(read_jsonl(log_path))
    train = [r for r in records if r.get("kind") == "train"]
    gone = [r for r in abandoned if r.get("kind") == "train"]
    evals = sorted((r for r in records if r.get("kind") == "eval"), key=lambda r: r["step"])
    panels: list[tuple[str, list[tuple[str, list, list, list]]]] = []
    for title, keys in _TRAIN_PANELS:
        series = []
        for k in keys:
            pts = [(r["step"], r[k]) for r in train if _is_number(r.get(k))]
            if pts:
                series.append((k, *map(list, zip(*pts)), []))
            pts = [(r["step"], r[k]) for r in gone if _is_number(r.get(k))]
            if pts:  # the steps a watchdog rollback undid, drawn faint
                series.append((f"{k} (rolled back)", *map(list, zip(*pts)), []))
        if series:
            panels.append((title, series))
    single: list[tuple[str, float]] = []
    for name in _eval_metrics(evals):
        series = []
        for k in (name, f"drs_{name}") if not name.startswith("drs_") else (name,):
            rows = [r for r in evals if _is_number(r.get(k))]
            err = [r.get(f"{k}_stderr") for r in rows]
            err = err if all(_is_number(e) for e in err) else []
            if rows:
                series.append((k, [r["step"] for r in rows], [r[k] for r in rows], err))
        if series and max(len(s[1]) for s in series) >= 2:
            panels.append((name, series))
        else:
            single += [(k, ys[-1]) for k, _, ys, _ in series]
    n = len(panels) + bool(single)
    if n == 0:
        return
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.7 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax, (title, series) in zip(flat, panels):
        is_eval = title not in {t for t, _ in _TRAIN_PANELS}
        for k, xs, ys, err in series:
            style = {"marker": "o", "markersize": 3.5, "linewidth": 1.2} if is_eval else \
                {"linewidth": 0.9}  # fmt: skip
            if k.endswith("(rolled back)"):
                style = {"linewidth": 0.7, "color": "0.6", "alpha": 0.6}
            if err:
                ax.errorbar(xs, ys, yerr=err, capsize=2, label=k, **style)
            else:
                ax.plot(xs, ys, label=k, **style)
        for _, best in rollbacks:
            ax.axvline(best, color="0.4", linestyle=":", linewidth=0.8)
        ys_all = [y for _, _, ys, _ in series for y in ys]
        if is_eval and min(ys_all) > 0 and max(ys_all) / min(ys_all) > 30:
            ax.set_yscale("log")  # FID/KID fall by orders of magnitude early on
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, linewidth=0.5)
        if len(series) > 1:
            ax.legend(fontsize=7, frameon=False)
    if single:
        ax = flat[len(panels)]
        step = evals[-1]["step"] if evals else 0
        lines = [f"{k:<22}{v:>12.4g}" for k, v in single[:18]]
        ax.text(0.02, 0.98, "\n".join(lines), family="monospace", fontsize=7.5, va="top",
                transform=ax.transAxes)  # fmt: skip
        ax.set_title(f"final evaluation (step {step})", fontsize=10)
        ax.axis("off")
    for ax in flat[n:]:
        ax.axis("off")
    fig.tight_layout()
    _save(fig, path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def plot_run(run_dir: str | Path, g: nn.Module, data: Data, cfg) -> None:
    """Write ``samples.png`` and ``curves.png`` (and ``classes.png`` when conditional)."""
    from gan.conditional import MarginalGenerator, generate, n_classes_of

    run_dir = Path(run_dir)
    device = next(g.parameters()).device
    gen = torch.Generator(device).manual_seed(cfg.seed)
    n = 64 if data.is_image else 2500
    k = n_classes_of(g)
    g_marg = MarginalGenerator(g, data.class_counts(), seed=cfg.seed) if k else g
    fake = g_marg(torch.randn(n, cfg.z_dim, generator=gen, device=device))
    plot_samples(fake, data, run_dir / "samples.png", seed=cfg.seed)
    if k and data.is_image:
        per = max(1, min(12, 120 // k))
        y = torch.arange(k, device=device).repeat_interleave(per)
        x = generate(g, len(y), cfg.z_dim, gen, labels=y)
        plot_class_grid(x, y, data.class_names, run_dir / "classes.png")
    plot_curves(run_dir / "log.jsonl", run_dir / "curves.png")
