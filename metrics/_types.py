"""Small result records and the feature-pair check shared by the metrics."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from divergences._validation import as_tensor, check_finite

__all__ = ["Score", "feature_pair", "from_numpy"]


class Score(NamedTuple):
    """A metric averaged over subsets or splits.

    A metric averaged over subsets or splits: ``mean`` and the standard deviation ``std``
    (population, ``ddof=0``, as torch-fidelity, torchmetrics and the original IS code) over
    ``n`` subsets/splits. Unpacks as ``mean, std, n = score``.
    """

    mean: float
    std: float
    n: int

    def __float__(self) -> float:
        return float(self.mean)


def feature_pair(
    real: Any, fake: Any, *, min_samples: int = 1, why: str = ""
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``real``/``fake`` features as ``(N, D)``/``(M, D)`` tensors on one device.

    Checks shape, finiteness, matching D and device, and at least ``min_samples`` rows each
    (``why`` completes the message). Returns ``(real, fake, real_was_numpy)``.
    """
    (x, is_np), (y, _) = as_tensor(real, "real"), as_tensor(fake, "fake")
    for t, n in ((x, "real"), (y, "fake")):
        if t.ndim != 2:
            raise ValueError(f"{n} must have shape (N, D), got {tuple(t.shape)}")
        if t.shape[0] < min_samples:
            raise ValueError(f"{n} needs at least {min_samples} samples{why}, got {t.shape[0]}")
        check_finite(t, n)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"real and fake must have the same dimension D; got {tuple(x.shape)} "
            f"and {tuple(y.shape)}"
        )
    if x.device != y.device:
        raise ValueError(f"real and fake must be on one device, got {x.device} and {y.device}")
    return x, y, is_np


def from_numpy(arr: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` for any NumPy array, flipped views (``x[::-1]``) included.

    torch has no negative strides, so such a view is copied; other arrays are shared.
    """
    if any(st < 0 for st in arr.strides):
        arr = np.ascontiguousarray(arr)
    return torch.from_numpy(arr)
