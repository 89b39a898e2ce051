"""The records a training run passes between its phases; what ``train`` returns or raises.

:class:`Run` is fixed once the run has started (configuration, device, processes, data, loss),
:class:`Nets` holds the networks, their optimisers and the options a step needs, and
:class:`State` is what changes while training (the step, the schedule's anchor, the random
stream, the watchdog).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan.augment import AdaptiveProbability, DiffAugment
from gan.config import TrainConfig
from gan.data import Data
from gan.ema import EMA
from gan.losses import GANLoss
from gan.watchdog import Watchdog

__all__ = ["Nets", "Run", "State", "TrainResult", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """Raised when a loss or a weight becomes NaN/inf; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        step: generator steps done.
        generator: the generator to sample from (the EMA copy when ``ema > 0``), eval mode.
        discriminator: the trained discriminator.
        data: the training distribution.
        evaluation: the final evaluation (flat dict; empty on ranks other than 0).
        seconds_per_step: mean wall time per step over the logged intervals of this call.
    """

    run_dir: Path
    step: int
    generator: nn.Module
    discriminator: nn.Module
    data: Data
    evaluation: dict[str, Any]
    seconds_per_step: float


@dataclass
class Run:
    """The fixed set-up of a run, shared by the phases."""

    cfg: TrainConfig
    device: torch.device
    rank: int
    world: int
    run_dir: Path
    data: Data
    loss: GANLoss


@dataclass
class Nets:
    """The networks, their optimisers and what a step needs to run them."""

    g: nn.Module
    d: nn.Module
    g_fwd: Callable  # g, or its compiled form
    d_fwd: Callable
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: EMA | None
    amp: Any  # bf16 autocast (start.autocast_kind), else a null context
    joint_d: bool  # one D forward on cat(real, fake) off R1 steps: exact without batch coupling
    r1_scale: float
    gp_weight: float
    n_classes: int = 0  # > 0: g(z, y) and d(x, y)
    class_p: torch.Tensor | None = None  # training's class probabilities (None: the data's)
    aug: DiffAugment | None = None  # applied to every image D sees
    ada: AdaptiveProbability | None = None  # sets aug.p from D's real logits
    d_params: list = field(default_factory=list)  # D's parameters, listed once (not per step)
    g_params: list = field(default_factory=list)  # G's, likewise

    def __post_init__(self) -> None:
        self.d_params = list(self.d.parameters())
        self.g_params = list(self.g.parameters())

    @property
    def g_eval(self) -> nn.Module:
        """The generator to evaluate and sample from (the EMA copy when there is one)."""
        return self.ema.model if self.ema is not None else self.g


@dataclass
class State:
    """What changes while training: the step, the schedule's anchor, the data/noise RNG."""

    step: int
    anchor: tuple[int, float]
    rng: torch.Generator
    watchdog: Watchdog | None = None
    stopped: bool = False  # the watchdog ended the run
