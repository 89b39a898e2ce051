"""``divergences sample RUN -n N -o FILE``: draw samples from a run's generator."""

from __future__ import annotations

import argparse
from pathlib import Path

from gan.cli._common import check_n, device

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Mount ``sample`` and its options."""
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


def run(args: argparse.Namespace) -> int:
    """Run ``sample`` with parsed arguments; the exit status."""
    import numpy as np
    import torch

    from gan.sampling import sample_run
    from metrics.io.atomic import atomic_open, check_writable

    out = Path(args.output)
    if out.suffix not in (".npy", ".pt"):
        raise ValueError(f"-o must end in .npy or .pt, got {str(out)!r}")
    check_writable(out, overwrite=args.overwrite, what="-o")  # before any work
    x, drs = sample_run(args.run, check_n(args.n), rejection=args.rejection, seed=args.seed,
                        device=device(args.device), label=args.label,
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
