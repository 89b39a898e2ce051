"""CLIP image embeddings in eager PyTorch: the vision tower and its projection (CMMD's network).

The network is OpenAI CLIP's ``VisionTransformer`` (Radford et al. 2021, openai/CLIP
``clip/model.py``): a patch convolution without bias, a class embedding, learned positions,
``ln_pre``, pre-norm residual blocks with ``nn.MultiheadAttention``-style fused ``in_proj``
and a QuickGELU MLP (``x σ(1.702 x)``), layer norms with ``eps = 1e-5``, then ``ln_post`` on
the class token and the projection ``proj`` ``(width, embed)``. The output is the image
embedding of ``model.encode_image`` (Hugging Face: ``CLIPVisionModelWithProjection``'s
``image_embeds``), not normalised; :func:`metrics.cmmd` normalises it.

Two layouts of the same weights load:

- OpenAI's: ``model.state_dict()`` of a model from the ``clip`` package (``visual.conv1.weight``,
  ``visual.transformer.resblocks.{i}.attn.in_proj_weight``, ``visual.proj``, ...; text keys are
  ignored), saved with ``torch.save`` and read with ``weights_only=True``. The ``.pt`` files
  that ``clip.load`` downloads are TorchScript archives, which run code when loaded: they are
  refused.
- Hugging Face's: a ``.safetensors`` file of ``CLIPModel`` / ``CLIPVisionModelWithProjection``
  (``vision_model.encoder.layers.{i}.self_attn.q_proj.weight``, ``visual_projection.weight``,
  ...), e.g. the one ``divergences weights fetch clip-vitl14-336`` downloads.
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
from metrics.networks.preprocess import CLIP_MEAN, CLIP_MODES, CLIP_STD, clip_resize, normalize
from metrics.networks.vit import (
    Blocks,
    as_rgb,
    check_precision,
    load_state,
    precision_context,
    random_tensors,
    warn_small,
)

__all__ = [
    "VARIANTS",
    "CLIPConfig",
    "CLIPImage",
    "clip_image",
    "hf_shapes",
    "openai_shapes",
    "random_state_dict",
    "to_openai",
]


@dataclass(frozen=True)
class CLIPConfig:
    """A CLIP ViT image tower: width, layers, heads, patch, input side and embedding size."""

    width: int
    layers: int
    heads: int
    patch: int
    image_size: int
    embed: int

    @property
    def grid(self) -> int:
        """Patches per side."""
        return self.image_size // self.patch


VARIANTS = {
    "ViT-B/32": CLIPConfig(768, 12, 12, 32, 224, 512),
    "ViT-B/16": CLIPConfig(768, 12, 12, 16, 224, 512),
    "ViT-L/14": CLIPConfig(1024, 24, 16, 14, 224, 768),
    "ViT-L/14@336": CLIPConfig(1024, 24, 16, 14, 336, 768),
}
"""OpenAI's ViT image towers, by ``clip.available_models()`` name."""
_ENTRIES = {"ViT-L/14@336": "clip-vitl14-336"}


def openai_shapes(cfg: CLIPConfig) -> dict[str, tuple[int, ...]]:
    """Key → shape of the image tower in OpenAI's layout (without the ``visual.`` prefix)."""
    w = cfg.width
    shapes: dict[str, tuple[int, ...]] = {
        "class_embedding": (w,),
        "positional_embedding": (cfg.grid**2 + 1, w),
        "proj": (w, cfg.embed),
        "conv1.weight": (w, 3, cfg.patch, cfg.patch),
        "ln_pre.weight": (w,), "ln_pre.bias": (w,),
        "ln_post.weight": (w,), "ln_post.bias": (w,),
    }  # fmt: skip
    for i in range(cfg.layers):
        p = f"transformer.resblocks.{i}."
        shapes |= {
            p + "attn.in_proj_weight": (3 * w, w), p + "attn.in_proj_bias": (3 * w,),
            p + "attn.out_proj.weight": (w, w), p + "attn.out_proj.bias": (w,),
            p + "ln_1.weight": (w,), p + "ln_1.bias": (w,),
            p + "mlp.c_fc.weight": (4 * w, w), p + "mlp.c_fc.bias": (4 * w,),
            p + "mlp.c_proj.weight": (w, 4 * w), p + "mlp.c_proj.bias": (w,),
            p + "ln_2.weight": (w,), p + "ln_2.bias": (w,),
        }  # fmt: skip
    return shapes


