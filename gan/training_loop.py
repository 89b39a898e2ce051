"""The training loop: alternate ``n_critic`` D-steps and one G-step until D outputs ~½.

One function, :func:`train`, with explicit phases. Host synchronisation happens only at the
marked sync points (logging, evaluation, checkpoints); a training step itself never reads a
value back to the host. Loop shape after karpathy/nanoGPT ``train.py``; phases after
NVlabs/stylegan2-ada-pytorch ``training/training_loop.py``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan import _dist, rundir
from gan.checkpoint import check_keys, load_checkpoint, load_state, save_atomic
from gan.config import TrainConfig
from gan.data import Data, load_data
from gan.ema import EMA
from gan.losses import get_loss, gradient_penalty, r1_penalty
from gan.models import build_models
from gan.reporting import JSONLWriter, ScalarAccumulator

__all__ = ["TrainResult", "TrainingDiverged", "train"]


class TrainingDiverged(RuntimeError):
    """Raised when a loss or a weight becomes NaN/inf; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        step: generator steps done.
        generator: the generator to sample from (the EMA copy when ``ema > 0``), eval mode.
        discriminator: the trained discriminator.
        data: the training distribution.
        evaluation: the final evaluation (flat dict; empty on ranks other than 0).
        seconds_per_step: mean wall time per step over the logged intervals of this call.
    """

    run_dir: Path
    step: int
    generator: nn.Module
    discriminator: nn.Module
    data: Data
    evaluation: dict[str, Any]
    seconds_per_step: float


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA if available, else CPU; ``cuda`` without CUDA is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available; use device='auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def lr_factor(cfg: TrainConfig, step: int, anchor: tuple[int, float] = (0, 1.0)) -> float:
    """Learning-rate multiplier at ``step``: constant, then a decay to ``lr_final``.

    With the default ``anchor`` the factor is 1 until ``lr_decay_start · steps``, then decays
    (linearly or along a half cosine) to ``lr_final`` at ``steps``. An ``anchor = (s0, f0)``
    is set when a resumed run changes ``steps``: the factor stays ``f0`` (the factor the old
    schedule had reached at ``s0``) until ``max(s0, lr_decay_start · steps)``, then decays from
    ``f0`` to ``lr_final`` at the new ``steps``. So the learning rate is continuous at the
    extension point and never rises: a finished run extended keeps ``lr_final``, a run
    extended mid-decay decays from where it stands over the new remaining steps, and a run
    extended before its decay started follows the new schedule exactly. With
    ``f0 = 1`` this is the plain schedule.

    Example:
        >>> cfg = TrainConfig(steps=200, lr_schedule="linear", lr_final=0.02)
        >>> lr_factor(cfg, 100), lr_factor(cfg, 150), lr_factor(cfg, 200)
        (1.0, 0.51, 0.02)
        >>> longer = cfg.replace(steps=400)  # extended at step 200, where the factor was 0.02
        >>> lr_factor(longer, 200, (200, 0.02)), lr_factor(longer, 300, (200, 0.02))
        (0.02, 0.02)
    """
    s0, f0 = anchor
    start = max(float(s0), cfg.lr_decay_start * cfg.steps)
    if cfg.lr_schedule == "constant" or step < start:
        return f0
    t = min(1.0, (step - start) / max(1.0, cfg.steps - start))
    if cfg.lr_schedule == "linear":
        return f0 - (f0 - cfg.lr_final) * t
    return cfg.lr_final + (f0 - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * t))


def _extended_anchor(saved: dict, cfg: TrainConfig, step: int, anchor) -> tuple[int, float]:
    """The schedule's anchor after resuming at ``step`` with ``cfg`` (see :func:`lr_factor`)."""
    if int(saved.get("steps", cfg.steps)) == cfg.steps:
        return anchor  # an interrupted run continues on its own schedule, bit for bit
    old = cfg.replace(steps=max(1, int(saved["steps"])))
    return (step, lr_factor(old, step, anchor))


def _rng_states(rng: torch.Generator) -> list[torch.Tensor]:
    state = rng.get_state()
    if not _dist.is_distributed():
        return [state]
    out: list[Any] = [None] * _dist.get_world_size()
    torch.distributed.all_gather_object(out, state)
    return out


