"""The README runs as written: its two commands exist, its tour runs, its command lines run.

Python blocks run in one namespace, in order; ``divergences`` command lines run through the
CLI's entry point, at small sizes (``tests/_doc_blocks.py``). Sizes are shrunk by the explicit
substitutions below, each of which must match the README.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests import _doc_blocks

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# (README text, what the test runs instead): sample counts only
CLI_SHRINK = [("-n 10000", "-n 500"), ("evaluate runs/r8\n", "evaluate runs/r8 -n 500\n")]


def test_the_two_commands_come_first_and_exist():
    first = _doc_blocks.blocks(README, "bash", "python")[0][1].splitlines()
    assert [line.split()[:2] for line in first] == [["make", "demo"], ["make", "test"]]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test", "docs"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    # CI runs the README's test command (and then builds the documentation)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test\n" in ci and "make docs\n" in ci


def test_readme_links_point_to_files_in_the_repository():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links
    for link in links:
        if "://" not in link:
            assert (ROOT / link).exists(), link


def test_readme_has_the_blocks_this_test_runs():
    assert len(_doc_blocks.blocks(README, "python")) >= 1
    assert any(line.startswith("divergences train") for line in _doc_blocks.cli_lines(README))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_python_blocks_run(_in_tmp, capsys):
    namespace = _doc_blocks.run_python(ROOT / "README.md")
    assert "precision" in namespace["report"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_lines_run(_in_tmp, capsys):
    # the README's `real.npy` is the user's own data: here, samples of the training law
    np.save("real.npy", np.random.default_rng(0).normal(size=(500, 2)))
    text = _doc_blocks.shrink("\n".join(_doc_blocks.cli_lines(README)) + "\n", CLI_SHRINK, "README")
    _doc_blocks.run_cli(text.splitlines(), capsys)
    assert Path("fake.npy").is_file()
