"""The ``divergences`` command-line tool.

Subcommands::

    divergences demo                                   # default preset, fresh runs/demo-<time>
    divergences train --data grid25 --loss ns --steps 20000 --out runs/x [--config f.toml]
                      [--overwrite] [--<option> value ...]
    divergences train --out runs/x --resume [--steps 40000]   # continue with its own config
    divergences train --data path/to/train --preset cifar10   # a preset for any data
    divergences sample RUN -n 10000 -o fake.npy [--rejection] [--label K] [--checkpoint last]
    divergences evaluate RUN [-n 2500] [--rejection] [--json out.json] [--checkpoint last]
    divergences evaluate REAL FAKE [--metrics fid,kid] [--json out.json]
                      [--features inception [--resize pytorch-fid|clean]]
    divergences stats FOLDER -o ref.npz [--features inception] [...]   # reference statistics
    divergences weights fetch inception [--url URL] [--cache-dir DIR] [--quiet]
    divergences weights path inception                 # where the cached file is
    divergences data fetch fashion-mnist [--root DIR]  # IDX files, checked against their MD5s
    divergences data path fashion-mnist                # where the files are read from
    divergences distance A B [--metrics chamfer,mmd2]  # set distances of the core
    divergences test REAL FAKE [--statistic mmd] [--permutations 1000] [--alpha 0.05]
    divergences --version

Every :class:`gan.config.TrainConfig` field is an option of ``train`` (``--lr-d 2e-4``,
``--spectral-norm`` / ``--no-spectral-norm``); the data set's preset comes first, then
``--config``, then the command line. With ``--resume`` the run's own ``config.json`` comes
first and only the options that may change mid-run may differ from it. ``--preset NAME``
applies a bundled preset in place of the data set's own (``--data`` then says what to train
on). Under ``torchrun`` ``train`` runs data-parallel. ``sample`` and ``evaluate`` load the
run's ``best.pt`` when the watchdog kept one (``--checkpoint last`` for ``checkpoint.pt``).

``test`` exits with 0 when the two-sample test does not reject, 1 when it rejects.
A user's mistake (a missing or unreadable file, a bad option value, a refused overwrite)
ends with exit status 2 and one line on stderr naming the problem, never a traceback; a
warning (JPEG inputs, skipped images, unverified weights) is one line too. No
file is replaced unless ``--overwrite`` says so, and every file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["DEMO_PRESET", "DISTANCES", "main", "version"]

DEMO_PRESET = "ring8"
DISTANCES = ("chamfer", "hausdorff", "nearest_pair_distance", "mmd2", "energy_distance",
             "wasserstein")  # fmt: skip
_FILES_FORM = ("metrics", "features", "num_samples", "batch_size", "progress", "image_size",
               "resize", "workers", "no_cache", "no_check_hash", "precision",
               "data_root")  # fmt: skip
_RUN_FORM = ("n", "rejection", "seed", "checkpoint")


def version() -> str:
    """The installed package's version.

    Read from its metadata, which pyproject.toml takes from ``divergences.__version__``.
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("divergences")
    except PackageNotFoundError:  # running from a source tree that is not installed
        import divergences

        return divergences.__version__


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``prog: error: message (see prog --help)``, status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} -h)\n")


