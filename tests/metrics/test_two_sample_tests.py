"""metrics.evaluate(metrics=["two_sample"]) and `divergences test REAL FAKE`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from divergences import two_sample_test
from gan.cli import main
from metrics import evaluate
from metrics.two_sample import two_sample_tests

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pair(rng):
    return rng.normal(size=(80, 3)), rng.normal(size=(70, 3)) + 0.8


def test_evaluate_reports_the_p_values(pair):
    x, y = pair
    r = evaluate(x, y, metrics=["two_sample"], options={"two_sample": {"permutations": 99}})
    assert sorted(r) == ["p_energy", "p_knn", "p_mmd"]
    gen = torch.Generator().manual_seed(0)
    assert r["p_mmd"].value == two_sample_test(x, y, permutations=99, generator=gen).p_value
    assert r["p_mmd"].value == pytest.approx(0.01)
    same = evaluate(x, x[::-1].copy(), metrics=["two_sample"],
                    options={"two_sample": {"tests": ["knn"], "permutations": 99}})  # fmt: skip
    assert list(same) == ["p_knn"] and same["p_knn"].value > 0.05
    assert "p_mmd" in r.table() and '"p_knn"' in r.to_json()


def test_two_sample_tests_validates(pair):
    with pytest.raises(ValueError, match="tests must be a non-empty list"):
        two_sample_tests(*pair, tests=[])
    with pytest.raises(ValueError, match="statistic must be one of"):
        two_sample_tests(*pair, tests=["t-test"])


def test_cli_test_exit_status(tmp_path, capsys, pair):
    x, y = pair
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "x2.npy", x[::-1])
    args = ["--permutations", "99"]
    assert main(["test", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), *args]) == 1
    out = capsys.readouterr().out
    assert "mmd test: statistic" in out and "reject at 0.05" in out
    assert main(["test", str(tmp_path / "x.npy"), str(tmp_path / "x2.npy"), *args,
                 "--statistic", "knn"]) == 0  # fmt: skip
    assert "do not reject" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--alpha", "2"], r"--alpha must be in \(0, 1\)"),
        (["--permutations", "0"], "--permutations must be >= 1"),
        (["--statistic", "t"], "statistic must be one of"),
        (["--seed", "-1"], "--seed must be >= 0"),
    ],
)
def test_cli_test_mistakes_are_one_line(tmp_path, capsys, pair, extra, message):
    np.save(tmp_path / "x.npy", pair[0])
    np.save(tmp_path / "z.npy", pair[1])
    assert main(["test", str(tmp_path / "x.npy"), str(tmp_path / "z.npy"), *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("divergences test: error:")
    assert re.search(message, lines[0]), lines[0]


def test_cli_test_in_a_subprocess_no_traceback(tmp_path, pair):
    np.save(tmp_path / "x.npy", pair[0])
    np.save(tmp_path / "y.npy", pair[1][:, :2])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    argv = [
        sys.executable,
        "-m",
        "gan.cli",
        "test",
        str(tmp_path / "x.npy"),
        str(tmp_path / "y.npy"),
    ]
    p = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "different dimensions" in p.stderr
