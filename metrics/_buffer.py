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
        """Add real features ``(N, D)`` (N may be 0: nothing is added); returns self."""
        _append(self._real, features)
        return self

    def update_fake(self, features: Any) -> Any:
        """Add generated features ``(N, D)`` (N may be 0: nothing is added); returns self."""
        _append(self._fake, features)
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


def _append(parts: list[torch.Tensor], features: Any) -> None:
    """Append a ``(N, D)`` batch; an empty one is dropped (its dtype must not promote the rest)."""
    t = as_tensor(features, "features")[0].detach()
    if t.ndim != 2:
        raise ValueError(f"features must have shape (N, D), got {tuple(t.shape)}")
    if parts and t.shape[1] != parts[0].shape[1]:
        raise ValueError(
            f"features have dimension D={t.shape[1]}, earlier updates had D={parts[0].shape[1]}"
        )
    if t.shape[0]:
        parts.append(t)
