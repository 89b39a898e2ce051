"""Input validation and small shared helpers for the sample-based estimators (private)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from divergences._validation import as_tensor, check_point_sets

__all__ = [
    "check_samples",
    "get_record",
    "locations",
    "resolve_device",
    "split_by_location",
    "split_indices",
]


def check_samples(
    x: Any, y: Any, *, min_samples: int = 2, why: str = ""
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two sample sets and return them as 2-D tensors ``(N, D)``, ``(M, D)``.

    1-D inputs are read as ``N`` scalar samples (D = 1). Raises on NaN/inf, mismatched D,
    fewer than ``min_samples`` points per set, and on features that are constant across the
    pooled sample (they make density ratios and kNN dimensions ill-posed).
    """
    tx, _ = as_tensor(x, "x")
    ty, _ = as_tensor(y, "y")
    if tx.ndim == 1:
        tx = tx[:, None]
    if ty.ndim == 1:
        ty = ty[:, None]
    check_point_sets(tx, ty, allow_batch=False)
    for t, name in ((tx, "x"), (ty, "y")):
        if t.shape[0] < min_samples:
            raise ValueError(f"{name} needs at least {min_samples} samples{why}, got {t.shape[0]}")
    pooled = torch.cat([tx.detach(), ty.detach().to(tx.dtype)])
    const = (pooled.amax(0) == pooled.amin(0)).nonzero().flatten().tolist()
    if const:
        shown = const[:10] + (["..."] if len(const) > 10 else [])
        raise ValueError(
            f"features {shown} are constant across x and y; drop them (a constant feature "
            "carries no information and makes the estimate ill-posed)"
        )
    return tx, ty


def get_record(divergence: Any, **params: Any) -> Any:
    """Return the ``FDivergence`` record for a registry name, or the record itself."""
    from divergences.fdiv import family as f_divergences

    if isinstance(divergence, f_divergences.FDivergence):
        return divergence
    if not isinstance(divergence, str):
        raise TypeError(
            "divergence must be a registry name or an FDivergence record, got "
            f"{type(divergence).__name__}"
        )
    return f_divergences.get_f_divergence(divergence, **params)


def resolve_device(device: Any, x: torch.Tensor) -> torch.device:
    """``device=None``: the inputs' device if on an accelerator, else CUDA when present."""
    if device is not None:
        return torch.device(device)
    if x.device.type != "cpu":
        return x.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def split_indices(n: int, n_splits: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A random partition of ``range(n)`` into ``n_splits`` near-equal parts."""
    perm = rng.permutation(n)
    return [np.sort(part) for part in np.array_split(perm, n_splits)]


def locations(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distinct rows of the pooled sample ``[a; b]`` and the location of every row.

    Returns ``(rows (G, D), loc_a (N,), loc_b (M,))`` with ``rows[loc_a] == a`` and
    ``rows[loc_b] == b``; equal rows of a and b share one location. The order of ``rows``
    is unspecified.
    """
    pooled = torch.cat([a, b.to(a.dtype)])
    first = pooled[:, 0].sort().values
    if not bool((first[1:] == first[:-1]).any()):  # no two rows share even a first coordinate
        loc = torch.arange(pooled.shape[0], device=pooled.device)
        return pooled, loc[: a.shape[0]], loc[a.shape[0] :]
    rows, inv = torch.unique(pooled, dim=0, return_inverse=True)
    return rows, inv[: a.shape[0]], inv[a.shape[0] :]


def split_by_location(loc: np.ndarray, n_splits: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A random partition of the rows into ``n_splits`` parts that keeps copies together.

    ``loc`` (N,) labels each row's location; rows sharing a label go to one part, and the
    parts hold near-equal numbers of locations. Without repeated labels this is
    :func:`split_indices` with the same draws (locations are ranked by first appearance).
    """
    _, first, code = np.unique(loc, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    part_of = np.empty(first.size, dtype=np.int64)
    for p, ranks in enumerate(split_indices(first.size, n_splits, rng)):
        part_of[ranks] = p
    row_part = part_of[rank[code.reshape(-1)]]
    return [np.flatnonzero(row_part == p) for p in range(n_splits)]
