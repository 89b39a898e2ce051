"""A refused configuration changes nothing on disk, and its message names the option."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from gan import TrainConfig, train

TINY = dict(steps=2, batch_size=16, hidden=8, eval_samples=0, progress=False, plots=False)

# (overrides, words the message must contain: the option and what would be valid)
REFUSED = [
    (dict(augment="diffaug"), ["augment", "'none'", "image data"]),
    (dict(augment="ada"), ["augment", "'none'"]),
    (dict(loss="nope"), ["loss", "ns", "hinge"]),
    (dict(data="no-such-data"), ["data", "ring8", "digits"]),
    (dict(arch="dcgan"), ["arch='dcgan'", "image"]),
    (dict(data="digits", arch="resnet"), ["arch='resnet'", "32", "image_size"]),
    (dict(conditional=True), ["conditional", "labels"]),
    (dict(data="digits", conditional=True, pac=2), ["pac", "pac=1"]),
    (dict(data="digits", conditional=True, eval_samples=5), ["eval_samples", ">= 2 per class"]),
]
if not torch.cuda.is_available():
    REFUSED.append((dict(device="cuda"), ["device", "'cpu'"]))
try:
    import torch.utils.tensorboard
except ImportError:
    REFUSED.append((dict(tensorboard=True), ["tensorboard", "tensorboard=False"]))


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(("overrides", "words"), REFUSED, ids=[str(c[0]) for c in REFUSED])
def test_refused_start_writes_nothing(tmp_path, overrides, words):
    out = tmp_path / "run"
    with pytest.raises(ValueError) as info:
        train(TrainConfig(**{**TINY, "out": str(out), **overrides}))
    assert not out.exists(), "a refused run left a folder behind"
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("done") / "run"
    train(TrainConfig(**{**TINY, "out": str(out)}))
    return out


@pytest.mark.parametrize(("overrides", "words"), REFUSED[:6], ids=[str(c[0]) for c in REFUSED[:6]])
def test_refused_overwrite_keeps_the_old_run(finished_run, overrides, words):
    before = _snapshot(finished_run)
    with pytest.raises(ValueError):
        train(TrainConfig(**{**TINY, "out": str(finished_run), **overrides}), overwrite=True)
    assert _snapshot(finished_run) == before
