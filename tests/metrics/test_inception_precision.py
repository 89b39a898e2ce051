"""The Inception network's ``precision``: float32 (IEEE, TF32 off), tf32 (CUDA) and bf16.

bf16 is checked against the float32 network on the parity fixture's images: bfloat16 keeps an
8-bit significand (unit roundoff 2^-8 ≈ 3.9e-3), and on these random weights the feature
vectors move by about 3 % of their norm; the bound, 10 %, leaves a factor of 3 for other CPUs.
The features must also differ from float32's, or autocast did not engage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import metrics
from metrics.networks import inception as inc

FIXTURE = Path(__file__).parent / "fixtures" / "inception_parity.npz"


@pytest.fixture(scope="module")
def state():
    with np.load(FIXTURE, allow_pickle=False) as z:
        stats = {k[3:]: z[k] for k in z.files if k.startswith("bn:")}
        return inc.random_state_dict(int(z["seed"]), running_stats=stats), z["images48"]


def _row_rel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.double(), b.double()
    return (a - b).norm(dim=1) / b.norm(dim=1)


def test_precision_is_validated(state):
    sd, _ = state
    with pytest.raises(ValueError, match=r"precision must be one of .*got 'fp16'"):
        metrics.inception(sd, device="cpu", precision="fp16")
    with pytest.raises(ValueError, match=r"precision must be one of"):
        inc.FIDInceptionV3(sd, precision="half")
    with pytest.raises(ValueError, match=r"precision='tf32' needs a CUDA device, got device='cpu'"):
        metrics.inception(sd, device="cpu", precision="tf32")
    moved = inc.FIDInceptionV3(sd, precision="tf32")  # built directly: stays on the CPU
    with pytest.raises(ValueError, match=r"precision='tf32' needs the network on a CUDA device"):
        moved(torch.zeros(1, 3, 8, 8))


@pytest.mark.slow
def test_bf16_features_are_float32_and_close_to_float32s(state):
    sd, images = state
    x = torch.from_numpy(images)
    f32 = metrics.inception(sd, device="cpu")
    bf16 = metrics.inception(sd, device="cpu", precision="bf16")
    assert bf16.provenance["precision"] == "bf16" and f32.provenance["precision"] == "float32"
    with torch.no_grad():
        a, (b, logits) = f32(x), bf16.features_and_logits(x)
    assert b.dtype == torch.float32 and logits.dtype == torch.float32 and b.shape == a.shape
    rel = _row_rel(b, a)
    assert bool((rel > 0).all()), "bf16 features equal float32's: autocast did not run"
    assert bool((rel < 0.1).all()), f"bf16 relative errors {rel.tolist()}"
    assert bool(torch.isfinite(logits).all())


def test_cuda_fp32_math_sets_and_restores_the_flags():
    conv, mm = getattr(torch.backends.cudnn, "conv", None), torch.backends.cuda.matmul
    if not hasattr(conv, "fp32_precision"):
        pytest.skip("this torch has only the legacy allow_tf32 flags")
    before = conv.fp32_precision, mm.fp32_precision
    with inc.cuda_fp32_math(tf32=False):
        assert (conv.fp32_precision, mm.fp32_precision) == ("ieee", "ieee")
    assert (conv.fp32_precision, mm.fp32_precision) == before
    with pytest.raises(RuntimeError, match="inside"), inc.cuda_fp32_math(tf32=True):
        assert (conv.fp32_precision, mm.fp32_precision) == ("tf32", "tf32")
        raise RuntimeError("inside")
    assert (conv.fp32_precision, mm.fp32_precision) == before


@pytest.mark.gpu
def test_cuda_precisions_against_cpu_float32(state):
    """float32 on CUDA (TF32 off) equals the CPU network to float32 rounding (1e-4, as in
    test_inception.py); tf32 and bf16 stay within the bf16 bound above."""
    sd, images = state
    x = torch.from_numpy(images)
    with torch.no_grad():
        ref = metrics.inception(sd, device="cpu")(x)
        for precision, bound in (("float32", 1e-4), ("tf32", 0.1), ("bf16", 0.1)):
            got = metrics.inception(sd, device="cuda", precision=precision)(x.cuda())
            assert got.dtype == torch.float32 and got.device.type == "cuda"
            rel = _row_rel(got.cpu(), ref)
            assert bool((rel < bound).all()), f"{precision}: relative errors {rel.tolist()}"
