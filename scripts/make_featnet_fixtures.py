"""Write the DINOv2 / CLIP parity fixtures: reference outputs of Hugging Face transformers.

The tests never import transformers: they load the small weights files and the reference
outputs written here (``tests/metrics/fixtures/featnets/``). Each part runs in a virtual
environment with the reference installed (torch from the project's environment)::

    /work/main/.venv/bin/python -m venv --system-site-packages /work/venvs/hf4
    echo /work/main/.venv/lib/python3.11/site-packages > \\
        /work/venvs/hf4/lib/python3.11/site-packages/main.pth
    /work/venvs/hf4/bin/pip install transformers==4.44.2
    /work/venvs/hf4/bin/python scripts/make_featnet_fixtures.py dinov2 clip preprocess
    # the same with transformers==5.25.0 in /work/venvs/hf:
    /work/venvs/hf/bin/python scripts/make_featnet_fixtures.py dinov2_reg

Why two versions: DINOv2's official code resizes the learned positions with the scale factor
``(g + 0.1) / 37``; transformers' ``Dinov2Model`` did the same up to 4.44 and later resizes to
the size ``g`` (no offset), which gives other embeddings at 224 px. The register variants
(``Dinov2WithRegistersModel``, transformers >= 4.48) follow the official code (size ``g``,
antialiased).

Parts (random weights at reduced size, same architectures; inputs from seeded generators that
the tests rebuild):

- ``dinov2``: official-layout state dicts (ViT with 2 blocks, width 16, 37 × 37 positions as
  the real checkpoints; and a SwiGLU one as ViT-g) converted with transformers' own
  ``convert_dinov2_to_hf`` renames into ``Dinov2Model``; ``pooler_output`` (the class token
  after the final norm) at 224 and 336 px, and end to end after EDM2's preprocessing.
- ``dinov2_reg``: the same with 4 registers in ``Dinov2WithRegistersModel``.
- ``clip``: OpenAI-layout state dicts (``visual.*``) of 2-block CLIP towers at 224 and 336 px;
  the script's own transcription of OpenAI's ``VisionTransformer`` on ``nn.MultiheadAttention``
  checks the renaming into ``CLIPVisionModelWithProjection``, whose ``image_embeds`` are the
  reference; its ``save_pretrained`` safetensors file is the Hugging Face layout fixture.
- ``preprocess``: EDM2's, dgm-eval's, OpenAI's (torchvision's crop offsets), google-research
  cmmd's and ``CLIPImageProcessor``'s resizing of seeded uint8 images, transcribed from their
  sources (the HF processor is called).

Nothing is overwritten unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "metrics" / "fixtures" / "featnets"
sys.path.insert(0, str(ROOT))


def net_inputs(seed: int, size: int) -> np.ndarray:
    """Normalised-scale network inputs ``(2, 3, size, size)``: ``4 u − 2``, u ~ U[0, 1)."""
    return (np.random.default_rng(seed).random((2, 3, size, size)) * 4 - 2).astype(np.float32)


def seeded_images(seed: int, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """uint8 HWC images with smooth structure plus noise (so resizing is not trivial)."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes:
        yy, xx = np.mgrid[0:h, 0:w]
        base = 127 + 100 * np.sin(xx[..., None] / (3 + 5 * rng.random(3)) + yy[..., None] / 7)
        out.append(np.clip(base + 40 * rng.random((h, w, 3)), 0, 255).astype(np.uint8))
    return out


