"""The training loop: learning ring8, bit-for-bit resume, run directories, NaN detection."""

from __future__ import annotations

import json
import os

import pytest
import torch

from gan.checkpoint import load_checkpoint
from gan.config import TrainConfig
from gan.reporting import read_jsonl
from gan.training import TrainingDiverged, global_settings, lr_factor, train

FAST = dict(
    data="ring8", batch_size=256, hidden=64, g_layers=3, d_layers=3, log_every=100,
    progress=False, eval_samples=2500, rejection=False, plots=False, lr_g=1e-3, lr_d=1e-3,
    ema=0.99,
)  # fmt: skip
#: Short evaluation fits: these tests check what an evaluation reports, not its accuracy.
CHEAP_EVAL = dict(
    eval_js_steps=10, final_js_steps=20, drs_steps=30, fresh_eval_js_steps=10,
    fresh_final_js_steps=20, fresh_drs_steps=30, eval_batch_size=64,
)  # fmt: skip


def test_learns_ring8_modes(tmp_path):
    res = train(TrainConfig(steps=600, seed=0, out=str(tmp_path / "r"), final_js_steps=200, **FAST))
    ev = res.evaluation
    assert ev["modes"] >= 6, ev
    assert 0.0 <= ev["js"] < 0.69
    assert res.step == 600
    log = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "train"] == list(range(100, 601, 100))
    assert log[-1]["kind"] == "eval" and log[-1]["final"]
    assert json.loads((tmp_path / "r" / "config.json").read_text())["steps"] == 600


def _states(run_dir):
    ck = load_checkpoint(run_dir / "checkpoint.pt")
    return ck


def _assert_same(a, b, path="ck"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{path} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            if k not in ("config",):
                _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a} != {b}"


@pytest.mark.parametrize(
    "extra",
    [
        # periodic evaluation in between must not disturb the training RNG
        dict(
            loss="ns",
            r1=0.5,
            n_critic=2,
            lr_schedule="linear",
            lr_decay_start=0.25,
            eval_every=10,
            normalize=True,
        ),
        dict(loss="wgan-gp", pac=2, ema=0.0),
    ],
)
def test_resume_equals_uninterrupted_run(tmp_path, extra):
    kw = {**FAST, **CHEAP_EVAL, "log_every": 10, "ckpt_every": 10, "eval_samples": 200, **extra}
    full = train(TrainConfig(steps=30, out=str(tmp_path / "full"), **kw))
    part = TrainConfig(steps=30, out=str(tmp_path / "part"), **kw)
    stopped = train(part, stop_at=20)
    assert stopped.step == 20 and stopped.evaluation == {}
    assert load_checkpoint(tmp_path / "part" / "checkpoint.pt")["step"] == 20
    resumed = train(part, resume=True)
    assert full.step == resumed.step == 30
    if extra.get("eval_every"):
        evals = [r for r in read_jsonl(tmp_path / "full" / "log.jsonl") if r["kind"] == "eval"]
        assert [r["step"] for r in evals] == [10, 20, 30] and "js" in evals[0]
    _assert_same(_states(tmp_path / "full"), _states(tmp_path / "part"))


def test_lr_schedule_shapes():
    cfg = TrainConfig(steps=100, lr_schedule="linear", lr_decay_start=0.5, lr_final=0.1)
    assert lr_factor(cfg, 0) == 1.0 and lr_factor(cfg, 50) == 1.0
    assert lr_factor(cfg, 100) == pytest.approx(0.1) and lr_factor(cfg, 75) == pytest.approx(0.55)
    cos = cfg.replace(lr_schedule="cosine")
    assert lr_factor(cos, 75) == pytest.approx(0.55) and lr_factor(cos, 100) == pytest.approx(0.1)
    # a decay that starts less than a step before the end still ends at lr_final
    short = TrainConfig(steps=2, lr_schedule="linear", lr_decay_start=0.75, lr_final=0.1)
    assert lr_factor(short, 1) == 1.0 and lr_factor(short, 2) == pytest.approx(0.1)


