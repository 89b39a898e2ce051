"""Run directories: one run per folder, never overwritten silently.

A run directory holds ``config.json`` (the resolved configuration), ``checkpoint.pt`` (the
latest good checkpoint), ``log.jsonl`` (training and evaluation records), ``evaluation.json``
(the final evaluation) and PNG plots.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from gan.config import TrainConfig

__all__ = ["RUN_FILES", "default_run_dir", "is_run_dir", "prepare_run_dir", "read_config"]

CONFIG, CHECKPOINT, LOG, EVALUATION = "config.json", "checkpoint.pt", "log.jsonl", "evaluation.json"
RUN_FILES = (CONFIG, CHECKPOINT, LOG, EVALUATION, "samples.png", "curves.png", "tensorboard")


def default_run_dir(cfg: TrainConfig) -> Path:
    """``runs/<data>-<loss>-<YYYYmmdd-HHMMSS>`` with a numeric suffix if it already exists."""
    stem = Path(cfg.data).stem if os.sep in cfg.data or "." in cfg.data else cfg.data
    base = Path("runs") / f"{stem}-{cfg.loss}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def is_run_dir(path: str | Path) -> bool:
    """True if ``path`` holds a run (a ``config.json`` or a checkpoint)."""
    path = Path(path)
    return (path / CONFIG).is_file() or (path / CHECKPOINT).is_file()


def read_config(path: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` stored in a run directory."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise ValueError(f"{str(path)!r} is not a run directory (no {CONFIG})")
    with (path / CONFIG).open() as fh:
        return TrainConfig(**json.load(fh))


def prepare_run_dir(path: Path, cfg: TrainConfig, *, resume: bool, overwrite: bool) -> bool:
    """Create or check the run directory; return True if training resumes from a checkpoint.

    * a new or empty folder: a fresh run;
    * a folder holding a run: refused unless ``resume`` (same configuration, continue from
      its checkpoint) or ``overwrite`` (its run files are deleted first);
    * a non-empty folder that is not a run: refused unless ``overwrite``.
    """
    if resume and overwrite:
        raise ValueError("choose one of resume and overwrite, not both")
    if path.exists() and not path.is_dir():
        raise ValueError(f"output {str(path)!r} exists and is not a directory")
    has_run = path.is_dir() and is_run_dir(path)
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
    if path.is_dir() and any(path.iterdir()) and not has_run and not overwrite:
        raise ValueError(
            f"output directory {str(path)!r} is not empty and holds no run; choose another "
            "--out or pass --overwrite"
        )
    if overwrite:
        for name in RUN_FILES:
            p = path / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return False


def write_config(path: Path, cfg: TrainConfig) -> None:
    """Write ``config.json`` (atomically) into the run directory."""
    tmp = path / f".{CONFIG}.tmp"
    tmp.write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    os.replace(tmp, path / CONFIG)
