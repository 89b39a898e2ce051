"""``divergences test REAL FAKE``: a two-sample permutation test (exit 0 kept, 1 rejected)."""

from __future__ import annotations

import argparse

from gan.cli._common import check_n, load_pair

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Mount ``test`` and its options."""
    te = sub.add_parser("test", help="two-sample permutation test between two sample files "
                        "(exit 0: not rejected, 1: rejected)")  # fmt: skip
    te.add_argument("real")
    te.add_argument("fake")
    te.add_argument("--statistic", default="mmd", help="mmd (default), energy, mmd-agg, "
                    "mmd-fuse, knn, chamfer, wasserstein or c2st")  # fmt: skip
    te.add_argument("--permutations", type=int, default=1000, help="random relabellings (1000)")
    te.add_argument("--alpha", type=float, default=0.05, help="level of the test (0.05)")
    te.add_argument("--seed", type=int, default=0, help="seed of the relabellings (0)")


def run(args: argparse.Namespace) -> int:
    """Run ``test``: 0 when the test does not reject, 1 when it rejects."""
    import torch

    from divergences import two_sample_test

    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    check_n(args.permutations, "--permutations")
    if not 0.0 < args.alpha < 1.0:
        raise ValueError(f"--alpha must be in (0, 1), got {args.alpha}")
    a, b = load_pair(args.real, args.fake)
    gen = torch.Generator().manual_seed(args.seed)
    r = two_sample_test(a.numpy(), b.numpy(), args.statistic, permutations=args.permutations,
                        alpha=args.alpha, generator=gen)  # fmt: skip
    print(f"{args.real} vs {args.fake}: {len(a)} and {len(b)} samples of dimension {a.shape[1]}")
    print(r)
    print(f"null: mean {r.null_mean:.4g}, std {r.null_std:.4g}")
    return 1 if r.reject else 0
