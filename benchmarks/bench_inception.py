"""Inception-v3 FID feature extraction: images/s of our network against pytorch-fid's.

Both networks get the same seeded random state dict in pytorch-fid's format (the real weights
are not downloaded), the same uint8 batch (pytorch-fid gets it as floats ``/255``, as its data
loader gives it), the same number of threads, under ``torch.inference_mode``; timings alternate
between the two and the median of the repeats is reported. Also reported: our network with
``resize="clean"`` (PIL bicubic per channel), our network in the other ``--precisions``
(``tf32``, ``bf16``), and per row the largest relative difference of the features from
pytorch-fid's and from our float32 network's (``max_i |a_i − e_i| / max_i |e_i|`` per image,
the worst image). pytorch-fid runs with torch's default flags, as its users run it (on CUDA
that allows TF32 convolutions). pytorch-fid needs torchvision, so run it in the fixture
environment (see ``scripts/make_inception_fixtures.py``); without pytorch-fid only our rows
are printed.

Usage:
    /work/fidvenv/bin/python benchmarks/bench_inception.py [--batch 8] [--size 64] [--repeats 3]
        [--threads 2] [--device cpu] [--precisions float32,bf16]
    # on a GPU: --device cuda --batch 128 --repeats 10 (precisions default to all three)
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages first

from scripts.make_inception_fixtures import _import_networks, _pytorch_fid, seeded_images  # noqa: E402

FIXTURE = ROOT / "tests" / "metrics" / "fixtures" / "inception_parity.npz"
HAVE_PF = importlib.util.find_spec("pytorch_fid") is not None


def _state(net_module):
    """The fixture's state dict (seed + stored running statistics), else a freshly calibrated one."""
    if FIXTURE.exists():
        with np.load(FIXTURE, allow_pickle=False) as z:
            stats = {k[3:]: z[k] for k in z.files if k.startswith("bn:")}
            return net_module.random_state_dict(int(z["seed"]), running_stats=stats)
    return net_module.random_state_dict(0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="input side (resized to 299)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precisions",
        default=None,
        help="comma-separated, from float32, tf32, bf16 (default: all on CUDA, float32 on CPU)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    inc = _import_networks()
    state = _state(inc)
    images = torch.from_numpy(
        seeded_images(np.random.default_rng(0), (args.batch, 3, args.size, args.size))
    )
    default = "float32,tf32,bf16" if device.type == "cuda" else "float32"
    precisions = [p.strip() for p in (args.precisions or default).split(",") if p.strip()]
    runs: dict[str, tuple] = {
        "ours (pytorch-fid resize)": (inc.inception(state, device=device), lambda x: x),
        "ours (clean resize)": (inc.inception(state, resize="clean", device=device), lambda x: x),
    }
    for p in precisions:
        if p != "float32":
            net = inc.inception(state, device=device, precision=p)
            runs[f"ours {p}"] = (net, lambda x: x)
    if HAVE_PF:
        blocks, _, _ = _pytorch_fid(state)
        blocks = blocks.to(device)
        runs["pytorch-fid InceptionV3([3])"] = (
            lambda x: blocks(x)[0].flatten(1),
            lambda x: x.to(device).float() / 255,
        )
    times: dict[str, list[float]] = {k: [] for k in runs}
    feats: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for name, (fn, prep) in runs.items():  # warm-up (allocator, kernel selection)
            feats[name] = fn(prep(images)).float().cpu()
        for _ in range(args.repeats):
            for name, (fn, prep) in runs.items():
                _sync(device)
                t = time.perf_counter()
                fn(prep(images))
                _sync(device)
                times[name].append(time.perf_counter() - t)
    peer = "pytorch-fid InceptionV3([3])" if HAVE_PF else "ours (pytorch-fid resize)"
    ref_rate = args.batch / statistics.median(times[peer])
    print(
        f"# bench_inception: batch {args.batch} of {args.size} px uint8 -> 299 px, "
        f"median of {args.repeats}, threads {torch.get_num_threads()}, device {device}"
    )
    print(f"# torch {torch.__version__}, python {sys.version.split()[0]}, pytorch-fid {HAVE_PF}")
    print("| implementation                 | images/s | ratio vs pytorch-fid | rel diff vs peer "
          "| vs ours float32 |")  # fmt: skip
    print("|--------------------------------|----------|----------------------|------------------"
          "|-----------------|")  # fmt: skip

    def rel(a: torch.Tensor, e: torch.Tensor) -> str:
        return f"{float(((a - e).abs().amax(1) / e.abs().amax(1)).max()):.1e}"

    ours32 = feats["ours (pytorch-fid resize)"]
    for name in runs:
        rate = args.batch / statistics.median(times[name])
        clean = "clean" in name
        peer_s = "(other resize)" if clean else rel(feats[name], feats[peer])
        own_s = "(other resize)" if clean else rel(feats[name], ours32)
        print(f"| {name:<30} | {rate:8.2f} | {rate / ref_rate:20.2f} | {peer_s:>16} "
              f"| {own_s:>15} |")  # fmt: skip


if __name__ == "__main__":
    main()
