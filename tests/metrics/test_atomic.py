"""The one writer (metrics.io.atomic): modes from the umask, and no orphan temporaries."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.io import atomic as _atomic
from metrics.io.atomic import (
    append_text,
    atomic_open,
    check_writable,
    stale_temporaries,
    write_atomic,
)

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


@settings(max_examples=30)
@given(mask=st.integers(0, 0o777))
def test_every_write_gets_the_umask_mode(mask):
    # the law: whatever writes it (new, replaced, refused-clobber path, appended), a file the
    # project writes has the mode open(path, "w") would give it
    with tempfile.TemporaryDirectory() as d, umask(mask):
        d = Path(d)
        os.chmod(d, 0o700)  # the umask may forbid even listing the folder
        want = 0o666 & ~mask
        write_atomic(d / "new.json", "{}", overwrite=False)
        (d / "old.pt").write_bytes(b"old")
        os.chmod(d / "old.pt", 0o600 if want != 0o600 else 0o644)
        with atomic_open(d / "old.pt") as fh:
            fh.write(b"new")
        append_text(d / "log.jsonl", "{}\n")
        modes = {p.name: _mode(p) for p in d.iterdir()}
        assert modes == {"new.json": want, "old.pt": want, "log.jsonl": want}


@pytest.mark.parametrize("mask, want", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_modes_of_the_usual_umasks(tmp_path, mask, want):
    with umask(mask):
        write_atomic(tmp_path / "a.npz", b"x")
    assert _mode(tmp_path / "a.npz") == want


def _tag(pid: int, host: str | None = None) -> str:
    return f"{pid}-{host or _atomic._HOST}"


def test_temporaries_of_dead_writers_go_live_ones_stay(tmp_path):
    # a temporary is an orphan once its writer is gone; a live writer's is never touched,
    # whatever its age; another host's only once untouched for a day; foreign names never
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".out.npz.{_tag(sleeper.pid)}.abc123de.tmp"
        old_live = tmp_path / f".out.npz.{_tag(os.getpid())}.zz99zz99.tmp"
        foreign = tmp_path / f".out.npz.{_tag(12, '0badc0de')}.k3k3k3k3.tmp"
        foreign_old = tmp_path / f".out.npz.{_tag(13, '0badc0de')}.k4k4k4k4.tmp"
        legacy = tmp_path / ".out.npz.k3x9ab12.tmp"  # an untagged writer's (older versions)
        others = (".other.tmp", "out.npz.tmp", ".out.npz.bak", ".out.tmp", "out.npz",
                  f".out.npz.x.npz.{_tag(1)}.abcdefgh.tmp")  # fmt: skip
        mine = [tmp_path / n for n in others]
        for p in [live, old_live, foreign, foreign_old, legacy, *mine]:
            p.write_bytes(b"half")
        day = time.time() - _atomic.FOREIGN_TEMP_AGE_S - 60
        os.utime(foreign_old, (day, day))
        os.utime(old_live, (day, day))
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        dead_tmp = tmp_path / f".out.npz.{_tag(int(dead.stdout))}.qwertyui.tmp"
        dead_tmp.write_bytes(b"half")
        assert stale_temporaries(tmp_path, ("out.npz",)) == sorted([foreign_old, legacy, dead_tmp])
        check_writable(tmp_path / "out.npz", overwrite=True)  # what every writer does first
        left = set(tmp_path.iterdir())
        assert left == {live, old_live, foreign, *mine}
        sleeper.kill()
        sleeper.wait()
        write_atomic(tmp_path / "out.npz", b"new")
        assert set(tmp_path.iterdir()) == {old_live, foreign, *mine}
    finally:
        sleeper.kill()
        sleeper.wait()


# the module alone (stdlib only), not the metrics package: no torch import in the child
KILLED_WRITER = """
import importlib.util, os, signal, sys
spec = importlib.util.spec_from_file_location("_atomic", sys.argv[2])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
with mod.atomic_open(sys.argv[1]) as fh:
    fh.write(b"half of it")
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_writer_killed_mid_write_leaves_an_orphan_the_next_write_removes(tmp_path):
    target = tmp_path / "ref.npz"
    module = ROOT / "metrics" / "io" / "atomic.py"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target), str(module)])
    assert proc.returncode == -9
    (orphan,) = tmp_path.iterdir()
    assert orphan.name.startswith(".ref.npz.") and orphan.read_bytes() == b"half of it"
    target.write_bytes(b"mine")
    with pytest.raises(ValueError, match="exists"):
        check_writable(target, overwrite=False)  # even a refused write cleans up first
    assert set(tmp_path.iterdir()) == {target}
