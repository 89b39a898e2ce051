"""A feature buffer for metrics whose state is the features themselves (KID, PRDC)."""

from __future__ import annotations

from typing import Any

import torch

from divergences._validation import as_tensor


class FeatureBuffer:
    """Keeps real and fake features; subclasses implement ``compute`` on the concatenation.

    ``merge`` appends another buffer's features (merging the exact state, so a merged object
    computes exactly what the function computes on the union).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> Any:
        """Forget all features; returns self."""
        self._real: list[torch.Tensor] = []
        self._fake: list[torch.Tensor] = []
        return self

    def update_real(self, features: Any) -> Any:
        """Add real features ``(N, D)``; returns self."""
        self._real.append(as_tensor(features, "features")[0].detach())
        return self

    def update_fake(self, features: Any) -> Any:
        """Add generated features ``(N, D)``; returns self."""
        self._fake.append(as_tensor(features, "features")[0].detach())
        return self

    def merge(self, other: Any) -> Any:
        """Append another accumulator's features; returns self."""
        if type(other) is not type(self):
            raise TypeError(f"other must be a {type(self).__name__}, got {type(other).__name__}")
        self._real += other._real
        self._fake += other._fake
        return self

    def _features(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self._real or not self._fake:
            raise ValueError(
                f"{type(self).__name__} needs real and fake features: call update_real and "
                "update_fake first"
            )
        return torch.cat(self._real), torch.cat(self._fake)
