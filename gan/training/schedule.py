"""The learning-rate schedule: constant, then a decay; continuous when a run is extended."""

from __future__ import annotations

import math

from gan.config import TrainConfig
from gan.training.state import Nets, Run, State

__all__ = ["extended_anchor", "lr_factor", "set_lr"]


def lr_factor(cfg: TrainConfig, step: int, anchor: tuple[int, float] = (0, 1.0)) -> float:
    """Learning-rate multiplier at ``step``: constant, then a decay to ``lr_final``.

    With the default ``anchor`` the factor is 1 until ``lr_decay_start · steps``, then decays
    (linearly or along a half cosine) to ``lr_final`` at ``steps``. An ``anchor = (s0, f0)``
    is set when a resumed run changes ``steps``: the factor stays ``f0`` (the factor the old
    schedule had reached at ``s0``) until ``max(s0, lr_decay_start · steps)``, then decays from
    ``f0`` to ``lr_final`` at the new ``steps``. So the learning rate is continuous at the
    extension point and never rises: a finished run extended keeps ``lr_final``, a run
    extended mid-decay decays from where it stands over the new remaining steps, and a run
    extended before its decay started follows the new schedule exactly. With
    ``f0 = 1`` this is the plain schedule.

    Example:
        >>> cfg = TrainConfig(steps=200, lr_schedule="linear", lr_final=0.02)
        >>> lr_factor(cfg, 100), lr_factor(cfg, 150), lr_factor(cfg, 200)
        (1.0, 0.51, 0.02)
        >>> longer = cfg.replace(steps=400)  # extended at step 200, where the factor was 0.02
        >>> lr_factor(longer, 200, (200, 0.02)), lr_factor(longer, 300, (200, 0.02))
        (0.02, 0.02)
    """
    s0, f0 = anchor
    start = max(float(s0), cfg.lr_decay_start * cfg.steps)
    if cfg.lr_schedule == "constant" or step <= start:
        return f0
    # a decay shorter than a step still ends at lr_final at `steps`
    t = 1.0 if cfg.steps <= start else min(1.0, (step - start) / (cfg.steps - start))
    if cfg.lr_schedule == "linear":
        return f0 - (f0 - cfg.lr_final) * t
    return cfg.lr_final + (f0 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * t))


def extended_anchor(
    saved: dict, cfg: TrainConfig, step: int, anchor: tuple[int, float]
) -> tuple[int, float]:
    """The schedule's anchor after resuming at ``step`` with ``cfg`` (see :func:`lr_factor`).

    ``saved`` is the checkpoint's configuration: when its ``steps`` differs from ``cfg.steps``
    the new anchor is the old schedule's factor at ``step``.
    """
    if int(saved.get("steps", cfg.steps)) == cfg.steps:
        return anchor  # an interrupted run continues on its own schedule, bit for bit
    old = cfg.replace(steps=max(1, int(saved["steps"])))
    return (step, lr_factor(old, step, anchor))


def set_lr(run: Run, nets: Nets, state: State) -> None:
    """Set both optimisers' rates for the coming step: schedule × watchdog × the drill's spike."""
    cfg, wd = run.cfg, state.watchdog
    factor = lr_factor(cfg, state.step, state.anchor)
    if wd is not None:
        factor *= wd.lr_multiplier
    if cfg.lr_spike_at and state.step >= cfg.lr_spike_at and (wd is None or not wd.rollbacks):
        factor *= cfg.lr_spike  # the divergence drill, disarmed by the first rollback
    for opt, base in ((nets.opt_g, cfg.lr_g), (nets.opt_d, cfg.lr_d)):
        for group in opt.param_groups:
            group["lr"] = base * factor
