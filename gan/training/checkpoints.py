"""Checkpoints of a run: save only finite weights; restore for a resume or a rollback."""

from __future__ import annotations

import torch

from gan import _dist, rundir
from gan.checkpoint import check_keys, load_checkpoint, load_state, save_atomic
from gan.training.schedule import extended_anchor
from gan.training.state import Nets, Run, State, TrainingDiverged

__all__ = ["restore", "save_checkpoint", "weights_finite"]


def weights_finite(nets: Nets) -> bool:
    """True when every weight of G and D is finite (one host sync)."""
    params = [*nets.g.parameters(), *nets.d.parameters()]
    return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())


def save_checkpoint(run: Run, nets: Nets, state: State, name: str = rundir.CHECKPOINT) -> None:
    """Sync point: every weight must be finite before the last good checkpoint is replaced.

    Every rank contributes its random stream; rank 0 writes ``name`` atomically.

    Raises:
        TrainingDiverged: a weight is not finite (the file on disk is kept).
    """
    if not weights_finite(nets):
        raise TrainingDiverged(f"non-finite weights at step {state.step}; kept last checkpoint")
    ck = {
        "version": 1, "config": run.cfg.to_dict(), "step": state.step, "g": nets.g.state_dict(),
        "d": nets.d.state_dict(), "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
        "g_ema": nets.ema.state_dict() if nets.ema is not None else None,
        "rng": _dist.all_gather_object(state.rng.get_state()),
        "lr_anchor": [int(state.anchor[0]), float(state.anchor[1])],
        "aug": nets.aug.state_dict() if nets.aug is not None else None,
        "ada": nets.ada.state_dict() if nets.ada is not None else None,
        "watchdog": state.watchdog.state_dict() if state.watchdog is not None else None,
        # the cluster labels it trains on: sample/evaluate/resume reuse them, never reclustering
        "clusters": run.data.labels.to("cpu", torch.int32) if run.cfg.clusters else None,
    }  # fmt: skip
    if run.rank == 0:
        save_atomic(ck, run.run_dir / name)


def restore(run: Run, nets: Nets, state: State, name: str = rundir.CHECKPOINT) -> None:
    """Load the run's checkpoint ``name`` into ``nets`` and ``state`` (resume, rollback).

    A rollback (``name`` = ``best.pt``) keeps the watchdog's current state (its rollbacks).
    A resume with other ``steps`` than the checkpoint's moves the schedule's anchor (see
    :func:`~gan.training.lr_factor`).

    Raises:
        ValueError: a checkpoint with missing or mismatched entries, written by another number
            of processes, or beyond the asked ``steps``.
    """
    path, cfg = run.run_dir / name, run.cfg
    ck = load_checkpoint(path, map_location=run.device)
    check_keys(ck, ("step", "g", "d", "opt_g", "opt_d", "rng"), path)
    load_state(nets.g, ck["g"], "the generator", path)
    load_state(nets.d, ck["d"], "the discriminator", path)
    load_state(nets.opt_g, ck["opt_g"], "the generator's optimiser", path)
    load_state(nets.opt_d, ck["opt_d"], "the discriminator's optimiser", path)
    if nets.ema is not None:
        check_keys(ck, ("g_ema",), path)
        load_state(nets.ema, ck["g_ema"], "the generator's EMA", path)
    for obj, key, what in ((nets.aug, "aug", "the augmentation"), (nets.ada, "ada", "ADA"),
                           (state.watchdog if name == rundir.CHECKPOINT else None, "watchdog",
                            "the watchdog")):  # fmt: skip
        if obj is not None:
            check_keys(ck, (key,), path)
            load_state(obj, ck[key], what, path)
    if state.watchdog is not None and name == rundir.CHECKPOINT:
        state.stopped = state.watchdog.stopped
    if not isinstance(ck["rng"], list) or len(ck["rng"]) != run.world:
        raise ValueError(f"checkpoint {path} was written by another number of processes "
                         f"than {run.world}")  # fmt: skip
    state.rng.set_state(ck["rng"][run.rank].cpu())  # generator states are CPU byte tensors
    state.step = int(ck["step"])
    if state.step > cfg.steps:
        raise ValueError(f"cannot resume {run.run_dir}: it is at step {state.step}, beyond "
                         f"the asked steps={cfg.steps}; pass --steps {state.step} or "
                         "more")  # fmt: skip
    saved = ck.get("config") if isinstance(ck.get("config"), dict) else {}
    a = tuple(ck.get("lr_anchor", state.anchor))
    state.anchor = extended_anchor(saved, cfg, state.step, (int(a[0]), float(a[1])))
