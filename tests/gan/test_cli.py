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
    with pytest.raises(ValueError, match="arch must be one of 'auto', 'mlp', 'dcgan', 'resnet'"):
        TrainConfig(arch="vit")


# ---- conditional runs, best/last checkpoints, --preset (issue 14) ----------------------------


def _conditional_run(path, *, best: bool):
    """A run directory holding an (untrained) conditional digits MLP, written as train does."""
    from gan.checkpoint import save_atomic
    from gan.models import build_models
    from gan.rundir import write_config

    cfg = TrainConfig.from_preset("digits-cond", hidden=16, g_layers=1, d_layers=1, z_dim=4,
                                  out=str(path))  # fmt: skip
    path.mkdir()
    write_config(path, cfg)
    torch.manual_seed(0)
    g, d = build_models(cfg, (1, 8, 8), n_classes=10)
    save_atomic({"step": 10, "g": g.state_dict(), "d": d.state_dict(), "g_ema": None},
                path / "checkpoint.pt")  # fmt: skip
    if best:
        torch.manual_seed(1)
        g2, d2 = build_models(cfg, (1, 8, 8), n_classes=10)
        save_atomic({"step": 5, "g": g2.state_dict(), "d": d2.state_dict(), "g_ema": None},
                    path / "best.pt")  # fmt: skip
    return cfg


def test_sample_label_best_and_last(tmp_path, capsys):
    run = tmp_path / "run"
    _conditional_run(run, best=True)
    out = tmp_path / "k3.npy"
    assert main(["sample", str(run), "-n", "40", "--label", "3", "-o", str(out)]) == 0
    assert "(class 3)" in capsys.readouterr().out
    x = np.load(out, allow_pickle=False)
    assert x.shape == (40, 1, 8, 8) and x.dtype == np.float32
    # best.pt by default; --checkpoint last reads checkpoint.pt: different weights
    last = tmp_path / "last.npy"
    assert main(["sample", str(run), "-n", "40", "--label", "3", "-o", str(last),
                 "--checkpoint", "last"]) == 0  # fmt: skip
    assert not np.allclose(np.load(last), x)
    (run / "best.pt").unlink()
    again = tmp_path / "again.npy"
    assert main(["sample", str(run), "-n", "40", "--label", "3", "-o", str(again)]) == 0
    np.testing.assert_array_equal(np.load(again), np.load(last))  # no best.pt: the last one
    mixed = tmp_path / "mixed.npy"
    assert main(["sample", str(run), "-n", "30", "-o", str(mixed)]) == 0
    assert np.load(mixed).shape == (30, 1, 8, 8)


def test_sample_label_errors(tmp_path, capsys):
    run = tmp_path / "run"
    _conditional_run(run, best=False)
    for bad in ("10", "-1"):
        assert main(["sample", str(run), "-n", "4", "--label", bad, "-o",
                     str(tmp_path / "x.npy")]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--label must be one of 0, 1, 2" in err and "9" in err
    assert not (tmp_path / "x.npy").exists()
    plain = tmp_path / "plain"
    assert main(["train", "--data", "ring8", "--out", str(plain), *SMALL,
                 "--eval-samples", "0"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["sample", str(plain), "-n", "4", "--label", "0", "-o",
                 str(tmp_path / "y.npy")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "conditional runs only" in err and "unconditional" in err
    with pytest.raises(SystemExit) as exc:  # argparse's own one-line usage error
        main(["sample", str(plain), "-n", "4", "-o", str(tmp_path / "y.npy"),
              "--checkpoint", "newest"])  # fmt: skip
    assert exc.value.code == 2 and "invalid choice: 'newest'" in capsys.readouterr().err


def test_evaluate_conditional_run(tmp_path, capsys):
    run = tmp_path / "run"
    _conditional_run(run, best=True)
    js = tmp_path / "e.json"
    assert main(["evaluate", str(run), "-n", "200", "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    assert {"fid", "js", "intra_fid", "intra_fid_train_test", "class_accuracy"} <= set(res)
    assert 0.0 <= res["class_accuracy"] <= 1.0


def test_train_preset_applies_to_other_data(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "ring8", "--preset", "grid25", "--out", str(run), *SMALL,
                 "--eval-samples", "0"]) == 0  # fmt: skip
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"] == "ring8" and cfg["normalize"] is True  # grid25's recipe, ring8's data
    assert cfg["steps"] == 30  # the command line still comes last
    capsys.readouterr()
    assert main(["train", "--preset", "nope", "--out", str(tmp_path / "a")]) == 2
    assert "unknown preset 'nope'; presets: celeba64, cifar10" in capsys.readouterr().err
    assert main(["train", "--preset", "cifar10", "--out", str(tmp_path / "b")]) == 2
    assert "--preset cifar10 needs --data" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_image_presets_resolve():
    for name, size in (("cifar10", 32), ("celeba64", 64)):
        cfg = TrainConfig.from_preset(name, data="some/folder")
        assert (cfg.arch, cfg.image_size, cfg.loss, cfg.n_critic) == ("resnet", size, "hinge", 5)
        assert (cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.beta2) == (2e-4, 2e-4, 0.0, 0.9)
    assert TrainConfig.from_preset("cifar10", data="x").augment == "diffaug"
    assert TrainConfig.from_preset("digits-cond").conditional is True


def test_warnings_are_one_line_without_source(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for i in range(6):
            img = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
            img.save(tmp_path / side / f"{i}.{'jpg' if side == 'b' else 'png'}")
    rc = main(["evaluate", str(tmp_path / "a"), str(tmp_path / "b"), "--metrics", "fid",
               "--no-cache"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0
    jpeg = ("fake: 6 of 6 images are JPEG (lossy compression changes FID and the other "
            "metrics; compare PNG with PNG)")  # fmt: skip
    assert err == [f"divergences evaluate: warning: {jpeg}"]
