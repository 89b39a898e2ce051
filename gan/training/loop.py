"""The training loop: alternate ``n_critic`` D-steps and one G-step until D outputs ~½.

One function, :func:`train`, with explicit phases. Host synchronisation happens only at the
marked sync points (logging, evaluation, checkpoints); a training step itself never reads a
value back to the host. Loop shape after karpathy/nanoGPT ``train.py``; phases after
NVlabs/stylegan2-ada-pytorch ``training/training_loop.py``.
"""

from __future__ import annotations

import time
from typing import Any

from gan import _dist, rundir
from gan.config import TrainConfig
from gan.speed import StepTimer
from gan.training.budget import Budget, apply_plan
from gan.training.checkpoints import restore, save_checkpoint, weights_finite
from gan.training.evaluate import evaluate
from gan.training.monitor import Monitor
from gan.training.schedule import set_lr
from gan.training.settings import global_settings
from gan.training.start import build, on_rank0, start
from gan.training.state import Nets, Run, State, TrainResult
from gan.training.steps import improve_d, move_g
from gan.training.watch import watch, watched_metric

__all__ = ["train"]


def train(
    cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, stop_at: int | None = None
) -> TrainResult:
    """Train a GAN described by ``cfg`` into its run directory and evaluate it.

    Per step: ``n_critic`` times {real batch, fake batch under no_grad, D loss (+ R1 / GP),
    D update}, then one G update through D, then the EMA update. Gradients are averaged over
    processes under torchrun (see :mod:`gan._dist`); rank 0 logs and checkpoints; every
    rank evaluates its shard of the samples and rank 0 logs the merged metrics
    (see :mod:`gan.evaluation`), with the evaluation policy of ``cfg`` (its
    :data:`gan.config.EVAL_FIELDS`). Process-wide torch settings are restored on return
    (see :func:`~gan.training.global_settings`).

    With ``cfg.conditional`` batches are labelled (fake labels in proportion to the data) and
    both networks take the labels; the evaluation adds :func:`gan.conditional.evaluate_conditional`
    and scores the marginal generator with a fresh unconditional D. ``cfg.augment`` applies
    DiffAugment (ADA: with an adaptive ``p``) to every image D sees. ``cfg.watchdog`` follows
    the first of :data:`~gan.training.WATCHED` in each evaluation: ``best.pt`` keeps the best,
    a divergence (or non-finite losses) rolls back to it with lower learning rates, logged as
    ``{"kind": "watchdog"}`` lines; image data gets a sample grid per evaluation.

    Args:
        cfg: the configuration (see :class:`gan.config.TrainConfig`).
        resume: continue the run in ``cfg.out`` from its checkpoint. ``cfg`` must equal the
            run's configuration except :data:`gan.config.RESUMABLE_FIELDS` (build it with
            :func:`gan.rundir.resume_config`). With the same ``steps`` the continuation is bit
            for bit the uninterrupted run (same machine, device, torch version and thread
            count); with more ``steps`` the learning rate continues from where it stands
            (see :func:`~gan.training.lr_factor`). ``log.jsonl`` is cut back to the
            checkpoint's step and a stale ``evaluation.json`` removed; a refused or failed
            resume changes nothing.
        overwrite: replace the run in ``cfg.out``: its run files are deleted, other files in
            the folder are kept; a folder that holds no run is refused.
        stop_at: stop after this step with a checkpoint and no final evaluation, as if
            interrupted (for time-limited jobs; continue later with ``resume=True``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: bad data/loss names, or a run directory that may not be written.
        TrainingDiverged: a non-finite loss or weight (the last good checkpoint is kept);
            with ``cfg.watchdog`` the run rolls back to ``best.pt`` instead, and ends after
            ``watchdog_max_rollbacks`` rollbacks.

    Example:
        >>> import tempfile
        >>> cfg = TrainConfig(data="ring8", steps=20, batch_size=64, hidden=32, log_every=10,
        ...                   out=tempfile.mkdtemp(), progress=False, plots=False,
        ...                   eval_samples=500, rejection=False, final_js_steps=50)
        >>> res = train(cfg)
        >>> res.step, sorted(res.evaluation)[:2]
        (20, ['high_quality', 'js'])
    """
    t0 = time.perf_counter()  # a time budget covers the whole call, data loading included
    run = start(cfg, resume, overwrite)  # phases 0-1: processes, data, run directory
    cfg = run.cfg
    with global_settings(cfg, run.device):
        nets, state = build(run)  # phase 2: seeded networks, optimisers, random streams
        if resume:  # check_run_dir refused to resume without a checkpoint
            restore(run, nets, state)
        on_rank0(lambda: rundir.commit_run_dir(run.run_dir, cfg, resume=resume,
                                               overwrite=overwrite, step=state.step),
                 run.rank)  # fmt: skip
        mon = Monitor(run, state.step)
        timer = StepTimer(cfg, run.device, first=state.step, warn=run.rank == 0)
        budget = Budget(cfg, t0=t0, step=state.step)
        last = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
        try:
            while state.step < last and not state.stopped:  # phase 3: the loop
                set_lr(run, nets, state)
                fake_g, y_fake, logit_r, logit_f, loss_d = improve_d(run, nets, state)
                loss_g = move_g(run, nets, fake_g, y_fake)
                state.step += 1
                timer.after_step(state.step)  # warns once when a step takes seconds
                mon.add(run.loss, logit_r, logit_f, loss_d, loss_g)
                _sync_points(run, nets, state, mon, last, budget)  # logging, evaluation, ...
                last = run.cfg.steps if stop_at is None else min(run.cfg.steps, stop_at)
            result = _finish(run, nets, state, mon)  # phase 4
        finally:
            mon.close()
    g_out = nets.g_eval.eval()
    return TrainResult(run.run_dir, state.step, g_out, nets.d, run.data, result,
                       mon.seconds_per_step())  # fmt: skip


