"""The DINOv2 / CLIP fixtures of scripts/make_featnet_fixtures.py: paths, configs, inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from metrics.networks.clip import CLIPConfig
from metrics.networks.dinov2 import DINOv2Config

FIX = Path(__file__).parent / "fixtures" / "featnets"
DINOV2 = {
    "dinov2_main": DINOv2Config(16, 2, 2),
    "dinov2_swiglu": DINOv2Config(16, 2, 2, "swiglu", 0, 10),
    "dinov2_reg": DINOv2Config(16, 2, 2, "mlp", 4, 10, 0.0, True),
}


def clip_config(size: int) -> CLIPConfig:
    return CLIPConfig(16, 2, 2, 14, size, 12)


def load(part: str) -> dict[str, np.ndarray]:
    with np.load(FIX / f"{part}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def net_inputs(seed: int, size: int) -> torch.Tensor:
    """The script's network inputs: ``4 u − 2`` with ``u = default_rng(seed).random``."""
    u = np.random.default_rng(seed).random((2, 3, size, size))
    return torch.from_numpy((u * 4 - 2).astype(np.float32))


def seeded_images(seed: int, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """The script's uint8 test images, as ``(1, 3, H, W)`` tensors."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes:
        yy, xx = np.mgrid[0:h, 0:w]
        base = 127 + 100 * np.sin(xx[..., None] / (3 + 5 * rng.random(3)) + yy[..., None] / 7)
        im = np.clip(base + 40 * rng.random((h, w, 3)), 0, 255).astype(np.uint8)
        out.append(torch.from_numpy(im).permute(2, 0, 1)[None])
    return out


def rel(a, b) -> float:
    """``max |a − b| / max |b|``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())
