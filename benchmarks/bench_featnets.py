"""DINOv2 / CLIP image embeddings: images/s of our networks against Hugging Face transformers.

Both get the same seeded random weights at full size (the real ones are not downloaded): our
official-layout DINOv2 state dict renamed for ``Dinov2Model`` and our OpenAI-layout CLIP tower
for ``CLIPVisionModelWithProjection`` (the renames of scripts/make_featnet_fixtures.py), the
same normalised batch (network time only: preprocessing is not timed), the same threads,
under ``torch.inference_mode``; runs alternate and the median of the repeats is reported,
with the largest relative difference of the embeddings (``max |a − e| / max |e|``).

On CUDA (``--device cuda``) our networks also run in ``bf16`` (autocast, SDPA) and ``tf32``
(``--precisions``; ``bf16`` runs on a CPU too);
the reference runs in float32 as its users run it (``torch``'s default flags) and each row
gives its speed ratio to the reference and its distance to our float32 embeddings. Without
transformers (e.g. on a bare GPU machine) only our rows are printed.

Usage (transformers in a separate environment, see scripts/make_featnet_fixtures.py)::

    /work/venvs/hf4/bin/python benchmarks/bench_featnets.py [--batch 2] [--repeats 3]
        [--threads 2] [--device cpu] [--models dinov2-vitl14,clip-vitl14-336]
    # on a GPU: --device cuda --batch 64 --repeats 10
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages first

from metrics.networks import clip as clip_mod  # noqa: E402
from metrics.networks import dinov2 as dinov2_mod  # noqa: E402
from scripts.make_featnet_fixtures import attention_names_of, clip_to_hf, dinov2_to_hf  # noqa: E402

HAVE_HF = importlib.util.find_spec("transformers") is not None
MODELS = {
    "dinov2-vitl14": ("dinov2", "vitl14", 224),
    "dinov2-vitb14": ("dinov2", "vitb14", 224),
    "clip-vitl14-336": ("clip", "ViT-L/14@336", 336),
    "clip-vitb16": ("clip", "ViT-B/16", 224),
}


def _reference(kind: str, cfg, state: dict):
    import transformers

    if kind == "dinov2":
        hcfg = transformers.Dinov2Config(
            hidden_size=cfg.dim,
            num_hidden_layers=cfg.depth,
            num_attention_heads=cfg.heads,
            image_size=cfg.pos_grid * 14,
            patch_size=14,
            layerscale_value=1.0,
            use_swiglu_ffn=cfg.mlp == "swiglu",
        )
        model = transformers.Dinov2Model(hcfg)
        hf = dinov2_to_hf(state, cfg.depth, cfg.dim)
        hf = attention_names_of(model, hf)
        model.load_state_dict(hf, strict=True)
        return model.eval(), lambda m, x: m(pixel_values=x).pooler_output
    hcfg = transformers.CLIPVisionConfig(
        hidden_size=cfg.width,
        intermediate_size=4 * cfg.width,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        image_size=cfg.image_size,
        patch_size=cfg.patch,
        projection_dim=cfg.embed,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    model = transformers.CLIPVisionModelWithProjection(hcfg)
    vis = {k[len("visual.") :]: v for k, v in state.items()}
    model.load_state_dict(clip_to_hf(vis, cfg.layers, cfg.width), strict=False)
    return model.eval(), lambda m, x: m(pixel_values=x).image_embeds


def _time(fn, x, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _rel(a: torch.Tensor, e: torch.Tensor) -> float:
    return float((a.float() - e.float()).abs().max() / e.float().abs().max())


def bench(name: str, args, device: torch.device) -> None:
    kind, variant, size = MODELS[name]
    if kind == "dinov2":
        cfg = dinov2_mod.VARIANTS[variant]
        state = dinov2_mod.random_state_dict(cfg, 0)
        ours = {"float32": dinov2_mod.dinov2(state, variant=variant, device=device)}
        build = lambda p: dinov2_mod.dinov2(state, variant=variant, device=device, precision=p)  # noqa: E731
    else:
        cfg = clip_mod.VARIANTS[variant]
        state = clip_mod.random_state_dict(cfg, 0)
        ours = {"float32": clip_mod.clip_image(state, variant=variant, device=device)}
        build = lambda p: clip_mod.clip_image(state, variant=variant, device=device, precision=p)  # noqa: E731
    ours |= {p: build(p) for p in args.precisions.split(",") if p != "float32"}
    x = (
        torch.rand(args.batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 4 - 2
    ).to(device)

    def run(net):
        from metrics.networks.vit import precision_context

        with precision_context(device, net.precision):
            return net.embed(x).float()

    fns = {f"ours {p}": (lambda n=n: run(n)) for p, n in ours.items()}
    impl = ""
    if HAVE_HF:
        import transformers

        ref, call = _reference(kind, cfg, state)
        ref = ref.to(device)
        impl = (
            f"transformers {transformers.__version__}, attention={ref.config._attn_implementation}"
        )
        fns = {"reference": lambda: call(ref, x), **fns}
    with torch.inference_mode():
        outs = {k: f() for k, f in fns.items()}  # warm-up, and the outputs compared
        times = {k: [] for k in fns}
        for _ in range(args.repeats):
            for k, f in fns.items():
                times[k].append(_time(lambda _x, f=f: f(), x, device))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"\n{name} ({variant}, {size} px, batch {args.batch}, {device}, "
        f"{torch.get_num_threads()} threads; {impl or 'no transformers'})"
    )
    print(f"{'':18}{'images/s':>10}{'vs reference':>14}{'rel diff vs ref':>17}{'vs ours fp32':>14}")
    base = outs["ours float32"]
    for k in fns:
        ips = args.batch / med[k]
        ratio = f"{med['reference'] / med[k]:.2f}x" if "reference" in med else "-"
        dref = f"{_rel(outs[k], outs['reference']):.1e}" if "reference" in outs else "-"
        print(f"{k:18}{ips:10.3g}{ratio:>14}{dref:>17}{_rel(outs[k], base):14.1e}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--precisions",
        default=None,
        help="ours besides float32 (default: tf32,bf16 on cuda, none on cpu)",
    )
    ap.add_argument(
        "--models",
        default="dinov2-vitl14,clip-vitl14-336",
        help=f"comma-separated from {', '.join(MODELS)}",
    )
    args = ap.parse_args(argv)
    if args.precisions is None:
        args.precisions = "float32,tf32,bf16" if args.device.startswith("cuda") else "float32"
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}")
    for name in args.models.split(","):
        bench(name.strip(), args, device)


if __name__ == "__main__":
    main()
