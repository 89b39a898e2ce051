r"""Inception Score from class logits or probabilities.

.. math:: \mathrm{IS} = \exp\big(\mathbb E_x\, \mathrm{KL}(p(y\mid x)\,\|\,p(y))\big),
    \quad p(y) = \mathbb E_x\, p(y\mid x)

computed per split (``splits`` contiguous chunks of sizes differing by at most one, as
``numpy.array_split``; the original code drops the remainder) in float64; returns the mean and
the population standard deviation over splits, as the original implementation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from divergences._validation import as_tensor, check_choice, check_finite, check_positive_int
from metrics._types import Score

__all__ = ["InceptionScore", "inception_score"]


_F32_EPS = float(torch.finfo(torch.float32).eps)


def _input_eps(x: Any, t: torch.Tensor) -> float:
    """Machine epsilon of the caller's dtype (before any float64 conversion)."""
    if isinstance(x, torch.Tensor):
        return float(torch.finfo(x.dtype).eps)
    dt = getattr(x, "dtype", None)
    if isinstance(dt, np.dtype) and np.issubdtype(dt, np.floating):
        return float(np.finfo(dt).eps)
    return float(torch.finfo(t.dtype).eps)


def _sum_tolerance(eps: float, c: int) -> float:
    """How far from 1 a row of ``c`` probabilities stored with epsilon ``eps`` may sum.

    Rounding each entry to the dtype moves the sum by at most ``eps/2`` (plus subnormal
    spacing for tiny entries); ``c·2⁻²³`` admits probabilities computed in float32 and
    widened, the usual way a float64 array of probabilities is made.
    """
    return 4.0 * eps + c * _F32_EPS


def _log_probs(t: torch.Tensor, kind: str, eps: float) -> torch.Tensor:
    """float64 log-probabilities ``(N, C)`` from float64 logits or probabilities.

    ``eps`` is the machine epsilon of the dtype the values came in (the row-sum tolerance).
    """
    t = t.detach().to(torch.float64)
    nonneg = bool((t >= 0).all())
    tol = _sum_tolerance(eps, t.shape[1])
    err = (t.sum(1) - 1).abs()
    if kind == "auto":
        if not nonneg:
            kind = "logits"  # a negative entry cannot be a probability
        elif bool((err <= tol).all()):
            kind = "probs"
        else:
            raise ValueError(
                "logits_or_probs is ambiguous for input='auto': every entry is >= 0 but "
                f"{int((err > tol).sum())} of {t.shape[0]} rows do not sum to 1 (within "
                f"{tol:.2g}); pass input='logits' or input='probs'"
            )
    if kind == "logits":
        return torch.log_softmax(t, dim=1)
    if not nonneg:
        raise ValueError(
            f"probs (logits_or_probs with input='probs') must be non-negative; "
            f"min entry {float(t.min())!r}"
        )
    worst = int(err.argmax())
    if float(err[worst]) > tol:
        raise ValueError(
            f"probs (logits_or_probs with input='probs') rows must sum to 1 within {tol:.2g}; "
            f"row {worst} sums to {float(t[worst].sum())!r} (pass input='logits' for logits)"
        )
    t = t / t.sum(1, keepdim=True)  # remove the rounding-level deviation only
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


def _check_outputs(t: torch.Tensor) -> None:
    if t.ndim != 2 or t.shape[1] < 2:
        raise ValueError(
            f"logits_or_probs must have shape (N, C) with C >= 2 classes, got {tuple(t.shape)}"
        )
    check_finite(t, "logits_or_probs")


def _score(t: torch.Tensor, splits: int, kind: str, eps: float) -> Score:
    """The one implementation behind :func:`inception_score` and :class:`InceptionScore`."""
    if t.shape[0] < splits:
        raise ValueError(f"logits_or_probs needs at least splits={splits} rows, got {t.shape[0]}")
    vals = _is_impl(_log_probs(t, kind, eps), splits)
    return Score(float(vals.mean()), float(vals.std(correction=0)), splits)