_HF_TOP = {
    "class_embedding": "vision_model.embeddings.class_embedding",
    "positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "ln_post.weight": "vision_model.post_layernorm.weight",
    "ln_post.bias": "vision_model.post_layernorm.bias",
}  # fmt: skip
_HF_BLOCK = {
    "attn.out_proj": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
}  # fmt: skip


def hf_shapes(cfg: CLIPConfig) -> dict[str, tuple[int, ...]]:
    """Key → shape of the image tower in Hugging Face's layout."""
    w = cfg.width
    shapes = {hf: openai_shapes(cfg)[k] for k, hf in _HF_TOP.items()}
    shapes["visual_projection.weight"] = (cfg.embed, w)
    for i in range(cfg.layers):
        p = f"vision_model.encoder.layers.{i}."
        for a in ("q", "k", "v", "out"):
            shapes[p + f"self_attn.{a}_proj.weight"], shapes[p + f"self_attn.{a}_proj.bias"] = (
                (w, w), (w,))  # fmt: skip
        for n in ("layer_norm1", "layer_norm2"):
            shapes[p + n + ".weight"] = shapes[p + n + ".bias"] = (w,)
        shapes[p + "mlp.fc1.weight"], shapes[p + "mlp.fc1.bias"] = (4 * w, w), (4 * w,)
        shapes[p + "mlp.fc2.weight"], shapes[p + "mlp.fc2.bias"] = (w, 4 * w), (w,)
    return shapes


def to_openai(state: Mapping[str, Any], cfg: CLIPConfig, *, what: str = "CLIP weights") -> dict:
    """The image tower of a state dict in either layout, checked, in OpenAI's layout.

    OpenAI's keys may carry the ``visual.`` prefix (a whole CLIP model: the text keys are
    ignored); Hugging Face's ``vision_model.*`` and ``visual_projection.weight`` are renamed
    (``q``, ``k``, ``v`` stacked into ``in_proj``, the projection transposed).

    Raises:
        ValueError: missing, unexpected or wrongly shaped tensors, named in the file's layout.
    """
    keys = [str(k) for k in state]
    if any(k.startswith(("vision_model.", "visual_projection.")) for k in keys):
        vis = {k: v for k, v in state.items()
               if k.startswith(("vision_model.", "visual_projection."))
               and not k.endswith("position_ids")}  # fmt: skip
        check_shapes(vis, hf_shapes(cfg), what=f"{what} (Hugging Face layout)", hint=_which(vis))
        out = {k: vis[hf] for k, hf in _HF_TOP.items()}
        out["proj"] = vis["visual_projection.weight"].T
        for i in range(cfg.layers):
            p, q = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
            for part in ("weight", "bias"):
                out[p + f"attn.in_proj_{part}"] = torch.cat(
                    [vis[q + f"self_attn.{a}_proj.{part}"] for a in "qkv"]
                )
                for ours, theirs in _HF_BLOCK.items():
                    out[p + f"{ours}.{part}"] = vis[q + f"{theirs}.{part}"]
        return out
    if any(k.startswith("visual.") for k in keys):
        state = {k[len("visual.") :]: v for k, v in state.items() if k.startswith("visual.")}
    check_shapes(state, openai_shapes(cfg), what=f"{what} (OpenAI layout)", hint=_which(state))
    return dict(state)


def _which(state: Mapping[str, Any]) -> str:
    """A hint naming the known variant whose shapes the tower has, if any."""
    for name, cfg in VARIANTS.items():
        for shapes in (openai_shapes(cfg), hf_shapes(cfg)):
            if set(state) == set(shapes) and all(
                tuple(getattr(state[k], "shape", ())) == s for k, s in shapes.items()
            ):
                return f" (these are CLIP {name} weights: pass variant={name!r})"
    return ""


