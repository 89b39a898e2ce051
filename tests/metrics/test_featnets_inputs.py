"""DINOv2 / CLIP loading, checks and inputs: hashes, layouts, wrong variants, images, precision."""

from __future__ import annotations

import datetime
import json
import struct
import warnings

import pytest
import torch
from _featnets import DINOV2, FIX, clip_config, rel

from gan.cli.weights import main as weights_main
from metrics import clip_image, dinov2
from metrics.networks import weights
from metrics.networks._safetensors import read_safetensors
from metrics.networks.clip import hf_shapes, to_openai
from metrics.networks.dinov2 import VARIANTS, random_state_dict

MAIN = FIX / "dinov2_main.pth"


@pytest.fixture(scope="module")
def dnet():
    return dinov2(MAIN, variant=DINOV2["dinov2_main"], check_hash=False, device="cpu")


@pytest.fixture(scope="module")
def cnet():
    return clip_image(FIX / "clip_224.pt", variant=clip_config(224), check_hash=False,
                      device="cpu")  # fmt: skip


# --- weights -----------------------------------------------------------------------------------
def test_wrong_hash_is_refused_with_both_digests():
    with pytest.raises(ValueError, match=r"not the published d5383ea8.*check_hash=False"):
        dinov2(MAIN)
    with pytest.raises(ValueError, match=r"not the published f51cb7b0.*--no-check-hash"):
        clip_image(FIX / "clip_224.safetensors")
    with pytest.raises(ValueError, match="no published SHA-256 of DINOv2 custom"):
        dinov2(MAIN, variant=DINOV2["dinov2_main"])


def test_registry_digests_and_an_unconfirmed_entry(tmp_path):
    for name in ("dinov2-vitl14", "dinov2-vits14", "clip-vitl14-336"):
        digest = weights.REGISTRY[name].sha256
        assert digest is not None and len(digest) == 64 and int(digest, 16) >= 0
    with pytest.raises(ValueError, match=r"no published SHA-256 of dinov2_vitg14_pretrain.pth"):
        weights.fetch("dinov2-vitg14", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert weights_main(["fetch", "dinov2-vitg14", "--cache-dir", str(tmp_path)]) == 2


def test_missing_and_extra_keys_are_named():
    state = torch.load(MAIN, weights_only=True)
    state.pop("norm.bias")
    state["head.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"1 missing keys \(norm.bias\); 1 unexpected keys "
                                         r"\(head.weight\)"):  # fmt: skip
        dinov2(state, variant=DINOV2["dinov2_main"], device="cpu")


def test_another_variants_state_dict_is_named():
    with pytest.raises(ValueError, match=r"missing keys \(blocks.0.mlp.w12.bias.*unexpected keys "
                                         r"\(blocks.0.mlp.fc1.bias.*pos_embed: shape"):  # fmt: skip
        dinov2(MAIN, variant=DINOV2["dinov2_swiglu"], check_hash=False, device="cpu")
    small = random_state_dict(VARIANTS["vits14"])
    with pytest.raises(ValueError, match="these are DINOv2 vits14 weights: pass variant='vits14'"):
        dinov2(small, variant="vitb14", device="cpu")


def test_clip_hf_layout_errors_use_its_names():
    state = read_safetensors(FIX / "clip_224.safetensors")
    state.pop("vision_model.encoder.layers.1.self_attn.k_proj.bias")
    with pytest.raises(ValueError, match=r"Hugging Face layout\): 1 missing keys \(vision_model"
                                         r".encoder.layers.1.self_attn.k_proj.bias\)"):  # fmt: skip
        to_openai(state, clip_config(224))
    assert set(hf_shapes(clip_config(224))) <= set(read_safetensors(FIX / "clip_224.safetensors"))
    with pytest.raises(ValueError, match=r"OpenAI layout\).*positional_embedding: shape"):
        clip_image(FIX / "clip_224.pt", variant=clip_config(336), check_hash=False)


def test_torchscript_archives_and_pickles_are_never_run(tmp_path):
    ts = tmp_path / "ViT-L-14-336px.pt"
    with warnings.catch_warnings():  # torch deprecates TorchScript; OpenAI's files are such
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), ts)
    with pytest.raises(ValueError, match=r"TorchScript archive.*never read"):
        clip_image(ts, check_hash=False)
    pkl = tmp_path / "code.pt"
    torch.save({"x": datetime.date(2020, 1, 1)}, pkl)  # an object the weights-only loader refuses
    with pytest.raises(ValueError, match=r"cannot read .* as a CLIP"):
        clip_image(pkl, check_hash=False)


def test_safetensors_reader_checks_the_header(tmp_path):
    def write(header, data=b""):
        p = tmp_path / "w.safetensors"
        h = json.dumps(header).encode()
        p.write_bytes(struct.pack("<Q", len(h)) + h + data)
        return p

    ok = {"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}, "__metadata__": {}}
    bf = torch.tensor([1.5, -3.0], dtype=torch.bfloat16)
    assert torch.equal(read_safetensors(write(ok, bf.view(torch.uint8).numpy().tobytes()))["a"], bf)
    for bad, what in [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, "outside"),
        ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, "8 bytes for shape"),
        ({"a": {"dtype": "Q8", "shape": [2], "data_offsets": [0, 8]}}, "dtype"),
    ]:
        with pytest.raises(ValueError, match=what):
            read_safetensors(write(bad, b"\0" * 8))
    p = tmp_path / "t.safetensors"
    p.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(ValueError, match="not a safetensors file"):
        read_safetensors(p)


