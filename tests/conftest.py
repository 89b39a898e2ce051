"""Shared fixtures: seeding, devices (CPU always, CUDA when present)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
# `make test` and CI replay the same examples on every run (derandomized): red then means a
# change broke a law, not that a new random example was drawn; a plain `pytest` keeps exploring.
settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    derandomize=True,
    database=None,
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)

# under pytest-xdist the workers share the cores: torch's pools per worker would oversubscribe
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, (_cores or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

CUDA = torch.cuda.is_available()
# the CUDA instances carry the gpu mark, so `pytest -m gpu` (benchmarks/gpu_check.sh) runs them
DEVICES = ["cpu"] + ([pytest.param("cuda", marks=pytest.mark.gpu)] if CUDA else [])


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` when CUDA is not available."""
    if CUDA:
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# Folders of many tiny runs: one intra-op thread there, since a thread pool's wake-ups dominate
# small products on a small shared CPU (one fixture: conftest.py files of the same basename
# in folders without __init__.py collide under pytest's default import mode).
_ONE_THREAD = ("tests/gan/", "tests/divergences/testing/")


@pytest.fixture(autouse=True)
def _one_thread(request):
    path = str(request.node.path).replace(os.sep, "/")
    if not any(folder in path for folder in _ONE_THREAD):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def _in_tmp(tmp_path, monkeypatch):
    """Run in a fresh folder with one torch thread (the pages' commands write files)."""
    monkeypatch.chdir(tmp_path)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(n)