def _parser() -> argparse.ArgumentParser:
    from metrics.cli import add_cli_arguments

    p = _Parser(prog="divergences", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"divergences {version()}")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the default preset and print its evaluation")
    demo.add_argument("--out", default=None, help="run directory (default runs/demo-<time>)")
    demo.add_argument("--steps", type=int, default=None, help="override the preset's steps")
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
    from gan.train_options import add_train_options

    add_train_options(tr)
    sa = sub.add_parser("sample", help="draw samples from a run")
    sa.add_argument("run")
    sa.add_argument("-n", type=int, default=10000)
    sa.add_argument("-o", "--output", required=True, help="new .npy or .pt file to write")
    sa.add_argument("--overwrite", action="store_true", help="let -o replace an existing file")
    sa.add_argument("--rejection", action="store_true", help="discriminator rejection sampling")
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--device", default="cpu")
    sa.add_argument("--label", type=int, default=None, help="class K only (conditional runs; "
                    "default: the classes in proportion to the data)")  # fmt: skip
    sa.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="best.pt when the run has one (default), or the last checkpoint",
    )
    ev = sub.add_parser(
        "evaluate",
        help="evaluate a run, or two sample files",
        usage="divergences evaluate [options] RUN\n       divergences evaluate [options] REAL FAKE",
        description="Evaluate a run (one path: its generator against its data set), or "
        "generated samples against real ones (two paths: .npy/.npz/.pt files or image "
        "folders, through the metrics package).",
    )
    ev.add_argument("paths", nargs="+", metavar="RUN | REAL FAKE", help="a run directory, or "
                    "the real and generated samples")  # fmt: skip
    both = ev.add_argument_group("both forms")
    both.add_argument("--json", default=None, help="also write the result to this new file")
    both.add_argument("--overwrite", action="store_true", help="let --json replace a file")
    both.add_argument("--device", default=None, help="cpu or cuda (RUN: cpu; files: cuda if "
                      "present)")  # fmt: skip
    run_form = ev.add_argument_group("RUN form")
    run_form.add_argument("-n", type=int, default=None, help="generated samples (2500)")
    run_form.add_argument("--rejection", action="store_true", default=None,
                          help="also with rejection sampling")  # fmt: skip
    run_form.add_argument("--seed", type=int, default=None, help="sampling seed (0)")
    run_form.add_argument("--checkpoint", choices=("best", "last"), default=None,
                          help="best.pt when the run has one (default), or the last")  # fmt: skip
    add_cli_arguments(ev.add_argument_group("REAL FAKE form"))
    # parsed by metrics' own command lines (main() hands them their arguments); listed for --help
    sub.add_parser("stats", add_help=False, help="reference statistics of a folder: "
                   "stats FOLDER -o ref.npz (see divergences stats -h)")  # fmt: skip
    sub.add_parser("weights", add_help=False, help="fetch or locate network weights: weights "
                   "fetch inception | weights path inception")  # fmt: skip
    sub.add_parser("data", add_help=False, help="fetch or locate a standard data set: data "
                   "fetch fashion-mnist|mnist | data path fashion-mnist")  # fmt: skip
    di = sub.add_parser("distance", help="set distances between two sample files")
    di.add_argument("a")
    di.add_argument("b")
    di.add_argument("--metrics", default=",".join(DISTANCES), help="comma-separated names")
    te = sub.add_parser("test", help="two-sample permutation test between two sample files "
                        "(exit 0: not rejected, 1: rejected)")  # fmt: skip
    te.add_argument("real")
    te.add_argument("fake")
    te.add_argument("--statistic", default="mmd", help="mmd (default), energy, mmd-agg, "
                    "mmd-fuse, knn, chamfer, wasserstein or c2st")  # fmt: skip
    te.add_argument("--permutations", type=int, default=1000, help="random relabellings (1000)")
    te.add_argument("--alpha", type=float, default=0.05, help="level of the test (0.05)")
    te.add_argument("--seed", type=int, default=0, help="seed of the relabellings (0)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``divergences`` console script; returns the exit status.

    0 on success, 1 when ``distance`` computed some metrics but others failed or when
    ``test`` rejects, 2 for a user's mistake (one line on stderr), 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        return _guarded(argv[0], _DELEGATED[argv[0]], argv[1:])
    args = _parser().parse_args(argv)
    commands = {"demo": _demo, "train": _train, "sample": _sample, "evaluate": _evaluate,
                "distance": _distance, "test": _test}  # fmt: skip
    return _guarded(args.command, commands[args.command], args)


def _guarded(command: str, fn, arg) -> int:
    def one_line(message, category, filename, lineno, file=None, line=None) -> None:
        # a user reads "what and why", not our source line
        text = " ".join(str(message).split())
        print(f"divergences {command}: warning: {text}", file=sys.stderr if file is None else file)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            return fn(arg)
    except (ValueError, TypeError, OSError) as exc:  # bad input: one clear line, no traceback
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"divergences {command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"divergences {command}: interrupted", file=sys.stderr)
        return 130


def _stats(argv: list[str]) -> int:
    from metrics.reference import cli_stats

    return cli_stats(argv)


def _weights(argv: list[str]) -> int:
    from metrics.networks.weights import main as weights_main

    return weights_main(argv)


def _data(argv: list[str]) -> int:
    from metrics.datasets import main as data_main

    return data_main(argv)


_DELEGATED = {"stats": _stats, "weights": _weights, "data": _data}


def _run_and_report(cfg, *, resume: bool = False, overwrite: bool = False) -> int:
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


def _demo(args) -> int:
    from gan.config import resolve_config

    out = args.out or str(Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}")
    overrides = {"data": DEMO_PRESET, "out": out}
    if args.steps is not None:
        overrides["steps"] = args.steps
    return _run_and_report(resolve_config(overrides))


def _train(args) -> int:
    from gan.config import field_types, load_toml, resolve_config
    from gan.rundir import resume_config

    overrides = {k: getattr(args, k) for k in field_types() if getattr(args, k) is not None}
    if args.preset is not None and args.resume:
        raise ValueError("--preset starts a new run; a resumed run keeps its own configuration")
    if args.preset is not None:
        return _run_and_report(_preset_config(args, overrides), overwrite=args.overwrite)
    if not args.resume:
        cfg = resolve_config(overrides, config_file=args.config)
        return _run_and_report(cfg, overwrite=args.overwrite)
    if not overrides.get("out"):
        raise ValueError("--resume needs --out RUN_DIR (the run to continue)")
    from_file = load_toml(args.config) if args.config is not None else {}
    cfg = resume_config(overrides["out"], {**from_file, **overrides})
    return _run_and_report(cfg, resume=True)


def _preset_config(args, overrides: dict):
    """Defaults < the named preset < ``--config`` < the command line (no data set preset)."""
    from gan.config import PRESET_DIR, TrainConfig, load_toml, preset_names

    if args.preset not in preset_names():
        raise ValueError(f"unknown preset {args.preset!r}; presets: {', '.join(preset_names())}")
    merged = load_toml(PRESET_DIR / f"{args.preset}.toml")
    merged.update(load_toml(args.config) if args.config is not None else {})
    merged.update(overrides)
    if "data" not in merged:
        raise ValueError(f"--preset {args.preset} needs --data (the image folder or file to "
                         "train on)")  # fmt: skip
    return TrainConfig(**merged)


def _check_n(n: int, flag: str = "-n", minimum: int = 1) -> int:
    if n < minimum:
        raise ValueError(f"{flag} must be >= {minimum}, got {n}")
    return n


def _device(name: str) -> str:
    from metrics.cli import check_device

    check_device(name)
    return name


def _sample(args) -> int:
    import torch

    from gan.sampling import sample_run
    from metrics._atomic import atomic_open, check_writable

    out = Path(args.output)
    if out.suffix not in (".npy", ".pt"):
        raise ValueError(f"-o must end in .npy or .pt, got {str(out)!r}")
    check_writable(out, overwrite=args.overwrite, what="-o")  # before any work
    x, drs = sample_run(args.run, _check_n(args.n), rejection=args.rejection, seed=args.seed,
                        device=_device(args.device), label=args.label,
                        checkpoint=args.checkpoint)  # fmt: skip
    with atomic_open(out, overwrite=args.overwrite, what="-o") as fh:
        if out.suffix == ".npy":
            np.save(fh, x.cpu().numpy())
        else:
            torch.save(x.cpu(), fh)
    msg = f"wrote {len(x)} samples of shape {tuple(x.shape[1:])} to {out}"
    if args.label is not None:
        msg += f" (class {args.label})"
    if drs is not None:
        msg += f" (rejection sampling, acceptance rate {drs.acceptance_rate:.3f})"
    print(msg)
    return 0


def _evaluate(args) -> int:
    from gan.rundir import is_run_dir

    if len(args.paths) > 2:
        raise ValueError(f"evaluate takes RUN, or REAL FAKE; got {len(args.paths)} paths")
    if len(args.paths) == 1 and not is_run_dir(args.paths[0]):
        raise ValueError(f"{args.paths[0]!r} is not a run directory (no config.json or "
                         "checkpoint.pt); to compare two sample files give REAL FAKE")  # fmt: skip
    form, other = ("RUN", _FILES_FORM) if len(args.paths) == 1 else ("REAL FAKE", _RUN_FORM)
    given = [k for k in other if getattr(args, k) is not None]
    if given:
        flags = ", ".join("-n" if k == "n" else f"--{k.replace('_', '-')}" for k in given)
        raise ValueError(f"{flags} do(es) not apply to the {form} form of evaluate")
    if form == "REAL FAKE":
        from metrics.cli import run_cli

        print(run_cli(args.paths[0], args.paths[1], args).table())
        return 0
    return _evaluate_run(args)


def _evaluate_run(args) -> int:
    import torch

    from gan.evaluation import evaluate_generator, format_table, write_json
    from gan.sampling import load_run
    from metrics._atomic import check_writable

    if args.json:
        check_writable(args.json, overwrite=args.overwrite, what="--json")
    device = _device(args.device or "cpu")
    n = _check_n(2500 if args.n is None else args.n, minimum=2)
    cfg, g, d, data = load_run(args.paths[0], device=device, checkpoint=args.checkpoint or "best")
    k = data.n_classes
    if k and args.rejection:
        raise ValueError("--rejection is for unconditional runs only")
    if cfg.pac > 1 or k:  # the JS classifier is unconditional and unpacked: a fresh D
        from gan.models import build_models

        d = build_models(cfg.replace(pac=1), data.shape)[1].to(device)
    gen = torch.Generator(torch.device(device)).manual_seed(args.seed or 0)
    g_eval = g
    if k:
        from gan.conditional import MarginalGenerator

        g_eval = MarginalGenerator(g, data.class_counts(), seed=args.seed or 0)
    from gan.evaluation import fit_steps

    fresh = cfg.pac > 1 or bool(k)  # the training's evaluation policy, scaled to the run
    res = evaluate_generator(g_eval, d, data, n=n, z_dim=cfg.z_dim, generator=gen,
                             rejection=bool(args.rejection),
                             calibration_steps=fit_steps(cfg, cfg.fresh_final_js_steps if fresh
                                                         else cfg.final_js_steps),
                             drs_calibration_steps=fit_steps(cfg, cfg.fresh_drs_steps if fresh
                                                             else cfg.drs_steps),
                             batch_size=cfg.eval_batch_size)  # fmt: skip
    if k:
        from gan.conditional import evaluate_conditional

        res.update(evaluate_conditional(g, data, n=max(n, 2 * k), z_dim=cfg.z_dim,
                                        generator=gen))  # fmt: skip
    print(format_table(res))
    if args.json:
        write_json(args.json, res, overwrite=args.overwrite)
    return 0


def _load_pair(path_a: str, path_b: str):
    """Two sample files as float64 ``(N, D)`` tensors of one dimension, or a ValueError."""
    from gan.data import load_array

    arrays = []
    for path in (path_a, path_b):
        x = load_array(path)
        if x.ndim == 0 or x.shape[0] == 0 or x.numel() == 0:
            raise ValueError(f"{path} holds no samples (shape {tuple(x.shape)})")
        x = x.double().reshape(len(x), -1)
        if not bool(x.isfinite().all()):
            raise ValueError(f"{path} holds NaN or inf values")
        arrays.append(x)
    a, b = arrays
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{path_a} and {path_b} have samples of different dimensions "
                         f"({a.shape[1]} and {b.shape[1]})")  # fmt: skip
    return a, b


