"""The ``divergences`` command-line tool.

Subcommands::

    divergences demo                                   # default preset, fresh runs/demo-<time>
    divergences train --data grid25 --loss ns --steps 20000 --out runs/x [--config f.toml]
                      [--resume | --overwrite] [--<option> value ...]
    divergences sample RUN -n 10000 -o fake.npy [--rejection]
    divergences evaluate RUN [-n 2500] [--rejection]   # a run's evaluation table
    divergences evaluate REAL FAKE [...]               # two sample files, through metrics
    divergences distance A B [--metrics chamfer,mmd2]  # set distances of the core

Every :class:`gan.config.TrainConfig` field is an option of ``train`` (``--lr-d 2e-4``,
``--spectral-norm`` / ``--no-spectral-norm``); the data set's preset comes first, then
``--config``, then the command line. Under ``torchrun`` ``train`` runs data-parallel.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["DEMO_PRESET", "DISTANCES", "main"]

DEMO_PRESET = "ring8"
DISTANCES = ("chamfer", "hausdorff", "nearest_pair_distance", "mmd2", "energy_distance",
             "wasserstein")  # fmt: skip


def _add_config_options(p: argparse.ArgumentParser) -> None:
    from gan.config import TrainConfig, field_types

    defaults = TrainConfig()
    for name, kind in field_types().items():
        flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
        help_ = f"(default {getattr(defaults, name)!r}, or the data set's preset)"
        if kind is bool:
            p.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction,
                           default=None, help=help_)  # fmt: skip
        else:
            p.add_argument(*flags, dest=name, type=kind, default=None, help=help_)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="divergences", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the default preset and print its evaluation")
    demo.add_argument("--out", default=None, help="run directory (default runs/demo-<time>)")
    demo.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    tr = sub.add_parser("train", help="train a GAN")
    tr.add_argument("--config", default=None, help="TOML file of options")
    mode = tr.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in --out")
    mode.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    _add_config_options(tr)
    sa = sub.add_parser("sample", help="draw samples from a run")
    sa.add_argument("run")
    sa.add_argument("-n", type=int, default=10000)
    sa.add_argument("-o", "--output", required=True, help=".npy or .pt file to write")
    sa.add_argument("--rejection", action="store_true", help="discriminator rejection sampling")
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--device", default="cpu")
    ev = sub.add_parser("evaluate", help="evaluate a run, or two sample files")
    ev.add_argument("paths", nargs="+", help="RUN, or REAL FAKE")
    ev.add_argument("-n", type=int, default=2500, help="generated samples (RUN form)")
    ev.add_argument("--rejection", action="store_true", help="also with rejection sampling")
    ev.add_argument("--seed", type=int, default=0)
    di = sub.add_parser("distance", help="set distances between two sample files")
    di.add_argument("a")
    di.add_argument("b")
    di.add_argument("--metrics", default=",".join(DISTANCES), help="comma-separated names")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``divergences`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["evaluate"] and len(argv) > 1 and not argv[1].startswith("-"):
        from gan.rundir import is_run_dir

        if not is_run_dir(argv[1]):  # REAL FAKE [options]: the metrics package's evaluation
            return _evaluate_files(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return {"demo": _demo, "train": _train, "sample": _sample, "evaluate": _evaluate_run,
                "distance": _distance}[args.command](args)  # fmt: skip
    except ValueError as exc:  # bad input: a clear message, no traceback
        print(f"divergences {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _run_and_report(cfg, *, resume: bool = False, overwrite: bool = False) -> int:
    from gan.evaluation import format_table
    from gan.training_loop import train

    t0 = time.perf_counter()
    res = train(cfg, resume=resume, overwrite=overwrite)
    if res.evaluation:
        took = time.perf_counter() - t0
        ms = 1000 * res.seconds_per_step
        print(f"\n{cfg.data} / {cfg.loss}: {res.step} steps in {took:.0f} s ({ms:.1f} ms/step), "
              f"run directory {res.run_dir}")  # fmt: skip
        print(format_table(res.evaluation))
    return 0


def _demo(args) -> int:
    from gan.config import resolve_config

    out = args.out or str(Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}")
    overrides = {"data": DEMO_PRESET, "out": out}
    if args.steps is not None:
        overrides["steps"] = args.steps
    return _run_and_report(resolve_config(overrides))


def _train(args) -> int:
    from gan.config import field_types, resolve_config

    overrides = {k: getattr(args, k) for k in field_types() if getattr(args, k) is not None}
    cfg = resolve_config(overrides, config_file=args.config)
    if args.resume and not cfg.out:
        raise ValueError("--resume needs --out RUN_DIR")
    return _run_and_report(cfg, resume=args.resume, overwrite=args.overwrite)


def _sample(args) -> int:
    import torch

    from gan.sampling import sample_run

    out = Path(args.output)
    if out.suffix not in (".npy", ".pt"):
        raise ValueError(f"output must end in .npy or .pt, got {str(out)!r}")
    if out.exists():
        raise ValueError(f"output {str(out)!r} exists; choose another name")
    x, drs = sample_run(args.run, args.n, rejection=args.rejection, seed=args.seed,
                        device=args.device)  # fmt: skip
    if out.suffix == ".npy":
        np.save(out, x.cpu().numpy())
    else:
        torch.save(x.cpu(), out)
    msg = f"wrote {len(x)} samples of shape {tuple(x.shape[1:])} to {out}"
    if drs is not None:
        msg += f" (rejection sampling, acceptance rate {drs.acceptance_rate:.3f})"
    print(msg)
    return 0


def _evaluate_run(args) -> int:
    import torch

    from gan.evaluation import evaluate_generator, format_table
    from gan.sampling import load_run

    if len(args.paths) != 1:
        raise ValueError("evaluate takes RUN, or REAL FAKE")
    cfg, g, d, data = load_run(args.paths[0])
    if cfg.pac > 1:
        from gan.models import build_models

        d = build_models(cfg.replace(pac=1), data.shape)[1]
    gen = torch.Generator().manual_seed(args.seed)
    res = evaluate_generator(g, d, data, n=args.n, z_dim=cfg.z_dim, generator=gen,
                             rejection=args.rejection)  # fmt: skip
    print(format_table(res))
    return 0


def _evaluate_files(argv: list[str]) -> int:
    from metrics import cli_evaluate

    try:
        return int(cli_evaluate(argv) or 0)
    except ValueError as exc:
        print(f"divergences evaluate: error: {exc}", file=sys.stderr)
        return 2


def _distance(args) -> int:
    import divergences
    from gan.data import load_array

    a, b = load_array(args.a).double(), load_array(args.b).double()
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    rows = [("distance", "value")]
    for name in names:
        fn = getattr(divergences, name, None)
        if name not in DISTANCES:
            raise ValueError(f"unknown distance {name!r}; valid: {', '.join(DISTANCES)}")
        if fn is None:
            rows.append((name, "not available in this version"))
            continue
        label, kwargs = name, {}
        exact_ot = a.shape[1] == 1 or (len(a) == len(b) <= 2048)
        if name == "wasserstein" and not exact_ot:  # no exact solver: the sliced distance
            label, kwargs = "wasserstein (sliced, 128 projections)", {"method": "sliced"}
        try:
            value = fn(a.numpy(), b.numpy(), **kwargs)
            rows.append((label, f"{float(value):.6g}"))
        except (ValueError, TypeError) as exc:
            rows.append((name, f"error: {exc}"))
    width = max(len(r[0]) for r in rows)
    print(f"{args.a} vs {args.b}: {len(a)} and {len(b)} samples of dimension {a.shape[1]}")
    for r in rows:
        print(f"{r[0].ljust(width)}  {r[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
