"""The shipped 28-px Fashion-MNIST network: size, hash check, inputs, and its training script
(on tiny synthetic IDX files: tests never read the real data)."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch

from metrics.networks import _fashion
from metrics.networks.features import (
    fashion_features,
    fashion_logits,
    provenance,
    resolve_extractor,
)
from tests.metrics._idx_files import write_split_files


def test_shipped_weights_are_small_and_hash_checked(tmp_path):
    data = _fashion.WEIGHTS.read_bytes()
    assert len(data) <= 2_000_000
    assert hashlib.sha256(data).hexdigest() == _fashion.SHA256
    assert provenance("fashion") == {"network": "fashion", "sha256": _fashion.SHA256}
    bad = tmp_path / "w.pt"
    shutil.copy(_fashion.WEIGHTS, bad)
    with open(bad, "r+b") as fh:  # one flipped byte in the middle of the weights
        fh.seek(len(data) // 2)
        byte = fh.read(1)
        fh.seek(len(data) // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="is not the shipped network's"):
        _fashion.load_fashion_net(bad)
    with pytest.raises(FileNotFoundError, match=r"train_fashion_net\.py"):
        _fashion.load_fashion_net(tmp_path / "none.pt")


def test_inputs_layouts_ranges_and_outputs():
    f = resolve_extractor("fashion", device="cpu")
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    a = f(x)
    assert a.shape == (4, 128) and bool((a >= 0).all())
    torch.testing.assert_close(f(x.reshape(4, 28, 28)), a)
    torch.testing.assert_close(f(x.reshape(4, 784)), a)
    u8 = (x * 255).round().to(torch.uint8)
    torch.testing.assert_close(f(u8), f(u8.float() / 255))
    assert fashion_logits(device="cpu")(x).shape == (4, 10)
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        fashion_features(device="cpu")(x * 2 - 1)
    with pytest.raises(ValueError, match="grey 28 x 28 images"):
        f(torch.rand(2, 3, 28, 28))


def test_training_script_runs_on_tiny_files(tmp_path):
    import scripts.train_fashion_net as script

    root = tmp_path / "data"
    write_split_files(root / "fashion-mnist", n_train=64, n_test=20)
    threads = torch.get_num_threads()
    try:
        script.main(["--out", str(tmp_path / "w.pt"), "--data-root", str(root), "--epochs", "1"])
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    sd = torch.load(tmp_path / "w.pt", weights_only=True)
    assert sd.keys() == torch.load(_fashion.WEIGHTS, weights_only=True).keys()
