"""Reference statistics from data: ``divergences stats FOLDER -o ref.npz`` and its function form.

:func:`compute_stats` streams a folder or array through a feature extractor into
:class:`~metrics.FeatureStats` (with K group statistics for FID error bars); :func:`cli_stats`
writes them in pytorch-fid's ``.npz`` layout through :mod:`metrics.cache`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from divergences._validation import check_positive_int
from metrics._atomic import check_writable
from metrics._options import EvaluationOptions
from metrics._sides import Need, Reader, read_side
from metrics.cache import save_stats_file, stats_provenance
from metrics.cli import add_extractor_arguments, add_folder_arguments, check_device
from metrics.datasets import named_images, parse_spec
from metrics.evaluate import _version
from metrics.loading import is_stats_file, planned_count
from metrics.networks.weights import OneLineArgumentParser

__all__ = ["cli_stats", "compute_stats"]


def compute_stats(
    source: Any,
    *,
    features: Any = "identity",
    groups: int = 10,
    num_samples: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    image_size: int | None = None,
    resize: str | None = None,
    channels: int | None = None,
    num_workers: int | None = None,
    check_hash: bool = True,
    precision: str | None = None,
    data_root: str | None = None,
) -> tuple[Any, list, dict[str, Any]]:
    """Stream ``source`` (a folder, array or file) through ``features`` into statistics.

    The options are :func:`metrics.evaluate`'s (``features="inception"`` with
    ``resize="pytorch-fid"`` or ``"clean"``; ``check_hash=False`` loads unpublished Inception
    weights, with a warning; ``precision`` ``"float32"``, ``"tf32"`` or ``"bf16"``).

    Returns:
        ``(total, groups, provenance)``: the :class:`~metrics.FeatureStats` of all samples,
        the ``groups`` group statistics (sample ``i`` in group ``i mod groups``; none when
        ``groups < 2`` or there are fewer than ``2 groups`` samples) and the provenance a
        statistics file records (:func:`metrics.cache.stats_provenance`, plus the package
        version and the source's summary: the size its images were read at).
    """
    if is_stats_file(source):
        raise ValueError(f"{source} already holds statistics")
    opts = EvaluationOptions(
        metrics="fid",
        features=features,
        num_samples=num_samples,
        batch_size=batch_size,
        device=device,
        progress=progress,
        image_size=image_size,
        resize=resize,
        channels=channels,
        num_workers=num_workers,
        cache=False,
        check_hash=check_hash,
        precision=precision,
        data_root=data_root,
    )
    reader = Reader.from_options(opts)
    named = None if isinstance(source, str) and os.path.exists(source) else parse_spec(source)
    source = named_images(source, data_root=data_root, image_size=image_size,
                          channels=reader.channels)  # fmt: skip
    n = planned_count(source, num_samples)
    k = min(groups, n // 2) if n is not None else groups
    need = Need(statistics=True, groups=k if k >= 2 else 0)
    side = read_side(source, name="folder", reader=reader, need=need)
    prov = {
        "package_version": _version(),
        **stats_provenance(features, reader.provenance, dict(reader.preprocessing)),
        "source": dict(side.summary),
    }
    if named is not None:
        prov["data_set"] = ":".join(named)
    return side.total, list(side.groups), prov


def cli_stats(argv: Sequence[str] | None = None) -> int:
    """``divergences stats FOLDER -o ref.npz [--features F] [--groups 10] ...``.

    Writes the reference statistics of ``FOLDER`` (or of a ``.npy``/``.npz``/``.pt`` array) in
    pytorch-fid's ``.npz`` layout (``mu``, ``sigma``) plus the count ``n``, the group
    statistics for FID error bars and the provenance (JSON in ``meta``); atomically, refusing
    to replace a file unless ``--overwrite``. Use it as the REAL side of ``divergences
    evaluate ref.npz FAKE --metrics fid``. Returns the exit status; errors raise
    ``ValueError`` (the CLI prints one line and exits 2).
    """
    ap = OneLineArgumentParser(
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
