"""``divergences data fetch NAME`` / ``data path NAME``: standard data sets' IDX files."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gan.cli._common import OneLineParser, print_path

__all__ = ["add_parser", "main"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """List ``data`` in the top-level help (:func:`main` parses its own arguments)."""
    sub.add_parser("data", add_help=False, help="fetch or locate a standard data set: data "
                   "fetch fashion-mnist|mnist | data path fashion-mnist")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``divergences data fetch NAME [--root DIR] [--url BASE] [--quiet]`` or ``path NAME``.

    Returns the exit status: 0, 1 for a failed transfer, 2 for a usage error.
    """
    from metrics.io.datasets import DATASETS, fetch, find_split

    parser = OneLineParser(prog="divergences data", description="Get or locate "
                           "standard data sets (IDX files).")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download the four files and check their published MD5s")
    f.add_argument("name", choices=sorted(DATASETS))
    f.add_argument("--root", help="data folder (default: $DIVERGENCES_DATA, else the cache's)")
    f.add_argument("--url", help="download from this base URL instead (the digests must match)")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    p = sub.add_parser("path", help="print the folder the data is read from")
    p.add_argument("name", choices=sorted(DATASETS))
    p.add_argument("--data-root", help="look here first")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line usage error
        return int(exc.code or 0)
    if args.command == "fetch":
        opts = {"root": args.root, "url": args.url, "progress": not args.quiet}
        return print_path("divergences data", lambda: fetch(args.name, **opts))
    where = args.data_root
    return print_path(
        "divergences data", lambda: find_split(args.name, "train", data_root=where)[0].parent
    )
