"""A collapse watchdog: keep the best evaluation, roll back when training diverges.

:class:`Watchdog` is a pure policy (no I/O, no models): the training loop calls
:meth:`Watchdog.observe` after every evaluation with the step, the metric (lower is better:
FID, KID, or the JS estimate from the discriminator) and whether the losses since the last
evaluation were finite, and acts on the returned :class:`Decision`:

* ``"best"`` — a new best metric: save ``best.pt``;
* ``"continue"`` — nothing to do;
* ``"rollback"`` — reload ``best.pt``, multiply the learning rates by ``lr_multiplier``
  (cumulative: the multiplier to apply to the configured rates), log ``reason``;
* ``"stop"`` — a rollback was needed but ``max_rollbacks`` are spent: end the run, log
  ``reason``.

A rollback is decided when a loss is non-finite, or when the metric is worse than
``best × factor`` for ``patience`` evaluations in a row. Its state is plain ints and floats
(:meth:`state_dict`), so it round-trips through a checkpoint read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["ACTIONS", "Decision", "Watchdog"]

ACTIONS = ("continue", "best", "rollback", "stop")


@dataclass(frozen=True)
class Decision:
    """What the loop should do after an evaluation.

    Attributes:
        action: one of :data:`ACTIONS`.
        lr_multiplier: the factor to apply to the configured learning rates from now on
            (``lr_decay ** rollbacks``).
        reason: why (empty for ``continue`` and ``best``); one line for the log.
        best_step: the step of the best evaluation so far (-1 before any finite metric).
        best_value: the best metric so far (inf before any).
    """

    action: str
    lr_multiplier: float
    reason: str
    best_step: int
    best_value: float


def _number(value: Any, name: str, *, lo: float, lo_open: bool, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < lo or (lo_open and v == lo) or v > hi:
        bound = "(" if lo_open else "["
        raise ValueError(f"{name} must be finite and in {bound}{lo}, {hi}], got {value!r}")
    return v


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


class Watchdog:
    """Tracks the best metric and decides rollbacks (see the module docstring).

    Args:
        factor: an evaluation is bad when ``metric > best × factor`` (> 1). For a metric
            that can reach 0 (KID, JS) a bad evaluation also needs ``metric > best``.
        patience: K, bad evaluations in a row that trigger a rollback (>= 1).
        max_rollbacks: R, rollbacks allowed; the next one needed is ``stop`` (>= 0).
        lr_decay: learning-rate multiplier per rollback, in (0, 1].

    Example:
        >>> w = Watchdog(factor=2.0, patience=2, max_rollbacks=1, lr_decay=0.5)
        >>> [w.observe(s, v).action for s, v in [(1, 10.0), (2, 8.0), (3, 30.0), (4, 31.0)]]
        ['best', 'best', 'continue', 'rollback']
        >>> w.lr_multiplier, w.best_step
        (0.5, 2)
        >>> w.observe(5, float("nan")).action   # a NaN metric counts as a divergence
        'stop'
    """

    def __init__(
        self, *, factor: float = 2.0, patience: int = 3, max_rollbacks: int = 3,
        lr_decay: float = 0.5,
    ):  # fmt: skip
        self.factor = _number(factor, "factor", lo=1.0, lo_open=True)
        self.patience = _count(patience, "patience", 1)
        self.max_rollbacks = _count(max_rollbacks, "max_rollbacks", 0)
        self.lr_decay = _number(lr_decay, "lr_decay", lo=0.0, lo_open=True, hi=1.0)
        self.best_value = math.inf
        self.best_step = -1
        self.bad_in_a_row = 0
        self.rollbacks = 0
        self.stopped = False

    @classmethod
    def from_config(cls, cfg) -> Watchdog:
        """The watchdog of a :class:`gan.config.TrainConfig` (its ``watchdog_*`` fields)."""
        return cls(factor=cfg.watchdog_factor, patience=cfg.watchdog_patience,
                   max_rollbacks=cfg.watchdog_max_rollbacks,
                   lr_decay=cfg.watchdog_lr_decay)  # fmt: skip

    @property
    def lr_multiplier(self) -> float:
        """``lr_decay ** rollbacks``: the factor on the configured learning rates."""
        return self.lr_decay**self.rollbacks

    def _decision(self, action: str, reason: str = "") -> Decision:
        return Decision(action, self.lr_multiplier, reason, self.best_step, self.best_value)

    def observe(self, step: int, metric: float, *, finite_losses: bool = True) -> Decision:
        """Record one evaluation and decide what the loop does next.

        Args:
            step: the training step of the evaluation.
            metric: the evaluation's value, lower is better; NaN or inf counts as a divergence.
            finite_losses: False if any loss since the previous evaluation was NaN or inf.

        Raises:
            ValueError: called again after a ``stop``, or a bad ``step``.
        """
        if self.stopped:
            raise ValueError("the watchdog already said stop; start a new Watchdog")
        step = _count(step, "step", 0)
        if isinstance(metric, bool) or not isinstance(metric, (int, float)):
            raise TypeError(f"metric must be a number, got {type(metric).__name__}")
        if not isinstance(finite_losses, bool):
            raise TypeError(f"finite_losses must be a bool, got {finite_losses!r}")
        metric = float(metric)
        reason = ""
        if not finite_losses:
            reason = f"non-finite loss before step {step}"
        elif not math.isfinite(metric):
            reason = f"non-finite metric {metric} at step {step}"
        elif metric < self.best_value:
            self.best_value, self.best_step, self.bad_in_a_row = metric, step, 0
            return self._decision("best")
        elif metric > self.best_value * self.factor and metric > self.best_value:
            self.bad_in_a_row += 1
            if self.bad_in_a_row >= self.patience:
                reason = (f"metric {metric:.4g} at step {step} worse than {self.factor:g} x the "
                          f"best {self.best_value:.4g} (step {self.best_step}) for "
                          f"{self.bad_in_a_row} evaluations in a row")  # fmt: skip
        else:
            self.bad_in_a_row = 0
        if not reason:
            return self._decision("continue")
        self.bad_in_a_row = 0
        if self.rollbacks >= self.max_rollbacks or self.best_step < 0:
            self.stopped = True
            why = f"{self.rollbacks} rollbacks already (max {self.max_rollbacks})"
            if self.best_step < 0:
                why = "no good evaluation to roll back to"
            return self._decision("stop", f"{reason}; {why}: stopping")
        self.rollbacks += 1
        return self._decision(
            "rollback",
            f"{reason}: rollback {self.rollbacks}/{self.max_rollbacks} to step "
            f"{self.best_step}, learning rates x {self.lr_multiplier:g}",
        )

    def state_dict(self) -> dict[str, Any]:
        """Plain ints, floats and bools (safe for ``torch.load(weights_only=True)``)."""
        return {"factor": self.factor, "patience": self.patience,
                "max_rollbacks": self.max_rollbacks, "lr_decay": self.lr_decay,
                "best_value": self.best_value, "best_step": self.best_step,
                "bad_in_a_row": self.bad_in_a_row, "rollbacks": self.rollbacks,
                "stopped": self.stopped}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (validated)."""
        if not isinstance(state, dict):
            raise ValueError("watchdog state must be a dict")
        missing = [k for k in self.state_dict() if k not in state]
        if missing:
            raise ValueError(f"watchdog state lacks {', '.join(missing)}")
        fresh = Watchdog(factor=state["factor"], patience=state["patience"],
                         max_rollbacks=state["max_rollbacks"],
                         lr_decay=state["lr_decay"])  # fmt: skip
        best = float(state["best_value"])
        if math.isnan(best) or best == -math.inf:
            raise ValueError(f"watchdog state: best_value must be a number or inf, got {best}")
        fresh.best_value, fresh.best_step = best, int(state["best_step"])
        fresh.bad_in_a_row = _count(int(state["bad_in_a_row"]), "bad_in_a_row", 0)
        fresh.rollbacks = _count(int(state["rollbacks"]), "rollbacks", 0)
        fresh.stopped = bool(state["stopped"])
        self.__dict__.update(fresh.__dict__)
