"""Sampling from a finished (or interrupted) run: raw, or refined by rejection sampling."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan import rundir
from gan.checkpoint import check_keys, load_checkpoint, load_state
from gan.config import TrainConfig
from gan.data import Data, load_data
from gan.models import build_models
from gan.rejection import DRSResult, calibrate_discriminator, rejection_sample

__all__ = ["load_run", "sample_run"]


def load_run(
    run_dir: str | Path, *, device: str | torch.device = "cpu", use_ema: bool = True
) -> tuple[TrainConfig, nn.Module, nn.Module, Data]:
    """``(config, generator, discriminator, data)`` from a run's checkpoint (weights only).

    The generator is the EMA copy when the run kept one (``use_ema``), in eval mode.

    Raises:
        ValueError: no such run, an unreadable ``config.json`` or checkpoint, or a checkpoint
            whose entries are missing or do not match the configuration.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{str(run_dir)!r} is not a run directory (no such folder)")
    cfg = rundir.read_config(run_dir)
    path = run_dir / rundir.CHECKPOINT
    ck = load_checkpoint(path, map_location=device)
    check_keys(ck, ("g", "d"), path)
    data = load_data(cfg.data, image_size=cfg.image_size).to(torch.device(device))
    g, d = build_models(cfg, data.shape)
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
) -> tuple[torch.Tensor, DRSResult | None]:
    """Draw ``n`` samples ``(n, *shape)`` from a run; with ``rejection`` refine them by DRS.

    Returns:
        ``(samples, drs)`` where ``drs`` holds the acceptance rate (None without rejection).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    cfg, g, d, data = load_run(run_dir, device=device)
    gen = torch.Generator(torch.device(device)).manual_seed(seed)
    if not rejection:
        from gan.evaluation import generate

        return generate(g, n, cfg.z_dim, gen), None
    if cfg.pac > 1:
        d = build_models(cfg.replace(pac=1), data.shape)[1].to(device)
    d_cal = calibrate_discriminator(
        d, g, data.sample, z_dim=cfg.z_dim, steps=3000 if cfg.pac == 1 else 6000, generator=gen
    )
    drs = rejection_sample(g, d_cal, n, z_dim=cfg.z_dim, generator=gen)
    return drs.samples, drs
