"""Generators and discriminators for vectors and images.

Generators and discriminators: MLPs for vectors, DCGAN-style convnets for 8–64 px images,
and the SNGAN ResNets of :mod:`gan.nets` for 32–128 px images.

Discriminators return raw logits ``(B,)`` (no sigmoid); every loss in :mod:`gan.losses`
works on logits. With ``pac > 1`` the discriminator judges ``pac`` samples at once
(PacGAN, Lin et al. 2018): it takes ``(B·pac, *shape)`` and returns ``(B,)``.

Class-conditional models (``n_classes > 0``) take labels as a second argument: ``g(z, y)``
and ``d(x, y)`` with ``y`` an int64 tensor ``(B,)`` of class indices. The MLP generator
concatenates a learned label embedding to ``z``; the MLP discriminator ends in a projection
head (Miyato & Koyama 2018); the ResNets use conditional batch norm and projection.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn.utils import parametrizations

from divergences._validation import check_bool as _bool
from divergences._validation import check_positive_int as _int

__all__ = [
    "ConditionalMLPGenerator", "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator",
    "MLPGenerator", "ProjectionMLPDiscriminator", "Standardized", "build_models",
    "plain_discriminator",
]  # fmt: skip


def _image_shape(shape: object, name: str) -> tuple[int, int, int]:
    """A square ``(C, S, S)`` image shape with S in the supported sizes."""
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) != 3:
        raise ValueError(f"{name} must be (C, H, W), got {shape!r}")
    c, h, w = (_int(v, f"{name}[{i}]") for i, v in enumerate(shape))
    if h != w:
        raise ValueError(f"{name} must be square (H == W), got {tuple(shape)}")
    _start_size(h)
    return c, h, w


def _check_pac(x: torch.Tensor, pac: int) -> None:
    if x.shape[0] % pac:
        raise ValueError(f"the batch ({x.shape[0]} samples) must be a multiple of pac={pac}")


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return parametrizations.spectral_norm(layer) if on else layer


class MLPGenerator(nn.Module):
    """``z (B, z_dim) → x (B, out_dim)``: ``layers`` hidden Linear + LeakyReLU(0.2) blocks.

    Example:
        >>> g = MLPGenerator(16, 2, hidden=32, layers=2)
        >>> tuple(g(torch.zeros(5, 16)).shape)
        (5, 2)
    """

    def __init__(self, z_dim: int, out_dim: int, *, hidden: int = 256, layers: int = 4):
        super().__init__()
        z_dim, out_dim = _int(z_dim, "z_dim"), _int(out_dim, "out_dim")
        hidden, layers = _int(hidden, "hidden"), _int(layers, "layers", 0)
        self.z_dim, self.out_shape = z_dim, (out_dim,)
        dims = [z_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            blocks += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        blocks.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Samples ``(B, ...)`` from noise ``z`` ``(B, z_dim)``."""
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``x (B·pac, in_dim) → logits (B,)``; optional spectral norm on every Linear.

    Example:
        >>> d = MLPDiscriminator(2, hidden=32, layers=2, pac=2)
        >>> tuple(d(torch.zeros(6, 2)).shape)
        (3,)
    """

    def __init__(
        self, in_dim: int, *, hidden: int = 256, layers: int = 4, spectral_norm: bool = False,
        pac: int = 1,
    ):  # fmt: skip
        super().__init__()
        in_dim, hidden = _int(in_dim, "in_dim"), _int(hidden, "hidden")
        layers, pac = _int(layers, "layers", 0), _int(pac, "pac")
        spectral_norm = _bool(spectral_norm, "spectral_norm")
        self.pac = pac
        dims = [in_dim * pac] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            blocks += [_sn(nn.Linear(a, b), spectral_norm), nn.LeakyReLU(0.2)]
        blocks.append(_sn(nn.Linear(dims[-1], 1), spectral_norm))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw logits ``(B,)`` of samples ``x``."""
        _check_pac(x, self.pac)
        return self.net(x.reshape(x.shape[0] // self.pac, -1)).squeeze(-1)


class ConditionalMLPGenerator(nn.Module):
    """``z (B, z_dim), y (B,) → x (B, out_dim)``: an :class:`MLPGenerator` on ``[z, e(y)]``.

    ``e`` is a learned embedding of the ``n_classes`` labels into ``embed_dim`` dimensions.

    Example:
        >>> g = ConditionalMLPGenerator(8, 2, n_classes=3, hidden=16, layers=1)
        >>> tuple(g(torch.zeros(5, 8), torch.tensor([0, 1, 2, 0, 1])).shape)
        (5, 2)
    """

    def __init__(
        self, z_dim: int, out_dim: int, *, n_classes: int, embed_dim: int | None = None,
        hidden: int = 256, layers: int = 4,
    ):  # fmt: skip
        super().__init__()
        z_dim, n_classes = _int(z_dim, "z_dim"), _int(n_classes, "n_classes")
        embed_dim = z_dim if embed_dim is None else _int(embed_dim, "embed_dim")
        self.z_dim, self.n_classes, self.out_shape = z_dim, n_classes, (out_dim,)
        self.embed = nn.Embedding(n_classes, embed_dim)
        self.mlp = MLPGenerator(z_dim + embed_dim, out_dim, hidden=hidden, layers=layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Samples of class ``y`` ``(B,)`` from noise ``z`` ``(B, z_dim)``."""
        return self.mlp(torch.cat([z, self.embed(y)], dim=1))


class ProjectionMLPDiscriminator(nn.Module):
    """``x (B, in_dim), y (B,) → logits (B,)``: MLP features φ(x), then ``ψ(φ) + ⟨e(y), φ⟩``.

    The projection discriminator of Miyato & Koyama 2018 on an MLP trunk
    (:class:`gan.nets.ProjectionHead`); spectral norm optional on every layer.

    Example:
        >>> d = ProjectionMLPDiscriminator(2, n_classes=3, hidden=16, layers=2)
        >>> tuple(d(torch.zeros(4, 2), torch.tensor([0, 1, 2, 0])).shape)
        (4,)
    """

    def __init__(
        self, in_dim: int, *, n_classes: int, hidden: int = 256, layers: int = 4,
        spectral_norm: bool = False,
    ):  # fmt: skip
        super().__init__()
        from gan.nets import ProjectionHead

        in_dim, hidden = _int(in_dim, "in_dim"), _int(hidden, "hidden")
        layers, n_classes = _int(layers, "layers", 1), _int(n_classes, "n_classes")
        spectral_norm = _bool(spectral_norm, "spectral_norm")
        self.n_classes, self.pac = n_classes, 1
        dims = [in_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            blocks += [_sn(nn.Linear(a, b), spectral_norm), nn.LeakyReLU(0.2)]
        self.trunk = nn.Sequential(*blocks)
        self.head = ProjectionHead(hidden, n_classes, spectral_norm=spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Raw logits ``(B,)`` of samples ``x`` given their classes ``y``."""
        return self.head(self.trunk(x.reshape(x.shape[0], -1)), y)


def _start_size(size: int) -> tuple[int, int]:
    """(first feature-map side, number of ×2 upsamplings) for an image side."""
    from gan.nets.dcgan import start_size

    return start_size(size)


def _dcgan_init(module: nn.Module) -> None:
    # DCGAN (Radford et al. 2016): weights N(0, 0.02), BatchNorm scale N(1, 0.02).
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """DCGAN generator ``z (B, z_dim) → images (B, C, S, S)`` in [−1, 1], S ∈ {8, 16, 28, 32, 64}.

    ConvTranspose(z → 2^(n−1)·ch, s0×s0) then n ConvTranspose(4, 2, 1) doublings with
    BatchNorm + ReLU, tanh output; with S = 64, ch = 64 it is Radford et al.'s network
    (as in pytorch/examples ``dcgan/main.py``). With ``refine = r > 0`` the last doubling goes
    to r channels, BatchNorm + ReLU, then a 3×3 convolution makes the image: one layer that
    works at full size, where DCGAN's last layer is the image itself.

    Example:
        >>> g = DCGANGenerator(8, (1, 28, 28), channels=8)
        >>> tuple(g(torch.zeros(2, 8)).shape)
        (2, 1, 28, 28)
    """

    def __init__(
        self, z_dim: int, out_shape: tuple[int, int, int], *, channels: int = 64, refine: int = 0
    ):
        super().__init__()
        z_dim, channels = _int(z_dim, "z_dim"), _int(channels, "channels")
        refine = _int(refine, "refine", 0)
        c_out, size, _ = _image_shape(out_shape, "out_shape")
        s0, n = _start_size(size)
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        ch = channels * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, ch, s0, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)
        ]  # fmt: skip
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(True)]  # fmt: skip
            ch //= 2
        if refine:
            layers += [nn.ConvTranspose2d(ch, refine, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(refine), nn.ReLU(True),
                       nn.Conv2d(refine, c_out, 3, 1, 1, bias=False), nn.Tanh()]  # fmt: skip
        else:
            layers += [nn.ConvTranspose2d(ch, c_out, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Samples ``(B, ...)`` from noise ``z`` ``(B, z_dim)``."""
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator ``images (B·pac, C, S, S) → logits (B,)``.

    Conv(4, 2, 1) halvings with LeakyReLU(0.2) and BatchNorm (BatchNorm is dropped when
    ``spectral_norm=True``), then a Conv(s0×s0) to one logit; the mirror of
    :class:`DCGANGenerator`.

    Example:
        >>> d = DCGANDiscriminator((3, 32, 32), channels=8)
        >>> tuple(d(torch.zeros(2, 3, 32, 32)).shape)
        (2,)
    """

    def __init__(
        self, in_shape: tuple[int, int, int], *, channels: int = 64, spectral_norm: bool = False,
        pac: int = 1,
    ):  # fmt: skip
        super().__init__()
        c_in, size, _ = _image_shape(in_shape, "in_shape")
        channels, pac = _int(channels, "channels"), _int(pac, "pac")
        spectral_norm = _bool(spectral_norm, "spectral_norm")
        s0, n = _start_size(size)
        self.pac = pac
        sn = spectral_norm
        ch = channels
        layers: list[nn.Module] = [_sn(nn.Conv2d(c_in * pac, ch, 4, 2, 1, bias=sn), sn),
                                   nn.LeakyReLU(0.2, True)]  # fmt: skip
        for _ in range(n - 1):
            layers.append(_sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=sn), sn))
            if not sn:
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        layers.append(_sn(nn.Conv2d(ch, 1, s0, 1, 0, bias=sn), sn))
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw logits ``(B,)`` of samples ``x``."""
        _check_pac(x, self.pac)
        b, c, h, w = x.shape
        return self.net(x.reshape(b // self.pac, c * self.pac, h, w)).reshape(-1)


def plain_discriminator(cfg, shape: tuple[int, ...]) -> nn.Module:
    """A fresh unconditional, unpacked discriminator of ``cfg``'s architecture, on one sample.

    The JS classifier of an evaluation and rejection sampling's calibrated D score one sample
    at a time and know no labels, whatever the run trained with: packing and the options that
    only a conditional generator uses are dropped here, in one place.
    """
    return build_models(cfg.replace(pac=1, label_in_z=False), shape)[1]


def build_models(cfg, shape: tuple[int, ...], n_classes: int = 0) -> tuple[nn.Module, nn.Module]:
    """``(generator, discriminator)`` for samples of ``shape`` from a :class:`TrainConfig`.

    ``cfg.arch``: ``"mlp"``, ``"dcgan"`` (8–64 px, 28 included), ``"resnet"`` (the SNGAN
    ResNets of :mod:`gan.nets` at 28, 32, 48, 64 or 128 px; base width ``cfg.resnet_ch`` or the
    default; spectral norm in D always, as in the paper) or ``"auto"`` (dcgan for images, mlp
    else; the trainer records its device-dependent choice, see
    :func:`gan.speed.resolve_arch`). The DCGAN pair's base width is ``cfg.channels``, G's
    alone ``cfg.g_channels`` when non-zero; ``cfg.label_in_z`` feeds the one-hot label to the
    conditional DCGAN G's first layer too, and ``cfg.g_refine`` adds a last 3×3 convolution
    at full size to either DCGAN G. With ``n_classes > 0`` both are class-conditional:
    ``g(z, y)``, ``d(x, y)`` (an MLP with a label embedding and a projection head, or
    conditional batch norm in G and projection in D for the DCGAN and the ResNets; PacGAN
    packing is unconditional only).

    With ``cfg.normalize`` both networks work in standardised coordinates
    ``u = (x − loc) / scale`` (:func:`gan.data.standardization` of ``cfg.data``): the
    generator's output is mapped back, ``x = loc + scale · u``, and the discriminator's input
    is standardised, so both still take and return data-space samples. ``loc`` and ``scale``
    are buffers: they travel in every checkpoint.

    Raises:
        ValueError: an architecture that does not fit the data (the message names the valid
            image sizes or the option to change), or a conditional model it cannot build.
    """
    n_classes = _int(n_classes, "n_classes", 0)
    if n_classes == 1:
        raise ValueError("n_classes must be 0 (unconditional) or >= 2, got 1")
    if n_classes and cfg.pac > 1:
        raise ValueError(f"PacGAN packing (pac={cfg.pac}) is unconditional only; set pac=1")
    g, d = _build(cfg, tuple(shape), n_classes)
    if getattr(cfg, "normalize", False):
        from gan.data import load_data, standardization

        data = load_data(cfg.data, image_size=cfg.image_size,
                         data_root=getattr(cfg, "data_root", ""))  # fmt: skip
        loc, scale = standardization(data)
        g, d = Standardized(g, loc, scale, "generator"), Standardized(d, loc, scale, "critic")
    return g, d


class Standardized(nn.Module):
    """A fixed affine standardisation around a generator or a discriminator.

    ``role="generator"``: ``x = loc + scale · inner(z)``; ``role="critic"``:
    ``inner((x − loc) / scale)``. ``loc`` (the per-feature mean, shape of one sample) and
    ``scale`` (a scalar) are buffers, saved in state dicts.

    Example:
        >>> d = Standardized(nn.Flatten(0), torch.tensor([1.0, 2.0]), 2.0, "critic")
        >>> d(torch.tensor([[3.0, 2.0]])).tolist()
        [1.0, 0.0]
    """

    def __init__(self, inner: nn.Module, loc: torch.Tensor, scale: float, role: str):
        super().__init__()
        if role not in ("generator", "critic"):
            raise ValueError(f"role must be 'generator' or 'critic', got {role!r}")
        if not isinstance(inner, nn.Module):
            raise TypeError(f"inner must be an nn.Module, got {type(inner).__name__}")
        if not (math.isfinite(float(scale)) and float(scale) > 0):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        if not bool(torch.isfinite(torch.as_tensor(loc, dtype=torch.float32)).all()):
            raise ValueError("loc must be finite")
        self.inner, self.role = inner, role
        for name in ("z_dim", "out_shape", "pac", "n_classes"):
            if hasattr(inner, name):
                setattr(self, name, getattr(inner, name))
        self.register_buffer("loc", torch.as_tensor(loc, dtype=torch.float32).clone())
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float32))

    def forward(self, x: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        """The wrapped network on data in standardised units (inputs or outputs rescaled)."""
        if self.role == "generator":
            return self.loc + self.scale * self.inner(x, *labels)
        return self.inner((x - self.loc) / self.scale, *labels)


def _build(cfg, shape: tuple[int, ...], n_classes: int) -> tuple[nn.Module, nn.Module]:
    arch = cfg.arch
    if arch == "auto":
        arch = "dcgan" if len(shape) == 3 else "mlp"
    if cfg.g_refine and arch != "dcgan":
        raise ValueError(f"g_refine is for the DCGAN generator (arch='dcgan'); this run has "
                         f"arch={arch!r}: drop --g-refine")  # fmt: skip
    if cfg.label_in_z and (arch != "dcgan" or not n_classes):
        raise ValueError(f"label_in_z is for the conditional DCGAN generator (arch='dcgan' with "
                         f"conditional or clusters); this run has arch={arch!r} and "
                         f"{n_classes} classes: drop --label-in-z")  # fmt: skip
    if arch == "mlp":
        dim = math.prod(shape)
        if n_classes:
            g: nn.Module = ConditionalMLPGenerator(
                cfg.z_dim, dim, n_classes=n_classes, hidden=cfg.hidden, layers=cfg.g_layers
            )
            d: nn.Module = ProjectionMLPDiscriminator(
                dim, n_classes=n_classes, hidden=cfg.hidden, layers=max(1, cfg.d_layers),
                spectral_norm=cfg.spectral_norm)  # fmt: skip
        else:
            g = MLPGenerator(cfg.z_dim, dim, hidden=cfg.hidden, layers=cfg.g_layers)
            d = MLPDiscriminator(dim, hidden=cfg.hidden, layers=cfg.d_layers,
                                 spectral_norm=cfg.spectral_norm, pac=cfg.pac)  # fmt: skip
        if len(shape) > 1:
            g = _Reshape(g, shape)
        return g, d
    if len(shape) != 3:
        raise ValueError(f"arch={arch!r} needs image data (C, H, W), got samples of shape {shape}")
    if arch == "resnet":
        return _resnets(cfg, shape, n_classes)
    g_ch = cfg.g_channels or cfg.channels
    if n_classes:
        from gan.nets.dcgan import ConditionalDCGANGenerator, ProjectionDCGANDiscriminator

        g = ConditionalDCGANGenerator(cfg.z_dim, shape, n_classes=n_classes, channels=g_ch,
                                      label_input=cfg.label_in_z, refine=cfg.g_refine)  # fmt: skip
        d = ProjectionDCGANDiscriminator(shape, n_classes=n_classes, channels=cfg.channels,
                                         spectral_norm=cfg.spectral_norm)  # fmt: skip
        return g, d
    g = DCGANGenerator(cfg.z_dim, shape, channels=g_ch, refine=cfg.g_refine)
    d = DCGANDiscriminator(shape, channels=cfg.channels, spectral_norm=cfg.spectral_norm,
                           pac=cfg.pac)  # fmt: skip
    return g, d


def _resnets(cfg, shape: tuple[int, int, int], n_classes: int) -> tuple[nn.Module, nn.Module]:
    from gan.nets import IMAGE_SIZES, Discriminator, Generator

    c, h, w = shape
    if h != w or h not in IMAGE_SIZES:
        fix = (
            f"image_size={cfg.image_size} is not one of them"
            if cfg.image_size
            else "set image_size to one of them: it resizes folders, arrays and IDX data"
        )
        raise ValueError(
            f"arch='resnet' builds square images of side {', '.join(map(str, IMAGE_SIZES))}; "
            f"the data has (C, H, W) = {shape} ({fix})"
        )
    if cfg.pac > 1:
        raise ValueError(f"arch='resnet' has no PacGAN packing (pac={cfg.pac}); set pac=1")
    ch = cfg.resnet_ch or None
    g = Generator(cfg.z_dim, h, c, n_classes, ch=ch)
    d = Discriminator(h, c, n_classes, ch=ch)
    return g, d


class _Reshape(nn.Module):
    """An MLP generator whose flat output is reshaped to image samples."""

    def __init__(self, inner: nn.Module, shape: tuple[int, ...]):
        super().__init__()
        self.inner, self.out_shape, self.z_dim = inner, tuple(shape), inner.z_dim
        self.n_classes = getattr(inner, "n_classes", 0)

    def forward(self, z: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        return self.inner(z, *labels).reshape(z.shape[0], *self.out_shape)