def train(
    cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, stop_at: int | None = None
) -> TrainResult:
    """Train a GAN described by ``cfg`` into its run directory and evaluate it.

    Per step: ``n_critic`` times {real batch, fake batch under no_grad, D loss (+ R1 / GP),
    D update}, then one G update through D, then the EMA update. Gradients are averaged over
    processes under torchrun (see :mod:`gan._dist`); rank 0 logs and checkpoints; every
    rank evaluates its shard of the samples and rank 0 logs the merged metrics
    (see :mod:`gan.evaluation`).

    Args:
        cfg: the configuration (see :class:`gan.config.TrainConfig`).
        resume: continue the run in ``cfg.out`` from its checkpoint. ``cfg`` must equal the
            run's configuration except :data:`gan.config.RESUMABLE_FIELDS` (build it with
            :func:`gan.rundir.resume_config`). With the same ``steps`` the continuation is bit
            for bit the uninterrupted run (same machine, device, torch version and thread
            count); with more ``steps`` the learning rate continues from where it stands
            (see :func:`lr_factor`). ``log.jsonl`` is cut back to the checkpoint's step and
            a stale ``evaluation.json`` removed; a refused or failed resume changes nothing.
        overwrite: replace the run in ``cfg.out``: its run files are deleted, other files in
            the folder are kept; a folder that holds no run is refused.
        stop_at: stop after this step with a checkpoint and no final evaluation, as if
            interrupted (for time-limited jobs; continue later with ``resume=True``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: bad data/loss names, or a run directory that may not be written.
        TrainingDiverged: a non-finite loss or weight (the last good checkpoint is kept).

    Example:
        >>> import tempfile
        >>> cfg = TrainConfig(data="ring8", steps=20, batch_size=64, hidden=32, log_every=10,
        ...                   out=tempfile.mkdtemp(), progress=False, plots=False,
        ...                   eval_samples=500, rejection=False)
        >>> res = train(cfg)
        >>> res.step, sorted(res.evaluation)[:2]
        (20, ['high_quality', 'js'])
    """
    from gan import evaluation, plots  # evaluation pulls in metrics; plots is lazy

    # ---- phase 0: processes, device, seeds ---------------------------------------------
    device = pick_device(cfg.device)
    _dist.init_from_env(device.type)
    rank, world = _dist.rank_and_world()
    if 0 < cfg.eval_samples < 2 * world:  # each rank evaluates a shard of at least 2
        raise ValueError(f"eval_samples must be 0 or >= 2 per process ({2 * world}), got "
                         f"{cfg.eval_samples}")  # fmt: skip
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    loss = get_loss(cfg.loss, alpha=cfg.alpha)  # validates the name first
    data = load_data(cfg.data, image_size=cfg.image_size).to(device)
    det_before = torch.are_deterministic_algorithms_enabled()
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed)  # model initialisation: identical on every rank
    rng = torch.Generator(device).manual_seed(cfg.seed * world + rank)  # data + noise, per rank

    # ---- phase 1: run directory (rank 0 decides, the others follow) --------------------
    run_dir = Path(cfg.out) if cfg.out else rundir.default_run_dir(cfg)
    if world > 1:
        box = [str(run_dir)]
        torch.distributed.broadcast_object_list(box, src=0)
        run_dir = Path(box[0])
    cfg = cfg.replace(out=str(run_dir))
    # Decide first, change nothing: a refused or failed start leaves the folder as it was.
    _on_rank0(lambda: rundir.check_run_dir(run_dir, cfg, resume=resume, overwrite=overwrite), rank)
    resuming = resume  # check_run_dir refused to resume without a checkpoint

    # ---- phase 2: models, optimisers, EMA ----------------------------------------------
    g, d = build_models(cfg, data.shape)
    g, d = g.to(device), d.to(device)
    if device.type == "cuda" and data.is_image:  # NHWC convolutions on tensor cores
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
        if data.train is not None:
            data.train = data.train.contiguous(memory_format=torch.channels_last)
    _dist.broadcast_module(g)
    _dist.broadcast_module(d)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    ema = EMA(g, cfg.ema) if cfg.ema > 0 else None
    # R1 is measured in the coordinates D works in (standardised ones with cfg.normalize).
    r1_scale = float(d.scale) ** 2 if cfg.normalize else 1.0
    gp_weight = cfg.gp if (cfg.gp > 0 or cfg.loss != "wgan-gp") else 10.0
    step, anchor = 0, (0, 1.0)
    if resuming:
        path = run_dir / rundir.CHECKPOINT
        ck = load_checkpoint(path, map_location=device)
        check_keys(ck, ("step", "g", "d", "opt_g", "opt_d", "rng"), path)
        load_state(g, ck["g"], "the generator", path)
        load_state(d, ck["d"], "the discriminator", path)
        load_state(opt_g, ck["opt_g"], "the generator's optimiser", path)
        load_state(opt_d, ck["opt_d"], "the discriminator's optimiser", path)
        if ema is not None:
            check_keys(ck, ("g_ema",), path)
            load_state(ema, ck["g_ema"], "the generator's EMA", path)
        if not isinstance(ck["rng"], list) or len(ck["rng"]) != world:
            raise ValueError(f"checkpoint {path} was written by another number of processes "
                             f"than {world}")  # fmt: skip
        rng.set_state(ck["rng"][rank].cpu())  # generator states are CPU byte tensors
        step = int(ck["step"])
        if step > cfg.steps:
            raise ValueError(f"cannot resume {run_dir}: it is at step {step}, beyond the "
                             f"asked steps={cfg.steps}; pass --steps {step} or more")  # fmt: skip
        saved = ck.get("config") if isinstance(ck.get("config"), dict) else {}
        anchor = tuple(ck.get("lr_anchor", anchor))
        anchor = _extended_anchor(saved, cfg, step, (int(anchor[0]), float(anchor[1])))
    _on_rank0(lambda: rundir.commit_run_dir(run_dir, cfg, resume=resuming, overwrite=overwrite,
                                            step=step), rank)  # fmt: skip
    g_fwd = torch.compile(g) if cfg.compile else g
    # R1 / WGAN-GP need double backward through D, which torch.compile does not support:
    # D then stays eager.
    penalties = cfg.r1 > 0 or gp_weight > 0
    d_fwd = torch.compile(d) if cfg.compile and not penalties else d
    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if cfg.amp and device.type == "cuda"
        else contextlib.nullcontext()
    )
    log = None
    if rank == 0:
        tb = run_dir / "tensorboard" if cfg.tensorboard else None
        log = JSONLWriter(run_dir / rundir.LOG, tb)
    acc = ScalarAccumulator()
    bar = None
    if cfg.progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="train", dynamic_ncols=True)

    def save_checkpoint() -> None:
        # Sync point: checks every weight is finite before replacing the last good checkpoint.
        params = [*g.parameters(), *d.parameters()]
        if not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            raise TrainingDiverged(f"non-finite weights at step {step}; kept last checkpoint")
        state = {
            "version": 1, "config": cfg.to_dict(), "step": step, "g": g.state_dict(),
            "d": d.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "g_ema": ema.state_dict() if ema is not None else None, "rng": _rng_states(rng),
            "lr_anchor": [int(anchor[0]), float(anchor[1])],
        }  # fmt: skip
        if rank == 0:
            save_atomic(state, run_dir / rundir.CHECKPOINT)

    def sample_real(n: int, gen: torch.Generator) -> torch.Tensor:
        return data.sample(n, gen)

    def evaluate(final: bool) -> dict[str, Any]:
        # Sharded over ranks (gan.evaluation): each rank draws its share from its own seed.
        seed_eval = _dist.rank_seed(cfg.seed + 7919 * (step + 1), rank)
        gen_eval = torch.Generator(device).manual_seed(seed_eval)
        g_eval = ema.model if ema is not None else g
        g_eval.eval()
        d_eval, cal_steps = d, (1000 if final else 300)
        if cfg.pac > 1:  # the JS classifier and DRS need an unpacked D: a fresh one, longer
            d_eval = build_models(cfg.replace(pac=1), data.shape)[1].to(device)
            cal_steps = 2000 if final else 1000
        res = evaluation.evaluate_generator(
            g_eval, d_eval, data, n=cfg.eval_samples, z_dim=cfg.z_dim, generator=gen_eval,
            rejection=final and cfg.rejection, calibration_steps=cal_steps,
            drs_calibration_steps=3000 if cfg.pac == 1 else 6000,
        )  # fmt: skip
        g.train()
        return res

    # ---- phase 3: the loop ---------------------------------------------------------------
    b, t_last, step_last, times = cfg.batch_size, time.perf_counter(), step, []
    last = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    try:
        while step < last:
            for opt, base in ((opt_g, cfg.lr_g), (opt_d, cfg.lr_d)):
                for group in opt.param_groups:
                    group["lr"] = base * lr_factor(cfg, step, anchor)
            # -- phase D: n_critic discriminator steps. The last one keeps G's graph of its
            #    fake batch, which the G phase reuses (as the DCGAN reference loop does).
            for i in range(cfg.n_critic):
                real = sample_real(b, rng)
                z = torch.randn(b, cfg.z_dim, generator=rng, device=device)
                with torch.set_grad_enabled(i == cfg.n_critic - 1), amp:
                    fake_g = g_fwd(z)
                fake = fake_g.detach()
                if cfg.r1 > 0:
                    real.requires_grad_(True)
                with amp:
                    logit_r, logit_f = d_fwd(real).float(), d_fwd(fake).float()
                    loss_d = loss.d_loss(logit_r, logit_f)
                    if cfg.r1 > 0:  # in standardised coordinates: ∇_u = scale · ∇_x
                        loss_d = loss_d + 0.5 * cfg.r1 * r1_scale * r1_penalty(logit_r, real)
                    if gp_weight > 0:
                        gp = gradient_penalty(d_fwd, real, fake, generator=rng, pac=cfg.pac)
                        loss_d = loss_d + gp_weight * gp
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                _dist.all_reduce_grads(d)
                opt_d.step()
            # -- phase G: one generator step through the updated D (D's gradients discarded)
            with amp:
                loss_g = loss.g_loss(d_fwd(fake_g).float())
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            _dist.all_reduce_grads(g)
            opt_g.step()
            if ema is not None:
                ema.update(g)
            step += 1
            # -- accumulate on the device (no sync)
            lr_, lf_ = logit_r.detach(), logit_f.detach()
            d_real = torch.sigmoid(lr_).mean() if loss.logistic else lr_.mean()
            d_fake = torch.sigmoid(lf_).mean() if loss.logistic else lf_.mean()
            acc.add(loss_d=loss_d, loss_g=loss_g, d_real=d_real, d_fake=d_fake,
                    **{loss.estimate_name: loss.estimate(lr_, lf_)})  # fmt: skip
            # -- sync point 1: logging (one .tolist() for all scalars, all ranks agree)
            if step % cfg.log_every == 0 or step == cfg.steps:
                values = acc.means(reduce=_mean_over_ranks)
                now = time.perf_counter()
                times.append((now - t_last, step - step_last))
                t_last, step_last = now, step
                bad = [k for k, v in values.items() if not math.isfinite(v)]
                if bad:
                    raise TrainingDiverged(
                        f"non-finite {', '.join(bad)} at step {step} (values {values}); the "
                        f"last good checkpoint in {run_dir} was kept"
                    )
                if log is not None:
                    log.write({"kind": "train", "step": step, **values,
                               "lr_g": opt_g.param_groups[0]["lr"],
                               "lr_d": opt_d.param_groups[0]["lr"],
                               "sec_per_step": times[-1][0] / max(1, times[-1][1])})  # fmt: skip
                if bar is not None:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()}, refresh=False)
                    bar.update(step - bar.n)
            # -- sync point 2: periodic evaluation (every rank its shard; rank 0 logs the merge)
            if cfg.eval_every and cfg.eval_samples and step % cfg.eval_every == 0 and step < last:
                res = evaluate(final=False)
                if log is not None:
                    log.write({"kind": "eval", "step": step, **res})
            # -- sync point 3: checkpoint
            if cfg.ckpt_every and step % cfg.ckpt_every == 0 and step < last:
                save_checkpoint()
        # ---- phase 4: final checkpoint, evaluation and plots --------------------------------
        save_checkpoint()
        result: dict[str, Any] = {}
        if step == cfg.steps and cfg.eval_samples > 0:
            result = evaluate(final=True)  # every rank its shard; the merge is on rank 0
            if rank == 0:
                log.write({"kind": "eval", "step": step, "final": True, **result})
                evaluation.write_json(run_dir / rundir.EVALUATION, result)
        if rank == 0 and step == cfg.steps and cfg.plots:
            plots.plot_run(run_dir, ema.model if ema is not None else g, data, cfg)
        _dist.barrier()
    finally:
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
        if cfg.deterministic and not det_before:
            torch.use_deterministic_algorithms(False)
    sps = sum(t for t, _ in times) / max(1, sum(n for _, n in times))
    g_out = (ema.model if ema is not None else g).eval()
    return TrainResult(run_dir, step, g_out, d, data, result, sps)


def _on_rank0(fn, rank: int):
    """Run ``fn`` on rank 0 only; its ValueError is raised on every rank (no deadlock)."""
    err: list[Any] = [None]
    out = None
    if rank == 0:
        try:
            out = fn()
        except ValueError as exc:
            err = [str(exc)]
    if _dist.is_distributed():
        torch.distributed.broadcast_object_list(err, src=0)
    if err[0] is not None:
        raise ValueError(err[0])
    return out


def _mean_over_ranks(t: torch.Tensor) -> torch.Tensor:
    if _dist.get_world_size() > 1:
        t = t.clone()
        torch.distributed.all_reduce(t)
        t /= _dist.get_world_size()
    return t
