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

One module per command (:mod:`gan.cli.train`, ``sample``, ``evaluate``, ``stats``,
``weights``, ``data``, ``distance``, ``test``, ``demo``), each with ``add_parser`` and ``run``
(or ``main`` for the commands that parse their own arguments); the shared parser and error
guard are in ``gan/cli/_common.py``. Only this package holds command-line code: the
libraries (``divergences``, ``metrics``, the rest of ``gan``) never import it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gan.cli import data, demo, distance, evaluate, sample, stats, test, train, weights
from gan.cli._common import OneLineParser, guarded
from gan.cli.demo import DEMO_PRESET
from gan.cli.distance import DISTANCES

__all__ = ["DEMO_PRESET", "DISTANCES", "main", "version"]

# commands that parse their own arguments: main() hands them the rest of the command line
_DELEGATED = {"stats": stats.main, "weights": weights.main, "data": data.main}
_COMMANDS = {"demo": demo.run, "train": train.run, "sample": sample.run,
             "evaluate": evaluate.run, "distance": distance.run, "test": test.run}  # fmt: skip


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


def _parser() -> OneLineParser:
    p = OneLineParser(prog="divergences", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"divergences {version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in (demo, train, sample, evaluate, stats, weights, data, distance, test):
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``divergences`` console script; returns the exit status.

    0 on success, 1 when ``distance`` computed some metrics but others failed or when
    ``test`` rejects, 2 for a user's mistake (one line on stderr), 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        return guarded(argv[0], _DELEGATED[argv[0]], argv[1:])
    args = _parser().parse_args(argv)
    return guarded(args.command, _COMMANDS[args.command], args)
