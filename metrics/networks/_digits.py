"""The small digits network: a CNN on scikit-learn's bundled 8×8 digits.

Trained by ``scripts/train_digits_net.py`` (deterministic, CPU, seconds); its weights ship in
``metrics/weights/digits_net.pt`` as a ``state_dict`` (loaded with ``weights_only=True``).
Input: images in ``[0, 1]`` (sklearn's 0..16 pixel values divided by 16) of shape ``(N, 64)``,
``(N, 8, 8)`` or ``(N, 1, 8, 8)``. Output of :meth:`DigitsNet.features`: the 64-d penultimate
layer (after ReLU); of ``forward``: 10 class logits.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "digits_net.pt"
FEATURE_DIM = 64


def as_digit_images(x: torch.Tensor) -> torch.Tensor:
    """Reshape ``(N, 64)``, ``(N, 8, 8)`` or ``(N, 1, 8, 8)`` to ``(N, 1, 8, 8)``, or raise."""
    if x.ndim == 2 and x.shape[1] == 64:
        return x.reshape(-1, 1, 8, 8)
    if x.ndim == 3 and x.shape[1:] == (8, 8):
        return x.unsqueeze(1)
    if x.ndim == 4 and x.shape[1:] == (1, 8, 8):
        return x
    raise ValueError(
        f"digit images must have shape (N, 64), (N, 8, 8) or (N, 1, 8, 8), got {tuple(x.shape)}"
    )


class DigitsNet(nn.Module):
    """Two 3×3 convolutions, a 2×2 max-pool, a 64-unit hidden layer and 10 logits (~38k weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(N, 64)`` of images in ``[0, 1]``."""
        h = as_digit_images(x).to(self.conv1.weight.dtype)
        h = torch.relu(self.conv1(h))
        h = torch.max_pool2d(torch.relu(self.conv2(h)), 2)
        return torch.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, 10)``."""
        return self.fc2(self.features(x))


class DigitsFeatures(nn.Module):
    """Feature extractor wrapping :class:`DigitsNet`: images → ``(N, 64)`` features."""

    def __init__(self, net: DigitsNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def load_digits_net(path: str | os.PathLike | None = None) -> DigitsNet:
    """The trained network in eval mode, from the shipped weights (or ``path``)."""
    path = WEIGHTS if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"digits network weights not found at {path}; run scripts/train_digits_net.py"
        )
    net = DigitsNet()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval().requires_grad_(False)
