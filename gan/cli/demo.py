"""``divergences demo``: train the default preset into a fresh run and print its evaluation."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["DEMO_PRESET", "add_parser", "run"]

DEMO_PRESET = "ring8"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Mount ``demo`` and its options."""
    demo = sub.add_parser("demo", help="train the default preset and print its evaluation")
    demo.add_argument("--out", default=None, help="run directory (default runs/demo-<time>)")
    demo.add_argument("--steps", type=int, default=None, help="override the preset's steps")


def run(args: argparse.Namespace) -> int:
    """Run ``demo`` with parsed arguments; the exit status."""
    from gan.cli.train import run_and_report
    from gan.config import resolve_config

    out = args.out or str(Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}")
    overrides = {"data": DEMO_PRESET, "out": out}
    if args.steps is not None:
        overrides["steps"] = args.steps
    return run_and_report(resolve_config(overrides))
