"""The ``divergences`` command line end to end in a temporary directory, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan.cli import main
from gan.config import TrainConfig, load_toml, preset_names, resolve_config

SMALL = ["--steps", "30", "--batch-size", "64", "--hidden", "32", "--g-layers", "2",
         "--d-layers", "2", "--eval-samples", "300", "--no-progress", "--no-plots",
         "--log-every", "10"]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_train_sample_evaluate_distance(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "grid25", "--loss", "hinge", "--out", str(run), *SMALL]) == 0
    out = capsys.readouterr().out
    assert "grid25 / hinge: 30 steps" in out and "high_quality" in out and "rejection" in out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["loss"] == "hinge" and cfg["data"] == "grid25" and cfg["hidden"] == 32
    fake = tmp_path / "fake.npy"
    assert main(["sample", str(run), "-n", "500", "-o", str(fake)]) == 0
    assert np.load(fake, allow_pickle=False).shape == (500, 2)
    drs = tmp_path / "drs.pt"
    assert main(["sample", str(run), "-n", "100", "-o", str(drs), "--rejection"]) == 0
    assert "acceptance rate" in capsys.readouterr().out
    assert torch.load(drs, weights_only=True).shape == (100, 2)
    assert main(["evaluate", str(run), "-n", "300"]) == 0
    assert "modes" in capsys.readouterr().out
    real = tmp_path / "real.npy"
    np.save(real, np.random.default_rng(0).normal(size=(200, 2)))
    assert main(["distance", str(real), str(fake), "--metrics", "chamfer,mmd2"]) == 0
    out = capsys.readouterr().out
    assert "chamfer" in out and "mmd2" in out
    assert main(["evaluate", str(real), str(fake)]) == 0  # two files: metrics' evaluation
    assert capsys.readouterr().out.strip()
    assert main(["distance", str(real), str(fake), "--metrics", "nope"]) == 2
    assert "unknown distance 'nope'; valid: chamfer" in capsys.readouterr().err
    # a second train into the same folder is refused, --resume continues it
    assert main(["train", "--data", "grid25", "--loss", "hinge", "--out", str(run), *SMALL]) == 2
    assert "holds another run" in capsys.readouterr().err
    more = [*SMALL[:1], "40", *SMALL[2:]]
    assert main(["train", "--data", "grid25", "--loss", "hinge", "--out", str(run), *more,
                 "--resume"]) == 0  # fmt: skip


def test_bad_input_messages(tmp_path, capsys):
    assert main(["train", "--data", "nope", "--out", str(tmp_path / "a"), *SMALL]) == 2
    assert "unknown data set 'nope': use one of ring8, grid25" in capsys.readouterr().err
    assert main(["train", "--loss", "nope", "--out", str(tmp_path / "b"), *SMALL]) == 2
    assert "valid losses: minimax, ns" in capsys.readouterr().err
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[0.0, np.nan], [1.0, 2.0]]))
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "c"), *SMALL]) == 2
    assert "holds 1 NaN or inf values" in capsys.readouterr().err
    np.save(bad, np.zeros((4, 3, 5, 5)))
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "d"), *SMALL]) == 2
    assert "square with 1 or 3 channels and a side in" in capsys.readouterr().err
    np.save(bad, np.zeros(5))
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "e"), *SMALL]) == 2
    assert "must have shape (N, D)" in capsys.readouterr().err
    assert main(["train", "--steps", "0", "--out", str(tmp_path / "f")]) == 2
    assert "steps must be >= 1" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "none"), "-o", str(tmp_path / "x.npy")]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--resume", "--overwrite"])


def test_user_data_file_trains(tmp_path):
    x = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    path = tmp_path / "x.npz"
    np.savez(path, data=x)
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "r"), *SMALL]) == 0
    assert main(["sample", str(tmp_path / "r"), "-n", "7", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (7, 3)


def test_config_precedence_and_toml(tmp_path):
    assert {"ring8", "grid25", "swissroll", "digits"} <= set(preset_names())
    toml = tmp_path / "c.toml"
    toml.write_text('data = "grid25"\nsteps = 7\nlr_d = 3e-4\n')
    cfg = resolve_config({"steps": 9}, config_file=toml)
    assert (cfg.data, cfg.steps, cfg.lr_d) == ("grid25", 9, 3e-4)
    preset = load_toml(f"gan/presets/{cfg.data}.toml")
    assert cfg.batch_size == preset.get("batch_size", TrainConfig.batch_size)
    toml.write_text("stepz = 7\n")
    with pytest.raises(ValueError, match="unknown option 'stepz'"):
        load_toml(toml)
    toml.write_text('steps = "many"\n')
    with pytest.raises(TypeError, match=r"option 'steps' .* must be int, got str"):
        load_toml(toml)
    with pytest.raises(ValueError, match="batch_size \\(10\\) must be a multiple of pac \\(3\\)"):
        TrainConfig(batch_size=10, pac=3)
    with pytest.raises(ValueError, match=r"lr_g must be finite and in \(0.0"):
        TrainConfig(lr_g=0.0)
    with pytest.raises(ValueError, match="arch must be one of auto, mlp, dcgan"):
        TrainConfig(arch="resnet")
