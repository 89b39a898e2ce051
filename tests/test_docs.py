"""The documentation site's sources, checked without building it (Sphinx is not needed).

- The API reference covers every public name: each package's ``__all__``, in every public
  package found in the source tree.
- Every code block of the user guide runs as written (``tests/_doc_blocks.py``).
- Every benchmarks/RESULTS.md section that the README or the guide cites exists.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import _doc_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = DOCS / "guide"
sys.path.insert(0, str(DOCS / "_ext"))
public_api = importlib.import_module("public_api")


def _source_packages() -> set[str]:
    """Public packages by walking the tree: folders with ``__init__.py``, no ``_`` part."""
    found = set()
    for top in public_api.TOP_PACKAGES:
        for init in (ROOT / top).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT).parts
            if not any(part.startswith("_") for part in parts):
                found.add(".".join(parts))
    return found


def test_every_public_package_has_a_page():
    assert set(public_api.all_packages()) == _source_packages()
    toc = (DOCS / "reference.md").read_text(encoding="utf-8")
    for top in public_api.TOP_PACKAGES:
        assert f"api/{top}\n" in toc, f"docs/reference.md does not list api/{top}"


def _needs_sphinx() -> None:
    # the API pages read `#:` comments with Sphinx's analyser; `make docs` installs it (CI does)
    pytest.importorskip("sphinx", reason="the docs extras are not installed (make docs)")


def test_every_name_in_every_all_is_documented():
    _needs_sphinx()
    pages = public_api.api_source()
    missing = []
    for package, text in pages.items():
        names = importlib.import_module(package).__all__
        for name in names:
            full = re.escape(f"{package}.{name}")
            documented = re.search(rf"^\.\. auto\w+:: {full}$", text, re.M) or re.search(
                rf"^\.\. py:data:: {re.escape(name)}\n   :module: {re.escape(package)}$", text, re.M
            )
            linked = f"- ``{name}`` → :obj:`" in text
            if not (documented or linked):
                missing.append(f"{package}.{name}")
    assert not missing, f"not in the API reference: {missing}"


def test_each_object_is_documented_once():
    _needs_sphinx()
    pages = "\n".join(public_api.api_source().values())
    targets = re.findall(r"^\.\. (?:autoclass|autofunction|automodule):: (\S+)$", pages, re.M)
    targets += [
        f"{module}.{name}"
        for name, module in re.findall(r"^\.\. py:data:: (\S+)\n   :module: (\S+)$", pages, re.M)
    ]
    # a subpackage shadowed by a function of the same name (divergences.transport) is a page
    # without an index entry: not a second description of that name
    unindexed = re.findall(
        r"^\.\. automodule:: (\S+)\n   :no-members:\n   :no-index:$", pages, re.M
    )
    for name in unindexed:
        targets.remove(name)
    assert len(targets) == len(set(targets))
    # the members of exported modules are named, and none of them twice
    members = [
        f"{module}.{member.strip()}"
        for module, listed in re.findall(
            r"^\.\. automodule:: (\S+)\n   :members: (.+)$", pages, re.M
        )
        for member in listed.split(",")
    ]
    assert len(members) == len(set(members))


def test_gallery_examples_are_executed_and_headed():
    examples = sorted((ROOT / "examples").glob("*.py"))
    assert 8 <= len(examples) <= 12
    for path in examples:
        # sphinx-gallery executes the files matching its pattern, and needs a titled docstring
        assert path.name.startswith("plot_"), path.name
        head = path.read_text(encoding="utf-8").split('"""')[1].strip().splitlines()
        assert len(head) >= 2 and set(head[1]) == {"="}, f"{path.name}: no title"


# (page, (text, what the test runs instead)): sizes only
GUIDE_PAGES = {
    "fdivergences.md": [],
    "sets.md": [],
    "transport_kernels.md": [],
    "transport_plans.md": [],
    "two_sample.md": [],
    "estimators.md": [],
    "evaluating.md": [],
    "install.md": [],
    "training.md": [
        (
            'steps=2000, out="runs/r8"',
            'steps=30, out="runs/r8", batch_size=64, eval_samples=300, progress=False, '
            "plots=False, final_js_steps=50, drs_steps=100, eval_batch_size=128",
        ),
    ],
}
SLOW_PAGES = {"estimators.md", "evaluating.md", "install.md", "training.md"}


def test_guide_pages_are_all_tested():
    pages = {path.name for path in GUIDE.glob("*.md")} - {"index.md", "cli.md"}
    assert pages == set(GUIDE_PAGES)


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_PAGES else p for p in GUIDE_PAGES],
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_guide_page_runs(page, _in_tmp, capsys):
    _doc_blocks.run_python(GUIDE / page, GUIDE_PAGES[page])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_front_page_runs(_in_tmp):
    _doc_blocks.run_python(DOCS / "index.md")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_page_runs(_in_tmp, capsys):
    text = (GUIDE / "cli.md").read_text(encoding="utf-8")
    lines = _doc_blocks.cli_lines(text)
    # the grid run and its continuation, small; the Inception lines need the weights file
    table = [
        ("--steps 80000", "--steps 45"),
        ("-n 10000", "-n 500"),
        ("evaluate runs/grid", "evaluate runs/grid -n 500"),
    ]
    runnable = [line for line in lines if "inception" not in line]
    assert len(runnable) >= 5 and len(lines) - len(runnable) == 3
    np.save("real.npy", np.random.default_rng(0).normal(size=(500, 2)))
    text = _doc_blocks.shrink("\n".join(runnable), table, "cli.md")
    _doc_blocks.run_cli(text.splitlines(), capsys)
    assert Path("fake.npy").is_file() and Path("out.json").is_file()


def test_cited_results_sections_exist():
    headings = {
        line.lstrip("#").strip()
        for line in (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    sources = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    cited = 0
    for path in sources:
        text = " ".join(path.read_text(encoding="utf-8").split())
        for title in re.findall(r"RESULTS\.md, \"([^\"]+)\"", text):
            cited += 1
            assert any(title in h for h in headings), f"{path.name} cites {title!r}"
    assert cited >= 5
