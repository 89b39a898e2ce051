"""``divergences train``: train a GAN into a run directory, or continue one (``--resume``)."""

from __future__ import annotations

import argparse
import time

__all__ = ["add_parser", "run", "run_and_report"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Mount ``train`` and its options (every :class:`gan.config.TrainConfig` field)."""
    from gan.train_options import add_train_options

    tr = sub.add_parser(
        "train",
        help="train a GAN, or continue one (--resume)",
        description="Train a GAN into a run directory, then evaluate it. A data set with a "
        "preset (gan/presets/DATA.toml) starts from it; the defaults shown apply otherwise. "
        "Precedence: defaults < preset < --config file < options given here.",
    )
    tr.add_argument("--config", default=None, help="TOML file of options")
    tr.add_argument("--preset", default=None, help="a bundled preset (gan/presets/NAME.toml) "
                    "in place of the data set's own, e.g. cifar10 for an image folder")  # fmt: skip
    mode = tr.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in --out with its own configuration; only steps "
                           "and I/O options may be given")  # fmt: skip
    mode.add_argument("--overwrite", action="store_true",
                      help="replace the run in --out (deletes only its run files)")  # fmt: skip
    add_train_options(tr)


def run_and_report(cfg, *, resume: bool = False, overwrite: bool = False) -> int:
    """Train ``cfg`` and print its evaluation table; the exit status."""
    from gan.evaluation import format_table
    from gan.training import train

    t0 = time.perf_counter()
    res = train(cfg, resume=resume, overwrite=overwrite)
    if res.evaluation:
        took = time.perf_counter() - t0
        ms = 1000 * res.seconds_per_step
        print(f"\n{cfg.data} / {cfg.loss}: {res.step} steps in {took:.0f} s ({ms:.1f} ms/step), "
              f"run directory {res.run_dir}")  # fmt: skip
        print(format_table(res.evaluation))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``train`` with parsed arguments; the exit status."""
    from gan.config import field_types, load_toml, resolve_config
    from gan.rundir import resume_config

    overrides = {k: getattr(args, k) for k in field_types() if getattr(args, k) is not None}
    if args.preset is not None and args.resume:
        raise ValueError("--preset starts a new run; a resumed run keeps its own configuration")
    if args.preset is not None:
        return run_and_report(_preset_config(args, overrides), overwrite=args.overwrite)
    if not args.resume:
        cfg = resolve_config(overrides, config_file=args.config)
        return run_and_report(cfg, overwrite=args.overwrite)
    if not overrides.get("out"):
        raise ValueError("--resume needs --out RUN_DIR (the run to continue)")
    from_file = load_toml(args.config) if args.config is not None else {}
    cfg = resume_config(overrides["out"], {**from_file, **overrides})
    return run_and_report(cfg, resume=True)


def _preset_config(args: argparse.Namespace, overrides: dict):
    """Defaults < the named preset < ``--config`` < the command line (no data set preset)."""
    from gan.config import PRESET_DIR, TrainConfig, load_toml, merge_layers, preset_names

    if args.preset not in preset_names():
        raise ValueError(f"unknown preset {args.preset!r}; presets: {', '.join(preset_names())}")
    from_file = load_toml(args.config) if args.config is not None else {}
    merged = merge_layers(load_toml(PRESET_DIR / f"{args.preset}.toml"), from_file, overrides)
    if "data" not in merged:
        raise ValueError(f"--preset {args.preset} needs --data (the image folder or file to "
                         "train on)")  # fmt: skip
    return TrainConfig(**merged)
