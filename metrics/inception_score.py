"""Inception Score from class logits or probabilities.

.. math:: \\mathrm{IS} = \\exp\\big(\\mathbb E_x\\, \\mathrm{KL}(p(y\\mid x)\\,\\|\\,p(y))\\big),
    \\quad p(y) = \\mathbb E_x\\, p(y\\mid x)

computed per split (``splits`` contiguous chunks of sizes differing by at most one, as
``numpy.array_split``; the original code drops the remainder) in float64; returns the mean and
the population standard deviation over splits, as the original implementation.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from divergences._checks import as_tensor, check_choice, check_finite, check_positive_int
from metrics._types import Score

__all__ = ["InceptionScore", "inception_score"]


def _log_probs(t: torch.Tensor, kind: str) -> torch.Tensor:
    """float64 log-probabilities ``(N, C)`` from logits or probabilities."""
    t = t.detach().to(torch.float64)
    if kind == "auto":
        rows_sum_to_one = bool(((t.sum(1) - 1).abs() <= 1e-6 * t.shape[1]).all())
        kind = "probs" if bool((t >= 0).all()) and rows_sum_to_one else "logits"
    if kind == "logits":
        return torch.log_softmax(t, dim=1)
    if bool((t < 0).any()):
        raise ValueError("probabilities must be non-negative")
    t = t / t.sum(1, keepdim=True)
    return torch.log(t)  # -inf for zero probabilities; handled with xlogy-style masking


def _is_impl(logp: torch.Tensor, splits: int) -> torch.Tensor:
    """IS of each split, float64 ``(splits,)``."""
    out = []
    for part in torch.tensor_split(logp, splits):
        p = part.exp()
        log_py = torch.logsumexp(part, dim=0) - math.log(part.shape[0])
        diff = torch.where(p > 0, part - log_py, torch.zeros_like(part))
        kl = (p * diff).sum(1).mean()
        out.append(kl.exp())
    return torch.stack(out)


def inception_score(logits_or_probs: Any, splits: int = 10, *, input: str = "auto") -> Score:
    """Inception Score of classifier outputs.

    Args:
        logits_or_probs: ``(N, C)`` class logits or class probabilities, N >= ``splits``.
        splits: number of contiguous splits (10 in the original protocol).
        input: ``"logits"``, ``"probs"`` or ``"auto"`` (probabilities if every entry is >= 0
            and every row sums to 1 within ``1e-6·C``; logits otherwise).

    Returns:
        :class:`~metrics.Score` ``(mean, std, n=splits)``; 1 <= IS <= C.

    References:
        Salimans et al., "Improved techniques for training GANs" (2016); matches the original
        ``openai/improved-gan`` code and torchmetrics' ``InceptionScore`` (std, ``ddof=0``)
        up to the handling of the remainder (array_split keeps it).

    Example:
        >>> import torch
        >>> round(inception_score(torch.eye(4).repeat(5, 1) * 50, splits=2).mean, 4)
        4.0
    """
    t, _ = as_tensor(logits_or_probs, "logits_or_probs")
    check_choice(input, "input", ("auto", "logits", "probs"))
    splits = check_positive_int(splits, "splits")
    if t.ndim != 2 or t.shape[1] < 2:
        raise ValueError(
            f"logits_or_probs must have shape (N, C) with C >= 2 classes, got {tuple(t.shape)}"
        )
    if t.shape[0] < splits:
        raise ValueError(f"logits_or_probs needs at least splits={splits} rows, got {t.shape[0]}")
    check_finite(t, "logits_or_probs")
    vals = _is_impl(_log_probs(t, input), splits)
    return Score(float(vals.mean()), float(vals.std(correction=0)), splits)


class InceptionScore:
    """Streaming IS: keeps the (float64) log-probabilities and calls the same helper.

    Example:
        >>> import torch
        >>> m = InceptionScore(splits=1).update(torch.eye(3) * 100).update(torch.eye(3) * 100)
        >>> round(m.compute().mean, 4)
        3.0
    """

    def __init__(self, splits: int = 10, *, input: str = "auto") -> None:
        self.splits = check_positive_int(splits, "splits")
        check_choice(input, "input", ("auto", "logits", "probs"))
        self.input = input
        self.reset()

    def reset(self) -> InceptionScore:
        """Forget all outputs."""
        self._parts: list[torch.Tensor] = []
        return self

    def update(self, logits_or_probs: Any) -> InceptionScore:
        """Add classifier outputs ``(N, C)`` of generated samples; returns self."""
        t, _ = as_tensor(logits_or_probs, "logits_or_probs")
        self._parts.append(t.detach().to(torch.float64))
        return self

    def merge(self, other: InceptionScore) -> InceptionScore:
        """Append another accumulator's outputs (after this one's); returns self."""
        if not isinstance(other, InceptionScore):
            raise TypeError(f"other must be an InceptionScore, got {type(other).__name__}")
        self._parts += other._parts
        return self

    def compute(self) -> Score:
        """:func:`inception_score` of everything seen so far."""
        if not self._parts:
            raise ValueError("InceptionScore is empty: call update() first")
        return inception_score(torch.cat(self._parts), self.splits, input=self.input)
