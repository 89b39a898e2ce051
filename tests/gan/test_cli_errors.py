"""Every user mistake ends the CLI with exit status 2 and one line naming it, no traceback.

Each case runs ``python -m gan.cli`` in a subprocess, as a user would. The run these cases
need is trained once per module, tiny.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan.config import TrainConfig
from gan.training import train

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}

# Runs each argv exactly as ``python -m gan.cli ARGV`` does (runpy is what -m uses), many in
# one interpreter so that torch is imported once; an escaping exception prints a traceback.
DRIVER = """
import contextlib, io, json, runpy, sys, traceback
out = []
for argv in json.load(sys.stdin):
    err, std = io.StringIO(), io.StringIO()
    sys.argv = ["gan.cli", *argv]
    rc = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            runpy.run_module("gan.cli", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            rc = 1
    out.append([rc, std.getvalue(), err.getvalue()])
json.dump(out, sys.__stdout__)
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan.cli", *map(str, args)], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=120)  # fmt: skip


def cli_batch(cases: list[list[str]]) -> list[subprocess.CompletedProcess]:
    res = subprocess.run([sys.executable, "-c", DRIVER], cwd=REPO, env=ENV, text=True,
                         input=json.dumps([[str(a) for a in c] for c in cases]),
                         capture_output=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return [subprocess.CompletedProcess(c, rc, o, e) for c, (rc, o, e) in
            zip(cases, json.loads(res.stdout))]  # fmt: skip


def assert_user_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, (res.args, res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "allow_pickle" not in res.stderr and "weights_only" not in res.stderr


def _tiny_run(out: Path) -> None:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(data="ring8", steps=4, batch_size=32, hidden=8, g_layers=1,
                          d_layers=1, log_every=2, eval_samples=0, progress=False,
                          plots=False, out=str(out)))  # fmt: skip
    finally:
        torch.set_num_threads(n)


def _damage(run: Path, bad: Path, damage: str) -> None:
    bad.mkdir()
    (bad / "config.json").write_bytes((run / "config.json").read_bytes())
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    if damage == "truncated":
        raw = (run / "checkpoint.pt").read_bytes()
        (bad / "checkpoint.pt").write_bytes(raw[: len(raw) // 3])
        return
    if damage == "missing_key":
        del ck["d"]
    elif damage == "wrong_shape":
        ck["d"][next(iter(ck["d"]))] = torch.zeros(3, 3, 3)
    else:  # a config.json that does not describe the checkpoint's models
        cfg = json.loads((run / "config.json").read_text())
        (bad / "config.json").write_text(json.dumps({**cfg, "hidden": 17}))
    torch.save(ck, bad / "checkpoint.pt")


FILE_CASES = {
    "missing": (("distance", "{d}/missing.npy", "{d}/a.npy"), ("missing.npy", "does not exist")),
    "truncated_npz": (("distance", "{d}/cut.npz", "{d}/a.npy"), ("cut.npz", "could not be read")),
    "empty": (("distance", "{d}/empty.npy", "{d}/a.npy"), ("empty.npy", "holds no samples")),
    "objects": (("distance", "{d}/obj.npy", "{d}/a.npy"), ("obj.npy", "holds Python objects")),
    "not_torch": (("distance", "{d}/weights.pt", "{d}/a.npy"), ("weights.pt", "could not be")),
    "dims": (("distance", "{d}/a.npy", "{d}/c3.npy"), ("different dimensions",)),
    "bad_distance": (("distance", "{d}/a.npy", "{d}/b.npy", "--metrics", "x"), ("unknown dist",)),
    "ev_missing": (("evaluate", "{d}/missing.npy", "{d}/a.npy"), ("real: no such file",)),
    "ev_truncated": (("evaluate", "{d}/a.npy", "{d}/cut.npz"), ("cut.npz", "could not be read")),
    "ev_empty": (("evaluate", "{d}/a.npy", "{d}/empty.npy"), ("fake is empty",)),
    "ev_not_image": (("evaluate", "{d}/imgs", "{d}/a.npy"), ("x.png is not a readable image",)),
    "ev_metric": (("evaluate", "{d}/a.npy", "{d}/b.npy", "--metrics", "fidd"), ("unknown metr",)),
    "ev_json_dir": (
        ("evaluate", "{d}/a.npy", "{d}/b.npy", "--json", "{d}/nodir/o.json"),
        ("--json", "does not exist"),
    ),
    "ev_json_clobber": (
        ("evaluate", "{d}/a.npy", "{d}/b.npy", "--json", "{d}/mine.json"),
        ("--json", "exists", "--overwrite"),
    ),
    "ev_num": (("evaluate", "{d}/a.npy", "{d}/b.npy", "--num-samples", "0"), ("--num-samples",)),
    "ev_device": (("evaluate", "{d}/a.npy", "{d}/b.npy", "--device", "tpu"), ("--device 'tpu'",)),
    "ev_form": (("evaluate", "{d}/a.npy", "{d}/b.npy", "-n", "5"), ("-n", "REAL FAKE form")),
    "ev_one": (("evaluate", "{d}/a.npy"), ("is not a run directory",)),
    "ev_three": (("evaluate", "{d}/a.npy", "{d}/b.npy", "{d}/b.npy"), ("RUN, or REAL FAKE",)),
    "tr_int": (("train", "--steps", "abc"), ("--steps", "invalid int value")),
    "tr_steps": (("train", "--steps", "0", "--out", "{d}/t0"), ("steps must be >= 1",)),
    "tr_lr": (("train", "--lr-d", "-1", "--out", "{d}/t1"), ("lr_d must be finite",)),
    "tr_data": (("train", "--data", "{d}/missing.npy", "--out", "{d}/t2"), ("unknown data set",)),
    "tr_cut": (("train", "--data", "{d}/cut.npz", "--out", "{d}/t3"), ("could not be read",)),
    "tr_toml": (("train", "--config", "{d}/missing.toml"), ("missing.toml", "does not exist")),
    "tr_resume_out": (("train", "--resume"), ("--resume needs --out",)),
    "tr_resume_none": (("train", "--resume", "--out", "{d}/nothing"), ("not a run directory",)),
    "tr_not_run": (("train", "--overwrite", "--out", "{d}/imgs"), ("holds no run",)),
    "sa_none": (("sample", "{d}/nothing", "-o", "{d}/s.npy"), ("is not a run directory",)),
    "sa_dir": (("sample", "{r}", "-o", "{d}/nodir/x.npy"), ("-o", "does not exist")),
    "sa_suffix": (("sample", "{r}", "-o", "{d}/x.csv"), ("-o must end in .npy",)),
    "sa_n": (("sample", "{r}", "-n", "0", "-o", "{d}/x.npy"), ("-n must be",)),
    "sa_device": (("sample", "{r}", "-o", "{d}/x.npy", "--device", "gpu0"), ("'gpu0'",)),
    "sa_clobber": (("sample", "{r}", "-o", "{d}/mine.npy"), ("-o", "exists", "--overwrite")),
    "ev_run_form": (("evaluate", "{r}", "--metrics", "fid"), ("--metrics", "RUN form")),
    "re_fixed": (("train", "--out", "{r}", "--resume", "--hidden", "64"), ("cannot change hid",)),
    "re_short": (("train", "--out", "{r}", "--resume", "--steps", "2"), ("at step 4", "--steps 4")),
    "unknown_command": (("nope",), ("invalid choice",)),
    "ev_run_resize": (("evaluate", "{r}", "--resize", "clean"), ("--resize", "RUN form")),
    "ev_run_no_cache": (("evaluate", "{r}", "--no-cache"), ("--no-cache", "RUN form")),
    "ev_run_workers": (("evaluate", "{r}", "--workers", "2"), ("--workers", "RUN form")),
    "ev_run_size": (("evaluate", "{r}", "--image-size", "8"), ("--image-size", "RUN form")),
    "ev_resize_mode": (
        ("evaluate", "{d}/a.npy", "{d}/b.npy", "--resize", "clean"),
        ("resize 'clean'", "features 'inception'"),
    ),
    "ev_inc_missing": (
        ("evaluate", "{d}/a.npy", "{d}/b.npy", "--features", "inception:{d}/none.pth"),
        ("no file", "weights fetch inception"),
    ),
    "ev_inc_hash": (
        ("evaluate", "{d}/a.npy", "{d}/b.npy", "--features", "inception:{d}/weights.pt"),
        ("SHA-256", "--no-check-hash"),
    ),
    "ev_inc_unreadable": (
        (
            "evaluate",
            "{d}/a.npy",
            "{d}/b.npy",
            "--no-check-hash",
            "--features",
            "inception:{d}/weights.pt",
        ),
        ("cannot read",),
    ),
    "ev_inc_resize": (
        (
            "evaluate",
            "{d}/a.npy",
            "{d}/b.npy",
            "--features",
            "inception:x.pth",
            "--resize",
            "lanczos",
        ),
        ("resize 'lanczos'", "pytorch-fid, clean"),
    ),
    "st_no_output": (("stats", "{d}/imgs"), ("divergences stats", "-o/--output")),
    "st_suffix": (("stats", "{d}/a.npy", "-o", "{d}/s.csv"), ("-o", "must end in .npz")),
    "st_clobber": (("stats", "{d}/a.npy", "-o", "{d}/mine.npz"), ("-o", "exists")),
    "st_inc_hash": (
        ("stats", "{d}/a.npy", "-o", "{d}/s.npz", "--features", "inception:{d}/weights.pt"),
        ("SHA-256",),
    ),
    "we_unknown": (("weights", "fetch", "nope"), ("invalid choice", "inception")),
    "we_none": (("weights",), ("divergences weights", "required")),
    "we_path": (
        ("weights", "path", "inception", "--cache-dir", "{d}/nocache"),
        ("not found", "divergences weights fetch inception"),
    ),
    "we_url": (
        ("weights", "fetch", "inception", "--cache-dir", "{d}/wc", "--url", "ftp://example.org/x"),
        ("url must be http",),
    ),
}
DAMAGES = {"truncated": "could not be read", "missing_key": "lacks 'd'",
           "wrong_shape": "the discriminator does not match",
           "config": "does not match the configuration"}  # fmt: skip
for _k, _needle in DAMAGES.items():
    FILE_CASES[f"sample_{_k}"] = (("sample", "{d}/" + _k, "-n", "5", "-o", "{d}/s.npy"), (_needle,))
    FILE_CASES[f"evaluate_{_k}"] = (("evaluate", "{d}/" + _k, "-n", "20"), (_needle,))
    if _k != "config":
        FILE_CASES[f"resume_{_k}"] = (("train", "--out", "{d}/" + _k, "--resume"), (_needle,))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    np.save(d / "a.npy", rng.normal(size=(50, 2)))
    np.save(d / "b.npy", rng.normal(size=(40, 2)))
    np.save(d / "c3.npy", rng.normal(size=(40, 3)))
    np.save(d / "empty.npy", np.zeros((0, 2)))
    np.savez(d / "full.npz", x=rng.normal(size=(500, 2)))
    raw = (d / "full.npz").read_bytes()
    (d / "cut.npz").write_bytes(raw[: len(raw) // 2])
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "imgs").mkdir()
    (d / "imgs" / "x.png").write_text("this is not an image")
    (d / "weights.pt").write_bytes(b"not a torch file at all")
    (d / "mine.json").write_text('{"my": "results"}\n')
    np.save(d / "mine.npy", np.arange(3.0))
    np.savez(d / "mine.npz", mu=np.zeros(2))
    run = tmp_path_factory.mktemp("run") / "r"
    _tiny_run(run)
    for damage in DAMAGES:
        _damage(run, d / damage, damage)
    np.save(d / "one.npy", rng.normal(size=(1, 2)))
    before = _snapshot(d), _snapshot(run)
    cases = {i: c[0] for i, c in FILE_CASES.items()}
    cases["distance_ok"] = ("distance", "{d}/a.npy", "{d}/b.npy", "--metrics", "chamfer,mmd2")
    # one sample per set: chamfer is defined, the unbiased MMD is not
    cases["distance_partial"] = ("distance", "{d}/one.npy", "{d}/one.npy", "--metrics",
                                 "chamfer,mmd2")  # fmt: skip
    argvs = [[a.format(d=d, r=run) for a in c] for c in cases.values()]
    results = dict(zip(cases, cli_batch(argvs)))
    return results, before, (_snapshot(d), _snapshot(run))


def test_version_and_help_through_python_m():
    res = cli("--version")
    assert res.returncode == 0
    from importlib.metadata import version

    assert res.stdout.strip() == f"divergences {version('divergences')}"
    res = cli("evaluate", "--help")
    assert res.returncode == 0
    for option in ("RUN", "REAL FAKE", "-n", "--rejection", "--metrics", "--features",
                   "--json", "--overwrite", "--num-samples", "--resize", "--no-check-hash",
                   "pytorch-fid"):  # fmt: skip
        assert option in res.stdout, option
    res = cli("--help")
    assert res.returncode == 0
    for command in ("stats", "weights", "reference statistics", "network weights"):
        assert command in res.stdout, command


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_user_mistake_exits_2_in_one_line(outcome, case):
    results, _, _ = outcome
    assert_user_error(results[case], *FILE_CASES[case][1])


def test_refused_commands_change_no_file(outcome):
    _, before, after = outcome
    assert after == before  # byte for byte: the user's files, the run, the damaged runs


def test_distance_exit_status(outcome):
    results = outcome[0]
    ok, bad = results["distance_ok"], results["distance_partial"]
    assert ok.returncode == 0 and "chamfer" in ok.stdout and "mmd2" in ok.stdout, ok.stderr
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "chamfer" in bad.stdout and "mmd2" in bad.stdout and "error: unbiased" in bad.stdout
    assert bad.stderr.strip() == "divergences distance: error: mmd2 failed"