def _distance(args) -> int:
    import divergences

    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    unknown = [n for n in names if n not in DISTANCES]
    if unknown or not names:
        raise ValueError(
            f"unknown distance {(unknown or [''])[0]!r}; valid: {', '.join(DISTANCES)}"
        )
    a, b = _load_pair(args.a, args.b)
    rows, failed = [("distance", "value")], []
    for name in names:
        fn = getattr(divergences, name, None)
        if fn is None:
            rows.append((name, "error: not available in this version"))
            failed.append(name)
            continue
        label, kwargs = name, {}
        exact_ot = a.shape[1] == 1 or (len(a) == len(b) <= 2048)
        if name == "wasserstein" and not exact_ot:  # no exact solver: the sliced distance
            label, kwargs = "wasserstein (sliced, 128 projections)", {"method": "sliced"}
        try:
            value = fn(a.numpy(), b.numpy(), **kwargs)
            rows.append((label, f"{float(value):.6g}"))
        except (ValueError, TypeError, RuntimeError) as exc:
            rows.append((name, f"error: {' '.join(str(exc).split())}"))
            failed.append(name)
    width = max(len(r[0]) for r in rows)
    print(f"{args.a} vs {args.b}: {len(a)} and {len(b)} samples of dimension {a.shape[1]}")
    for r in rows:
        print(f"{r[0].ljust(width)}  {r[1]}")
    if failed:
        print(f"divergences distance: error: {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


def _test(args) -> int:
    import torch

    from divergences import two_sample_test

    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    _check_n(args.permutations, "--permutations")
    if not 0.0 < args.alpha < 1.0:
        raise ValueError(f"--alpha must be in (0, 1), got {args.alpha}")
    a, b = _load_pair(args.real, args.fake)
    gen = torch.Generator().manual_seed(args.seed)
    r = two_sample_test(a.numpy(), b.numpy(), args.statistic, permutations=args.permutations,
                        alpha=args.alpha, generator=gen)  # fmt: skip
    print(f"{args.real} vs {args.fake}: {len(a)} and {len(b)} samples of dimension {a.shape[1]}")
    print(r)
    print(f"null: mean {r.null_mean:.4g}, std {r.null_std:.4g}")
    return 1 if r.reject else 0


if __name__ == "__main__":
    raise SystemExit(main())
