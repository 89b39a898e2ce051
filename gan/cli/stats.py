"""``divergences stats SOURCE -o ref.npz``: reference statistics of a folder, array or data set.

Writes, through :func:`metrics.io.compute_stats` and :func:`metrics.io.save_stats_file`, the
statistics in pytorch-fid's ``.npz`` layout (``mu``, ``sigma``) plus the count ``n``, the group
statistics for FID error bars and the provenance (JSON in ``meta``); atomically, refusing to
replace a file unless ``--overwrite``. Use it as the REAL side of ``divergences evaluate
ref.npz FAKE --metrics fid``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gan.cli._common import OneLineParser, check_device

__all__ = ["add_parser", "main"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """List ``stats`` in the top-level help (:func:`main` parses its own arguments)."""
    sub.add_parser("stats", add_help=False, help="reference statistics of a folder: "
                   "stats FOLDER -o ref.npz (see divergences stats -h)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``divergences stats FOLDER -o ref.npz [--features F] [--groups 10] ...``.

    Returns the exit status; errors raise ``ValueError`` (the CLI prints one line and exits 2).
    """
    from divergences._validation import check_positive_int
    from gan.cli.evaluate import add_extractor_arguments, add_folder_arguments
    from metrics.io.atomic import check_writable
    from metrics.io.cache import save_stats_file
    from metrics.io.reference import compute_stats

    ap = OneLineParser(
        prog="divergences stats", description="Write reference statistics (mu, sigma) of data."
    )
    ap.add_argument("source", help="image folder, .npy/.npz/.pt array, or fashion-mnist:train "
                    "(a standard data set's split)")  # fmt: skip
    ap.add_argument("-o", "--output", required=True, help="the new .npz file")
    add_extractor_arguments(ap)
    ap.add_argument("--groups", type=int, default=10, help="groups for error bars (0: none)")
    ap.add_argument("--num-samples", type=int, default=None, help="use at most this many")
    ap.add_argument("--batch-size", type=int, default=256, help="feature batch size (256)")
    add_folder_arguments(ap)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output")
    args = ap.parse_args(argv)
    if not args.output.endswith(".npz"):
        raise ValueError(f"-o {args.output!r}: the statistics file must end in .npz")
    check_writable(args.output, overwrite=args.overwrite, what="-o")
    if args.groups < 0:
        raise ValueError(f"--groups must be >= 0, got {args.groups}")
    if args.num_samples is not None:
        check_positive_int(args.num_samples, "--num-samples")
    check_positive_int(args.batch_size, "--batch-size")
    if args.device is not None:
        check_device(args.device)
    total, groups, prov = compute_stats(
        args.source,
        features=args.features or "identity",
        groups=args.groups,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        device=args.device,
        progress=args.progress,
        image_size=args.image_size,
        resize=args.resize,
        num_workers=args.workers,
        check_hash=not args.no_check_hash,
        precision=args.precision,
        data_root=args.data_root,
    )
    save_stats_file(args.output, total, groups, overwrite=args.overwrite, meta=prov)
    print(f"wrote {args.output}: n={total.n}, D={total.dim}, {len(groups)} groups")
    return 0
