"""Run directories: one run per folder, never overwritten silently, nothing a user keeps lost.

A run directory holds ``config.json`` (the resolved configuration), ``checkpoint.pt`` (the
latest good checkpoint), ``log.jsonl`` (training and evaluation records), ``evaluation.json``
(the final evaluation), PNG plots and, if asked, ``tensorboard/``. Every file is written
atomically. Starting a run happens in two steps so that a refused or failed start changes
nothing: :func:`check_run_dir` only decides, :func:`commit_run_dir` (called once the models
and the checkpoint have loaded) deletes, truncates and writes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gan.config import RESUMABLE_FIELDS, TrainConfig
from metrics.io.atomic import stale_temporaries, write_atomic

__all__ = [
    "BEST",
    "RUN_FILES",
    "check_run_dir",
    "commit_run_dir",
    "default_run_dir",
    "is_run_dir",
    "read_config",
    "resume_config",
    "truncate_log",
    "write_config",
]

CONFIG, CHECKPOINT, LOG, EVALUATION = "config.json", "checkpoint.pt", "log.jsonl", "evaluation.json"
BEST = "best.pt"  # the watchdog's best evaluation (a full checkpoint)
#: Everything a run writes; ``--overwrite`` deletes these and nothing else.
RUN_FILES = (CONFIG, CHECKPOINT, LOG, EVALUATION, "samples.png", "curves.png", "tensorboard",
             BEST, "classes.png", "grids")  # fmt: skip
_CONFIG_KEYS = ("data", "loss", "steps", "seed")  # a config.json of ours holds these


def default_run_dir(cfg: TrainConfig) -> Path:
    """``runs/<data>-<loss>-<YYYYmmdd-HHMMSS>`` with a numeric suffix if it already exists."""
    stem = Path(cfg.data).stem if os.sep in cfg.data or "." in cfg.data else cfg.data
    base = Path("runs") / f"{stem}-{cfg.loss}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def _our_config(path: Path) -> bool:
    try:
        obj = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(obj, dict) and all(k in obj for k in _CONFIG_KEYS)


def is_run_dir(path: str | Path) -> bool:
    """True if ``path`` holds a run: a ``checkpoint.pt``, or a ``config.json`` of ours."""
    path = Path(path)
    return path.is_dir() and ((path / CHECKPOINT).is_file() or _our_config(path))


def read_config(path: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` stored in a run directory.

    Raises:
        ValueError: ``path`` holds no ``config.json``, or one that is not a valid configuration.
    """
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise ValueError(f"{str(path)!r} is not a run directory (no {CONFIG})")
    try:
        raw = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path / CONFIG} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path / CONFIG} must hold a JSON object")
    try:
        return TrainConfig(**raw)
    except TypeError as exc:
        raise ValueError(f"{path / CONFIG} is not a training configuration ({exc})") from None


