"""The ``divergences evaluate REAL FAKE`` command: its options and its run.

``gan/cli.py`` mounts these options on the ``divergences`` console script; ``divergences
stats`` (:mod:`metrics.reference`) shares the extractor and folder options.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch

from divergences._validation import check_positive_int
from metrics._atomic import check_writable
from metrics.evaluate import DEFAULT_METRICS, METRICS, evaluate
from metrics.networks.inception import PRECISIONS
from metrics.report import Report

__all__ = [
    "add_cli_arguments",
    "add_extractor_arguments",
    "add_folder_arguments",
    "check_device",
    "cli_evaluate",
    "run_cli",
]


def add_cli_arguments(ap: argparse.ArgumentParser) -> None:
    """Add the options of ``divergences evaluate REAL FAKE`` to a parser (or argument group).

    ``--device``, ``--json`` and ``--overwrite`` are left to the caller (they may be shared
    with other forms of a command); :func:`run_cli` reads them when present.
    """
    ap.add_argument(
        "--metrics",
        default=None,
        help=f"comma-separated, from: {', '.join(METRICS)} (default: {','.join(DEFAULT_METRICS)})",
    )
    add_extractor_arguments(ap)
    ap.add_argument("--num-samples", type=int, default=None, help="use at most this many")
    ap.add_argument("--batch-size", type=int, default=None, help="feature batch size (256)")
    add_folder_arguments(ap)
    ap.add_argument(
        "--no-cache", action="store_true", default=None, help="do not use cached real statistics"
    )


def add_extractor_arguments(ap: argparse.ArgumentParser) -> None:
    """``--features``, ``--no-check-hash`` and ``--precision`` (``evaluate`` and ``stats``)."""
    ap.add_argument(
        "--features",
        default=None,
        help="identity (default), digits, fashion (28-px grey images), inception (pytorch-fid's "
        "weights, from `divergences weights fetch inception`), inception:PATH, dinov2 (DINOv2 "
        "ViT-L/14, `weights fetch dinov2-vitl14`), dinov2:PATH, clip (CLIP ViT-L/14@336, "
        "`weights fetch clip-vitl14-336`), clip:PATH, or a TorchScript file path",
    )
    ap.add_argument(
        "--no-check-hash",
        action="store_true",
        default=None,
        help="load a network weights file whose SHA-256 is not the published one (warns)",
    )
    ap.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
        help="--features inception/dinov2/clip: float32 (default), tf32 (CUDA) or bf16 (faster "
        "on GPUs)",
    )


def add_folder_arguments(ap: argparse.ArgumentParser) -> None:
    """``--progress``, ``--image-size``, ``--resize`` and ``--workers`` (for image folders)."""
    ap.add_argument(
        "--progress", action="store_true", default=None, help="progress bars (default: on a TTY)"
    )
    ap.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    ap.add_argument("--image-size", type=int, default=None, help="resize folder images to this")
    ap.add_argument(
        "--resize",
        default=None,
        help="--features inception: pytorch-fid (default) or clean; dinov2: torch (EDM2, "
        "default), pil (dgm-eval) or clean; clip: openai (default) or cmmd; otherwise the PIL "
        "filter for folder images: bilinear (default), bicubic, lanczos or nearest",
    )
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: <= 4)")
    ap.add_argument("--data-root", default=None, help="where fashion-mnist[:test|:train] and "
                    "mnist[...] look first for their IDX files")  # fmt: skip


def run_cli(real: str, fake: str, args: argparse.Namespace) -> Report:
    """Evaluate the files ``real`` and ``fake`` with the options of :func:`add_cli_arguments`.

    Writes ``args.json`` (atomically; an existing file only with ``args.overwrite``) and
    returns the report. The JSON target is checked before any work is done.
    """
    json_path = getattr(args, "json", None)
    overwrite = bool(getattr(args, "overwrite", False))
    if json_path:
        check_writable(json_path, overwrite=overwrite, what="--json")
    names = [m.strip() for m in (args.metrics or ",".join(DEFAULT_METRICS)).split(",")]
    if args.num_samples is not None:
        check_positive_int(args.num_samples, "--num-samples")
    device = getattr(args, "device", None)
    if device is not None:
        check_device(device)
    report = evaluate(
        real,
        fake,
        metrics=[m for m in names if m],
        features=args.features or "identity",
        num_samples=args.num_samples,
        batch_size=256 if args.batch_size is None else args.batch_size,
        device=device,
        progress=getattr(args, "progress", None),
        image_size=getattr(args, "image_size", None),
        resize=getattr(args, "resize", None),
        num_workers=getattr(args, "workers", None),
        cache=not getattr(args, "no_cache", False),
        check_hash=not getattr(args, "no_check_hash", False),
        precision=getattr(args, "precision", None),
        data_root=getattr(args, "data_root", None),
    )
    if json_path:
        report.to_json(json_path, overwrite=overwrite)
    return report


def check_device(name: str, flag: str = "--device") -> None:
    """Raise a ValueError naming ``flag`` unless ``name`` is a usable cpu or cuda device."""
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"{flag} {name!r} is not a device (use cpu or cuda)") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{flag} {name!r}: use cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{flag} {name!r}: CUDA is not available here; use cpu")


def cli_evaluate(argv: Sequence[str] | None = None) -> int:
    """``divergences evaluate REAL FAKE [--metrics a,b] [--features F] [--json out.json]``.

    Prints the report table (and writes JSON if asked, refusing to replace an existing file
    unless ``--overwrite``); returns the exit status.
    """
    ap = argparse.ArgumentParser(
        prog="divergences evaluate", description="Evaluate generated samples against real ones."
    )
    ap.add_argument(
        "real", help="real samples: .npy/.npz/.pt file or image folder, or a stats .npz"
    )
    ap.add_argument("fake", help="generated samples: .npy/.npz/.pt file or image folder")
    add_cli_arguments(ap)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    ap.add_argument("--json", default=None, help="also write the report to this new JSON file")
    ap.add_argument("--overwrite", action="store_true", help="let --json replace a file")
    args = ap.parse_args(argv)
    print(run_cli(args.real, args.fake, args).table())
    return 0
