"""DINOv2 image embeddings in eager PyTorch, on the official checkpoints (FD_DINOv2's network).

The network is DINOv2's ViT (Oquab et al. 2024, "DINOv2: Learning Robust Visual Features without
Supervision"; facebookresearch/dinov2 ``models/vision_transformer.py`` as its torch.hub builds
it: ``img_size=518``, patch 14, LayerScale, layer norms with ``eps = 1e-6``, exact GELU MLP or
SwiGLU for ViT-g, 4 register tokens for the ``_reg`` variants of Darcet et al. 2024). The
output is the class token after the final layer norm (``x_norm_clstoken``), what EDM2's
FD_DINOv2 detector and dgm-eval compute. The learned positions (a 37 × 37 grid) are
resized to the input's patch grid as the official code does: bicubic with the scale factor
``(g + 0.1) / 37`` and no antialiasing, or, for the register variants, bicubic to the size
``g`` with antialiasing.

The state dict is the official one (``dinov2_vitl14_pretrain.pth`` and its siblings:
``patch_embed.proj.*``, ``blocks.{i}.attn.qkv.*``, ``blocks.{i}.ls1.gamma``, ...), read with
``weights_only=True``; ``divergences weights fetch dinov2-vitl14`` downloads the ViT-L/14
file and checks its SHA-256.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metrics.networks._state import check_shapes
from metrics.networks.preprocess import (
    DINOV2_MODES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    dinov2_resize,
    normalize,
)
from metrics.networks.vit import (
    Blocks,
    as_rgb,
    check_precision,
    fold_layerscale,
    load_state,
    precision_context,
    random_tensors,
    warn_small,
)

__all__ = ["VARIANTS", "DINOv2", "DINOv2Config", "dinov2", "expected_shapes", "random_state_dict"]

PATCH = 14


@dataclass(frozen=True)
class DINOv2Config:
    """A DINOv2 architecture: width, depth, heads, MLP kind, registers and position grid."""

    dim: int
    depth: int
    heads: int
    mlp: str = "mlp"  # or "swiglu" (ViT-g)
    registers: int = 0
    pos_grid: int = 37  # 518 px / 14
    interpolate_offset: float = 0.1
    interpolate_antialias: bool = False

    @property
    def hidden(self) -> int:
        """MLP width: ``4 · dim``, or SwiGLU's ``(⌊4 · dim · 2/3⌋ + 7) // 8 · 8``."""
        h = 4 * self.dim
        return (int(h * 2 / 3) + 7) // 8 * 8 if self.mlp == "swiglu" else h


def _variants() -> dict[str, DINOv2Config]:
    base = {"vits14": (384, 12, 6, "mlp"), "vitb14": (768, 12, 12, "mlp"),
            "vitl14": (1024, 24, 16, "mlp"), "vitg14": (1536, 40, 24, "swiglu")}  # fmt: skip
    out = {}
    for name, (d, n, h, mlp) in base.items():
        out[name] = DINOv2Config(d, n, h, mlp)
        out[name + "_reg"] = DINOv2Config(d, n, h, mlp, 4, 37, 0.0, True)
    return out


VARIANTS = _variants()
"""The torch.hub variants: ``vits14``, ``vitb14``, ``vitl14``, ``vitg14`` and their ``_reg``."""
_ENTRIES = {"vits14": "dinov2-vits14", "vitl14": "dinov2-vitl14", "vitg14": "dinov2-vitg14"}


def expected_shapes(cfg: DINOv2Config) -> dict[str, tuple[int, ...]]:
    """Key → shape of every tensor of the official state dict of this architecture."""
    d, h = cfg.dim, cfg.hidden
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, 1 + cfg.pos_grid**2, d),
        "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, PATCH, PATCH),
        "patch_embed.proj.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
    }
    if cfg.registers:
        shapes["register_tokens"] = (1, cfg.registers, d)
    mlp = {"w12": ((2 * h, d), (2 * h,)), "w3": ((d, h), (d,))} if cfg.mlp == "swiglu" else {
        "fc1": ((h, d), (h,)), "fc2": ((d, h), (d,))}  # fmt: skip
    for i in range(cfg.depth):
        p = f"blocks.{i}."
        for norm in ("norm1", "norm2"):
            shapes[p + norm + ".weight"] = shapes[p + norm + ".bias"] = (d,)
        shapes[p + "attn.qkv.weight"], shapes[p + "attn.qkv.bias"] = (3 * d, d), (3 * d,)
        shapes[p + "attn.proj.weight"], shapes[p + "attn.proj.bias"] = (d, d), (d,)
        shapes[p + "ls1.gamma"] = shapes[p + "ls2.gamma"] = (d,)
        for name, (w, b) in mlp.items():
            shapes[p + f"mlp.{name}.weight"], shapes[p + f"mlp.{name}.bias"] = w, b
    return shapes


def _which(state: Mapping[str, Any]) -> str:
    """A hint naming the known variant whose shapes the state dict has, if any."""
    for name, cfg in VARIANTS.items():
        shapes = expected_shapes(cfg)
        if set(state) == set(shapes) and all(
            tuple(getattr(state[k], "shape", ())) == s for k, s in shapes.items()
        ):
            return f" (these are DINOv2 {name} weights: pass variant={name!r})"
    return ""


