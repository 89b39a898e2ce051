"""Image networks: the SNGAN ResNet generator and discriminator.

Image networks: the SNGAN ResNet generator and (projection) discriminator at 28–128 px, the
class-conditional DCGAN pair at 8–64 px, and their layers (conditional batch norm, projection
head, self-attention, spectral norm).
"""

from __future__ import annotations

from gan.nets.dcgan import ConditionalDCGANGenerator, ProjectionDCGANDiscriminator
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
    "ConditionalDCGANGenerator",
    "Discriminator",
    "Generator",
    "ProjectionDCGANDiscriminator",
    "ProjectionHead",
    "SelfAttention2d",
    "init_layer",
    "with_spectral_norm",
]
