"""``divergences distance A B``: set distances of the core between two sample files."""

from __future__ import annotations

import argparse
import sys

from gan.cli._common import load_pair

__all__ = ["DISTANCES", "add_parser", "run"]

DISTANCES = ("chamfer", "hausdorff", "nearest_pair_distance", "mmd2", "energy_distance",
             "wasserstein")  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Mount ``distance`` and its options."""
    di = sub.add_parser("distance", help="set distances between two sample files")
    di.add_argument("a")
    di.add_argument("b")
    di.add_argument("--metrics", default=",".join(DISTANCES), help="comma-separated names")


def run(args: argparse.Namespace) -> int:
    """Run ``distance``: 0, or 1 when some distances failed (each failure is a row)."""
    import divergences

    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    unknown = [n for n in names if n not in DISTANCES]
    if unknown or not names:
        raise ValueError(
            f"unknown distance {(unknown or [''])[0]!r}; valid: {', '.join(DISTANCES)}"
        )
    a, b = load_pair(args.a, args.b)
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
