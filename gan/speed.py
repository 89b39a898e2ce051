"""How fast a run will train: the architecture ``arch="auto"`` picks, and a slow-step warning.

* :func:`resolve_arch` — the concrete network of ``arch="auto"`` for data of a shape on a
  device; the trainer records it in the run's ``config.json``, so sampling and resuming on
  another device build the same network.
* :class:`StepTimer` — times the first steps of a run (steps 2 and 3; step 1 pays the one-off
  costs of allocation and kernel choice) and warns, in one line, when a step takes more than
  :data:`SLOW_STEP_S` seconds, with the measured time, the run's expected duration and faster
  choices. It times the run's own steps, so it costs nothing and changes nothing.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import torch

__all__ = ["SLOW_STEP_S", "StepTimer", "cpu_bf16", "faster_choices", "resolve_arch"]

#: A step slower than this (seconds) gets a warning.
SLOW_STEP_S = 1.0


def cpu_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX-512 BF16 or AMX), where autocast pays.

    Without either, torch emulates bf16 products in float32 and autocast slows a step down.
    """
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def resolve_arch(arch: str, shape: Sequence[int], device: torch.device, *, pac: int = 1) -> str:
    """The network ``arch="auto"`` stands for (other values are returned as they are).

    Vectors: ``mlp``. Images: the SNGAN ResNet on CUDA for RGB sides it builds from 32 px up
    (where a GPU trains it at a useful speed), else the DCGAN (28 px and grey images
    included, every size on the CPU, where a ResNet step takes seconds, and PacGAN packing,
    which the ResNet lacks).

    Example:
        >>> resolve_arch("auto", (1, 28, 28), torch.device("cpu"))
        'dcgan'
        >>> resolve_arch("auto", (3, 32, 32), torch.device("cuda")), resolve_arch("mlp", (2,), None)
        ('resnet', 'mlp')
    """
    if arch != "auto":
        return arch
    if len(shape) != 3:
        return "mlp"
    from gan.nets import IMAGE_SIZES

    c, h, _ = shape
    on_gpu = device is not None and device.type == "cuda"
    if on_gpu and pac == 1 and c == 3 and h >= 32 and h in IMAGE_SIZES:
        return "resnet"
    return "dcgan"


def faster_choices(cfg) -> list[str]:
    """Options that make a step of ``cfg`` cheaper, most effective first."""
    out = []
    if cfg.arch == "resnet":
        out.append("--arch dcgan")
        out.append(f"--resnet-ch {max(8, (cfg.resnet_ch or 64) // 2)}")
    elif cfg.arch in ("dcgan", "auto"):
        if cfg.g_channels > cfg.channels:
            out.append(f"--g-channels {max(8, cfg.g_channels // 2)}")
        out.append(f"--channels {max(8, cfg.channels // 2)}")
    else:
        out.append(f"--hidden {max(8, cfg.hidden // 2)}")
    if cfg.n_critic > 1:
        out.append("--n-critic 1")
    if cfg.batch_size > 32:
        out.append(f"--batch-size {cfg.batch_size // 2}")
    if cfg.image_size and cfg.image_size > 32:
        out.append("a smaller --image-size")
    if not torch.cuda.is_available():
        out.append("a GPU")
    return out


class StepTimer:
    """Wall time of steps 2–3 of a run, and a one-line warning when they are slow.

    Call :meth:`after_step` after each step with the step number; it synchronises the device
    only at those first steps (on CUDA), never later.

    Example:
        >>> from gan.config import TrainConfig
        >>> t = StepTimer(TrainConfig(), torch.device("cpu"), first=0)
        >>> for s in (1, 2, 3):
        ...     t.after_step(s)
        >>> t.seconds_per_step is not None and t.seconds_per_step < 1.0
        True
    """

    def __init__(self, cfg, device: torch.device, *, first: int, warn: bool = True):
        self.cfg, self.device, self.first, self.warn = cfg, device, first, warn
        self.marks: list[float] = []
        self.seconds_per_step: float | None = None

    def after_step(self, step: int) -> None:
        """Record the time after ``step`` (only steps first + 1 … first + 3 count)."""
        k = step - self.first
        if k < 1 or k > 3 or self.seconds_per_step is not None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.marks.append(time.perf_counter())
        if k == 3 and len(self.marks) == 3:
            self.seconds_per_step = (self.marks[2] - self.marks[0]) / 2
            if self.warn and self.seconds_per_step > SLOW_STEP_S:
                warnings.warn(self.message(), stacklevel=2)

    def message(self) -> str:
        """The warning: measured step time, expected duration and faster choices."""
        cfg, sec = self.cfg, self.seconds_per_step or 0.0
        left = max(0, cfg.steps - self.first) * sec
        span = (f"{left / 3600:.1f} h" if left >= 3600 else f"{left / 60:.0f} min" if left >= 60
                else f"{left:.0f} s")  # fmt: skip
        what = f"arch={cfg.arch}"
        if cfg.arch == "resnet":
            what += f" (resnet_ch={cfg.resnet_ch or 'default'})"
        return (
            f"{what} takes {sec:.1f} s per step on {self.device.type} (measured over steps "
            f"{self.first + 2}-{self.first + 3}): {cfg.steps - self.first} steps take about "
            f"{span}; faster: {', '.join(faster_choices(cfg))}"
        )
