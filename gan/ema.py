"""Exponential moving average of the generator's weights (evaluated instead of the raw G).

θ_ema ← β_t θ_ema + (1 − β_t) θ after every generator step, with the warm-up
β_t = min(β, (1 + t)/(10 + t)) so that early averages are not dominated by the random
initialisation (as TensorFlow's ``ExponentialMovingAverage(num_updates=...)``); buffers
(BatchNorm statistics) are copied. Reference: Yazıcı et al. 2019, "The unusual
effectiveness of averaging in GAN training"; the same update as ``G_ema`` in
NVlabs/stylegan2-ada-pytorch ``training/training_loop.py``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """Holds ``model``'s averaged copy; :meth:`update` runs on the device, without sync.

    Args:
        model: the live generator.
        beta: decay per update in [0, 1); 0 makes the copy follow the model exactly.

    Example:
        >>> g = nn.Linear(1, 1, bias=False)
        >>> _ = nn.init.zeros_(g.weight)
        >>> ema = EMA(g, beta=0.99)
        >>> _ = nn.init.ones_(g.weight)
        >>> ema.update(g)  # first update: β_0 = min(0.99, 1/10) = 0.1
        >>> round(float(ema.model.weight), 4)
        0.9
    """

    def __init__(self, model: nn.Module, beta: float = 0.999):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        self.beta = float(beta)
        self.num_updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self._live: tuple[nn.Module, list, list] | None = None  # the live model's tensors

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """θ_ema ← β_t θ_ema + (1 − β_t) θ (a lerp towards the live weights); copy buffers."""
        beta = min(self.beta, (1 + self.num_updates) / (10 + self.num_updates))
        self.num_updates += 1
        if self._live is None or self._live[0] is not model:
            # listed once per live model: walking the module tree each step costs more than
            # the lerp for small networks
            pairs = list(zip(self.model.parameters(), model.parameters()))
            buffers = list(zip(self.model.buffers(), model.buffers()))
            self._live = (model, pairs, buffers)
        _, pairs, buffers = self._live
        torch._foreach_lerp_([a for a, _ in pairs], [b for _, b in pairs], 1.0 - beta)
        for b_ema, b in buffers:
            b_ema.copy_(b)

    def state_dict(self) -> dict:
        """The averaged model's state dict and the update count."""
        return {"model": self.model.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore the averaged weights and the update count."""
        self.model.load_state_dict(state["model"])
        self.num_updates = int(state["num_updates"])
