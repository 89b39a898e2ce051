"""Run the code blocks of a Markdown page: what the README and the user guide promise runs.

``pycon`` blocks are doctests (their output is checked; write "..." where digits may vary);
``python`` blocks run as written; both share one namespace per page, in order. ``bash`` blocks
are searched for ``divergences ...`` command lines (with ``# or: divergences ...`` forms), which
run through the CLI's entry point. Sizes are shrunk by explicit substitutions, each of which
must match the page: an edit that drops one fails rather than silently running the full size.
"""

from __future__ import annotations

import doctest
import re
import shlex
from pathlib import Path

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

# the training options that keep a `divergences train` line of a page to seconds
TRAIN_SMALL = ["--steps", "30", "--batch-size", "64", "--eval-samples", "300",
               "--no-progress", "--no-plots", "--final-js-steps", "50", "--drs-steps", "100",
               "--eval-batch-size", "128"]  # fmt: skip


def blocks(text: str, *langs: str) -> list[tuple[str, str]]:
    """``(language, body)`` of the fenced blocks in ``langs``, in order."""
    return [(lang, body) for lang, body in FENCE.findall(text) if lang in langs]


def shrink(text: str, table: list[tuple[str, str]], where: str) -> str:
    """Apply each ``(old, new)``; every ``old`` must be in ``text``."""
    for old, new in table:
        assert old in text, f"{where} no longer contains {old!r}: update the test's table"
        text = text.replace(old, new)
    return text


def run_python(path: Path, shrink_table: list[tuple[str, str]] | None = None) -> dict:
    """Run the page's ``pycon`` and ``python`` blocks in one namespace; return it."""
    text = path.read_text(encoding="utf-8")
    namespace: dict = {"__name__": f"__{path.stem}__"}
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=FLAGS)
    found = blocks(text, "python", "pycon")
    assert found, f"{path.name} has no python or pycon block"
    for i, (lang, body) in enumerate(found):
        body = shrink(body, [p for p in shrink_table or [] if p[0] in body], path.name)
        name = f"{path.name}, block {i + 1}"
        if lang == "python":
            exec(compile(body, name, "exec"), namespace)
            continue
        test = parser.get_doctest(body, namespace, name, str(path), 0)
        runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # the doctest ran in a copy of the namespace
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) of {path.name} failed"
    return namespace


def cli_lines(text: str) -> list[str]:
    """Every ``divergences ...`` command of the bash blocks, with the ``# or: ...`` forms."""
    lines = []
    for _, body in blocks(text, "bash"):
        for raw in body.splitlines():
            code, _, comment = raw.partition("#")
            if code.strip().startswith("divergences "):
                lines.append(code.strip())
            alt = re.search(r"or: (divergences .*)$", comment)
            if alt:
                lines.append(alt.group(1).strip())
    return lines


def run_cli(lines: list[str], capsys) -> None:
    """Run each command line through ``gan.cli.main``; each must succeed without a traceback."""
    from gan.cli import main

    for line in lines:
        argv = shlex.split(line)[1:]
        if argv[0] == "train" and "--resume" not in argv:
            argv += TRAIN_SMALL
        assert main(argv) == 0, line
        out = capsys.readouterr()
        assert "Traceback" not in out.err, line
