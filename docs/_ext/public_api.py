"""Generate the API reference from the packages' ``__all__``.

Every package of ``divergences``, ``metrics`` and ``gan`` whose name has no part starting with
an underscore gets one page, ``docs/api/<package>.rst``, written when the build starts. A name
is documented under the first package (top-level packages first) that exports it, as
``package.name``: what users import, not the private module that defines it, so that moving a
module changes nothing here. Later packages that export the same object link to it.

``api_source()`` is the whole generated text, so tests can check coverage without Sphinx.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The distributions' top-level packages, in the order of the reference.
TOP_PACKAGES = ("divergences", "metrics", "gan")

#: Where the generated pages go (gitignored), relative to ``docs/``.
OUT_DIR = "api"


def public_packages(top: str) -> list[str]:
    """``top`` and its public subpackages (no ``_``-prefixed part), parents before children."""
    module = importlib.import_module(top)
    found = [top]
    for info in pkgutil.walk_packages(module.__path__, top + "."):
        if info.ispkg and not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return sorted(found, key=lambda name: name.split("."))


def all_packages() -> list[str]:
    """Every documented package, in the reference's order."""
    return [name for top in TOP_PACKAGES for name in public_packages(top)]


def exported(package: str) -> list[str]:
    """The package's ``__all__``; a public package without one is an error."""
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    if names is None:
        raise RuntimeError(f"package {package} has no __all__: list its public names there")
    return list(names)


