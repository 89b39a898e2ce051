"""Run directories and atomic writes: nothing a user saved is overwritten or lost."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gan.cli import main
from gan.config import TrainConfig
from gan.rundir import is_run_dir, truncate_log
from gan.training import train
from metrics.io.atomic import atomic_open, stale_temporaries, write_atomic

TINY = dict(data="ring8", steps=3, batch_size=16, hidden=8, g_layers=1, d_layers=1,
            log_every=1, progress=False, plots=False, eval_samples=0)  # fmt: skip


def test_overwrite_deletes_only_run_files_and_refuses_other_folders(tmp_path):
    run = tmp_path / "r"
    train(TrainConfig(out=str(run), **TINY))
    (run / "notes.txt").write_text("keep me")
    (run / "fake.npy").write_bytes(b"mine")
    train(TrainConfig(out=str(run), seed=5, **TINY), overwrite=True)
    assert (run / "notes.txt").read_text() == "keep me" and (
        run / "fake.npy"
    ).read_bytes() == b"mine"
    assert json.loads((run / "config.json").read_text())["seed"] == 5
    other = tmp_path / "project"
    other.mkdir()
    (other / "config.json").write_text('{"name": "not a run"}')
    (other / "log.jsonl").write_text("mine\n")
    assert not is_run_dir(other)
    before = {p.name: p.read_bytes() for p in other.iterdir()}
    with pytest.raises(ValueError, match="holds no run; choose another --out"):
        train(TrainConfig(out=str(other), **TINY), overwrite=True)
    assert {p.name: p.read_bytes() for p in other.iterdir()} == before


def test_truncate_log_keeps_steps_up_to_the_checkpoint(tmp_path):
    log = tmp_path / "log.jsonl"
    recs = [{"kind": "train", "step": s} for s in (1, 2, 3, 4)]
    log.write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"kind": "tra')
    truncate_log(log, 2)
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [1, 2]
    before = log.read_bytes()
    truncate_log(log, 2)
    assert log.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_atomic_writes_refuse_clobbers_and_leave_nothing_behind(tmp_path):
    target = tmp_path / "mine.json"
    target.write_text("precious")
    with pytest.raises(ValueError, match="exists"):
        write_atomic(target, "new", overwrite=False)
    with pytest.raises(RuntimeError, match="boom"), atomic_open(target) as fh:
        fh.write(b"half")
        raise RuntimeError("boom")
    assert target.read_text() == "precious" and sorted(tmp_path.iterdir()) == [target]
    write_atomic(target, "new")
    assert target.read_text() == "new"
    (tmp_path / ".mine.json.abc.tmp").write_text("")
    (tmp_path / ".other.tmp").write_text("")
    (tmp_path / "mine.json.tmp").write_text("")
    assert [p.name for p in stale_temporaries(tmp_path, ("mine.json",))] == [".mine.json.abc.tmp"]


def test_cli_outputs_never_clobber(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(40, 2)))
    np.save(tmp_path / "b.npy", rng.normal(size=(30, 2)))
    out = tmp_path / "out.json"
    out.write_text("my results\n")
    args = ["evaluate", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--metrics", "fid"]
    assert main([*args, "--json", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "my results\n"
    assert main([*args, "--json", str(out), "--overwrite"]) == 0
    assert "fid" in json.loads(out.read_text())["metrics"]
    run = tmp_path / "r"
    train(TrainConfig(out=str(run), **TINY))
    fake = tmp_path / "fake.npy"
    fake.write_bytes(b"user data")
    assert main(["sample", str(run), "-n", "5", "-o", str(fake)]) == 2
    assert fake.read_bytes() == b"user data"
    assert main(["sample", str(run), "-n", "5", "-o", str(fake), "--overwrite"]) == 0
    assert np.load(fake).shape == (5, 2)
    assert main(["evaluate", str(run), "-n", "20", "--json", str(tmp_path / "ev.json")]) == 0
    assert "modes" in json.loads((tmp_path / "ev.json").read_text())
    assert not list(tmp_path.glob(".*.tmp"))