def _is_vision(key: str) -> bool:
    """Keys of the image tower in either layout (a whole CLIP file also holds the text tower)."""
    return not key.startswith(("text_model.", "text_projection", "logit_scale"))


class CLIPImage(nn.Module):
    """CLIP image embeddings: images ``(N, 3, H, W)`` → ``(N, embed)`` (not normalised).

    Build it with :func:`clip_image`. ``forward`` takes uint8 ``[0, 255]`` or floats ``[0, 1]``
    (grey and RGBA converted, with a warning), applies the ``resize`` pipeline and returns
    float32 embeddings on the input's device; :meth:`embed` takes a normalised batch.

    Attributes:
        provenance: ``{"network": "clip-<variant>", "sha256", "resize", "image_size",
            "precision"}``.
    """

    def __init__(self, state: Mapping[str, torch.Tensor], cfg: CLIPConfig, *,
                 variant: str = "custom", resize: str = "openai", precision: str = "float32",
                 weights_sha256: str | None = None) -> None:  # fmt: skip
        super().__init__()
        if resize not in CLIP_MODES:
            raise ValueError(f"resize must be one of {CLIP_MODES}, got {resize!r}")
        s = to_openai(state, cfg, what=f"CLIP {variant} weights")
        self.cfg, self.variant, self.resize = cfg, variant, resize
        self.precision, self.weights_sha256 = check_precision(precision), weights_sha256
        for name, key in (("conv_w", "conv1.weight"), ("cls", "class_embedding"),
                          ("pos", "positional_embedding"), ("pre_w", "ln_pre.weight"),
                          ("pre_b", "ln_pre.bias"), ("post_w", "ln_post.weight"),
                          ("post_b", "ln_post.bias"), ("proj", "proj")):  # fmt: skip
            self.register_buffer(name, s[key].float().contiguous().clone())
        blocks = []
        for i in range(cfg.layers):
            p = f"transformer.resblocks.{i}."
            blocks.append({
                "n1w": s[p + "ln_1.weight"], "n1b": s[p + "ln_1.bias"],
                "qkv_w": s[p + "attn.in_proj_weight"], "qkv_b": s[p + "attn.in_proj_bias"],
                "proj_w": s[p + "attn.out_proj.weight"], "proj_b": s[p + "attn.out_proj.bias"],
                "n2w": s[p + "ln_2.weight"], "n2b": s[p + "ln_2.bias"],
                "fc1_w": s[p + "mlp.c_fc.weight"], "fc1_b": s[p + "mlp.c_fc.bias"],
                "fc2_w": s[p + "mlp.c_proj.weight"], "fc2_b": s[p + "mlp.c_proj.bias"],
            })  # fmt: skip
        self.blocks = Blocks(blocks, heads=cfg.heads, eps=1e-5, mlp="quick_gelu")
        self.eval()

    @property
    def provenance(self) -> dict[str, Any]:
        """What identifies these features: network, weights digest and preprocessing."""
        name = self.variant.lower().replace("/", "").replace("@", "-").replace("vit-", "vit")
        return {"network": f"clip-{name}", "sha256": self.weights_sha256, "resize": self.resize,
                "image_size": self.cfg.image_size, "precision": self.precision}  # fmt: skip

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Image embeddings ``(N, embed)`` of a normalised batch ``(N, 3, S, S)``."""
        n, _, h, w = x.shape
        s = self.cfg.image_size
        if (h, w) != (s, s):
            raise ValueError(f"CLIP {self.variant} takes {s}x{s} inputs, got {h}x{w}")
        t = F.conv2d(x, self.conv_w, stride=self.cfg.patch).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.to(t.dtype).expand(n, 1, -1), t], 1) + self.pos.to(t.dtype)
        t = F.layer_norm(t, (self.cfg.width,), self.pre_w, self.pre_b, 1e-5)
        cls = self.blocks(t, cls_only=True)
        cls = F.layer_norm(cls, (self.cfg.width,), self.post_w, self.post_b, 1e-5)
        return cls @ self.proj.to(cls.dtype)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images → the normalised float32 batch on the network's device (see :mod:`preprocess`)."""
        x = as_rgb(images, network="clip")
        warn_small(x, self.cfg.patch, self.cfg.image_size, "clip")
        x = clip_resize(x, self.cfg.image_size, mode=self.resize)
        return normalize(x.to(self.conv_w.device), CLIP_MEAN, CLIP_STD)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(N, embed)`` float32 of images ``(N, 3, H, W)`` on their device."""
        x = self.preprocess(images)
        with precision_context(x.device, self.precision):
            f = self.embed(x)
        return f.float().to(images.device)


def clip_image(
    weights: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
    *,
    variant: str | CLIPConfig = "ViT-L/14@336",
    check_hash: bool = True,
    device: str | torch.device | None = None,
    resize: str = "openai",
    precision: str = "float32",
) -> CLIPImage:
    """The CLIP image encoder with its projection (CMMD's network), in eval mode.

    ``f(x) = ln_post(ViT(x)_cls) · proj`` (Radford et al. 2021), OpenAI's ``encode_image``, on
    OpenAI's preprocessing: bicubic resize of the short side, centre crop, CLIP's mean and
    std. CMMD (Jayasumana et al. 2024) uses ViT-L/14 at 336 px.

    Args:
        weights: a ``.safetensors`` file in Hugging Face's layout, a ``torch.save``-d
            ``state_dict()`` in OpenAI's layout, a state dict in either, or ``None`` for the
            file fetched by ``divergences weights fetch clip-vitl14-336``.
        variant: ``"ViT-B/32"``, ``"ViT-B/16"``, ``"ViT-L/14"``, ``"ViT-L/14@336"`` or a
            :class:`CLIPConfig`.
        check_hash: refuse a file whose SHA-256 is not the published one (only the
            ViT-L/14@336 safetensors file has one here; other files need ``check_hash=False``).
        device: where it runs (default: CUDA when available).
        resize: ``"openai"`` (default) or ``"cmmd"`` (google-research/cmmd's crop-then-resize).
        precision: ``"float32"``, ``"tf32"`` (CUDA) or ``"bf16"``; recorded in the provenance.

    Raises:
        FileNotFoundError: no such file (or nothing fetched, with ``weights=None``).
        ValueError: a wrong SHA-256, a TorchScript archive, an unreadable file, or missing,
            unexpected or wrongly shaped tensors (named; another variant's weights named).

    Example:
        >>> net = clip_image()  # `divergences weights fetch clip-vitl14-336`  # doctest: +SKIP
        >>> net(torch.zeros(2, 3, 64, 64, dtype=torch.uint8)).shape  # doctest: +SKIP
        torch.Size([2, 768])
    """
    check_precision(precision)
    if isinstance(variant, CLIPConfig):
        cfg, name, entry = variant, "custom", None
    elif variant in VARIANTS:
        cfg, name, entry = VARIANTS[variant], variant, _ENTRIES.get(variant)
    else:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)} or a CLIPConfig, "
                         f"got {variant!r}")  # fmt: skip
    state, digest, _ = load_state(weights, entry=entry, what=f"CLIP {name}",
                                  check_hash=check_hash, keep=_is_vision)  # fmt: skip
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision == "tf32" and torch.device(device).type != "cuda":
        raise ValueError(f"precision='tf32' needs a CUDA device, got device={str(device)!r}")
    net = CLIPImage(state, cfg, variant=name, resize=resize, precision=precision,
                    weights_sha256=digest)  # fmt: skip
    return net.to(device)


def random_state_dict(cfg: CLIPConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded image tower in OpenAI's layout, ``visual.`` keys (see ``vit.random_tensors``)."""
    return {"visual." + k: v for k, v in random_tensors(openai_shapes(cfg), seed).items()}
