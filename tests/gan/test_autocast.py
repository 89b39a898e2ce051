"""bf16 autocast: where the trainer turns it on (CUDA; images on a CPU with native bf16), and
a run under it on the CPU keeps float32 weights and finite losses."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from torch import nn

from gan import speed
from gan.config import TrainConfig
from gan.reporting import read_jsonl
from gan.training import start, train

FAST = dict(progress=False, plots=False, rejection=False, final_js_steps=5, eval_js_steps=5,
            fresh_eval_js_steps=5, fresh_final_js_steps=5, log_every=2, eval_samples=0)  # fmt: skip


def _data(is_image: bool):
    return types.SimpleNamespace(is_image=is_image)


@pytest.mark.parametrize("native", [True, False])
def test_autocast_kind_on_each_device(monkeypatch, native):
    monkeypatch.setattr(start, "cpu_bf16", lambda: native)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    on, off = TrainConfig(amp=True), TrainConfig(amp=False)
    assert start.autocast_kind(on, cuda, _data(False)) == "cuda"
    assert start.autocast_kind(on, cpu, _data(True)) == ("cpu" if native else None)
    # vector data: bf16 would quantize the generated points themselves
    assert start.autocast_kind(on, cpu, _data(False)) is None
    assert start.autocast_kind(off, cuda, _data(True)) is None
    assert start.autocast_kind(off, cpu, _data(True)) is None


def test_cpu_bf16_reads_the_cpu_probes(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert speed.cpu_bf16() is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert speed.cpu_bf16() is True
    # a torch without the probes: float32, never a crash
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert speed.cpu_bf16() is False


def _conv_output_dtypes(cfg: TrainConfig):
    seen: set[torch.dtype] = set()

    def hook(module, args, out):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            seen.add(out.dtype)

    handle = nn.modules.module.register_module_forward_hook(hook)
    try:
        res = train(cfg)
    finally:
        handle.remove()
    return seen, res


@pytest.mark.parametrize("amp", [True, False])
def test_image_run_on_cpu_under_autocast(tmp_path, monkeypatch, amp):
    monkeypatch.setattr(start, "cpu_bf16", lambda: True)  # emulated where the CPU lacks it
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(32, 1, 28, 28)).astype(np.float32)
    np.savez(tmp_path / "img.npz", x=x)
    cfg = TrainConfig(data=str(tmp_path / "img.npz"), arch="dcgan", channels=4, g_channels=4,
                      z_dim=8, batch_size=8, steps=4, loss="hinge", spectral_norm=True,
                      device="cpu", amp=amp, out=str(tmp_path / "run"), **FAST)  # fmt: skip
    seen, res = _conv_output_dtypes(cfg)
    assert seen == ({torch.bfloat16} if amp else {torch.float32})
    for net in (res.generator, res.discriminator):
        assert {p.dtype for p in net.parameters()} == {torch.float32}
    rows = [r for r in read_jsonl(tmp_path / "run" / "log.jsonl") if r["kind"] == "train"]
    assert rows and all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in rows)