def inception_score(logits_or_probs: Any, splits: int = 10, *, input: str = "auto") -> Score:
    """Inception Score of classifier outputs.

    Args:
        logits_or_probs: ``(N, C)`` class logits or class probabilities, N >= ``splits``; any
            float dtype (computed in float64).
        splits: number of contiguous splits (10 in the original protocol).
        input: ``"logits"``, ``"probs"`` or ``"auto"``. Probabilities must be >= 0 with rows
            summing to 1 within ``4·eps + C·2⁻²³`` (``eps`` of their dtype, so float16 and
            bfloat16 softmax outputs qualify); rows within it are renormalised, others raise.
            ``"auto"`` reads input with a negative entry as logits, input whose rows all
            sum to 1 (within that tolerance) as probabilities, and raises ``ValueError`` for
            anything else (non-negative rows not summing to 1 are ambiguous).

    Returns:
        :class:`~metrics.Score` ``(mean, std, n=splits)``; 1 <= IS <= C.

    Raises:
        ValueError: wrong shape, non-finite values, fewer rows than ``splits``, invalid
            probabilities with ``input="probs"``, or ambiguous input with ``input="auto"``.

    References:
        Salimans et al., "Improved techniques for training GANs" (2016); matches the original
        ``openai/improved-gan`` code and torchmetrics' ``InceptionScore`` (std, ``ddof=0``)
        up to the handling of the remainder (array_split keeps it).

    Example:
        >>> import torch
        >>> round(inception_score(torch.eye(4).repeat(5, 1) * 50, splits=2, input="logits").mean, 4)
        4.0
    """
    t, _ = as_tensor(logits_or_probs, "logits_or_probs")
    check_choice(input, "input", ("auto", "logits", "probs"))
    splits = check_positive_int(splits, "splits")
    _check_outputs(t)
    return _score(t, splits, input, _input_eps(logits_or_probs, t))


class InceptionScore:
    """Streaming IS: keeps the (float64) outputs and calls the same helper.

    The row-sum tolerance for probabilities is that of the least precise dtype seen.

    Example:
        >>> import torch
        >>> m = InceptionScore(splits=1, input="logits").update(torch.eye(3) * 99)
        >>> m = m.update(torch.eye(3) * 99)
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
        self._eps = 0.0
        return self

    def update(self, logits_or_probs: Any) -> InceptionScore:
        """Add classifier outputs ``(N, C)`` of generated samples; returns self."""
        t, _ = as_tensor(logits_or_probs, "logits_or_probs")
        _check_outputs(t)
        if self._parts and t.shape[1] != self._parts[0].shape[1]:
            raise ValueError(
                f"logits_or_probs has C={t.shape[1]} classes, earlier updates had "
                f"C={self._parts[0].shape[1]}"
            )
        if t.shape[0]:  # an empty batch adds nothing (not even its dtype's tolerance)
            self._eps = max(self._eps, _input_eps(logits_or_probs, t))
            self._parts.append(t.detach().to(torch.float64))
        return self

    def merge(self, other: InceptionScore) -> InceptionScore:
        """Append another accumulator's outputs (after this one's); returns self."""
        if not isinstance(other, InceptionScore):
            raise TypeError(f"other must be an InceptionScore, got {type(other).__name__}")
        if self._parts and other._parts and other._parts[0].shape[1] != self._parts[0].shape[1]:
            raise ValueError(
                f"other has C={other._parts[0].shape[1]} classes, this one "
                f"C={self._parts[0].shape[1]}"
            )
        self._parts += other._parts
        self._eps = max(self._eps, other._eps)
        return self

    def compute(self) -> Score:
        """:func:`inception_score` of everything seen so far."""
        if not self._parts:
            raise ValueError("InceptionScore is empty: call update() first")
        return _score(torch.cat(self._parts), self.splits, self.input, self._eps)
