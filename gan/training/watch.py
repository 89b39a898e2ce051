"""The watchdog hooked into the loop: keep ``best.pt``, roll back to it, or stop the run.

The policy (when to roll back, by how much to lower the rates) is :class:`gan.watchdog.Watchdog`;
this module acts on its decisions with the run's checkpoints and log.
"""

from __future__ import annotations

import math
from typing import Any

from gan import _dist, rundir
from gan.training.checkpoints import restore, save_checkpoint, weights_finite
from gan.training.monitor import Monitor
from gan.training.state import Nets, Run, State

__all__ = ["WATCHED", "watch", "watched_metric"]

#: The evaluation's keys the watchdog follows, in order of preference (lower is better).
WATCHED = ("fid", "kid", "js")


def watched_metric(res: dict[str, Any] | None) -> float:
    """The first of :data:`WATCHED` in the evaluation ``res`` (NaN if none), rank 0's on all."""
    metric = next((float(res[k]) for k in WATCHED if k in res), math.nan) if res else math.nan
    return float(_dist.broadcast_object(metric))


def watch(run: Run, nets: Nets, state: State, mon: Monitor, res: dict | None) -> str:
    """Sync point: the watchdog's action after an evaluation ``res`` (None: non-finite values).

    ``best`` saves ``best.pt``; ``rollback`` reloads it (step included) with the learning
    rates lowered; ``rollback`` and ``stop`` are logged with their reason. Every rank takes the
    same decision (the metric comes from rank 0).
    """
    wd, step = state.watchdog, state.step
    assert wd is not None
    metric = watched_metric(res)
    finite = res is not None and weights_finite(nets)
    dec = wd.observe(step, metric, finite_losses=finite)
    if dec.action == "best":
        save_checkpoint(run, nets, state, rundir.BEST)
    elif dec.action in ("rollback", "stop"):
        if mon.log is not None:
            mon.log.write({"kind": "watchdog", "step": step, "action": dec.action,
                           "reason": dec.reason, "best_step": dec.best_step,
                           "best_value": dec.best_value,
                           "lr_multiplier": dec.lr_multiplier})  # fmt: skip
        if dec.action == "rollback" or not weights_finite(nets):
            restore(run, nets, state, rundir.BEST)  # a stop ends at the best weights if bad
            mon.rewind(state.step)
        state.stopped = dec.action == "stop"
    return dec.action
