"""Write the Inception-v3 parity fixtures: pytorch-fid's and clean-fid's outputs on seeded inputs.

pytorch-fid and clean-fid need torchvision, which CI does not install, so their outputs are
computed once here and committed as ``tests/metrics/fixtures/inception_parity.npz``; the tests
compare our network and resize against them. Run it in a separate virtual environment::

    python3 -m venv /tmp/fidvenv
    /tmp/fidvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 pytorch-fid==0.3.0 \
        clean-fid==0.1.35 scipy pillow numpy
    /tmp/fidvenv/bin/python scripts/make_inception_fixtures.py

What it does:

1. ``metrics.networks.inception.random_state_dict(SEED)`` builds a random state dict in
   pytorch-fid's format (NumPy-seeded weights, batch norm calibrated on random images). Its
   running statistics go into the fixture, so the tests rebuild the identical state dict from
   the seed and those statistics with our code alone.
2. pytorch-fid's ``InceptionV3([3])`` loads that state dict (its download function is replaced
   by one returning it; its ``load_state_dict`` is strict, so the key names and shapes are
   checked against torchvision's Inception-v3 too) and gives the pool3 features of 4 seeded
   48-px and 2 seeded 299-px uint8 images (as floats ``/255``); the 1008 logits come from
   torchvision's full forward of the same patched network. pytorch-fid's blocks also give the
   features of 2 images after clean-fid's resize and ``(x − 128) / 128`` (the clean mode).
3. clean-fid's ``make_resizer("PIL", False, "bicubic", (s, s))`` resizes seeded images to 299
   (sampled entries, channel sums and border rows/columns are stored) and to 40 (stored whole).

The fixture is small (about 1.5 MB) and the script never overwrites it unless ``--force``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SEED = 2015  # the weights and calibration images
IMAGE_SEED = 1205  # the test images
SAMPLES = 4096  # sampled entries per 299-px resized image
SMALL = 40  # side of the resized images stored whole


def _import_networks():
    """Import ``metrics.networks`` without ``metrics/__init__`` (its scikit-learn etc. imports)."""
    pkg = types.ModuleType("metrics")
    pkg.__path__ = [str(ROOT / "metrics")]
    sys.modules.setdefault("metrics", pkg)
    from metrics.networks import inception

    return inception


def seeded_images(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 images from ``rng.random`` (stable across NumPy versions)."""
    return np.floor(rng.random(shape) * 256).astype(np.uint8)


def _pytorch_fid(state: dict[str, torch.Tensor]):
    import pytorch_fid.inception as pf

    pf.load_state_dict_from_url = lambda *args, **kwargs: state  # no download: our weights
    blocks = pf.InceptionV3([3]).eval()
    raw = pf.InceptionV3([3], resize_input=False, normalize_input=False).eval()
    full = pf.fid_inception_v3().eval()
    return blocks, raw, full


def _clean(images: np.ndarray, size: int) -> np.ndarray:
    from cleanfid.resize import make_resizer

    fn = make_resizer("PIL", False, "bicubic", (size, size))
    return np.stack([fn(im.transpose(1, 2, 0)).transpose(2, 0, 1) for im in images])


def build() -> dict[str, np.ndarray]:
    net = _import_networks()
    import cleanfid
    import pytorch_fid
    from PIL import Image

    torch.set_grad_enabled(False)
    state = net.random_state_dict(SEED)
    blocks, raw, full = _pytorch_fid(state)
    out: dict[str, np.ndarray] = {"seed": np.array(SEED), "image_seed": np.array(IMAGE_SEED)}
    out["versions"] = np.array(
        f"torch {torch.__version__}, pytorch-fid {pytorch_fid.__version__}, "
        f"clean-fid {getattr(cleanfid, '__version__', '0.1.35')}, Pillow {Image.__version__}"
    )
    for key, value in state.items():
        if key.endswith(("running_mean", "running_var")):
            out[f"bn:{key}"] = value.numpy()
    ref = full.state_dict()
    keys = [k for k in ref if not k.endswith("num_batches_tracked")]
    out["pf_keys"] = np.array(keys)
    out["pf_shapes"] = np.array([list(ref[k].shape) + [0] * (4 - ref[k].ndim) for k in keys])

    rng = np.random.default_rng(IMAGE_SEED)
    for tag, shape in (("48", (4, 3, 48, 48)), ("299", (2, 3, 299, 299))):
        images = seeded_images(rng, shape)
        x = torch.from_numpy(images).float() / 255
        out[f"images{tag}"] = images
        out[f"features{tag}"] = blocks(x)[0].flatten(1).numpy()
        xr = torch.nn.functional.interpolate(x, (299, 299), mode="bilinear", align_corners=False)
        out[f"logits{tag}"] = full(2 * xr - 1).numpy()
    cleaned = _clean(out["images48"][:2], 299)
    out["clean_features"] = raw(torch.from_numpy((cleaned - 128) / 128).float())[0].flatten(1)
    out["clean_features"] = out["clean_features"].numpy()

    resize_inputs = {
        "a": seeded_images(rng, (2, 3, 32, 32)),
        "b": seeded_images(rng, (1, 3, 48, 64)),
        "c": seeded_images(rng, (1, 3, 331, 317)),
    }
    for tag, images in resize_inputs.items():
        big = _clean(images, 299).astype(np.float32)
        idx = rng.choice(big[0].size, size=SAMPLES, replace=False).astype(np.int64)
        out[f"resize_{tag}_in"] = images
        out[f"resize_{tag}_idx"] = idx
        out[f"resize_{tag}_values"] = big.reshape(len(big), -1)[:, idx]
        out[f"resize_{tag}_sums"] = big.astype(np.float64).sum((2, 3))
        out[f"resize_{tag}_rows"] = big[:, :, [0, 1, 149, 297, 298], :]
        out[f"resize_{tag}_cols"] = big[:, :, :, [0, 1, 149, 297, 298]]
        out[f"resize_{tag}_small"] = _clean(images, SMALL).astype(np.float32)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "metrics" / "fixtures"))
    parser.add_argument("--force", action="store_true", help="replace an existing fixture")
    args = parser.parse_args(argv)
    target = Path(args.out) / "inception_parity.npz"
    if target.exists() and not args.force:
        print(f"{target} exists; pass --force to replace it", file=sys.stderr)
        return 2
    arrays = build()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".npz.part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
