"""Checks of a network's state dict against its expected keys and shapes (all our networks)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

__all__: list[str] = []


def list_names(names: list[str], limit: int = 6) -> str:
    """``a, b, c and 4 more``."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_shapes(
    state: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    what: str,
    hint: str = "",
    ignore: tuple[str, ...] = (),
) -> None:
    """Raise a ValueError naming missing, unexpected and wrongly shaped or non-finite tensors.

    Keys ending with one of ``ignore`` may be present or not (they do not enter the network).
    """
    present = {k for k in state if not str(k).endswith(ignore)} if ignore else set(state)
    missing = sorted(set(shapes) - present)
    extra = sorted(str(k) for k in present - set(shapes))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({list_names(missing)})")
    if extra:
        problems.append(f"{len(extra)} unexpected keys ({list_names(extra)})")
    wrong = []
    for key in sorted(present & set(shapes)):
        v = state[key]
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            wrong.append(f"{key}: not a floating-point tensor ({type(v).__name__})")
        elif tuple(v.shape) != shapes[key]:
            wrong.append(f"{key}: shape {tuple(v.shape)}, expected {shapes[key]}")
    if wrong:
        problems.append(f"{len(wrong)} bad tensors ({list_names(wrong, 4)})")
    if problems:
        raise ValueError(f"weights: not {what}: " + "; ".join(problems) + hint)
    # a float64 sum is NaN or infinite exactly when some float32 entry is
    bad = [k for k in shapes if not math.isfinite(float(state[k].sum(dtype=torch.float64)))]
    if bad:
        raise ValueError(f"weights: non-finite values in {list_names(bad)}")
