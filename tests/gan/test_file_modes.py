"""Every file the commands write honours the umask, and none leaves a temporary behind."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.cli import main
from gan.config import TrainConfig
from gan.training import train
from metrics.networks import weights

TINY = dict(data="ring8", steps=3, batch_size=16, hidden=8, g_layers=1, d_layers=1,
            log_every=1, progress=False, plots=True, eval_samples=64)  # fmt: skip


def _images(path: Path, n: int, seed: int) -> str:
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (2, 2, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_every_written_file_has_the_umask_mode(tmp_path, monkeypatch, mask):
    # the law: after every command that writes (train, sample -o, evaluate --json, stats -o,
    # the statistics cache, weights fetch), each file is 0666 & ~umask, each folder 0777 &
    # ~umask, and no temporary is left
    monkeypatch.setenv("DIVERGENCES_CACHE", str(tmp_path / "cache"))
    old = os.umask(mask)
    try:
        run = tmp_path / "run"
        train(TrainConfig(out=str(run), **TINY))
        # an orphan of a killed `sample -o` (an untagged writer's) goes at the next start
        (tmp_path / ".fake.npy.k3x9ab12.tmp").write_bytes(b"half")
        for out in ("fake.npy", "fake.pt"):
            assert main(["sample", str(run), "-n", "20", "-o", str(tmp_path / out)]) == 0
        assert main(["evaluate", str(run), "-n", "20", "--json", str(tmp_path / "ev.json")]) == 0
        real, fake = _images(tmp_path / "real", 8, 0), _images(tmp_path / "gen", 8, 1)
        ref = str(tmp_path / "ref.npz")
        assert main(["stats", real, "-o", ref, "--groups", "2", "--workers", "0"]) == 0
        files = ["evaluate", real, fake, "--metrics", "fid", "--workers", "0"]
        assert main([*files, "--json", str(tmp_path / "ff.json")]) == 0  # writes the cache
        assert main(["evaluate", ref, fake, "--metrics", "fid", "--workers", "0"]) == 0
        payload = tmp_path / "payload.bin"
        payload.write_bytes(b"weights")
        weights.fetch("inception", url=payload.as_uri(), cache_dir=tmp_path / "wcache",
                      sha256=hashlib.sha256(b"weights").hexdigest(), progress=False)  # fmt: skip
    finally:
        os.umask(old)
    written = {p.relative_to(tmp_path).as_posix(): p for p in tmp_path.rglob("*")}
    expect = {"run/config.json", "run/checkpoint.pt", "run/log.jsonl", "run/evaluation.json",
              "run/samples.png", "run/curves.png", "fake.npy", "fake.pt", "ev.json", "ref.npz",
              "ff.json", f"wcache/{weights.REGISTRY['inception'].filename}"}  # fmt: skip
    assert expect <= set(written), sorted(expect - set(written))
    assert len(list((tmp_path / "cache" / "stats").glob("*.npz"))) == 1
    assert not [n for n in written if n.endswith((".tmp", ".part"))]
    modes = {n: p.stat().st_mode & 0o777 for n, p in written.items()}
    want = {n: (0o777 if p.is_dir() else 0o666) & ~mask for n, p in written.items()}
    assert modes == want
