"""Input validation and small shared helpers for the sample-based estimators (private)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from divergences._checks import as_tensor, check_point_sets

__all__ = ["check_samples", "get_record", "resolve_device", "split_indices"]


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
    from divergences import f_divergences

    if isinstance(divergence, f_divergences.FDivergence):
        return divergence
    if not isinstance(divergence, str):
        raise TypeError(
            "divergence must be a registry name or an FDivergence record, got "
            f"{type(divergence).__name__}"
        )
    return f_divergences.get(divergence, **params)


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