def make_weights(shapes: dict, seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights: matrices with variance 1/fan_in, norm scales near 1, vectors in ±0.5."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, shape in shapes.items():
        u = 2 * rng.random(shape) - 1
        if k.endswith("gamma"):
            v = 0.3 + 0.2 * u
        elif k.endswith("weight") and len(shape) == 1:
            v = 1 + 0.4 * u
        elif len(shape) >= 2 and (k.endswith("weight") or k.endswith("proj")):
            fan = shape[0] if k.endswith("proj") else int(np.prod(shape[1:]))
            v = u * np.sqrt(3 / fan)
        else:
            v = 0.5 * u
        out[k] = torch.from_numpy(v).float()
    return out


# --- DINOv2 ------------------------------------------------------------------------------------
def dinov2_shapes(d: int, depth: int, grid: int, swiglu: bool, registers: int) -> dict:
    """The official state dict's keys (facebookresearch/dinov2 vision_transformer.py)."""
    h = (int(4 * d * 2 / 3) + 7) // 8 * 8 if swiglu else 4 * d
    s = {
        "cls_token": (1, 1, d),
        "pos_embed": (1, 1 + grid * grid, d),
        "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, 14, 14),
        "patch_embed.proj.bias": (d,),
    }
    if registers:
        s["register_tokens"] = (1, registers, d)
    for i in range(depth):
        p = f"blocks.{i}."
        s |= {
            p + "norm1.weight": (d,),
            p + "norm1.bias": (d,),
            p + "attn.qkv.weight": (3 * d, d),
            p + "attn.qkv.bias": (3 * d,),
            p + "attn.proj.weight": (d, d),
            p + "attn.proj.bias": (d,),
            p + "ls1.gamma": (d,),
            p + "norm2.weight": (d,),
            p + "norm2.bias": (d,),
            p + "ls2.gamma": (d,),
        }
        if swiglu:
            s |= {
                p + "mlp.w12.weight": (2 * h, d),
                p + "mlp.w12.bias": (2 * h,),
                p + "mlp.w3.weight": (d, h),
                p + "mlp.w3.bias": (d,),
            }
        else:
            s |= {
                p + "mlp.fc1.weight": (h, d),
                p + "mlp.fc1.bias": (h,),
                p + "mlp.fc2.weight": (d, h),
                p + "mlp.fc2.bias": (d,),
            }
    s |= {"norm.weight": (d,), "norm.bias": (d,)}
    return s


def attention_names_of(model, hf: dict) -> dict:
    """``hf`` with the attention keys renamed as ``model`` names them (transformers >= 5)."""
    if not any(".attention.q_proj." in k for k in model.state_dict()):
        return hf
    for old, new in (
        ("attention.attention.query", "attention.q_proj"),
        ("attention.attention.key", "attention.k_proj"),
        ("attention.attention.value", "attention.v_proj"),
        ("attention.output.dense", "attention.o_proj"),
    ):
        hf = {k.replace(old, new): v for k, v in hf.items()}
    return hf


def dinov2_to_hf(state: dict, depth: int, d: int) -> dict:
    """Official → transformers names (this script's own mapping; checked against HF's)."""
    top = {
        "cls_token": "embeddings.cls_token",
        "mask_token": "embeddings.mask_token",
        "pos_embed": "embeddings.position_embeddings",
        "register_tokens": "embeddings.register_tokens",
        "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
        "norm.weight": "layernorm.weight",
        "norm.bias": "layernorm.bias",
    }
    out = {top[k]: v for k, v in state.items() if k in top}
    for i in range(depth):
        p, q = f"blocks.{i}.", f"encoder.layer.{i}."
        for a in ("weight", "bias"):
            qkv = state[p + f"attn.qkv.{a}"]
            for j, name in enumerate(("query", "key", "value")):
                out[q + f"attention.attention.{name}.{a}"] = qkv[j * d : (j + 1) * d]
            out[q + f"attention.output.dense.{a}"] = state[p + f"attn.proj.{a}"]
            for n in ("norm1", "norm2"):
                out[q + f"{n}.{a}"] = state[p + f"{n}.{a}"]
            for ours, theirs in (
                ("fc1", "fc1"),
                ("fc2", "fc2"),
                ("w12", "weights_in"),
                ("w3", "weights_out"),
            ):
                if p + f"mlp.{ours}.{a}" in state:
                    out[q + f"mlp.{theirs}.{a}"] = state[p + f"mlp.{ours}.{a}"]
        out[q + "layer_scale1.lambda1"] = state[p + "ls1.gamma"]
        out[q + "layer_scale2.lambda1"] = state[p + "ls2.gamma"]
    return out


def _dinov2_models(registers: int):
    import transformers

    specs = {"dinov2_main": (16, 2, 2, 37, False), "dinov2_swiglu": (16, 2, 2, 10, True)}
    if registers:
        specs = {"dinov2_reg": (16, 2, 2, 10, False)}
    for seed, (name, (d, depth, heads, grid, swiglu)) in enumerate(specs.items(), start=11):
        state = make_weights(dinov2_shapes(d, depth, grid, swiglu, registers), seed)
        kw = dict(
            hidden_size=d,
            num_hidden_layers=depth,
            num_attention_heads=heads,
            mlp_ratio=4,
            image_size=grid * 14,
            patch_size=14,
            layerscale_value=1.0,
            use_swiglu_ffn=swiglu,
            layer_norm_eps=1e-6,
            hidden_act="gelu",
        )
        if registers:
            cfg = transformers.Dinov2WithRegistersConfig(num_register_tokens=registers, **kw)
            model = transformers.Dinov2WithRegistersModel(cfg)
        else:
            cfg = transformers.Dinov2Config(**kw)
            model = transformers.Dinov2Model(cfg)
            _check_against_hf_convert(state, cfg, dinov2_to_hf(state, depth, d))
        hf = dinov2_to_hf(state, depth, d)
        hf = attention_names_of(model, hf)
        model.load_state_dict(hf, strict=True)
        yield name, state, model.eval()


def _check_against_hf_convert(state: dict, cfg, ours: dict) -> None:
    import types

    if "torchvision" not in sys.modules:  # imported at its top, unused by the renames
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        sys.modules |= {"torchvision": tv, "torchvision.transforms": tv.transforms}
    from transformers.models.dinov2 import convert_dinov2_to_hf as conv

    theirs = dict(state)
    for src, dest in conv.create_rename_keys(cfg):
        conv.rename_key(theirs, src, dest)
    conv.read_in_q_k_v(theirs, cfg)
    theirs = {
        k.replace("w12", "weights_in").replace("w3", "weights_out"): v for k, v in theirs.items()
    }
    assert set(theirs) == set(ours), set(theirs) ^ set(ours)
    assert all(torch.equal(theirs[k], ours[k]) for k in ours)


def edm2_torch(images: list[np.ndarray], size: int = 224) -> torch.Tensor:
    """EDM2 DINOv2Detector(resize_mode='torch') before normalisation, [0, 255] scale."""
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    return F.interpolate(x.to(torch.float32), size=(size, size), mode="bicubic", antialias=True)


def imagenet_norm(x255: torch.Tensor) -> torch.Tensor:
    x = x255.to(torch.float32) / 255
    x = x - torch.tensor([0.485, 0.456, 0.406]).reshape(1, -1, 1, 1)
    return x / torch.tensor([0.229, 0.224, 0.225]).reshape(1, -1, 1, 1)


def part_dinov2(registers: int) -> dict:
    out = {}
    e2e = seeded_images(5, [(40, 56), (64, 64)])
    for name, state, model in _dinov2_models(registers):
        torch.save(state, OUT / f"{name}.pth")
        with torch.no_grad():
            for size, seed in ((224, 224), (336, 336)):
                out[f"{name}_{size}"] = model(
                    torch.from_numpy(net_inputs(seed, size))
                ).pooler_output.numpy()
            x = torch.cat([edm2_torch([im]) for im in e2e])
            out[f"{name}_e2e"] = model(imagenet_norm(x)).pooler_output.numpy()
    return out


# --- CLIP --------------------------------------------------------------------------------------
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResBlock(nn.Module):
    def __init__(self, w: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(w, heads)
        self.ln_1 = nn.LayerNorm(w)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(w, 4 * w)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(4 * w, w)),
                ]
            )
        )
        self.ln_2 = nn.LayerNorm(w)

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class OpenAIVisual(nn.Module):
    """A transcription of openai/CLIP model.py's VisionTransformer (LND layout, as there)."""

    def __init__(self, w: int, layers: int, heads: int, patch: int, size: int, embed: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(w))
        self.positional_embedding = nn.Parameter(torch.zeros((size // patch) ** 2 + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(*[ResBlock(w, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.zeros(w, embed))

    def forward(self, x):
        x = self.conv1(x).reshape(x.shape[0], self.conv1.out_channels, -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1])
        x = torch.cat([cls, x], 1) + self.positional_embedding
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer.resblocks(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


def clip_to_hf(vis: dict, layers: int, w: int) -> dict:
    top = {
        "class_embedding": "vision_model.embeddings.class_embedding",
        "positional_embedding": "vision_model.embeddings.position_embedding.weight",
        "conv1.weight": "vision_model.embeddings.patch_embedding.weight",
        "ln_pre.weight": "vision_model.pre_layrnorm.weight",
        "ln_pre.bias": "vision_model.pre_layrnorm.bias",
        "ln_post.weight": "vision_model.post_layernorm.weight",
        "ln_post.bias": "vision_model.post_layernorm.bias",
    }
    out = {hf: vis[k] for k, hf in top.items()}
    out["visual_projection.weight"] = vis["proj"].T.contiguous()
    for i in range(layers):
        p, q = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        for a in ("weight", "bias"):
            inp = vis[p + f"attn.in_proj_{a}"]
            for j, n in enumerate("qkv"):
                out[q + f"self_attn.{n}_proj.{a}"] = inp[j * w : (j + 1) * w].contiguous()
            out[q + f"self_attn.out_proj.{a}"] = vis[p + f"attn.out_proj.{a}"]
            for ours, theirs in (
                ("ln_1", "layer_norm1"),
                ("ln_2", "layer_norm2"),
                ("mlp.c_fc", "mlp.fc1"),
                ("mlp.c_proj", "mlp.fc2"),
            ):
                out[q + f"{theirs}.{a}"] = vis[p + f"{ours}.{a}"]
    return out


def part_clip() -> dict:
    import transformers

    out = {}
    w, layers, heads, patch, embed = 16, 2, 2, 14, 12
    e2e = seeded_images(6, [(50, 70), (336, 336)])
    for seed, size in ((21, 224), (22, 336)):
        ref = OpenAIVisual(w, layers, heads, patch, size, embed)
        shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
        vis = make_weights(shapes, seed)
        ref.load_state_dict(vis, strict=True)
        cfg = transformers.CLIPVisionConfig(
            hidden_size=w,
            intermediate_size=4 * w,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            image_size=size,
            patch_size=patch,
            projection_dim=embed,
            hidden_act="quick_gelu",
            layer_norm_eps=1e-5,
        )
        model = transformers.CLIPVisionModelWithProjection(cfg).eval()
        res = model.load_state_dict(clip_to_hf(vis, layers, w), strict=False)
        assert not res.unexpected_keys, res.unexpected_keys
        assert all(k.endswith("position_ids") for k in res.missing_keys), res.missing_keys
        full = {f"visual.{k}": v for k, v in vis.items()}
        full |= {
            "logit_scale": torch.tensor(4.6),
            "text_projection": torch.zeros(8, 16),
            "positional_embedding": torch.zeros(77, 8),
            "token_embedding.weight": torch.zeros(10, 8),
        }
        torch.save(full, OUT / f"clip_{size}.pt")
        with torch.no_grad():
            x = torch.from_numpy(net_inputs(seed, size))
            a, b = ref(x), model(pixel_values=x).image_embeds
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (a - b).abs().max()
            out[f"clip_{size}"] = b.numpy()
            if size == 336:
                proc = transformers.CLIPImageProcessor(
                    size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}
                )
                pix = proc(images=e2e, return_tensors="pt").pixel_values
                out["clip_336_e2e"] = model(pixel_values=pix).image_embeds.numpy()
        if size == 224:
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp, safe_serialization=True)
                (OUT / "clip_224.safetensors").write_bytes(
                    (Path(tmp) / "model.safetensors").read_bytes()
                )
    return out


# --- preprocessing -----------------------------------------------------------------------------
PRE_SIZES = [(37, 53), (64, 64), (120, 80), (80, 97), (13, 9)]  # (80, 97): HF crops differ
SAMPLES = 2048
INTEGRAL = ("pil", "openai", "cmmd", "hf")  # reference outputs that are uint8 values


def dgm_eval_clean(im: np.ndarray, size: int) -> np.ndarray:
    """dgm-eval resizer.pil_resize before /255: per channel 'F' bicubic, clipped."""
    x = np.array(Image.fromarray(im).convert("RGB")).astype(np.float32)
    chans = [
        np.asarray(Image.fromarray(x[:, :, c], mode="F").resize((size, size), Image.BICUBIC)).clip(
            0, 255
        )
        for c in range(3)
    ]
    return np.stack(chans, 0)


def edm2_pil(im: np.ndarray, size: int) -> np.ndarray:
    return np.uint8(
        Image.fromarray(im, "RGB").resize((size, size), Image.Resampling.BICUBIC)
    ).transpose(2, 0, 1)


def openai_clip(im: np.ndarray, size: int) -> np.ndarray:
    """torchvision Resize(size, BICUBIC) + CenterCrop(size) on a PIL image, transcribed."""
    pil = Image.fromarray(im, "RGB")
    w, h = pil.size
    short, long = (w, h) if w <= h else (h, w)
    nl = int(size * long / short)
    nw, nh = (size, nl) if w <= h else (nl, size)
    if (nw, nh) != (w, h):
        pil = pil.resize((nw, nh), Image.BICUBIC)
    top, left = round((nh - size) / 2.0), round((nw - size) / 2.0)
    return np.asarray(pil.crop((left, top, left + size, top + size))).transpose(2, 0, 1)


def cmmd_clip(im: np.ndarray, size: int) -> np.ndarray:
    """google-research cmmd io_util._center_crop_and_resize."""
    pil = Image.fromarray(im, "RGB")
    w, h = pil.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    pil = pil.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    return np.asarray(pil).astype(np.float32).transpose(2, 0, 1)


def part_preprocess() -> dict:
    import transformers

    ims = seeded_images(7, PRE_SIZES)
    out = {f"image_{i}": im for i, im in enumerate(ims)}
    rng = np.random.default_rng(8)
    for size in (28, 224, 336):
        if size != 28:
            idx = rng.integers(0, len(ims) * 3 * size * size, SAMPLES).astype(np.int32)
            out[f"idx_{size}"] = idx
        res = {}
        res["torch"] = np.concatenate([edm2_torch([im], size).numpy() for im in ims])
        res["pil"] = np.stack([edm2_pil(im, size) for im in ims]).astype(np.float32)
        res["clean"] = np.stack([dgm_eval_clean(im, size) for im in ims])
        res["openai"] = np.stack([openai_clip(im, size) for im in ims]).astype(np.float32)
        res["cmmd"] = np.stack([cmmd_clip(im, size) for im in ims])
        proc = transformers.CLIPImageProcessor(
            size={"shortest_edge": size},
            crop_size={"height": size, "width": size},
            do_rescale=False,
            do_normalize=False,
        )
        res["hf"] = np.asarray(proc(images=ims, return_tensors="np").pixel_values, np.float32)
        for mode, arr in res.items():
            if size == 28:
                out[f"{mode}_{size}"] = arr.astype(np.uint8) if mode in INTEGRAL else arr
            else:
                val = arr.reshape(-1)[idx]
                out[f"{mode}_{size}_val"] = val.astype(np.uint8) if mode in INTEGRAL else val
                out[f"{mode}_{size}_sum"] = arr.astype(np.float64).sum(axis=(2, 3))
    return out


PARTS = {
    "dinov2": lambda: part_dinov2(0),
    "dinov2_reg": lambda: part_dinov2(4),
    "clip": part_clip,
    "preprocess": part_preprocess,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="+", choices=sorted(PARTS))
    ap.add_argument("--force", action="store_true", help="overwrite existing fixtures")
    args = ap.parse_args()
    import transformers

    OUT.mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        target = OUT / f"{part}.npz"
        if target.exists() and not args.force:
            sys.exit(f"{target} exists (use --force)")
        torch.manual_seed(0)
        arrays = PARTS[part]()
        arrays["transformers_version"] = np.array(transformers.__version__)
        np.savez_compressed(target, **arrays)
        print(f"wrote {target} with transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
