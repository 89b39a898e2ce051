"""``divergences weights fetch NAME`` / ``weights path NAME``: network weights, verified."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gan.cli._common import OneLineParser, print_path

__all__ = ["add_parser", "main"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """List ``weights`` in the top-level help (:func:`main` parses its own arguments)."""
    sub.add_parser("weights", add_help=False, help="fetch or locate network weights: weights "
                   "fetch inception | weights path inception")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``divergences weights fetch NAME [--url URL] [--cache-dir DIR] [--quiet]`` or ``path NAME``.

    Returns the exit status: 0, 1 for a failed transfer, 2 for a usage error.
    """
    from metrics.networks.weights import REGISTRY, fetch, find

    parser = OneLineParser(prog="divergences weights", description="Get or locate network weights.")
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download and verify into the cache folder")
    f.add_argument("name", choices=sorted(REGISTRY))
    f.add_argument("--url", help="download from this URL instead (the digest must match)")
    f.add_argument("--cache-dir", help="cache folder (default: $DIVERGENCES_CACHE, ...)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("path", help="print the cached file's path")
    p.add_argument("name", choices=sorted(REGISTRY))
    p.add_argument("--cache-dir")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line usage error
        return int(exc.code or 0)
    if args.command == "fetch":
        opts = {"url": args.url, "cache_dir": args.cache_dir, "progress": not args.quiet}
        return print_path("divergences weights", lambda: fetch(args.name, **opts))
    return print_path("divergences weights", lambda: find(args.name, cache_dir=args.cache_dir))