def test_refuses_to_overwrite_a_run(tmp_path):
    kw = {**FAST, **CHEAP_EVAL, "eval_samples": 200}
    cfg = TrainConfig(steps=5, out=str(tmp_path / "r"), **kw)
    train(cfg)
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    with pytest.raises(ValueError, match=r"holds another run; pass --resume .* or --overwrite"):
        train(cfg)
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before
    with pytest.raises(ValueError, match=r"configuration differs \(hidden: run has 64"):
        train(cfg.replace(hidden=32), resume=True)
    with pytest.raises(ValueError, match=r"cannot resume: .* holds no checkpoint\.pt"):
        train(cfg.replace(out=str(tmp_path / "empty")), resume=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no run"):
        train(cfg.replace(out=str(tmp_path / "other")))
    res = train(cfg.replace(seed=3), overwrite=True)
    assert res.step == 5
    assert json.loads((tmp_path / "r" / "config.json").read_text())["seed"] == 3


def test_divergence_stops_with_a_clear_message_and_keeps_last_checkpoint(tmp_path):
    kw = {**FAST, "eval_samples": 200, "log_every": 1, "ckpt_every": 1, "ema": 0.0,
          "lr_d": 1.0, "lr_g": 1.0}  # fmt: skip
    cfg = TrainConfig(steps=200, loss="fgan-kl", out=str(tmp_path / "r"), **kw)
    with pytest.raises(TrainingDiverged, match=r"non-finite .* at step \d+.*last good checkpoint"):
        train(cfg)
    ck = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert all(torch.isfinite(t).all() for t in ck["g"].values())
    assert all(torch.isfinite(t).all() for t in ck["d"].values())


def test_unknown_data_and_loss_list_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown loss 'bogus'; valid losses: minimax, ns, hinge"):
        train(TrainConfig(loss="bogus", out=str(tmp_path / "a")))
    with pytest.raises(ValueError, match="unknown data set 'bogus': use one of ring8, grid25"):
        train(TrainConfig(data="bogus", out=str(tmp_path / "b")))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_images_dcgan_digits_and_mlp_on_images(tmp_path):
    kw = dict(progress=False, plots=True, rejection=True, eval_samples=400, log_every=5,
              **CHEAP_EVAL)  # fmt: skip
    res = train(TrainConfig(data="digits", steps=6, batch_size=32, channels=8, z_dim=8,
                            out=str(tmp_path / "d"), **kw))  # fmt: skip
    for key in ("fid", "fid_train_test", "kid", "js", "drs_fid", "drs_acceptance_rate"):
        assert key in res.evaluation
    assert (tmp_path / "d" / "samples.png").stat().st_size > 0
    assert (tmp_path / "d" / "curves.png").stat().st_size > 0
    res = train(TrainConfig(data="digits", arch="mlp", steps=3, batch_size=16, hidden=16,
                            out=str(tmp_path / "m"), **{**kw, "rejection": False}))  # fmt: skip
    assert res.generator(torch.zeros(2, 16)).shape == (2, 1, 8, 8)


def _global_snapshot():
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_num_threads(),
        torch.backends.cudnn.benchmark,
        torch.get_float32_matmul_precision(),
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )


def test_global_settings_are_restored_after_a_run_and_an_error(tmp_path):
    before = _global_snapshot()
    kw = {**FAST, "eval_samples": 0}
    cfg = TrainConfig(steps=2, deterministic=True, threads=2, out=str(tmp_path / "r"), **kw)
    assert train(cfg).step == 2
    assert _global_snapshot() == before
    with pytest.raises(RuntimeError, match="boom"):
        with global_settings(cfg, torch.device("cpu")):
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.get_num_threads() == 2
            raise RuntimeError("boom")
    assert _global_snapshot() == before