def resume_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The configuration a resumed run continues with: the run's own, plus ``overrides``.

    Only :data:`gan.config.RESUMABLE_FIELDS` (the number of steps, logging, evaluation and
    checkpoint frequencies, and other I/O options) may change; an override of any other field
    that differs from the run's value is refused. Overrides equal to the run's values are
    accepted, so repeating the original command line with ``--resume`` works too.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> run = Path(tempfile.mkdtemp())
        >>> write_config(run, TrainConfig(data="grid25", steps=100))
        >>> resume_config(run, {"steps": 200}).steps
        200
        >>> resume_config(run, {"loss": "hinge"})
        Traceback (most recent call last):
        ...
        ValueError: cannot change loss (the run has 'ns', asked 'hinge') when resuming; ...
    """
    path = Path(path)
    saved = read_config(path)
    unknown = sorted(set(overrides or {}) - {f for f in saved.to_dict() if f != "extra"})
    if unknown:
        raise ValueError(f"unknown options {unknown}; see TrainConfig for the valid ones")
    changes = {k: v for k, v in dict(overrides or {}).items() if getattr(saved, k) != v}
    fixed = {k: v for k, v in changes.items() if k not in RESUMABLE_FIELDS}
    if fixed:
        pretty = ", ".join(f"{k} (the run has {getattr(saved, k)!r}, asked {v!r})"
                           for k, v in fixed.items())  # fmt: skip
        raise ValueError(
            f"cannot change {pretty} when resuming; options that may change: "
            f"{', '.join(sorted(RESUMABLE_FIELDS - {'out'}))}"
        )
    return saved.replace(**{**changes, "out": str(path)})


def _contents(path: Path) -> list[Path]:
    stale = set(stale_temporaries(path, RUN_FILES))
    return [p for p in path.iterdir() if p not in stale] if path.is_dir() else []


def check_run_dir(path: Path, cfg: TrainConfig, *, resume: bool, overwrite: bool) -> bool:
    """Decide whether a run may start in ``path`` (nothing is changed); True if it resumes.

    * a new or empty folder: a fresh run;
    * a folder holding a run: refused unless ``resume`` (same configuration up to
      :data:`gan.config.RESUMABLE_FIELDS`, continue from its checkpoint) or ``overwrite``
      (its run files are deleted by :func:`commit_run_dir`; other files stay);
    * a non-empty folder that is not a run: always refused (``overwrite`` only replaces runs).

    Raises:
        ValueError: the run may not start there; the message says why and what to pass.
    """
    if resume and overwrite:
        raise ValueError("choose one of resume and overwrite, not both")
    if path.exists() and not path.is_dir():
        raise ValueError(f"output {str(path)!r} exists and is not a directory")
    has_run = is_run_dir(path)
    if resume:
        if not (path / CHECKPOINT).is_file():
            raise ValueError(f"cannot resume: {str(path)!r} holds no {CHECKPOINT}")
        saved = read_config(path)
        diff = cfg.differences(saved)
        if diff:
            pretty = ", ".join(f"{k}: run has {b!r}, asked {a!r}" for k, (a, b) in diff.items())
            raise ValueError(f"cannot resume {path}: the configuration differs ({pretty})")
        return True
    if has_run and not overwrite:
        raise ValueError(
            f"output directory {str(path)!r} holds another run; pass --resume to continue it "
            "or --overwrite to replace it"
        )
    if not has_run and _contents(path):
        raise ValueError(
            f"output directory {str(path)!r} is not empty and holds no run; choose another "
            "--out (--overwrite only replaces a run)"
        )
    return False


def commit_run_dir(
    path: Path, cfg: TrainConfig, *, resume: bool, overwrite: bool, step: int = 0
) -> None:
    """Make ``path`` ready after :func:`check_run_dir` agreed and the checkpoint loaded.

    Removes the temporaries of a killed writer; with ``overwrite`` deletes the run files
    (:data:`RUN_FILES`) and nothing else; when resuming at ``step`` truncates ``log.jsonl``
    to the records up to ``step`` and removes ``evaluation.json`` (it described another
    step); finally writes ``config.json``.
    """
    path.mkdir(parents=True, exist_ok=True)
    for tmp in stale_temporaries(path, RUN_FILES):
        tmp.unlink(missing_ok=True)
    if overwrite and not resume:
        for name in RUN_FILES:
            p = path / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
    if resume:
        truncate_log(path / LOG, step)
        (path / EVALUATION).unlink(missing_ok=True)
    write_config(path, cfg)


def truncate_log(path: Path, step: int) -> None:
    """Keep the records of a JSONL log up to ``step`` (atomically), dropping the rest.

    Records past ``step`` were written after the checkpoint the run resumes from; a line cut
    short by a kill is dropped too. Untouched if nothing needs dropping.
    """
    if not path.is_file():
        return
    lines = path.read_text(errors="replace").splitlines(keepends=True)
    keep = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= step:
            keep.append(line if line.endswith("\n") else line + "\n")
    if len(keep) != len(lines) or any(not x.endswith("\n") for x in lines):
        write_atomic(path, "".join(keep), what="log")


def write_config(path: Path, cfg: TrainConfig) -> None:
    """Write ``config.json`` (atomically) into the run directory."""
    write_atomic(Path(path) / CONFIG, json.dumps(cfg.to_dict(), indent=2) + "\n", what="config")