def _kind(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def _key(name: str, obj: Any) -> tuple[str, int]:
    # data (ints, tuples) may be shared by unrelated names: key them by name too
    return ("", id(obj)) if _kind(obj) != "data" else (name, id(obj))


def _heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def _import_source(package: str, name: str) -> str | None:
    """The module ``package/__init__.py`` imports ``name`` from (read from its source)."""
    module = importlib.import_module(package)
    source = inspect.getsource(module)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if any((alias.asname or alias.name) == name for alias in node.names):
                return node.module
    return None


def _data_doc(package: str, name: str) -> list[str]:
    """The ``#:`` comment above ``name`` where it is defined, if any."""
    from sphinx.pycode import ModuleAnalyzer

    for where in (package, _import_source(package, name)):
        if where is None:
            continue
        try:
            docs = ModuleAnalyzer.for_module(where).find_attr_docs()
        except Exception:  # no source to analyse: the generated text stands alone
            continue
        lines = docs.get(("", name))
        if lines:
            return [line for line in lines if line.strip()]
    return []


def _data_entry(package: str, name: str, obj: Any) -> str:
    lines = [f".. py:data:: {name}", f"   :module: {package}"]
    if isinstance(obj, Mapping):  # a registry, or a read-only view of one
        lines.append(f"   :type: dict[str, {_value_kind(obj)}]\n")
        doc = _data_doc(package, name) or ["A registry: name → implementation."]
        keys = ", ".join(f"``{key}``" for key in obj)
        lines += [f"   {line}" for line in doc] + ["", f"   Names: {keys}."]
    else:
        lines.append(f"   :value: {obj!r}\n")
        lines += [f"   {line}" for line in _data_doc(package, name)]
    return "\n".join(lines) + "\n"


def _value_kind(mapping: Mapping) -> str:
    kinds = {_kind(value) for value in mapping.values()}
    return "Callable" if kinds == {"function"} or kinds == {"class", "function"} else "Any"


def page(package: str, documented: dict[tuple[str, int], str]) -> str:
    """The reStructuredText page of ``package``; updates ``documented`` (key → full name)."""
    module = importlib.import_module(package)
    children = [
        name
        for name in all_packages()
        if name.startswith(package + ".") and name.count(".") == package.count(".") + 1
    ]
    parent, _, last = package.rpartition(".")
    # a subpackage whose name the parent rebinds (divergences.transport, the function) is not
    # indexed under that name twice
    shadowed = bool(parent) and getattr(importlib.import_module(parent), last, None) is not module
    index = "   :no-index:\n" if shadowed else ""
    out = [
        f".. This page is generated by docs/_ext/public_api.py from {package}.__all__.\n",
        _heading(package, "="),
        f".. automodule:: {package}\n   :no-members:\n{index}",
    ]
    if children:
        toc = "\n".join(f"   {child}" for child in children)
        out.append(f"Subpackages:\n\n.. toctree::\n   :maxdepth: 1\n\n{toc}\n")
    groups: dict[str, list[str]] = {"class": [], "function": [], "data": [], "module": []}
    names = exported(package)
    # an object exported under several names is documented under its own (``__name__``)
    names.sort(key=lambda name: getattr(getattr(module, name), "__name__", None) != name)
    for name in names:
        key = _key(name, getattr(module, name))
        if key not in documented:
            documented[key] = f"{package}.{name}"
            groups[_kind(getattr(module, name))].append(name)
    for kind in groups:
        groups[kind].sort(key=str.lower)
    elsewhere = sorted(
        (name, documented[_key(name, getattr(module, name))])
        for name in names
        if documented[_key(name, getattr(module, name))] != f"{package}.{name}"
    )
    out.append(f".. currentmodule:: {package}\n")
    # data would be summarised by its type's docstring (dict's): they stay in their section
    listed = [name for kind in ("class", "function") for name in groups[kind]]
    if listed:
        rows = "\n".join(f"   {name}" for name in listed)
        out.append(f".. autosummary::\n   :nosignatures:\n\n{rows}\n")
    if elsewhere:
        links = "\n".join(f"- ``{name}`` → :obj:`{full}`" for name, full in elsewhere)
        out.append(f"Also exported here, documented under another name:\n\n{links}\n")
    titles = {"class": "Classes", "function": "Functions", "data": "Constants", "module": "Modules"}
    for kind, names in groups.items():
        if not names:
            continue
        out.append(_heading(titles[kind], "-"))
        for name in names:
            obj = getattr(module, name)
            if kind == "class":
                out.append(_class_entry(package, name, obj))
            elif kind == "function":
                out.append(f".. autofunction:: {package}.{name}\n")
            elif kind == "data":
                out.append(_data_entry(package, name, obj))
            else:
                out.append(_module_entry(package, name, obj, documented))
    return "\n".join(out)


def _class_entry(package: str, name: str, obj: type) -> str:
    text = f".. autoclass:: {package}.{name}\n   :members:\n"
    fields = getattr(obj, "_fields", None)
    if isinstance(fields, tuple) and fields:
        # a NamedTuple's fields are described by its docstring's Attributes section
        text += f"   :exclude-members: {', '.join(fields)}\n"
    return text


def _module_entry(package: str, name: str, obj: Any, documented: dict) -> str:
    """A module exported by name: its docstring and its members not documented elsewhere."""
    real = obj.__name__
    members = getattr(obj, "__all__", None)
    if members is None:
        members = [
            member
            for member, value in vars(obj).items()
            if not member.startswith("_")
            and getattr(value, "__module__", None) == real
            and _kind(value) in ("class", "function")
        ]
    keep = [member for member in members if _key(member, getattr(obj, member)) not in documented]
    for member in keep:
        documented[_key(member, getattr(obj, member))] = f"{real}.{member}"
    # an empty :members: option would mean every member
    option = f":members: {', '.join(keep)}" if keep else ":no-members:"
    return _heading(f"{package}.{name}", "~") + f"\n.. automodule:: {real}\n   {option}\n"


def api_source() -> dict[str, str]:
    """Package name → its generated page, for every documented package."""
    documented: dict[tuple[str, int], str] = {}
    return {package: page(package, documented) for package in all_packages()}


def write_pages(app: Any) -> None:
    """Write the pages into ``docs/api/`` when the build starts (unchanged files are kept)."""
    out = Path(app.srcdir) / OUT_DIR
    out.mkdir(exist_ok=True)
    pages = api_source()
    for package, text in pages.items():
        path = out / f"{package}.rst"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for stale in out.glob("*.rst"):
        if stale.stem not in pages:
            stale.unlink()


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point."""
    app.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