@pytest.mark.parametrize("name", ["eval_batch_size", "drs_steps", "threads", "eval_seed_stride"])
def test_evaluation_policy_fields_are_validated(name):
    with pytest.raises(ValueError, match=rf"{name} must be >= \d, got -1"):
        TrainConfig(**{name: -1})
    with pytest.raises(TypeError, match=rf"{name} must be an integer, got float"):
        TrainConfig(**{name: 1.5})


def _record(run_dir):
    """A run's checkpoints, log (without wall times) and final evaluation."""
    log = [{k: v for k, v in r.items() if k != "sec_per_step"}
           for r in read_jsonl(run_dir / "log.jsonl")]  # fmt: skip
    return {
        "checkpoint": _states(run_dir),
        "best": load_checkpoint(run_dir / "best.pt"),
        "log": log,
        "evaluation": json.loads((run_dir / "evaluation.json").read_text()),
    }


def test_a_seeded_preset_run_is_reproducible_and_its_seed_matters(tmp_path):
    # every phase of the loop: schedule, logging, periodic evaluation, watchdog, checkpoints
    kw = dict(steps=12, batch_size=64, hidden=16, log_every=4, eval_every=4, ckpt_every=4,
              watchdog=True, eval_samples=200, progress=False, plots=False, rejection=False,
              **CHEAP_EVAL)  # fmt: skip
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        train(TrainConfig.from_preset("ring8", seed=seed, out=str(tmp_path / name), **kw))
        runs[name] = _record(tmp_path / name)
    _assert_same(runs["a"], runs["b"])
    assert [r["step"] for r in runs["a"]["log"] if r["kind"] == "eval"] == [4, 8, 12]
    assert not torch.equal(runs["a"]["checkpoint"]["g"]["net.0.weight"],
                           runs["c"]["checkpoint"]["g"]["net.0.weight"])  # fmt: skip


@pytest.mark.parametrize(("n_critic", "every"), [(1, 4), (2, 3)])
def test_lazy_r1_applies_the_penalty_every_kth_d_update(tmp_path, monkeypatch, n_critic, every):
    import gan.training.steps as steps

    calls = []
    orig = steps.r1_penalty
    monkeypatch.setattr(steps, "r1_penalty", lambda *a: calls.append(1) or orig(*a))
    kw = dict(FAST, steps=4, n_critic=n_critic, r1=0.5, r1_every=every, eval_samples=0)
    train(TrainConfig(out=str(tmp_path / "r"), **kw))
    assert len(calls) == len(range(0, 4 * n_critic, every))


def test_lazy_r1_weights_the_penalty_by_k(tmp_path):
    # step 0 is a lazy step: r1 = 0.5 every 4th update moves D as r1 = 2 on every update
    kw = dict(FAST, steps=1, seed=3, eval_samples=0, ckpt_every=1)
    for name, r1, every in (("lazy", 0.5, 4), ("eager", 2.0, 1)):
        train(TrainConfig(out=str(tmp_path / name), r1=r1, r1_every=every, **kw))
    a, b = (load_checkpoint(tmp_path / n / "checkpoint.pt") for n in ("lazy", "eager"))
    for key in a["d"]:
        torch.testing.assert_close(a["d"][key], b["d"][key], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="r1_every"):
        TrainConfig(r1_every=0)


def test_d_sees_real_and_fake_in_one_forward_except_on_r1_steps(tmp_path, monkeypatch):
    # one forward of 2B rows is cheaper, but R1's double backward would then run over fakes too
    from gan.models import MLPDiscriminator

    rows = []
    orig = MLPDiscriminator.forward
    monkeypatch.setattr(
        MLPDiscriminator, "forward", lambda self, x: rows.append(len(x)) or orig(self, x)
    )
    kw = dict(FAST, steps=3, batch_size=16, r1=0.5, r1_every=2, eval_samples=0)
    train(TrainConfig(out=str(tmp_path / "r"), **kw))
    # per step, D's forward(s), then G's step through D on B fakes; R1 on steps 0 and 2
    assert rows[:8] == [16, 16, 16, 32, 16, 16, 16, 16]
