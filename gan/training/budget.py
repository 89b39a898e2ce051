"""A wall-clock budget for a run: ``steps`` set from the measured step and evaluation times.

``time_budget`` minutes cover the whole :func:`~gan.train` call: data loading, the steps,
the periodic evaluations, the checkpoints and the final evaluation with its plots. The plan
is redone at every log step: ``steps`` becomes the largest count, at most the asked one,
whose predicted end fits the budget (``steps = step`` stops the run now). While the learning
rate is still constant (before ``lr_decay_start · steps``) nothing already done changes,
because a constant rate does not depend on ``steps``; once the decay has begun, a new plan
decays from the rate reached to ``lr_final`` at the new ``steps`` (the schedule's anchor,
:func:`apply_plan`), so a machine that speeds up or slows down halfway is followed to the end
of the budget. A plan is changed only when it moves by more than ``HYSTERESIS`` of the steps
left. Each change of plan is a ``{"kind": "budget"}`` line in ``log.jsonl`` and is written to
``config.json``, so a resume continues the planned run, and ``--steps N`` with no budget
repeats a run whose plan did not move after its decay began.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from gan import _dist, rundir
from gan.config import TrainConfig
from gan.training.schedule import lr_factor

__all__ = ["Budget", "apply_plan", "plan_steps"]

#: Before an evaluation has been timed, each is assumed to take this share of the budget.
EVAL_SHARE = 0.025
#: Before an evaluation has been timed, the final evaluation and plots get this share.
FINAL_SHARE = 0.05
#: The least reserve for the final checkpoint and plots (and all of it without evaluations).
FINAL_SHARE_NO_EVAL = 0.01
#: Once timed, the final evaluation is assumed to cost this many of the slowest periodic one
#: (it fits its JS classifier longer and plots the run).
FINAL_EVALS = 3.0
#: A plan that moves ``steps`` by less than this share of the steps left is not worth a change.
HYSTERESIS = 0.02


def _evals_between(cfg: TrainConfig, step: int, steps: int) -> int:
    """Periodic evaluations after ``step`` and before ``steps`` (the final one not counted)."""
    if not cfg.eval_every or not cfg.eval_samples or steps <= step + 1:
        return 0
    return (steps - 1) // cfg.eval_every - step // cfg.eval_every


def plan_steps(
    cfg: TrainConfig,
    *,
    asked: int,
    step: int,
    left: float,
    sec_per_step: float,
    sec_per_eval: float,
    final: float,
) -> int:
    """The largest ``steps`` in ``[step, asked]`` whose predicted run fits ``left`` seconds.

    Predicted time from ``step`` on: ``(steps - step) · sec_per_step`` plus ``sec_per_eval``
    per periodic evaluation before ``steps`` plus ``final`` for the final evaluation. The
    answer is a multiple of ``cfg.log_every`` (or ``asked``, or ``step`` when nothing fits).

    Example:
        >>> cfg = TrainConfig(steps=10_000, log_every=100, eval_every=1000, eval_samples=100)
        >>> plan_steps(cfg, asked=10_000, step=200, left=100.0, sec_per_step=0.01,
        ...            sec_per_eval=1.0, final=10.0)
        8400
    """
    room = left - final

    def fits(n: int) -> bool:
        return (n - step) * sec_per_step + _evals_between(cfg, step, n) * sec_per_eval <= room

    if room <= 0:
        return step
    if not math.isfinite(sec_per_step) or sec_per_step <= 0 or fits(asked):
        return asked
    every = cfg.log_every
    lo, hi = step // every + 1, (asked - 1) // every  # multiples of log_every in (step, asked)
    best = step
    while lo <= hi:  # the predicted time grows with n: bisect for the last n that fits
        mid = (lo + hi) // 2
        if fits(mid * every):
            best, lo = mid * every, mid + 1
        else:
            hi = mid - 1
    return best


class Budget:
    """The time plan of a budgeted run (inactive with ``time_budget = 0`` or when resuming).

    Call :meth:`evaluated` with the seconds of each periodic evaluation and :meth:`at_log`
    at each log step; :meth:`at_log` returns the new ``steps`` when the plan changes.
    """

    def __init__(self, cfg: TrainConfig, *, t0: float, step: int):
        self.seconds = 60.0 * cfg.time_budget
        self.active = self.seconds > 0 and step == 0  # a resumed run keeps its planned steps
        self.asked, self.t0 = cfg.steps, t0
        self.final_share = FINAL_SHARE if cfg.eval_samples else FINAL_SHARE_NO_EVAL
        self.eval_times: list[float] = []
        self.paused = 0.0  # seconds of evaluations since the step clock started
        self.mark: tuple[float, float, int] | None = None  # (time, paused, step) after warm-up
        self.last = -1  # the step of the last call

    def evaluated(self, seconds: float) -> None:
        """Record one periodic evaluation's wall time."""
        self.eval_times.append(seconds)
        self.paused += seconds

    def _final(self) -> float:
        """Seconds kept for the final evaluation: a share of the budget until one is timed."""
        if not self.eval_times:
            return self.final_share * self.seconds
        return max(FINAL_SHARE_NO_EVAL * self.seconds, FINAL_EVALS * max(self.eval_times))

    def at_log(self, cfg: TrainConfig, step: int, rank: int) -> int | None:
        """Redo the plan after ``step``; the new ``steps`` (same on every rank), or None."""
        if not self.active:
            return None
        now = time.perf_counter()
        if self.mark is None or step <= self.last:
            # the first log interval holds warm-up costs, and after a watchdog rollback the
            # steps since the mark are not the steps done: only mark the clock
            self.mark, self.last = (now, self.paused, step), step
            return None
        self.last = step
        new = None
        if rank == 0:
            new = self._plan(cfg, step, now)
        return _dist.broadcast_object(new)

    def _plan(self, cfg: TrainConfig, step: int, now: float) -> int | None:
        t, paused, s = self.mark  # type: ignore[misc]
        left = self.seconds - (now - self.t0)
        rate = (now - t - (self.paused - paused)) / max(1, step - s)
        ev = (sum(self.eval_times) / len(self.eval_times) if self.eval_times
              else EVAL_SHARE * self.seconds)  # fmt: skip
        n = plan_steps(cfg, asked=self.asked, step=step, left=left, sec_per_step=rate,
                       sec_per_eval=ev, final=self._final())  # fmt: skip
        # relative to the steps left, so that the plan is finer as the end nears
        moved = abs(n - cfg.steps) > max(HYSTERESIS * (cfg.steps - step), cfg.log_every)
        if n == step or moved or n == self.asked != cfg.steps:
            return n
        return None


