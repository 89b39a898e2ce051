"""The shipped 28-px feature network: a small CNN trained on Fashion-MNIST's training split.

Trained by ``scripts/train_fashion_net.py`` (deterministic on one CPU thread); its weights ship
in ``metrics/weights/fashion_net.pt`` as a ``state_dict``, loaded with ``weights_only=True``
after its SHA-256 is checked against :data:`SHA256`. Input: grey images ``(N, 1, 28, 28)``,
``(N, 28, 28)`` or ``(N, 784)``, floats in ``[0, 1]`` or uint8 in ``[0, 255]``. Output of
:meth:`FashionNet.features`: the 128-d penultimate layer (after ReLU); of ``forward``: 10 class
logits in Fashion-MNIST's label order (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal,
Shirt, Sneaker, Bag, Ankle boot).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "fashion_net.pt"
#: SHA-256 of the shipped weights file (printed by scripts/train_fashion_net.py).
SHA256 = "e7c9fa2565bf3337845e6da32f945ed6512cb81e7bacc97c0bb4b5f9ad284f0f"
FEATURE_DIM = 128
_CHUNK = 256


def as_fashion_images(x: torch.Tensor) -> torch.Tensor:
    """``(N, 784)``, ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` → floats ``(N, 1, 28, 28)`` in [0, 1].

    uint8 images are divided by 255; floating images must already lie in [0, 1].

    Raises:
        ValueError: another shape, or floats outside [0, 1] (e.g. samples in the trainer's
            [−1, 1], which (x + 1) / 2 maps to [0, 1]).
    """
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 1, 28, 28)
    elif x.ndim == 3 and tuple(x.shape[1:]) == (28, 28):
        x = x.unsqueeze(1)
    elif not (x.ndim == 4 and tuple(x.shape[1:]) == (1, 28, 28)):
        raise ValueError(f"features 'fashion' take grey 28 x 28 images (N, 1, 28, 28), "
                         f"(N, 28, 28) or (N, 784); got {tuple(x.shape)}")  # fmt: skip
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point():
        raise ValueError(f"features 'fashion' take uint8 or floating images, got {x.dtype}")
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"features 'fashion' take floats in [0, 1], got values in [{lo:g}, {hi:g}]; "
                "map samples in [-1, 1] (the trainer's units) with (x + 1) / 2"
            )
    return x


class FashionNet(nn.Module):
    """conv3(32) → ReLU → pool → BN → conv3(64) → ReLU → pool → BN → fc(128) → ReLU → fc(10).

    About 422k weights; dropout (p = 0.3) before the last layer while training.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 7 * 7, FEATURE_DIM)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(N, 128)`` of images (see :func:`as_fashion_images`)."""
        h = as_fashion_images(x).to(self.conv1.weight.dtype)
        if len(h) <= _CHUNK:
            return self._features(h)
        # chunks keep the 28-px feature maps in cache: several times faster than one big batch
        return torch.cat([self._features(c) for c in h.split(_CHUNK)])

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        h = h.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPUs
        h = self.bn1(torch.max_pool2d(torch.relu(self.conv1(h)), 2))
        h = self.bn2(torch.max_pool2d(torch.relu(self.conv2(h)), 2))
        return torch.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, 10)``."""
        return self.fc2(self.drop(self.features(x)))


class FashionFeatures(nn.Module):
    """Feature extractor wrapping :class:`FashionNet`: images → ``(N, 128)`` features."""

    def __init__(self, net: FashionNet) -> None:
        super().__init__()
        self.net = net
        self.provenance = {"network": "fashion", "sha256": SHA256}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_fashion_net(path: str | os.PathLike | None = None) -> FashionNet:
    """The trained network in eval mode, from the shipped weights (or ``path``), hash-checked.

    Raises:
        FileNotFoundError: no weights file.
        ValueError: its SHA-256 is not :data:`SHA256` (a damaged or replaced file).
    """
    path = WEIGHTS if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"fashion network weights not found at {path}; run scripts/train_fashion_net.py"
        )
    digest = _sha256(path)
    if digest != SHA256:
        raise ValueError(
            f"{path}: SHA-256 {digest} is not the shipped network's {SHA256}; the file is "
            "damaged or replaced (reinstall, or reproduce it with scripts/train_fashion_net.py)"
        )
    net = FashionNet()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.to(memory_format=torch.channels_last).eval().requires_grad_(False)