class DINOv2(nn.Module):
    """DINOv2 image embeddings: images ``(N, 3, H, W)`` → class tokens ``(N, D)``.

    Build it with :func:`dinov2`. ``forward`` takes uint8 ``[0, 255]`` or floats ``[0, 1]``
    (grey and RGBA converted, with a warning), resizes them as ``resize`` says and returns
    float32 embeddings on the input's device. :meth:`embed` takes an already normalised batch.

    Attributes:
        provenance: ``{"network": "dinov2-<variant>", "sha256", "resize", "image_size",
            "precision"}``, what reports and the statistics cache key record.
    """

    def __init__(self, state: Mapping[str, torch.Tensor], cfg: DINOv2Config, *,
                 variant: str = "custom", resize: str = "torch", image_size: int = 224,
                 precision: str = "float32",
                 weights_sha256: str | None = None) -> None:  # fmt: skip
        super().__init__()
        if resize not in DINOV2_MODES:
            raise ValueError(f"resize must be one of {DINOV2_MODES}, got {resize!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < PATCH \
                or image_size % PATCH:  # fmt: skip
            raise ValueError(
                f"image_size must be a positive multiple of {PATCH}, got {image_size!r}"
            )
        check_shapes(state, expected_shapes(cfg), what=f"DINOv2 {variant} weights",
                     hint=_which(state))  # fmt: skip
        self.cfg, self.variant, self.resize, self.image_size = cfg, variant, resize, image_size
        self.precision, self.weights_sha256 = check_precision(precision), weights_sha256
        for name, key in (("patch_w", "patch_embed.proj.weight"),
                          ("patch_b", "patch_embed.proj.bias"),
                          ("cls", "cls_token"), ("pos", "pos_embed"), ("norm_w", "norm.weight"),
                          ("norm_b", "norm.bias")):  # fmt: skip
            self.register_buffer(name, state[key].float().clone())
        reg = state["register_tokens"] if cfg.registers else torch.zeros(1, 0, cfg.dim)
        self.register_buffer("reg", reg.float().clone())
        fc = ("w12", "w3") if cfg.mlp == "swiglu" else ("fc1", "fc2")
        blocks = []
        for i in range(cfg.depth):
            p = f"blocks.{i}."
            proj = fold_layerscale(state[p + "attn.proj.weight"], state[p + "attn.proj.bias"],
                                   state[p + "ls1.gamma"])  # fmt: skip
            fc2 = fold_layerscale(state[p + f"mlp.{fc[1]}.weight"], state[p + f"mlp.{fc[1]}.bias"],
                                  state[p + "ls2.gamma"])  # fmt: skip
            blocks.append({
                "n1w": state[p + "norm1.weight"], "n1b": state[p + "norm1.bias"],
                "qkv_w": state[p + "attn.qkv.weight"], "qkv_b": state[p + "attn.qkv.bias"],
                "proj_w": proj[0], "proj_b": proj[1],
                "n2w": state[p + "norm2.weight"], "n2b": state[p + "norm2.bias"],
                "fc1_w": state[p + f"mlp.{fc[0]}.weight"], "fc1_b": state[p + f"mlp.{fc[0]}.bias"],
                "fc2_w": fc2[0], "fc2_b": fc2[1],
            })  # fmt: skip
        self.blocks = Blocks(blocks, heads=cfg.heads, eps=1e-6,
                             mlp="swiglu" if cfg.mlp == "swiglu" else "gelu")  # fmt: skip
        self._pos_cache: dict[tuple, torch.Tensor] = {}
        self.eval()

    @property
    def provenance(self) -> dict[str, Any]:
        """What identifies these features: network, weights digest and preprocessing."""
        return {"network": f"dinov2-{self.variant}", "sha256": self.weights_sha256,
                "resize": self.resize, "image_size": self.image_size,
                "precision": self.precision}  # fmt: skip

    def _apply(self, fn, recurse=True):
        self._pos_cache = {}  # positions follow the buffers to the new device / dtype
        return super()._apply(fn, recurse)

    def position_embedding(self, gh: int, gw: int) -> torch.Tensor:
        """Positions ``(1, 1 + gh·gw, D)`` for a ``gh × gw`` patch grid (official interpolation)."""
        key = (gh, gw)
        if key not in self._pos_cache:
            m, d = self.cfg.pos_grid, self.cfg.dim
            pos = self.pos.float()
            if gh * gw == m * m and gh == gw:
                self._pos_cache[key] = pos
            else:
                grid = pos[:, 1:].reshape(1, m, m, d).permute(0, 3, 1, 2)
                if self.cfg.interpolate_offset:
                    off = self.cfg.interpolate_offset
                    kw: dict[str, Any] = {"scale_factor": ((gh + off) / m, (gw + off) / m)}
                else:
                    kw = {"size": (gh, gw)}
                grid = F.interpolate(grid, mode="bicubic", antialias=self.cfg.interpolate_antialias,
                                     **kw)  # fmt: skip
                grid = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, d)
                self._pos_cache[key] = torch.cat([pos[:, :1], grid], 1)
        return self._pos_cache[key]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Class token after the final norm ``(N, D)`` of a normalised batch ``(N, 3, H, W)``.

        ``H`` and ``W`` must be multiples of 14. Runs in the caller's precision context.
        """
        n, _, h, w = x.shape
        if h % PATCH or w % PATCH:
            raise ValueError(f"DINOv2 input sides must be multiples of {PATCH}, got {h}x{w}")
        t = F.conv2d(x, self.patch_w, self.patch_b, stride=PATCH).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(n, -1, -1).to(t.dtype), t], 1)
        t = t + self.position_embedding(h // PATCH, w // PATCH).to(t.dtype)
        if self.cfg.registers:
            t = torch.cat([t[:, :1], self.reg.expand(n, -1, -1).to(t.dtype), t[:, 1:]], 1)
        cls = self.blocks(t, cls_only=True)
        return F.layer_norm(cls, (self.cfg.dim,), self.norm_w, self.norm_b, 1e-6)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images → the normalised float32 batch on the network's device (see :mod:`preprocess`)."""
        x = as_rgb(images, network="dinov2")
        warn_small(x, PATCH, self.image_size, "dinov2")
        x = dinov2_resize(x, self.image_size, mode=self.resize)
        return normalize(x.to(self.patch_w.device), IMAGENET_MEAN, IMAGENET_STD)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(N, D)`` float32 of images ``(N, 3, H, W)`` on their device."""
        x = self.preprocess(images)
        with precision_context(x.device, self.precision):
            f = self.embed(x)
        return f.float().to(images.device)


def dinov2(
    weights: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
    *,
    variant: str | DINOv2Config = "vitl14",
    check_hash: bool = True,
    device: str | torch.device | None = None,
    resize: str = "torch",
    image_size: int = 224,
    precision: str = "float32",
) -> DINOv2:
    """The DINOv2 embedding network (FD_DINOv2's), in eval mode.

    ``f(x)`` is the class token after the final layer norm of DINOv2 ViT-L/14 (Oquab et al.
    2024) on the image resized to 224 × 224 and normalised with ImageNet's mean and std,
    exactly as EDM2's ``calculate_metrics.py`` (Karras et al. 2024) computes FD_DINOv2's
    features (``resize="torch"``); ``resize="pil"`` is dgm-eval's (Stein et al. 2023) default.

    Args:
        weights: the official checkpoint's path (``dinov2_vitl14_pretrain.pth``, or a sibling),
            a state dict with its keys, or ``None`` for the file fetched by ``divergences
            weights fetch dinov2-vitl14``.
        variant: ``vits14``, ``vitb14``, ``vitl14``, ``vitg14`` or a ``_reg`` variant, or a
            :class:`DINOv2Config` (e.g. small test networks).
        check_hash: refuse a file whose SHA-256 is not the variant's published one (variants
            without a confirmed published digest then need ``check_hash=False``).
        device: where it runs (default: CUDA when available).
        resize: ``"torch"`` (EDM2), ``"pil"`` (dgm-eval, EDM2's ``'pil'``) or ``"clean"``.
        image_size: the side images are resized to (a multiple of 14).
        precision: ``"float32"`` (IEEE), ``"tf32"`` (CUDA) or ``"bf16"`` (autocast); recorded in
            :attr:`DINOv2.provenance`.

    Raises:
        FileNotFoundError: no such file (or nothing fetched, with ``weights=None``).
        ValueError: a wrong SHA-256, an unreadable file, or a state dict with missing,
            unexpected or wrongly shaped tensors (all named; another variant's weights named).

    Example:
        >>> net = dinov2()  # fetched by `divergences weights fetch dinov2-vitl14`  # doctest: +SKIP
        >>> net(torch.zeros(2, 3, 64, 64, dtype=torch.uint8)).shape  # doctest: +SKIP
        torch.Size([2, 1024])
    """
    check_precision(precision)
    if isinstance(variant, DINOv2Config):
        cfg, name, entry = variant, "custom", None
    elif variant in VARIANTS:
        cfg, name, entry = VARIANTS[variant], variant, _ENTRIES.get(variant)
    else:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)} or a DINOv2Config, "
                         f"got {variant!r}")  # fmt: skip
    state, digest, _ = load_state(weights, entry=entry, what=f"DINOv2 {name}",
                                  check_hash=check_hash)  # fmt: skip
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision == "tf32" and torch.device(device).type != "cuda":
        raise ValueError(f"precision='tf32' needs a CUDA device, got device={str(device)!r}")
    net = DINOv2(state, cfg, variant=name, resize=resize, image_size=image_size,
                 precision=precision, weights_sha256=digest)  # fmt: skip
    return net.to(device)


def random_state_dict(cfg: DINOv2Config, seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded state dict in the official layout (see ``vit.random_tensors``)."""
    return random_tensors(expected_shapes(cfg), seed)