def apply_plan(
    run: Any, state: Any, steps: int, step: int, budget: Budget, log: Any, bar: Any
) -> None:
    """Set ``run.cfg.steps`` to the plan, write ``config.json`` and a log line (rank 0).

    When the plan moves the learning rate at ``step`` (a stop during the decay), the
    schedule's anchor becomes ``(step, the rate's factor before)``, so the rate stays where it
    was and a later ``--resume --steps N`` decays from there, not from ``lr_final``.
    """
    old = run.cfg.steps
    before = lr_factor(run.cfg, step, state.anchor)
    run.cfg = run.cfg.replace(steps=steps)
    if lr_factor(run.cfg, step, state.anchor) != before:
        state.anchor = (step, before)
    if run.rank != 0:
        return
    rundir.write_config(run.run_dir, run.cfg)
    if log is not None:
        log.write({"kind": "budget", "step": step, "steps": steps, "previous_steps": old,
                   "asked_steps": budget.asked, "budget_s": budget.seconds,
                   "elapsed_s": time.perf_counter() - budget.t0})  # fmt: skip
    if old == budget.asked and steps < old:  # said once, when the plan first cuts the run
        print(f"time budget {budget.seconds / 60:g} min: {steps} of the {old} steps fit on this "
              "machine (the plan is redone at every log step; --time-budget 0 runs them all)",
              file=sys.stderr, flush=True)  # fmt: skip
    if bar is not None:
        bar.total = steps
        bar.refresh()