# --- images ------------------------------------------------------------------------------------
def test_grey_and_rgba_images_are_converted_and_reported(dnet, cnet):
    rgb = torch.randint(0, 256, (2, 3, 30, 40), dtype=torch.uint8)
    grey = rgb[:, :1]
    for net in (dnet, cnet):
        with pytest.warns(UserWarning, match="grey images"):
            out = net(grey)
        assert torch.allclose(out, net(grey.expand(-1, 3, -1, -1)), rtol=0, atol=0)
        rgba = torch.cat([rgb, torch.zeros_like(grey)], 1)
        with pytest.warns(UserWarning, match="alpha channel is dropped"):
            assert torch.equal(net(rgba), net(rgb))


def test_images_smaller_than_a_patch_are_resized_with_a_warning(dnet, cnet):
    tiny = torch.randint(0, 256, (3, 3, 5, 9), dtype=torch.uint8)
    for net in (dnet, cnet):
        with pytest.warns(UserWarning, match="smaller than one 14-px patch"):
            out = net(tiny)
        assert out.shape[0] == 3 and bool(torch.isfinite(out).all())


def test_floats_match_uint8_and_bad_values_are_refused(dnet, cnet):
    u8 = torch.randint(0, 256, (2, 3, 33, 47), dtype=torch.uint8)
    for net in (dnet, cnet):
        assert rel(net(u8.float() / 255), net(u8)) < 1e-5
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
            net(u8.float())
        with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
            net(u8[:, :2])
        with pytest.raises(TypeError, match=r"torch.Tensor"):
            net(u8.numpy())


def test_gradients_reach_the_input(dnet):
    x = torch.randn(1, 3, 28, 28, requires_grad=True)
    dnet.embed(x).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and x.grad.abs().sum() > 0


# --- network internals -------------------------------------------------------------------------
def test_class_token_shortcut_equals_the_full_last_block(dnet):
    t = torch.randn(2, 17, 16)
    full = dnet.blocks(t, cls_only=False)[:, 0]
    assert torch.allclose(dnet.blocks(t, cls_only=True), full, rtol=1e-5, atol=1e-6)


def test_position_cache_follows_the_resolution(dnet):
    x224, x336 = torch.randn(1, 3, 224, 224), torch.randn(1, 3, 336, 336)
    with torch.no_grad():
        a = dnet.embed(x224)
        dnet.embed(x336)
        assert torch.equal(dnet.embed(x224), a)
    assert dnet.position_embedding(37, 37) is not None
    assert dnet.position_embedding(16, 16).shape == (1, 257, 16)


# --- options and precision ---------------------------------------------------------------------
def test_options_are_checked():
    kw = {"variant": DINOV2["dinov2_main"], "check_hash": False, "device": "cpu"}
    with pytest.raises(ValueError, match="multiple of 14"):
        dinov2(MAIN, image_size=100, **kw)
    with pytest.raises(ValueError, match="resize must be one of"):
        dinov2(MAIN, resize="bilinear", **kw)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        dinov2(MAIN, precision="tf32", **kw)
    with pytest.raises(ValueError, match="precision must be one of"):
        dinov2(MAIN, precision="fp16", **kw)
    with pytest.raises(ValueError, match="variant must be one of"):
        clip_image(FIX / "clip_224.pt", variant="ViT-H/14")
    with pytest.raises(FileNotFoundError):
        dinov2(FIX / "nope.pth", check_hash=False)


def test_bf16_is_recorded_and_close_to_float32(cnet):
    bf = clip_image(FIX / "clip_224.pt", variant=clip_config(224), check_hash=False,
                    device="cpu", precision="bf16")  # fmt: skip
    assert bf.provenance["precision"] == "bf16" and cnet.provenance["precision"] == "float32"
    x = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    a, b = bf(x), cnet(x)
    assert a.dtype == torch.float32 and 0 < rel(a, b) < 5e-2


def test_provenance_names_network_weights_and_preprocessing(dnet, cnet):
    p = dinov2(MAIN, variant=DINOV2["dinov2_main"], check_hash=False,
               device="cpu", resize="pil").provenance  # fmt: skip
    assert p["network"] == "dinov2-custom" and p["resize"] == "pil" and len(p["sha256"]) == 64
    assert cnet.provenance["network"] == "clip-custom" and cnet.provenance["image_size"] == 224
    state_net = dinov2(torch.load(MAIN, weights_only=True), variant=DINOV2["dinov2_main"])
    assert state_net.provenance["sha256"].startswith("state:")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_gpu_precisions_match_float32(precision):
    kw = {"variant": DINOV2["dinov2_main"], "check_hash": False, "device": "cuda"}
    x = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, device="cuda")
    ref = dinov2(MAIN, **kw)(x)
    out = dinov2(MAIN, precision=precision, **kw)(x)
    assert out.device.type == "cuda" and rel(out.cpu(), ref.cpu()) < 5e-2
