"""The layering (gan → metrics → divergences, never back) and the literal ``__all__`` lists."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["divergences", "metrics", "gan"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_importable_and_unique(name):
    mod = importlib.import_module(name)
    assert len(set(mod.__all__)) == len(mod.__all__), "duplicates in __all__"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


@pytest.mark.parametrize(
    "name, forbidden",
    [("divergences", ["metrics", "gan"]), ("metrics", ["gan"])],
)
def test_dependency_direction(name, forbidden):
    code = (
        f"import sys, {name}\n"
        f"bad = [m for m in {forbidden!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_divergences_does_not_import_torch_distributed_eagerly():
    code = (
        "import sys, divergences\nimport divergences as d\nassert 'matplotlib' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_transport_names_and_subpackage():
    """``divergences.transport`` is the function; its subpackage's modules stay importable."""
    import divergences as dv
    from divergences.transport import ot, plans, wasserstein

    expected = {
        "transport",
        "Transport",
        "TransportPlan",
        "SparsePlan",
        "EntropicPlan",
        "unbalanced_sinkhorn_divergence",
        "wasserstein",
        "sinkhorn_divergence",
    }
    assert expected <= set(dv.__all__)
    assert dv.transport is ot.transport and dv.SparsePlan is plans.SparsePlan
    assert dv.wasserstein is wasserstein
