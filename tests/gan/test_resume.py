"""Resume means continue: the run's own configuration, a continuous learning rate, a log that
never holds steps past the checkpoint, an evaluation that is never stale."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gan.cli import main
from gan.config import TrainConfig
from gan.reporting import read_jsonl
from gan.rundir import resume_config
from gan.training import lr_factor, train

TINY = dict(
    data="ring8", batch_size=32, hidden=8, g_layers=1, d_layers=1, log_every=1, progress=False,
    plots=False, rejection=False, eval_samples=40, ckpt_every=5, lr_schedule="linear",
    lr_decay_start=0.5, lr_final=0.02, lr_g=1e-3, lr_d=1e-3, final_js_steps=20, eval_js_steps=10,
)  # fmt: skip


def _train_steps(run):
    return [r["step"] for r in read_jsonl(run / "log.jsonl") if r["kind"] == "train"]


def _assert_lr_continuous(run, lr0):
    lrs = [r["lr_g"] for r in read_jsonl(run / "log.jsonl") if r["kind"] == "train"]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(lrs)), lrs  # never rises
    assert min(lrs) >= 0.02 * lr0 * (1 - 1e-12)
    return lrs


def test_extending_a_finished_run_keeps_the_lr_continuous(tmp_path):
    run = tmp_path / "r"
    train(TrainConfig(steps=20, out=str(run), **TINY))
    first_eval = json.loads((run / "evaluation.json").read_text())
    cfg = resume_config(run, {"steps": 40})
    res = train(cfg, resume=True)
    assert res.step == 40
    lrs = _assert_lr_continuous(run, 1e-3)
    # the last update of the 20-step run used the factor of step 19 (0.118); the schedule at
    # step 20, where the extension starts, is lr_final, kept from there on (no 50x jump)
    assert lrs[19] == pytest.approx(1e-3 * lr_factor(TrainConfig(steps=20, **TINY), 19))
    assert lrs[20:] == pytest.approx([2e-5] * 20)
    assert _train_steps(run) == list(range(1, 41))
    evals = [r for r in read_jsonl(run / "log.jsonl") if r.get("final")]
    assert [r["step"] for r in evals] == [20, 40]
    fresh = json.loads((run / "evaluation.json").read_text())
    last = {k: v for k, v in evals[-1].items() if k not in ("kind", "step", "final")}
    assert fresh.keys() == last.keys()
    assert all(str(fresh[k]) == str(last[k]) for k in fresh)  # the log keeps inf as "inf"
    assert fresh != first_eval
    assert json.loads((run / "config.json").read_text())["steps"] == 40


def test_extension_mid_decay_decays_from_where_it_stands(tmp_path):
    run = tmp_path / "r"
    train(TrainConfig(steps=20, out=str(run), **TINY), stop_at=15)
    assert not (run / "evaluation.json").exists()
    train(resume_config(run, {"steps": 30}), resume=True)
    lrs = _assert_lr_continuous(run, 1e-3)
    f15 = lr_factor(TrainConfig(steps=20, **TINY), 15)  # where the 20-step schedule stood
    assert lrs[15] == pytest.approx(1e-3 * f15)
    want = lr_factor(TrainConfig(steps=30, **TINY), 29, (15, f15))
    assert lrs[-1] == pytest.approx(1e-3 * want) and want > 0.02
    assert _train_steps(run) == list(range(1, 31))


def test_cli_resume_needs_only_out_and_cuts_the_log_back(tmp_path, capsys):
    run = tmp_path / "r"
    train(TrainConfig(steps=12, out=str(run), **{**TINY, "data": "grid25"}), stop_at=10)
    # as if killed after logging steps 11-12 but before their checkpoint, mid-write
    with (run / "log.jsonl").open("a") as fh:
        fh.write(json.dumps({"kind": "train", "step": 11}) + "\n" + '{"kind": "tr')
    (run / ".checkpoint.pt.k3x9.tmp").write_bytes(b"half a checkpoint")
    (run / ".config.json.tmp").write_text("{")
    (run / "notes.tmp").write_text("mine")
    (run / ".mine.tmp").write_text("mine too")
    assert main(["train", "--out", str(run), "--resume", "--steps", "14", "--eval-samples",
                 "30", "--no-progress"]) == 0  # fmt: skip
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"] == "grid25" and cfg["steps"] == 14 and cfg["eval_samples"] == 30
    assert _train_steps(run) == list(range(1, 15))
    steps = [r["step"] for r in read_jsonl(run / "log.jsonl")]
    assert steps == sorted(steps)
    left = sorted(p.name for p in run.iterdir())
    assert ".checkpoint.pt.k3x9.tmp" not in left and ".config.json.tmp" not in left
    assert (run / "notes.tmp").read_text() == "mine" and (
        run / ".mine.tmp"
    ).read_text() == "mine too"
    assert "grid25 / ns: 14 steps" in capsys.readouterr().out


def test_a_relative_data_path_resumes_from_another_folder(tmp_path, monkeypatch):
    import numpy as np

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir(), elsewhere.mkdir()
    np.save(work / "real.npy", np.random.default_rng(0).normal(size=(64, 2)))
    monkeypatch.chdir(work)
    train(TrainConfig(steps=10, out="r", **{**TINY, "data": "real.npy"}), stop_at=5)
    saved = json.loads((work / "r" / "config.json").read_text())
    assert saved["data"] == str((work / "real.npy").resolve())
    # the same relative path from the same folder is the same configuration
    train(TrainConfig(steps=10, out="r", **{**TINY, "data": "real.npy"}), resume=True, stop_at=7)
    monkeypatch.chdir(elsewhere)
    assert main(["train", "--out", str(work / "r"), "--resume", "--no-progress"]) == 0
    assert _train_steps(work / "r") == list(range(1, 11))


def test_resume_without_changes_is_bit_for_bit_and_refusals_change_nothing(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    train(TrainConfig(steps=12, out=str(full), **TINY))
    train(TrainConfig(steps=12, out=str(part), **TINY), stop_at=7)
    before = {p.name: p.read_bytes() for p in part.iterdir()}
    for bad in ({"steps": 3}, {"hidden": 16}, {"loss": "hinge"}):
        with pytest.raises(ValueError, match="cannot"):
            train(resume_config(part, {"steps": 12}).replace(**bad), resume=True)
        assert {p.name: p.read_bytes() for p in part.iterdir()} == before
    train(resume_config(part), resume=True)
    a = torch.load(full / "checkpoint.pt", weights_only=True)
    b = torch.load(part / "checkpoint.pt", weights_only=True)
    for key in ("g", "d"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), (key, name)
    assert a["lr_anchor"] == b["lr_anchor"] == [0, 1.0]


@settings(max_examples=200, deadline=None)
@given(
    schedule=st.sampled_from(["linear", "cosine", "constant"]),
    start=st.floats(0.0, 1.0),
    final=st.floats(0.0, 1.0),
    old_steps=st.integers(1, 500),
    at=st.floats(0.0, 1.0),
    extra=st.integers(1, 1000),
    extra2=st.integers(0, 1000),
)
def test_lr_factor_is_continuous_and_never_rises_across_extensions(
    schedule, start, final, old_steps, at, extra, extra2
):
    old = TrainConfig(steps=old_steps, lr_schedule=schedule, lr_decay_start=start,
                      lr_final=final)  # fmt: skip
    s0 = round(at * old_steps)
    f0 = lr_factor(old, s0)
    anchor = (s0, f0)
    new = old.replace(steps=max(s0, 1) + extra)
    assert lr_factor(new, s0, anchor) == pytest.approx(f0, abs=1e-12)  # continuous
    values = [lr_factor(new, s, anchor) for s in range(s0, new.steps + 1)]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(values))  # never rises
    assert min(values) >= min(final, f0) - 1e-12
    if schedule != "constant" and new.steps - max(s0, start * new.steps) >= 1:
        assert values[-1] == pytest.approx(final, abs=1e-9)
    # a second extension chains the same way
    s1 = new.steps
    newer = new.replace(steps=s1 + extra2 + 1)
    a1 = (s1, lr_factor(new, s1, anchor))
    assert lr_factor(newer, s1, a1) == pytest.approx(a1[1], abs=1e-12)
    # the default anchor is the plain schedule
    assert lr_factor(old, s0, (0, 1.0)) == lr_factor(old, s0)
