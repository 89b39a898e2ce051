"""Class-conditional DCGAN networks at 8–64 px (28 px for MNIST-sized images included).

The layouts of :class:`gan.models.DCGANGenerator` / :class:`gan.models.DCGANDiscriminator`
(Radford et al. 2016) with the class entering as in the SNGAN projection model (Miyato &
Koyama 2018): conditional batch norm in every normalisation of G (de Vries et al. 2017), and
a projection head on D's last feature map, ``logit = ψ(φ) + ⟨e(y), φ⟩`` with φ the flattened
map (the unconditional D's final s₀×s₀ convolution is the linear map ψ on the same φ).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan.nets.layers import ConditionalBatchNorm2d, ProjectionHead, _check_count, with_spectral_norm

__all__ = ["DCGAN_SIZES", "ConditionalDCGANGenerator", "ProjectionDCGANDiscriminator", "start_size"]

DCGAN_SIZES = (8, 16, 28, 32, 64)


def start_size(size: int) -> tuple[int, int]:
    """(first feature-map side s₀, number n of ×2 upsamplings) for a DCGAN of image side ``size``.

    28 px starts at 7 × 7 (7 → 14 → 28); the powers of two at 4 × 4.

    Example:
        >>> start_size(28), start_size(64)
        ((7, 2), (4, 4))
    """
    if isinstance(size, bool) or size not in DCGAN_SIZES:
        raise ValueError(f"image size must be one of {', '.join(map(str, DCGAN_SIZES))}; "
                         f"got {size}")  # fmt: skip
    if size == 28:
        return 7, 2
    return 4, int(math.log2(size // 4))


def _check_shape(shape: object, name: str) -> tuple[int, int]:
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) != 3:
        raise ValueError(f"{name} must be (C, H, W), got {shape!r}")
    c, h, w = (_check_count(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(shape))
    if h != w:
        raise ValueError(f"{name} must be square (H == W), got {tuple(shape)}")
    start_size(h)
    return c, h


def _dcgan_init(module: nn.Module) -> None:
    # DCGAN's N(0, 0.02) convolutions; the conditional norms keep their γ = 1, β = 0 tables.
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)


class ConditionalDCGANGenerator(nn.Module):
    """``z (B, z_dim), y (B,) → images (B, C, S, S)`` in [−1, 1]: DCGAN's G, conditional norms.

    ConvTranspose(z → 2^(n−1)·ch, s₀×s₀), then n − 1 ConvTranspose(4, 2, 1) halving the width,
    each followed by a conditional batch norm (per-class γ, β) and ReLU, then
    ConvTranspose(4, 2, 1) to C channels and tanh. With ``label_input`` the first layer takes
    ``[z, onehot(y)]`` (the cGAN input of Mirza & Osindero 2014): a learned s₀×s₀ map per class,
    where conditional batch norm alone can only scale and shift each channel. With
    ``refine = r > 0`` the last ConvTranspose goes to r channels, conditional batch norm and
    ReLU, then a 3×3 convolution makes the image (a layer at full size).

    Example:
        >>> g = ConditionalDCGANGenerator(8, (1, 28, 28), n_classes=3, channels=4)
        >>> tuple(g(torch.zeros(2, 8), torch.tensor([0, 2])).shape)
        (2, 1, 28, 28)
    """

    def __init__(
        self, z_dim: int, out_shape: tuple[int, int, int], *, n_classes: int, channels: int = 64,
        label_input: bool = False, refine: int = 0,
    ):  # fmt: skip
        super().__init__()
        if not isinstance(label_input, bool):
            raise TypeError(f"label_input must be a bool, got {label_input!r}")
        z_dim = _check_count("z_dim", z_dim, minimum=1)
        n_classes = _check_count("n_classes", n_classes, minimum=2)
        channels = _check_count("channels", channels, minimum=1)
        refine = _check_count("refine", refine, minimum=0)
        c_out, size = _check_shape(out_shape, "out_shape")
        s0, n = start_size(size)
        self.z_dim, self.out_shape, self.n_classes = z_dim, tuple(out_shape), n_classes
        self.label_input = label_input
        ch = channels * 2 ** (n - 1)
        self.first = nn.ConvTranspose2d(z_dim + n_classes * label_input, ch, s0, 1, 0, bias=False)
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(ch, n_classes=n_classes)])
        self.ups = nn.ModuleList()
        for _ in range(n - 1):
            self.ups.append(nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))
            self.norms.append(ConditionalBatchNorm2d(ch // 2, n_classes=n_classes))
            ch //= 2
        self.out = nn.ConvTranspose2d(ch, refine or c_out, 4, 2, 1, bias=False)
        self.refine = None
        if refine:
            self.norms.append(ConditionalBatchNorm2d(refine, n_classes=n_classes))
            self.refine = nn.Conv2d(refine, c_out, 3, 1, 1, bias=False)
        _dcgan_init(self)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        """Images of classes ``y`` ``(B,)`` from noise ``z`` ``(B, z_dim)``."""
        if self.label_input:
            z = torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], 1)
        # on a 1 × 1 input the first transposed convolution is one matrix product, done as one
        w = self.first.weight
        h = F.relu(self.norms[0]((z @ w.flatten(1)).view(len(z), *w.shape[1:]), y))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = F.relu(norm(up(h), y))
        if self.refine is None:
            return torch.tanh(self.out(h))
        return torch.tanh(self.refine(F.relu(self.norms[-1](self.out(h), y))))


class ProjectionDCGANDiscriminator(nn.Module):
    """``images (B, C, S, S), y (B,) → logits (B,)``: DCGAN's D trunk and a projection head.

    Conv(4, 2, 1) halvings with LeakyReLU(0.2) and batch norm (dropped with
    ``spectral_norm=True``, which then applies to every layer, the head included) down to the
    s₀×s₀ map φ; ``logit = ψ(φ) + ⟨e(y), φ⟩`` (:class:`gan.nets.ProjectionHead`).

    Example:
        >>> d = ProjectionDCGANDiscriminator((1, 28, 28), n_classes=3, channels=4)
        >>> tuple(d(torch.zeros(2, 1, 28, 28), torch.tensor([0, 2])).shape)
        (2,)
    """

    def __init__(
        self, in_shape: tuple[int, int, int], *, n_classes: int, channels: int = 64,
        spectral_norm: bool = False,
    ):  # fmt: skip
        super().__init__()
        n_classes = _check_count("n_classes", n_classes, minimum=2)
        channels = _check_count("channels", channels, minimum=1)
        if not isinstance(spectral_norm, bool):
            raise TypeError(f"spectral_norm must be a bool, got {spectral_norm!r}")
        c_in, size = _check_shape(in_shape, "in_shape")
        s0, n = start_size(size)
        self.n_classes, self.pac, sn = n_classes, 1, spectral_norm
        ch = channels
        layers: list[nn.Module] = [with_spectral_norm(nn.Conv2d(c_in, ch, 4, 2, 1, bias=sn), sn),
                                   nn.LeakyReLU(0.2, True)]  # fmt: skip
        for _ in range(n - 1):
            layers.append(with_spectral_norm(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=sn), sn))
            if not sn:
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        self.trunk = nn.Sequential(*layers)
        _dcgan_init(self.trunk)
        for m in self.trunk.modules():
            if isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
        self.head = ProjectionHead(ch * s0 * s0, n_classes, spectral_norm=sn)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Raw logits ``(B,)`` of images ``x`` given their classes ``y``."""
        return self.head(self.trunk(x).flatten(1), y)
