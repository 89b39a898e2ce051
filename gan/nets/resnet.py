"""SNGAN ResNet generator and discriminator at 28, 32, 48, 64 and 128 px (Miyato et al. 2018).

The layouts are those of the official Chainer code (``pfnet-research/sngan_projection``:
``gen_models/resnet_32.py``, ``resnet_64.py``, ``dis_models/snresnet_32.py``, ...), which
mimicry's ``sngan_32/48/64/128`` reproduce: ReLU everywhere, nearest-neighbour upsampling,
2×2 average-pool downsampling, batch norm in G, spectral norm in D, global sum pooling, tanh
output. 28 px (MNIST-sized) is the 32-px layout started at 7 × 7 with one block fewer in G
(7 → 14 → 28) and D's two downsamplings ending at 7 × 7. Class conditioning: conditional
batch norm in every residual block of G and a projection head in D (Miyato & Koyama 2018).
BigGAN-style options (Brock et al. 2019): a shared class embedding feeding every conditional
norm, one self-attention block (Zhang et al. 2019), orthogonal initialisation, spectral norm
in G.

CIFAR-10 configuration (32 px, ``Generator(128, 32, 3)`` with ch = 256,
``Discriminator(32, 3)`` with ch = 128): G has 4,276,739 parameters, D 1,053,824
(conditional on 10 classes: G 4,304,387, D 1,055,104). These are the counts of the official
Chainer networks, layer for layer (their linear output layer of D has no bias; mimicry's
``ResNetDiscriminator32`` adds one: 1,053,825). The paper states no count; ``tests/gan/
test_nets.py`` recomputes these from the layer shapes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from divergences._validation import check_bool
from gan.nets.layers import (
    ConditionalBatchNorm2d,
    ProjectionHead,
    SelfAttention2d,
    _check_count,
    _check_init,
    init_layer,
    with_spectral_norm,
)

__all__ = ["IMAGE_SIZES", "Discriminator", "Generator"]

IMAGE_SIZES = (28, 32, 48, 64, 128)

# img_size -> (bottom width, channel multipliers of l1 and each block's output)
_G_LAYOUT = {
    28: (7, (1, 1, 1)),  # 7 -> 14 -> 28: the 32-px layout with one block fewer
    32: (4, (1, 1, 1, 1)),
    48: (6, (8, 4, 2, 1)),
    64: (4, (16, 8, 4, 2, 1)),
    128: (4, (16, 16, 8, 4, 2, 1)),
}
# img_size -> (each block's output multiplier, whether it halves the resolution)
_D_LAYOUT = {
    28: ((1, 1, 1, 1), (True, True, False, False)),  # 28 -> 14 -> 7, 7, 7
    32: ((1, 1, 1, 1), (True, True, False, False)),
    48: ((1, 2, 4, 8, 16), (True, True, True, True, False)),
    64: ((1, 2, 4, 8, 16), (True, True, True, True, True)),
    128: ((1, 2, 4, 8, 16, 16), (True, True, True, True, True, False)),
}
_G_CH = {28: 64, 32: 256, 48: 64, 64: 64, 128: 64}
_D_CH = {28: 64, 32: 128, 48: 64, 64: 64, 128: 64}
_SQRT2 = math.sqrt(2.0)


def _check_size(img_size) -> int:
    if isinstance(img_size, bool) or not isinstance(img_size, int) or img_size not in IMAGE_SIZES:
        raise ValueError(f"img_size must be one of {IMAGE_SIZES}, got {img_size!r}")
    return img_size


def _check_attention(attention, valid: list[int]) -> int | None:
    if attention is None:
        return None
    if isinstance(attention, bool) or attention not in valid:
        raise ValueError(
            f"attention must be None or a feature-map resolution of this network, one of "
            f"{sorted(set(valid))}; got {attention!r}"
        )
    return attention


def _check_labels(y: Tensor | None, n_classes: int, batch: int) -> None:
    if n_classes == 0:
        if y is not None:
            raise ValueError("y must be None for an unconditional network (n_classes=0)")
        return
    if y is None:
        raise ValueError(f"y (class labels in [0, {n_classes})) is required: n_classes={n_classes}")
    if not isinstance(y, Tensor) or y.dtype not in (torch.int64, torch.int32):
        raise TypeError("y must be an int64 (or int32) tensor of class labels")
    if y.shape != (batch,):
        raise ValueError(f"y must have shape ({batch},), got {tuple(y.shape)}")
    # CPU only: a range check on a GPU tensor would synchronise the device every step.
    if y.device.type == "cpu" and batch and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"y must hold labels in [0, {n_classes}), got [{int(y.min())}, "
                         f"{int(y.max())}]")  # fmt: skip


def _conv(cin: int, cout: int, k: int, *, gain: float, sn: bool, init: str) -> nn.Module:
    return with_spectral_norm(
        init_layer(nn.Conv2d(cin, cout, k, padding=k // 2), init, gain=gain), sn
    )


class GBlock(nn.Module):
    """``BN → ReLU → up ×2 → conv3 → BN → ReLU → conv3`` plus an upsampled 1×1 shortcut."""

    def __init__(self, cin: int, cout: int, *, cond: dict | None, sn: bool, init: str):
        super().__init__()
        norm = (lambda c: ConditionalBatchNorm2d(c, **cond)) if cond else nn.BatchNorm2d
        self.b1, self.b2 = norm(cin), norm(cout)
        self.c1 = _conv(cin, cout, 3, gain=_SQRT2, sn=sn, init=init)
        self.c2 = _conv(cout, cout, 3, gain=_SQRT2, sn=sn, init=init)
        self.c_sc = _conv(cin, cout, 1, gain=1.0, sn=sn, init=init)
        self.conditional = cond is not None

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:
        h = self.b1(x, c) if self.conditional else self.b1(x)
        h = F.interpolate(F.relu(h), scale_factor=2, mode="nearest")
        h = self.c1(h)
        h = self.b2(h, c) if self.conditional else self.b2(h)
        h = self.c2(F.relu(h))
        # A 1x1 conv commutes with nearest upsampling: convolve at the low resolution (4x cheaper).
        return h + F.interpolate(self.c_sc(x), scale_factor=2, mode="nearest")


class DBlock(nn.Module):
    """``[ReLU →] conv3 → ReLU → conv3 [→ avgpool]`` plus a (pooled) 1×1 shortcut.

    ``optimized``: the first block (no leading ReLU, always downsampling and a learned
    shortcut); otherwise the shortcut is learned only when the block changes the width or the
    resolution, as in the official code.
    """

    def __init__(self, cin: int, cout: int, *, down: bool, optimized: bool, sn: bool, init: str):
        super().__init__()
        self.down, self.optimized = down, optimized
        hidden = cout if optimized else cin
        self.c1 = _conv(cin, hidden, 3, gain=_SQRT2, sn=sn, init=init)
        self.c2 = _conv(hidden, cout, 3, gain=_SQRT2, sn=sn, init=init)
        learn_sc = optimized or down or cin != cout
        self.c_sc = _conv(cin, cout, 1, gain=1.0, sn=sn, init=init) if learn_sc else None

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.optimized else F.relu(x)
        h = self.c2(F.relu(self.c1(h)))
        s = x
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        # A 1x1 conv commutes with average pooling: pool first (4x cheaper), as the paper's
        # optimized block does.
        return h + (self.c_sc(s) if self.c_sc is not None else s)


class Generator(nn.Module):
    """SNGAN ResNet generator ``z (B, z_dim)[, y (B,)] → images (B, channels, S, S)`` in [−1, 1].

    ``Linear(z → ch₀·b²) → n × GBlock(up ×2) → BN → ReLU → conv3 → tanh`` with bottom width
    ``b`` = 4 (6 at 48 px, 7 at 28 px) and block widths ``ch·(1, 1, 1)`` at 28 px (ch = 64),
    ``ch·(1, 1, 1, 1)`` at 32 px (ch = 256),
    ``ch·(8, 4, 2, 1)`` at 48, ``ch·(16, 8, 4, 2, 1)`` at 64 and ``ch·(16, 16, 8, 4, 2, 1)`` at
    128 (ch = 64), as in Miyato et al. 2018, Appendix B, and its official code.

    Args:
        z_dim: latent size (128 in the paper).
        img_size: output side S, one of 28, 32, 48, 64, 128.
        channels: output channels (3 for RGB).
        n_classes: 0 for unconditional; otherwise labels ``y`` pick a conditional batch norm
            in every residual block (the final BN stays unconditional, as in the paper).
        ch: base width (default: 256 at 32 px, 64 otherwise).
        shared_embedding: with ``n_classes``, size E of BigGAN's shared class embedding that
            every conditional norm projects (0: per-class γ, β tables in each norm).
        attention: insert one self-attention block after the block producing this resolution.
        spectral_norm: spectral norm on every convolution and linear layer (BigGAN's G).
        init: ``"xavier"`` (the SNGAN code's Glorot uniform) or ``"orthogonal"`` (BigGAN).

    Raises:
        ValueError: ``img_size`` not one of 28, 32, 48, 64, 128, or any other invalid argument.

    Example:
        >>> g = Generator(16, 32, 3, n_classes=10, ch=16)
        >>> tuple(g(torch.randn(2, 16), torch.tensor([3, 7])).shape)
        (2, 3, 32, 32)
    """

    def __init__(
        self, z_dim: int = 128, img_size: int = 32, channels: int = 3, n_classes: int = 0, *,
        ch: int | None = None, shared_embedding: int = 0, attention: int | None = None,
        spectral_norm: bool = False, init: str = "xavier",
    ):  # fmt: skip
        super().__init__()
        _check_count("z_dim", z_dim, minimum=1)
        _check_size(img_size)
        _check_count("channels", channels, minimum=1)
        _check_count("n_classes", n_classes, minimum=0)
        ch = _G_CH[img_size] if ch is None else _check_count("ch", ch, minimum=1)
        _check_count("shared_embedding", shared_embedding, minimum=0)
        if shared_embedding and not n_classes:
            raise ValueError("shared_embedding needs a conditional generator (n_classes > 0)")
        _check_init(init)
        check_bool(spectral_norm, "spectral_norm")
        bottom, mult = _G_LAYOUT[img_size]
        widths = [ch * m for m in mult]
        resolutions = [bottom * 2 ** (i + 1) for i in range(len(widths) - 1)]
        self.attention = _check_attention(attention, resolutions)
        if self.attention is not None and widths[resolutions.index(self.attention) + 1] < 8:
            raise ValueError("attention needs at least 8 channels at its resolution; raise ch")
        self.z_dim, self.img_size, self.channels, self.n_classes = z_dim, img_size, channels, \
            n_classes  # fmt: skip
        self.out_shape = (channels, img_size, img_size)
        self.bottom, self.ch = bottom, ch
        sn = spectral_norm
        self.l1 = with_spectral_norm(init_layer(nn.Linear(z_dim, widths[0] * bottom**2), init), sn)
        self.embed = None
        cond = None
        if n_classes and shared_embedding:
            self.embed = nn.Embedding(n_classes, shared_embedding)
            if init == "orthogonal":
                nn.init.orthogonal_(self.embed.weight)
            cond = {"embed_dim": shared_embedding, "spectral_norm": sn, "init": init}
        elif n_classes:
            cond = {"n_classes": n_classes}
        self.blocks = nn.ModuleList()
        for cin, cout, res in zip(widths[:-1], widths[1:], resolutions):
            self.blocks.append(GBlock(cin, cout, cond=cond, sn=sn, init=init))
            if res == self.attention:
                self.blocks.append(SelfAttention2d(cout, spectral_norm=sn, init=init))
        self.bn = nn.BatchNorm2d(widths[-1])
        self.conv_out = _conv(widths[-1], channels, 3, gain=1.0, sn=sn, init=init)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Images ``(B, C, H, W)`` in ``[-1, 1]`` from noise ``z`` (and labels ``y``)."""
        if not isinstance(z, Tensor) or not z.is_floating_point():
            raise TypeError("z must be a floating-point tensor")
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        _check_labels(y, self.n_classes, z.shape[0])
        c = self.embed(y) if self.embed is not None else y
        h = self.l1(z).view(z.shape[0], -1, self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h) if isinstance(block, SelfAttention2d) else block(h, c)
        return torch.tanh(self.conv_out(F.relu(self.bn(h))))


class Discriminator(nn.Module):
    """SNGAN ResNet (projection) discriminator ``images (B, C, S, S)[, y (B,)] → logits (B,)``.

    ``OptimizedBlock → DBlocks → ReLU → global sum pool = φ(x) (B, ch_last)``, then
    ``logit = ψ(φ) + ⟨e(y), φ⟩`` (:class:`ProjectionHead`; ψ alone when unconditional).
    Widths ``ch·(1, 1, 1, 1)`` at 32 px (ch = 128; the last two blocks keep 8×8) and at 28 px
    (ch = 64; 7×7),
    ``ch·(1, 2, 4, 8, 16)`` at 48 and 64, ``ch·(1, 2, 4, 8, 16, 16)`` at 128 (ch = 64).
    Spectral norm on every layer, raw logits (no sigmoid), as every loss in :mod:`gan.losses`
    expects.

    Args:
        img_size: input side S, one of 28, 32, 48, 64, 128.
        channels: input channels.
        n_classes: 0 for unconditional; otherwise labels ``y`` enter by projection.
        ch: base width (default: 128 at 32 px, 64 otherwise).
        attention: insert one self-attention block after the block producing this resolution.
        spectral_norm: spectral norm on every layer (the paper's D; default True).
        init: ``"xavier"`` or ``"orthogonal"``.

    Raises:
        ValueError: ``img_size`` not one of 28, 32, 48, 64, 128, or any other invalid argument.

    Example:
        >>> d = Discriminator(32, 3, n_classes=10, ch=16)
        >>> tuple(d(torch.randn(2, 3, 32, 32), torch.tensor([3, 7])).shape)
        (2,)
    """

    def __init__(
        self, img_size: int = 32, channels: int = 3, n_classes: int = 0, *,
        ch: int | None = None, attention: int | None = None, spectral_norm: bool = True,
        init: str = "xavier",
    ):  # fmt: skip
        super().__init__()
        _check_size(img_size)
        _check_count("channels", channels, minimum=1)
        _check_count("n_classes", n_classes, minimum=0)
        ch = _D_CH[img_size] if ch is None else _check_count("ch", ch, minimum=1)
        _check_init(init)
        check_bool(spectral_norm, "spectral_norm")
        mult, downs = _D_LAYOUT[img_size]
        widths = [ch * m for m in mult]
        resolutions, r = [], img_size
        for d in downs:
            r = r // 2 if d else r
            resolutions.append(r)
        self.attention = _check_attention(attention, resolutions)
        if self.attention is not None and widths[resolutions.index(self.attention)] < 8:
            raise ValueError("attention needs at least 8 channels at its resolution; raise ch")
        self.img_size, self.channels, self.n_classes, self.ch = img_size, channels, n_classes, ch
        self.in_shape = (channels, img_size, img_size)
        sn = spectral_norm
        self.blocks = nn.ModuleList()
        cin, placed = channels, False
        for i, (cout, down, res) in enumerate(zip(widths, downs, resolutions)):
            self.blocks.append(DBlock(cin, cout, down=down, optimized=i == 0, sn=sn, init=init))
            if res == self.attention and not placed:
                self.blocks.append(SelfAttention2d(cout, spectral_norm=sn, init=init))
                placed = True
            cin = cout
        self.head = ProjectionHead(widths[-1], n_classes, spectral_norm=sn, init=init)

    def _check_x(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError("x must be a floating-point tensor")
        if x.ndim != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(
                f"x must have shape (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}"
            )

    def features(self, x: Tensor) -> Tensor:
        """φ(x): the ReLU'd, sum-pooled output of the last block, ``(B, ch_last)``."""
        self._check_x(x)
        return self._features(x)

    def _features(self, x: Tensor) -> Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Raw logits ``(B,)`` of images ``x`` (and labels ``y``)."""
        self._check_x(x)
        _check_labels(y, self.n_classes, x.shape[0])
        return self.head(self._features(x), y)
