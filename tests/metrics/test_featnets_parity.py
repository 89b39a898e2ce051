"""DINOv2 and CLIP against Hugging Face transformers on the same random weights (fixtures).

The reference outputs come from transformers 4.44.2's ``Dinov2Model`` (whose position
interpolation is the official one), 5.25's ``Dinov2WithRegistersModel`` and
``CLIPVisionModelWithProjection`` (scripts/make_featnet_fixtures.py). Tolerance 1e-4
relative: both sides are float32 with different kernels (SDPA vs eager attention, fused vs
split q/k/v, LayerScale folded here), so agreement is expected to ~1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _featnets import DINOV2, FIX, clip_config, load, net_inputs, rel, seeded_images

from metrics import clip_image, dinov2
from metrics.networks.preprocess import clip_resize, dinov2_resize

TOL = 1e-4


@pytest.fixture(scope="module")
def refs():
    return load("dinov2") | load("dinov2_reg") | load("clip")


@pytest.mark.parametrize("name", sorted(DINOV2))
@pytest.mark.parametrize("size", [224, 336])
def test_dinov2_matches_transformers(refs, name, size):
    net = dinov2(FIX / f"{name}.pth", variant=DINOV2[name], check_hash=False, device="cpu")
    with torch.no_grad():
        out = net.embed(net_inputs(size, size))
    assert rel(out, refs[f"{name}_{size}"]) < TOL


@pytest.mark.parametrize("name", ["dinov2_main", "dinov2_swiglu"])
def test_dinov2_end_to_end_after_edm2_preprocessing(refs, name):
    net = dinov2(FIX / f"{name}.pth", variant=DINOV2[name], check_hash=False, device="cpu")
    images = seeded_images(5, [(40, 56), (64, 64)])
    out = torch.cat([net(x) for x in images])
    assert out.dtype == torch.float32 and rel(out, refs[f"{name}_e2e"]) < TOL


@pytest.mark.parametrize("fname,size,seed", [("clip_224.pt", 224, 21),
                                             ("clip_224.safetensors", 224, 21),
                                             ("clip_336.pt", 336, 22)])  # fmt: skip
def test_clip_matches_transformers(refs, fname, size, seed):
    net = clip_image(FIX / fname, variant=clip_config(size), check_hash=False, device="cpu")
    with torch.no_grad():
        out = net.embed(net_inputs(seed, size))
    assert rel(out, refs[f"clip_{size}"]) < TOL


def test_clip_layouts_give_the_same_network():
    a = clip_image(FIX / "clip_224.pt", variant=clip_config(224), check_hash=False, device="cpu")
    b = clip_image(FIX / "clip_224.safetensors", variant=clip_config(224), check_hash=False,
                   device="cpu")  # fmt: skip
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_clip_end_to_end_after_the_processor(refs):
    net = clip_image(FIX / "clip_336.pt", variant=clip_config(336), check_hash=False, device="cpu")
    out = torch.cat([net(x) for x in seeded_images(6, [(50, 70), (336, 336)])])
    assert rel(out, refs["clip_336_e2e"]) < TOL


# --- preprocessing: equal to the references to 1e-6 on the [0, 255] scale ---------------------
@pytest.fixture(scope="module")
def pre():
    z = load("preprocess")
    z["images"] = [torch.from_numpy(z[f"image_{i}"]).permute(2, 0, 1)[None] for i in range(5)]
    return z


def _ours(images, size, mode):
    if mode in ("torch", "pil", "clean"):
        return torch.cat([dinov2_resize(x, size, mode=mode) for x in images]).numpy()
    return torch.cat([clip_resize(x, size, mode=mode) for x in images]).numpy()


@pytest.mark.parametrize("mode", ["torch", "pil", "clean", "openai", "cmmd"])
@pytest.mark.parametrize("size", [28, 224, 336])
def test_preprocessing_matches_the_reference(pre, mode, size):
    ours = _ours(pre["images"], size, mode)
    assert ours.dtype == np.float32 and ours.shape == (5, 3, size, size)
    if size == 28:
        np.testing.assert_allclose(ours, pre[f"{mode}_28"].astype(np.float32), rtol=0, atol=1e-6)
        return
    sampled = ours.reshape(-1)[pre[f"idx_{size}"]]
    np.testing.assert_allclose(sampled, pre[f"{mode}_{size}_val"].astype(np.float32), atol=1e-6)
    # channel sums of ~5e4 values each: float64 sums of the same float32 numbers
    np.testing.assert_allclose(ours.astype(np.float64).sum((2, 3)), pre[f"{mode}_{size}_sum"],
                               rtol=1e-12, atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("size", [224, 336])
def test_hf_processor_differs_only_by_its_crop_offset(pre, size):
    """CLIPImageProcessor crops at (h − s) // 2, torchvision at round((h − s) / 2)."""
    sums = _ours(pre["images"], size, "openai").astype(np.float64).sum((2, 3))
    shifts = []
    for x in pre["images"]:
        short, long = sorted(x.shape[-2:])
        shifts.append((int(size * long / short) - size) % 4 == 3)  # round-half-even vs floor
    differ = np.array(shifts)
    assert differ.any() and not differ.all()
    np.testing.assert_allclose(sums[~differ], pre[f"hf_{size}_sum"][~differ], rtol=1e-12)
    assert (np.abs(sums[differ] - pre[f"hf_{size}_sum"][differ]).max(1) > 1).all()


def test_clip_modes_agree_on_square_images(pre):
    square = pre["images"][1]
    np.testing.assert_array_equal(_ours([square], 40, "openai"), _ours([square], 40, "cmmd"))
