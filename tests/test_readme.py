"""Every code block of README.md runs as written (Python blocks in one namespace, in order;
``divergences`` command lines through the CLI's entry point), at small sizes.

Sizes are shrunk by the explicit substitutions below, each of which must match the README:
a README edit that drops one fails here rather than silently running the full size.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

# (README text, what the test runs instead): training lengths and sample counts only.
PY_SHRINK = [
    (
        "steps=2000",
        "steps=30, batch_size=64, eval_samples=300, progress=False, plots=False, "
        "final_js_steps=50, drs_steps=100, eval_batch_size=128",
    ),
]
TRAIN_SMALL = ["--steps", "30", "--batch-size", "64", "--eval-samples", "300",
               "--no-progress", "--no-plots", "--final-js-steps", "50", "--drs-steps", "100",
               "--eval-batch-size", "128"]  # fmt: skip
CLI_SHRINK = [
    ("--steps 80000", "--steps 45"),
    ("-n 10000", "-n 500"),
    ("evaluate runs/grid\n", "evaluate runs/grid -n 500\n"),
]


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(README) if kind == lang]


def _shrink(text: str, table: list[tuple[str, str]]) -> str:
    for old, new in table:
        assert old in text, f"README no longer contains {old!r}: update the test's table"
        text = text.replace(old, new)
    return text


def _cli_lines() -> list[str]:
    """Every ``divergences ...`` command of the bash blocks, with the ``# or: ...`` forms."""
    lines = []
    for body in _blocks("bash"):
        for raw in body.splitlines():
            code, _, comment = raw.partition("#")
            if code.strip().startswith("divergences "):
                lines.append(code.strip())
            alt = re.search(r"or: (divergences .*)$", comment)
            if alt:
                lines.append(alt.group(1).strip())
    return lines


@pytest.fixture
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(n)


def test_readme_has_the_blocks_this_test_runs():
    assert len(_blocks("python")) >= 6
    assert any(line.startswith("divergences train") for line in _cli_lines())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_python_blocks_run(_in_tmp, capsys):
    code = _shrink("\n".join(_blocks("python")), PY_SHRINK)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert (_in_tmp / "eval.json").is_file()
    assert namespace["res"].step == 30


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_lines_run(_in_tmp, capsys):
    from gan.cli import main

    # the README's `real.npy` is the user's own data: here, samples of the training law
    np.save("real.npy", np.random.default_rng(0).normal(size=(500, 2)))
    text = _shrink("\n".join(_cli_lines()), CLI_SHRINK)
    for line in text.splitlines():
        argv = shlex.split(line)[1:]
        if argv[0] == "train" and "--resume" not in argv:
            argv += TRAIN_SMALL
        assert main(argv) == 0, line
        out = capsys.readouterr()
        assert "Traceback" not in out.err, line
    assert Path("fake.npy").is_file() and Path("out.json").is_file()