def _sync_points(
    run: Run, nets: Nets, state: State, mon: Monitor, last: int, budget: Budget
) -> None:
    """Sync points 1-3 after a step: logging (+ time plan), evaluation (+ watchdog), checkpoint."""
    cfg, step, wd = run.cfg, state.step, state.watchdog
    if step % cfg.log_every == 0 or step == cfg.steps:  # sync point 1: logging
        if not mon.sync(run, nets, step):  # non-finite values, and the watchdog is on
            watch(run, nets, state, mon, None)
            return
        if step < last and (steps := budget.at_log(cfg, step, run.rank)) is not None:
            apply_plan(run, state, steps, step, budget, mon.log, mon.bar)
            cfg, last = run.cfg, min(last, steps)
    if cfg.eval_every and cfg.eval_samples and step % cfg.eval_every == 0 and step < last:
        t = time.perf_counter()
        res = evaluate(run, nets, step, final=False)  # sync point 2: periodic evaluation
        budget.evaluated(time.perf_counter() - t)
        if mon.log is not None:
            mon.log.write({"kind": "eval", "step": step, **res})
        if wd is not None and watch(run, nets, state, mon, res) in ("rollback", "stop"):
            return
    if cfg.ckpt_every and step % cfg.ckpt_every == 0 and step < last:
        if wd is not None and not weights_finite(nets):
            watch(run, nets, state, mon, None)
            return
        save_checkpoint(run, nets, state)  # sync point 3: checkpoint


def _finish(run: Run, nets: Nets, state: State, mon: Monitor) -> dict[str, Any]:
    """Phase 4: the final checkpoint, then (at ``cfg.steps``) evaluation and plots."""
    from gan import evaluation, plots  # evaluation pulls in metrics; plots is lazy

    save_checkpoint(run, nets, state)
    result: dict[str, Any] = {}
    done = state.step == run.cfg.steps or state.stopped  # a watchdog stop ends the run
    if done and run.cfg.eval_samples > 0:
        result = evaluate(run, nets, state.step, final=True)  # every rank its shard
        if mon.log is not None:
            mon.log.write({"kind": "eval", "step": state.step, "final": True, **result})
            evaluation.write_json(run.run_dir / rundir.EVALUATION, result)
        wd = state.watchdog
        metric = watched_metric(result)
        if wd is not None and not state.stopped and metric < wd.best_value:  # new best.pt
            wd.best_value, wd.best_step, wd.bad_in_a_row = metric, state.step, 0
            save_checkpoint(run, nets, state, rundir.BEST)
    if run.rank == 0 and done and run.cfg.plots:
        plots.plot_run(run.run_dir, nets.g_eval, run.data, run.cfg)
    _dist.barrier()
    return result
