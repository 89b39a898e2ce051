"""Training a GAN: :func:`~gan.train` and the pieces of a run, one concern per module.

- ``loop``: :func:`~gan.train`, its phases and sync points (logging, evaluation, checkpoints);
- ``steps``: one step, improve D (``n_critic`` updates) then move G;
- ``start``: processes, device, data (and its subset), run directory, networks;
- ``state``: the records the phases share, :class:`~gan.TrainResult`,
  :class:`~gan.TrainingDiverged`;
- ``settings``: the process-wide torch settings, restored after a run;
- ``schedule``: the learning-rate schedule (:func:`lr_factor`);
- ``adam``: the optimisers, torch's fused Adam with a lean step;
- ``monitor``: ``log.jsonl``, the progress bar and the running means;
- ``checkpoints``: saving finite weights, restoring for a resume or a rollback;
- ``watch``: the watchdog's decisions applied (``best.pt``, rollback, stop);
- ``evaluate``: periodic and final evaluation with sample grids.
"""

from __future__ import annotations

from gan.training.loop import train
from gan.training.schedule import lr_factor
from gan.training.settings import global_settings
from gan.training.state import TrainingDiverged, TrainResult
from gan.training.watch import WATCHED

__all__ = ["WATCHED", "TrainResult", "TrainingDiverged", "global_settings", "lr_factor", "train"]
