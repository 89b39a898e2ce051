"""The import graph, read statically from the source: gan → metrics → divergences, never back,
no cycles between modules (function-level imports included), and command-line code (gan/cli/,
gan/train_options.py) imported by nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("divergences", "metrics", "gan")
LAYER = {"divergences": 0, "metrics": 1, "gan": 2}


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            mods[name] = path
    return mods


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = mod.split(".")
                    anchor = anchor if is_pkg else anchor[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the submodule when there is one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]  # fmt: skip
            for t in targets:
                target = _resolve(t, mods)
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def test_layers_point_down_only():
    graph = _edges(_modules())
    bad = [(a, b) for a, bs in graph.items() for b in bs
           if LAYER[b.split(".")[0]] > LAYER[a.split(".")[0]]]  # fmt: skip
    assert not bad, f"imports against gan → metrics → divergences: {sorted(bad)}"


def test_no_import_cycles():
    graph = _edges(_modules())
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_metrics_and_gan_use_only_public_core_names():
    """Across packages only public names, and the one shared validation module, are imported."""
    bad = []
    for pkg in ("metrics", "gan"):
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom) or not node.module:
                    continue
                mod = node.module.split(".")
                if mod[0] != "divergences" or node.module == "divergences._validation":
                    continue
                private = [p for p in mod[1:] if p.startswith("_")]
                private += [a.name for a in node.names if a.name.startswith("_")
                            and not a.name.endswith("__")]  # fmt: skip
                if private:
                    bad.append(f"{path.relative_to(ROOT)}: from {node.module} import {private}")
    assert not bad, "private core names used outside divergences/:\n" + "\n".join(bad)


# Command-line code: the gan.cli package and the train command's option table.
CLI = ("gan.cli", "gan.train_options")


def _is_cli(module: str) -> bool:
    return any(module == c or module.startswith(c + ".") for c in CLI)


def test_only_the_command_line_imports_command_line_code():
    """No library module (divergences, metrics, gan outside gan/cli/) imports CLI code."""
    graph = _edges(_modules())
    bad = [(a, b) for a, bs in graph.items() for b in bs if _is_cli(b) and not _is_cli(a)]
    assert not bad, f"library modules importing command-line code: {sorted(bad)}"


def test_argparse_only_in_command_line_code():
    bad = []
    for mod, path in _modules().items():
        if _is_cli(mod):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] == "argparse" for n in names):
                bad.append(mod)
    assert not bad, f"argparse outside gan/cli/ and gan/train_options.py: {sorted(set(bad))}"


def test_gan_uses_only_public_metrics_names():
    """gan imports metrics by public names only (the atomic writer is ``metrics.io.atomic``)."""
    bad = []
    for path in (ROOT / "gan").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            mod = node.module.split(".")
            if mod[0] != "metrics":
                continue
            private = [p for p in mod[1:] if p.startswith("_")]
            private += [a.name for a in node.names if a.name.startswith("_")]
            if private:
                bad.append(f"{path.relative_to(ROOT)}: from {node.module} import {private}")
    assert not bad, "private metrics names used in gan/:\n" + "\n".join(bad)
