"""The training loop with the image-GAN features: conditional models, ResNets, DiffAugment/ADA
and the watchdog, on tiny runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan.cli import main
from gan.config import TrainConfig
from gan.reporting import read_jsonl
from gan.rundir import resume_config
from gan.training import TrainingDiverged, train

FAST = dict(progress=False, plots=False, rejection=False, final_js_steps=10, eval_js_steps=5,
            fresh_eval_js_steps=5, fresh_final_js_steps=10, log_every=5)  # fmt: skip
DIGITS = dict(data="digits", arch="mlp", hidden=16, g_layers=1, d_layers=1, z_dim=8,
              batch_size=16, eval_samples=40, **FAST)  # fmt: skip


def _weights(path):
    ck = torch.load(path, weights_only=True)
    return ck, {f"{k}.{n}": t for k in ("g", "d") for n, t in ck[k].items()}


def test_conditional_digits_run_is_conditional_and_sample_label_uses_it(tmp_path, capsys):
    run = tmp_path / "run"
    res = train(TrainConfig(steps=30, conditional=True, out=str(run), **DIGITS))
    assert res.generator.n_classes == 10 and res.discriminator.n_classes == 10
    assert {"intra_fid", "class_accuracy", "class_accuracy_9", "fid", "js"} <= set(res.evaluation)
    outs = {}
    for k in (3, 7):
        out = tmp_path / f"s{k}.npy"
        assert main(["sample", str(run), "-n", "16", "--label", str(k), "-o", str(out)]) == 0
        outs[k] = np.load(out, allow_pickle=False)
        assert outs[k].shape == (16, 1, 8, 8)
    # Same noise (same seed), other label: the label reaches the generator.
    assert not np.allclose(outs[3], outs[7])
    assert (
        main(["sample", str(run), "-n", "4", "--label", "10", "-o", str(tmp_path / "x.npy")]) == 2
    )
    assert "--label must be one of 0, 1" in capsys.readouterr().err


def test_resnet_trains_two_steps_at_32px_conditional(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(24, 3, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "img.npz", x=x, y=np.repeat([0, 1, 2], 8))
    cfg = TrainConfig(data=str(tmp_path / "img.npz"), arch="resnet", resnet_ch=4, conditional=True,
                      loss="hinge", steps=2, batch_size=4, z_dim=8, eval_samples=0,
                      out=str(tmp_path / "run"), augment="diffaug", **FAST)  # fmt: skip
    res = train(cfg)
    assert res.step == 2 and res.generator.n_classes == 3
    out = res.generator(torch.randn(2, 8), torch.tensor([0, 2]))
    assert out.shape == (2, 3, 32, 32) and bool(torch.isfinite(out).all())


def test_diffaugment_changes_what_d_sees_and_is_reproducible(tmp_path):
    base = dict(steps=6, eval_samples=0, **{k: v for k, v in DIGITS.items() if k != "eval_samples"})
    runs = {}
    for name, aug in (("none", "none"), ("aug1", "diffaug"), ("aug2", "diffaug")):
        train(TrainConfig(augment=aug, out=str(tmp_path / name), **base))
        runs[name] = _weights(tmp_path / name / "checkpoint.pt")
    a, b, c = (runs[n][1] for n in ("none", "aug1", "aug2"))
    assert all(torch.equal(b[k], c[k]) for k in b)  # seeded: the same draws
    assert any(not torch.equal(a[k], b[k]) for k in a)  # D trained on augmented images
    assert runs["none"][0]["aug"] is None and runs["aug1"][0]["aug"] is not None


def test_resume_is_bit_for_bit_with_ada_augmentation_and_labels(tmp_path):
    cfg = dict(steps=12, conditional=True, augment="ada", ada_target=-1.0, ckpt_every=5,
               watchdog=True, eval_every=4, **DIGITS)  # fmt: skip
    full, part = tmp_path / "full", tmp_path / "part"
    train(TrainConfig(out=str(full), **cfg))
    train(TrainConfig(out=str(part), **cfg), stop_at=7)
    train(resume_config(part), resume=True)
    (ca, a), (cb, b) = _weights(full / "checkpoint.pt"), _weights(part / "checkpoint.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ca["ada"] == cb["ada"] and ca["ada"]["p"] > 0  # target -1: p rises from 0
    assert torch.equal(ca["aug"]["_extra_state"]["rng"], cb["aug"]["_extra_state"]["rng"])
    assert ca["watchdog"] == cb["watchdog"]


RING = dict(data="ring8", hidden=32, g_layers=2, d_layers=2, batch_size=64, lr_g=1e-3, lr_d=1e-3,
            eval_samples=400, eval_every=20, ckpt_every=0, **FAST)  # fmt: skip


@pytest.mark.parametrize("spike", [1e6, 1e30])  # a worse metric; non-finite losses
def test_watchdog_rolls_back_a_forced_divergence_and_keeps_best(tmp_path, spike):
    run = tmp_path / "run"
    cfg = TrainConfig(steps=100, watchdog=True, watchdog_patience=1, watchdog_factor=10.0,
                      lr_spike_at=41, lr_spike=spike, out=str(run), **RING)  # fmt: skip
    res = train(cfg)
    log = read_jsonl(run / "log.jsonl")
    events = [r for r in log if r["kind"] == "watchdog"]
    assert events and events[0]["action"] == "rollback" and events[0]["best_step"] <= 40
    assert events[0]["step"] > 41  # caused by the spike, which the rollback disarms
    assert ("non-finite" in events[0]["reason"]) == (spike > 1e10)
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["watchdog"]["best_step"] == best["step"]
    # After the rollback the run continues from the best step with the rates halved.
    i = log.index(events[0])
    nxt = next(r for r in log[i + 1 :] if r["kind"] == "train")
    assert nxt["step"] == events[0]["best_step"] + 5
    assert nxt["lr_g"] == pytest.approx(1e-3 * cfg.watchdog_lr_decay)
    assert res.step == 100 and np.isfinite(res.evaluation["js"])


def test_without_watchdog_the_forced_divergence_raises(tmp_path):
    cfg = TrainConfig(steps=60, lr_spike_at=21, lr_spike=1e30, out=str(tmp_path / "r"), **RING)
    with pytest.raises(TrainingDiverged, match="non-finite"):
        train(cfg)
    assert not (tmp_path / "r" / "best.pt").exists()


def test_data_fraction_needs_stored_samples_and_eval_samples_per_class(tmp_path):
    with pytest.raises(ValueError, match="data_fraction"):
        train(TrainConfig(steps=1, data_fraction=0.5, out=str(tmp_path / "a"), **RING))
    bad = {**DIGITS, "eval_samples": 10}
    with pytest.raises(ValueError, match="per class"):
        train(TrainConfig(steps=1, conditional=True, out=str(tmp_path / "b"), **bad))
    with pytest.raises(ValueError, match="data_fraction"):
        TrainConfig(data_fraction=0.0)
