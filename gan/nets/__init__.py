"""Image networks: the SNGAN ResNet generator and discriminator.

Image networks: the SNGAN ResNet generator and (projection) discriminator at 32–128 px, and
their layers (conditional batch norm, projection head, self-attention, spectral norm).
"""

from __future__ import annotations

from gan.nets.layers import (
    ConditionalBatchNorm2d,
    ProjectionHead,
    SelfAttention2d,
    init_layer,
    with_spectral_norm,
)
from gan.nets.resnet import IMAGE_SIZES, Discriminator, Generator

__all__ = [
    "IMAGE_SIZES",
    "ConditionalBatchNorm2d",
    "Discriminator",
    "Generator",
    "ProjectionHead",
    "SelfAttention2d",
    "init_layer",
    "with_spectral_norm",
]
