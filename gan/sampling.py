"""Sampling from a finished (or interrupted) run: raw, or refined by rejection sampling.

A run's weights come from ``best.pt`` (the best evaluation the watchdog kept) when it exists,
else from ``checkpoint.pt`` (the last); ``checkpoint="last"`` always takes the last.
Conditional runs sample the classes in proportion to the data, or one class (``label``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan import rundir
from gan.checkpoint import check_keys, load_checkpoint, load_state
from gan.config import TrainConfig
from gan.data import Data, load_data
from gan.models import build_models, plain_discriminator
from gan.rejection import DRSResult, calibrate_discriminator, rejection_sample

__all__ = ["BEST", "CHECKPOINTS", "checkpoint_path", "load_run", "sample_run"]

#: The watchdog's best checkpoint, next to ``checkpoint.pt`` in a run directory.
BEST = "best.pt"
CHECKPOINTS = ("best", "last")


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path:
    """The checkpoint of a run to load.

    The checkpoint of a run to load: ``best.pt`` if ``which="best"`` and it exists, else
    ``checkpoint.pt``.

    Raises:
        ValueError: ``which`` is not ``"best"`` or ``"last"``.
    """
    if which not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}; got {which!r}")
    run_dir = Path(run_dir)
    best = run_dir / BEST
    return best if which == "best" and best.is_file() else run_dir / rundir.CHECKPOINT


def load_run(
    run_dir: str | Path, *, device: str | torch.device = "cpu", use_ema: bool = True,
    checkpoint: str = "best",
) -> tuple[TrainConfig, nn.Module, nn.Module, Data]:  # fmt: skip
    """``(config, generator, discriminator, data)`` from a run's checkpoint (weights only).

    The generator is the EMA copy when the run kept one (``use_ema``), in eval mode. The
    checkpoint is :func:`checkpoint_path` of ``checkpoint``; a conditional run's data carries
    its labels and both models are conditional.

    Raises:
        ValueError: no such run, an unreadable ``config.json`` or checkpoint, or a checkpoint
            whose entries are missing or do not match the configuration.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{str(run_dir)!r} is not a run directory (no such folder)")
    cfg = rundir.read_config(run_dir)
    path = checkpoint_path(run_dir, checkpoint)
    ck = load_checkpoint(path, map_location=device)
    check_keys(ck, ("g", "d"), path)
    data = load_data(cfg.data, image_size=cfg.image_size, conditional=cfg.conditional,
                     data_root=cfg.data_root)  # fmt: skip
    if cfg.clusters:  # the cluster labels it trained on (gan.clusters)
        from gan.clusters import with_clusters
        from gan.training.start import subset

        check_keys(ck, ("clusters",), path)
        labels = ck["clusters"]
        data = subset(data, cfg.data_fraction)
        if (
            not isinstance(labels, torch.Tensor)
            or labels.ndim != 1
            or len(labels) != len(data.train)
            or int(labels.max()) + 1 != cfg.clusters
        ):
            raise ValueError(f"checkpoint {path}: its cluster labels do not match "
                             f"clusters={cfg.clusters} and the {len(data.train)} training "
                             "samples")  # fmt: skip
        data = with_clusters(data, labels)
    data = data.to(torch.device(device))
    g, d = build_models(cfg, data.shape, n_classes=data.n_classes)
    ema = ck.get("g_ema") if use_ema else None
    if isinstance(ema, dict) and "model" in ema:
        load_state(g, ema["model"], "the generator's EMA", path)
    else:
        load_state(g, ck["g"], "the generator", path)
    load_state(d, ck["d"], "the discriminator", path)
    return cfg, g.to(device).eval(), d.to(device).eval(), data


def sample_run(
    run_dir: str | Path,
    n: int,
    *,
    rejection: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    label: int | None = None,
    checkpoint: str = "best",
) -> tuple[torch.Tensor, DRSResult | None]:
    """Draw ``n`` samples ``(n, *shape)`` from a run; with ``rejection`` refine them by DRS.

    Samples are in the data's own units and shape (:mod:`gan.data`; digits: ``(n, 1, 8, 8)``
    in [−1, 1]). A conditional run draws class ``label`` only, or without it the classes in
    proportion to the training data (:func:`gan.conditional.proportional_labels`).

    Returns:
        ``(samples, drs)`` where ``drs`` holds the acceptance rate (None without rejection).

    Raises:
        ValueError: a bad ``n``; ``label`` for an unconditional run or out of range (the
            message names the valid labels); ``rejection`` for a conditional run.
    """
    from gan.conditional import generate, proportional_labels

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if label is not None and (isinstance(label, bool) or not isinstance(label, int)):
        raise TypeError(f"label must be an int, got {type(label).__name__}")
    cfg, g, d, data = load_run(run_dir, device=device, checkpoint=checkpoint)
    k = data.n_classes
    if label is not None and (not k or cfg.clusters):
        raise ValueError(f"--label applies to conditional runs only; {run_dir} is unconditional"
                         + (f" (its networks are conditioned on {k} clusters of its data)"
                            if cfg.clusters else ""))  # fmt: skip
    if label is not None and not 0 <= label < k:
        names = ", ".join(f"{i} ({c})" if c != str(i) else str(i)
                          for i, c in enumerate(data.class_names))  # fmt: skip
        raise ValueError(f"--label must be one of {names}; got {label}")
    gen = torch.Generator(torch.device(device)).manual_seed(seed)
    if k and rejection:
        raise ValueError("rejection sampling needs an unconditional discriminator; this run's "
                         + ("is conditioned on its clusters of the data" if cfg.clusters
                            else "is conditional"))  # fmt: skip
    if k:
        y = (torch.full((n,), label, dtype=torch.int64, device=gen.device) if label is not None
             else proportional_labels(n, data.class_counts(), gen))  # fmt: skip
        return generate(g, n, cfg.z_dim, gen, labels=y), None
    if not rejection:
        return generate(g, n, cfg.z_dim, gen), None
    if cfg.pac > 1:
        d = plain_discriminator(cfg, data.shape).to(device)
    d_cal = calibrate_discriminator(
        d, g, data.sample, z_dim=cfg.z_dim, steps=3000 if cfg.pac == 1 else 6000, generator=gen
    )
    drs = rejection_sample(g, d_cal, n, z_dim=cfg.z_dim, generator=gen)
    return drs.samples, drs
