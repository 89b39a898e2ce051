"""The training loop: alternate ``n_critic`` D-steps and one G-step until D outputs ~½.

One function, :func:`train`, with explicit phases. Host synchronisation happens only at the
marked sync points (logging, evaluation, checkpoints); a training step itself never reads a
value back to the host. Loop shape after karpathy/nanoGPT ``train.py``; phases after
NVlabs/stylegan2-ada-pytorch ``training/training_loop.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan import _dist, rundir
from gan.augment import AdaptiveProbability, DiffAugment
from gan.checkpoint import check_keys, load_checkpoint, load_state, save_atomic
from gan.config import TrainConfig
from gan.data import DATASETS, Data, load_data
from gan.ema import EMA
from gan.losses import GANLoss, get_loss, gradient_penalty, r1_penalty
from gan.models import build_models
from gan.reporting import JSONLWriter, ScalarAccumulator
from gan.speed import StepTimer, resolve_arch
from gan.watchdog import Watchdog

__all__ = ["TrainResult", "TrainingDiverged", "global_settings", "lr_factor", "train"]


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


@contextlib.contextmanager
def global_settings(cfg: TrainConfig, device: torch.device) -> Iterator[None]:
    """Apply the run's process-wide torch settings; restore the previous ones on exit.

    Covers deterministic algorithms (and their warn-only flag), cuDNN autotuning and
    determinism, TF32 matmuls, float32 matmul precision, the CPU thread count and the
    ``CUBLAS_WORKSPACE_CONFIG`` variable, so that a caller's settings survive a run, an
    exception included.

    Example:
        >>> before = torch.get_num_threads()
        >>> with global_settings(TrainConfig(threads=1), torch.device("cpu")):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
        torch.get_num_threads(),
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    try:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
            torch.use_deterministic_algorithms(True, warn_only=False)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2:4]
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[4:6]
        torch.set_float32_matmul_precision(saved[6])
        torch.set_num_threads(saved[7])
        if saved[8] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[8]


@dataclass
class _Nets:
    """The networks, their optimisers and what a step needs to run them."""

    g: nn.Module
    d: nn.Module
    g_fwd: Callable  # g, or its compiled form
    d_fwd: Callable
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: EMA | None
    amp: Any  # bf16 autocast on CUDA, else a null context
    joint_d: bool  # one D forward on cat(real, fake): exact when D has no batch coupling
    r1_scale: float
    gp_weight: float
    n_classes: int = 0  # > 0: g(z, y) and d(x, y)
    aug: DiffAugment | None = None  # applied to every image D sees
    ada: AdaptiveProbability | None = None  # sets aug.p from D's real logits
    d_params: list = field(default_factory=list)  # D's parameters, listed once (not per step)

    def __post_init__(self) -> None:
        self.d_params = list(self.d.parameters())

    @property
    def g_eval(self) -> nn.Module:
        """The generator to evaluate and sample from (the EMA copy when there is one)."""
        return self.ema.model if self.ema is not None else self.g


@dataclass
class _State:
    """What changes while training: the step, the schedule's anchor, the data/noise RNG."""

    step: int
    anchor: tuple[int, float]
    rng: torch.Generator
    watchdog: Watchdog | None = None
    stopped: bool = False  # the watchdog ended the run


@dataclass
class _Run:
    """The fixed set-up of a run, shared by the phases."""

    cfg: TrainConfig
    device: torch.device
    rank: int
    world: int
    run_dir: Path
    data: Data
    loss: GANLoss


def _adam(params, lr: float, betas: tuple[float, float], device: torch.device):
    # One fused kernel per step instead of several small operations per parameter.
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=device.type in ("cpu", "cuda"))


def _batch_coupled(d: nn.Module) -> bool:
    """True when D's output on one sample depends on the others or on the forward count."""
    for m in d.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) or m._forward_pre_hooks:
            return True  # batch statistics, or spectral norm's per-forward power iteration
        if torch.nn.utils.parametrize.is_parametrized(m):
            return True
    return False


def _build(cfg: TrainConfig, data: Data, device: torch.device, aug_seed: int) -> _Nets:
    """G, D (broadcast from rank 0), their Adam optimisers, the EMA copy and step options."""
    g, d = build_models(cfg, data.shape, n_classes=data.n_classes)
    g, d = g.to(device), d.to(device)
    if device.type == "cuda" and data.is_image:  # NHWC convolutions on tensor cores
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
        if data.train is not None:
            data.train = data.train.contiguous(memory_format=torch.channels_last)
    _dist.broadcast_module(g)
    _dist.broadcast_module(d)
    betas = (cfg.beta1, cfg.beta2)
    gp_weight = cfg.gp if (cfg.gp > 0 or cfg.loss != "wgan-gp") else 10.0
    # R1 / WGAN-GP need double backward through D, which torch.compile does not support.
    d_eager = cfg.r1 > 0 or gp_weight > 0
    on_cuda = device.type == "cuda"
    return _Nets(
        g=g, d=d, g_fwd=torch.compile(g) if cfg.compile else g,
        d_fwd=torch.compile(d) if cfg.compile and not d_eager else d,
        opt_g=_adam(g.parameters(), cfg.lr_g, betas, device),
        opt_d=_adam(d.parameters(), cfg.lr_d, betas, device),
        ema=EMA(g, cfg.ema) if cfg.ema > 0 else None,
        amp=torch.autocast("cuda", dtype=torch.bfloat16) if cfg.amp and on_cuda
        else contextlib.nullcontext(),
        joint_d=not _batch_coupled(d),
        # R1 is measured in the coordinates D works in (standardised ones with cfg.normalize).
        r1_scale=float(d.scale) ** 2 if cfg.normalize else 1.0,
        gp_weight=gp_weight, n_classes=data.n_classes,
        aug=None if cfg.augment == "none" else DiffAugment(
            cfg.augment_policy, p=0.0 if cfg.augment == "ada" else 1.0, seed=aug_seed),
        ada=AdaptiveProbability(target=cfg.ada_target) if cfg.augment == "ada" else None,
    )  # fmt: skip


def _restore(run: _Run, nets: _Nets, state: _State, name: str = rundir.CHECKPOINT) -> None:
    """Load the run's checkpoint ``name`` into ``nets`` and ``state`` (resume, rollback).

    A rollback (``name`` = ``best.pt``) keeps the watchdog's current state (its rollbacks).
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
    state.anchor = _extended_anchor(saved, cfg, state.step, (int(a[0]), float(a[1])))


def _set_lr(run: _Run, nets: _Nets, state: _State) -> None:
    cfg, wd = run.cfg, state.watchdog
    factor = lr_factor(cfg, state.step, state.anchor)
    if wd is not None:
        factor *= wd.lr_multiplier
    if cfg.lr_spike_at and state.step >= cfg.lr_spike_at and (wd is None or not wd.rollbacks):
        factor *= cfg.lr_spike  # the divergence drill, disarmed by the first rollback
    for opt, base in ((nets.opt_g, run.cfg.lr_g), (nets.opt_d, run.cfg.lr_d)):
        for group in opt.param_groups:
            group["lr"] = base * factor


def _call(net: Callable, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """``net(x)``, or ``net(x, y)`` for a conditional network."""
    return net(x) if y is None else net(x, y)


def _batch(run: _Run, nets: _Nets, state: _State):
    """``(real, y_real, y_fake)``: a real batch, its labels and fake labels (None if unconditional).

    Fake labels are those of uniformly drawn training samples: classes in proportion to the data.
    """
    b, data = run.cfg.batch_size, run.data
    if not nets.n_classes:
        return data.sample(b, state.rng), None, None
    real, y_r = data.sample_labelled(b, state.rng)
    pick = torch.randint(len(data.labels), (b,), generator=state.rng, device=run.device)
    return real, y_r, data.labels[pick]


def _d_phase(run: _Run, nets: _Nets, state: _State):
    """``n_critic`` D steps; returns the last one's ``(fake_g, y_fake, logit_r, logit_f, loss_d)``.

    The last fake batch keeps G's graph, which the G phase reuses (as the DCGAN reference
    loop does). With augmentation D sees ``aug(real)`` and ``aug(fake)``, fresh draws for each;
    R1 and ADA use D's logits on the augmented reals (as stylegan2-ada does), the gradient
    penalty the plain images.
    """
    cfg, b, aug = run.cfg, run.cfg.batch_size, nets.aug
    for i in range(cfg.n_critic):
        real, y_r, y_f = _batch(run, nets, state)
        z = torch.randn(b, cfg.z_dim, generator=state.rng, device=run.device)
        with torch.set_grad_enabled(i == cfg.n_critic - 1), nets.amp:
            fake_g = _call(nets.g_fwd, z, y_f)
        fake = fake_g.detach()
        if cfg.r1 > 0:
            real.requires_grad_(True)
        real_d, fake_d = (real, fake) if aug is None else (aug(real), aug(fake))
        with nets.amp:
            if nets.joint_d:
                y_rf = None if y_r is None else torch.cat([y_r, y_f])
                logit_r, logit_f = _call(nets.d_fwd, torch.cat([real_d, fake_d]), y_rf).float()\
                    .chunk(2)  # fmt: skip
            else:
                logit_r = _call(nets.d_fwd, real_d, y_r).float()
                logit_f = _call(nets.d_fwd, fake_d, y_f).float()
            loss_d = run.loss.d_loss(logit_r, logit_f)
            if cfg.r1 > 0:  # in standardised coordinates: ∇_u = scale · ∇_x
                loss_d = loss_d + 0.5 * cfg.r1 * nets.r1_scale * r1_penalty(logit_r, real)
            if nets.gp_weight > 0:
                d_gp = nets.d_fwd if y_r is None else (lambda x: nets.d_fwd(x, y_r))  # noqa: B023
                gp = gradient_penalty(d_gp, real, fake, generator=state.rng, pac=cfg.pac)
                loss_d = loss_d + nets.gp_weight * gp
        nets.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        _dist.all_reduce_grads(nets.d)
        nets.opt_d.step()
        if nets.ada is not None:  # one host sync per ADA adjustment (every 4 calls)
            aug.p = nets.ada.update(_dist.all_gather_cat(logit_r.detach()) if run.world > 1
                                    else logit_r.detach())  # fmt: skip
    return fake_g, y_f, logit_r.detach(), logit_f.detach(), loss_d.detach()


def _g_phase(run: _Run, nets: _Nets, fake_g: torch.Tensor, y_fake) -> torch.Tensor:
    """One G step through the updated D (on ``aug(fake)``), then the EMA update; G's loss."""
    for p in nets.d_params:  # no gradients for D's weights: they would be discarded
        p.requires_grad_(False)
    try:
        x = fake_g if nets.aug is None else nets.aug(fake_g)
        with nets.amp:
            loss_g = run.loss.g_loss(_call(nets.d_fwd, x, y_fake).float())
        nets.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    finally:
        for p in nets.d_params:
            p.requires_grad_(True)
    _dist.all_reduce_grads(nets.g)
    nets.opt_g.step()
    if nets.ema is not None:
        nets.ema.update(nets.g)
    return loss_g.detach()


class _Monitor:
    """Rank 0's log and progress bar, and the on-device running means (sync point 1)."""

    def __init__(self, run: _Run, step: int):
        self.acc, self.log, self.bar, self.times = ScalarAccumulator(), None, None, []
        self.t_last, self.step_last = time.perf_counter(), step
        if run.rank == 0:
            tb = run.run_dir / "tensorboard" if run.cfg.tensorboard else None
            self.log = JSONLWriter(run.run_dir / rundir.LOG, tb)
            if run.cfg.progress:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=run.cfg.steps, initial=step, desc="train",
                                dynamic_ncols=True)  # fmt: skip

    def add(self, loss: GANLoss, logit_r, logit_f, loss_d, loss_g) -> None:
        """Accumulate one step's scalars on the device (no sync)."""
        d_real = torch.sigmoid(logit_r).mean() if loss.logistic else logit_r.mean()
        d_fake = torch.sigmoid(logit_f).mean() if loss.logistic else logit_f.mean()
        self.acc.add(loss_d=loss_d, loss_g=loss_g, d_real=d_real, d_fake=d_fake,
                     **{loss.estimate_name: loss.estimate(logit_r, logit_f)})  # fmt: skip

    def sync(self, run: _Run, nets: _Nets, step: int) -> bool:
        """One host sync: means over ranks, a finiteness check, a log line, the bar.

        Returns False for non-finite values when the watchdog is on (it then decides);
        without it they raise :class:`TrainingDiverged`.
        """
        values = self.acc.means(reduce=_dist.all_reduce_mean)
        now = time.perf_counter()
        self.times.append((now - self.t_last, step - self.step_last))
        self.t_last, self.step_last = now, step
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad and run.cfg.watchdog:
            return False
        if bad:
            raise TrainingDiverged(f"non-finite {', '.join(bad)} at step {step} (values "
                                   f"{values}); the last good checkpoint in {run.run_dir} "
                                   "was kept")  # fmt: skip
        if self.log is not None:
            sec = self.times[-1][0] / max(1, self.times[-1][1])
            lrs = {
                "lr_g": nets.opt_g.param_groups[0]["lr"],
                "lr_d": nets.opt_d.param_groups[0]["lr"],
            }
            self.log.write({"kind": "train", "step": step, **values, **lrs, "sec_per_step": sec})
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()}, refresh=False)
            self.bar.update(step - self.bar.n)
        return True

    def rewind(self, step: int) -> None:
        """After a rollback to ``step``: drop the running means, restart the timer and bar."""
        self.acc = ScalarAccumulator()
        self.t_last, self.step_last = time.perf_counter(), step
        if self.bar is not None:
            self.bar.n = step
            self.bar.refresh()

    def seconds_per_step(self) -> float:
        return sum(t for t, _ in self.times) / max(1, sum(n for _, n in self.times))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.log is not None:
            self.log.close()


def _weights_finite(nets: _Nets) -> bool:
    params = [*nets.g.parameters(), *nets.d.parameters()]
    return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())


def _save_checkpoint(run: _Run, nets: _Nets, state: _State, name: str = rundir.CHECKPOINT) -> None:
    """Sync point: every weight must be finite before the last good checkpoint is replaced."""
    if not _weights_finite(nets):
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
    }  # fmt: skip
    if run.rank == 0:
        save_atomic(ck, run.run_dir / name)


#: The evaluation's keys the watchdog follows, in order of preference (lower is better).
WATCHED = ("fid", "kid", "js")


def _watch(run: _Run, nets: _Nets, state: _State, mon: _Monitor, res: dict | None) -> str:
    """Sync point: the watchdog's action after an evaluation ``res`` (None: non-finite values).

    ``best`` saves ``best.pt``; ``rollback`` reloads it (step included) with the learning
    rates lowered; ``rollback`` and ``stop`` are logged with their reason. Every rank takes the
    same decision (the metric comes from rank 0).
    """
    wd, step = state.watchdog, state.step
    assert wd is not None
    metric = next((float(res[k]) for k in WATCHED if k in res), math.nan) if res else math.nan
    metric = float(_dist.broadcast_object(metric))
    finite = res is not None and _weights_finite(nets)
    dec = wd.observe(step, metric, finite_losses=finite)
    if dec.action == "best":
        _save_checkpoint(run, nets, state, rundir.BEST)
    elif dec.action in ("rollback", "stop"):
        if mon.log is not None:
            mon.log.write({"kind": "watchdog", "step": step, "action": dec.action,
                           "reason": dec.reason, "best_step": dec.best_step,
                           "best_value": dec.best_value,
                           "lr_multiplier": dec.lr_multiplier})  # fmt: skip
        if dec.action == "rollback" or not _weights_finite(nets):
            _restore(run, nets, state, rundir.BEST)  # a stop ends at the best weights if bad
            mon.rewind(state.step)
        state.stopped = dec.action == "stop"
    return dec.action


def _sync_points(run: _Run, nets: _Nets, state: _State, mon: _Monitor, last: int) -> None:
    """Sync points 1-3 after a step: logging, periodic evaluation (+ watchdog), checkpoint."""
    cfg, step, wd = run.cfg, state.step, state.watchdog
    if step % cfg.log_every == 0 or step == cfg.steps:  # sync point 1: logging
        if not mon.sync(run, nets, step):  # non-finite values, and the watchdog is on
            _watch(run, nets, state, mon, None)
            return
    if cfg.eval_every and cfg.eval_samples and step % cfg.eval_every == 0 and step < last:
        res = _evaluate(run, nets, step, final=False)  # sync point 2: periodic evaluation
        if mon.log is not None:
            mon.log.write({"kind": "eval", "step": step, **res})
        if wd is not None and _watch(run, nets, state, mon, res) in ("rollback", "stop"):
            return
    if cfg.ckpt_every and step % cfg.ckpt_every == 0 and step < last:
        if wd is not None and not _weights_finite(nets):
            _watch(run, nets, state, mon, None)
            return
        _save_checkpoint(run, nets, state)  # sync point 3: checkpoint


def _evaluate(run: _Run, nets: _Nets, step: int, *, final: bool) -> dict[str, Any]:
    """Evaluate the generator (sharded over ranks) with the policy of ``run.cfg``."""
    from gan import evaluation  # pulls in metrics

    cfg, data = run.cfg, run.data
    seed = _dist.rank_seed(cfg.seed + cfg.eval_seed_stride * (step + 1), run.rank)
    d_eval, fresh = nets.d, cfg.pac > 1 or nets.n_classes > 0
    if fresh:  # the JS classifier and DRS need an unpacked, unconditional D: fitted longer
        d_eval = build_models(cfg.replace(pac=1), data.shape)[1].to(run.device)
    js_steps = ((cfg.fresh_final_js_steps if final else cfg.fresh_eval_js_steps) if fresh
                else (cfg.final_js_steps if final else cfg.eval_js_steps))  # fmt: skip
    js_steps = evaluation.fit_steps(cfg, js_steps)  # a short run gets a short evaluation
    n = evaluation.sample_count(cfg, 2 * max(run.world, nets.n_classes))
    drs_steps = evaluation.fit_steps(cfg, cfg.fresh_drs_steps if fresh else cfg.drs_steps)
    g_eval = nets.g_eval.eval()
    try:
        g_marg = _marginal(g_eval, data, seed) if nets.n_classes else g_eval
        res = evaluation.evaluate_generator(
            g_marg, d_eval, data, n=n, z_dim=cfg.z_dim,
            generator=torch.Generator(run.device).manual_seed(seed),
            rejection=final and cfg.rejection, calibration_steps=js_steps,
            drs_calibration_steps=drs_steps, batch_size=cfg.eval_batch_size,
        )  # fmt: skip
        if run.rank == 0:  # the evaluation states its own effort
            res.update(n_generated=n, js_fit_steps=js_steps)
        if run.rank == 0 and nets.n_classes:  # per class: intra-FID, digits accuracy
            from gan.conditional import evaluate_conditional

            res.update(evaluate_conditional(
                g_eval, data, n=n, z_dim=cfg.z_dim,
                generator=torch.Generator(run.device).manual_seed(seed + 1)))  # fmt: skip
        if run.rank == 0 and cfg.plots and data.is_image:  # the same noise at every evaluation
            from gan import plots

            with torch.no_grad():
                z = torch.randn(64, cfg.z_dim, generator=torch.Generator(run.device)
                                .manual_seed(cfg.seed), device=run.device)  # fmt: skip
                x = (_marginal(g_eval, data, cfg.seed) if nets.n_classes else g_eval)(z)
            plots.plot_image_grid(x, plots.grid_path(run.run_dir, step), title=f"step {step}")
        return res
    finally:
        nets.g.train()


def _marginal(g: nn.Module, data: Data, seed: int) -> nn.Module:
    """A conditional generator as an unconditional one: labels in proportion to the data."""
    from gan.conditional import MarginalGenerator

    return MarginalGenerator(g, data.class_counts(), seed=seed)


def _subset(data: Data, fraction: float) -> Data:
    """A fixed random share of the stored training set (the same for every seed)."""
    if fraction >= 1.0:
        return data
    if data.train is None:
        raise ValueError(f"data_fraction < 1 needs a data set of stored samples (digits, a file "
                         f"or a folder); {data.name} is sampled fresh")  # fmt: skip
    n = len(data.train)
    keep = torch.randperm(n, generator=torch.Generator().manual_seed(0))[
        : max(2, round(n * fraction))
    ]
    labels = None if data.labels is None else data.labels[keep]
    return dataclasses.replace(data, train=data.train[keep], labels=labels)


def _check_against_data(cfg: TrainConfig, data: Data) -> None:
    """Refuse options the data or the installation cannot serve, before anything is written."""
    if cfg.augment != "none" and not data.is_image:
        raise ValueError(
            f"augment={cfg.augment!r} (DiffAugment/ADA) needs image data (C, H, W), but "
            f"{cfg.data!r} gives samples of shape {tuple(data.shape)}; use augment='none'"
        )
    if cfg.tensorboard:
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError as exc:
            raise ValueError(
                "tensorboard=True needs the tensorboard package (pip install tensorboard); "
                "or set tensorboard=False"
            ) from exc


def _start(cfg: TrainConfig, resume: bool, overwrite: bool):
    """Processes, device, data, run directory, networks and state (phases 0 to 2)."""
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
    if cfg.data not in DATASETS and Path(cfg.data).exists():
        # the run's config.json must find the data from any folder (resume, sample, evaluate)
        cfg = cfg.replace(data=str(Path(cfg.data).resolve()))
    if cfg.data_root:
        cfg = cfg.replace(data_root=str(Path(cfg.data_root).expanduser().resolve()))
    data = load_data(cfg.data, image_size=cfg.image_size, conditional=cfg.conditional,
                     data_root=cfg.data_root)  # fmt: skip
    data = _subset(data, cfg.data_fraction).to(device)
    if data.n_classes and 0 < cfg.eval_samples < 2 * data.n_classes:
        raise ValueError(f"eval_samples must be 0 or >= 2 per class ({2 * data.n_classes}) for "
                         f"a conditional run, got {cfg.eval_samples}")  # fmt: skip
    _check_against_data(cfg, data)
    run_dir = Path(_dist.broadcast_object(str(cfg.out or rundir.default_run_dir(cfg))))
    cfg = cfg.replace(out=str(run_dir))
    if cfg.arch == "auto":  # recorded in config.json: another device builds the same networks
        saved = _saved_arch(run_dir) if resume else None  # a resumed run keeps its own
        cfg = cfg.replace(arch=saved or resolve_arch(cfg.arch, data.shape, device, pac=cfg.pac))
    # Decide first, change nothing: a refused or failed start leaves the folder as it was.
    _on_rank0(lambda: rundir.check_run_dir(run_dir, cfg, resume=resume, overwrite=overwrite), rank)
    return _Run(cfg, device, rank, world, run_dir, data, loss)


def _saved_arch(run_dir: Path) -> str | None:
    """The architecture a run directory's config.json records (None if unreadable)."""
    try:
        return rundir.read_config(run_dir).arch
    except ValueError:
        return None


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
    (see :func:`global_settings`).

    With ``cfg.conditional`` batches are labelled (fake labels in proportion to the data) and
    both networks take the labels; the evaluation adds :func:`gan.conditional.evaluate_conditional`
    and scores the marginal generator with a fresh unconditional D. ``cfg.augment`` applies
    DiffAugment (ADA: with an adaptive ``p``) to every image D sees. ``cfg.watchdog`` follows
    the first of :data:`WATCHED` in each evaluation: ``best.pt`` keeps the best, a divergence
    (or non-finite losses) rolls back to it with lower learning rates, logged as
    ``{"kind": "watchdog"}`` lines; image data gets a sample grid per evaluation.

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
        TrainingDiverged: a non-finite loss or weight (the last good checkpoint is kept);
            with ``cfg.watchdog`` the run rolls back to ``best.pt`` instead (see
            :func:`_watch`), and ends after ``watchdog_max_rollbacks`` rollbacks.

    Example:
        >>> import tempfile
        >>> cfg = TrainConfig(data="ring8", steps=20, batch_size=64, hidden=32, log_every=10,
        ...                   out=tempfile.mkdtemp(), progress=False, plots=False,
        ...                   eval_samples=500, rejection=False, final_js_steps=50)
        >>> res = train(cfg)
        >>> res.step, sorted(res.evaluation)[:2]
        (20, ['high_quality', 'js'])
    """
    run = _start(cfg, resume, overwrite)  # phases 0-1: processes, data, run directory
    cfg = run.cfg
    with global_settings(cfg, run.device):
        torch.manual_seed(cfg.seed)  # model initialisation: identical on every rank
        rng = torch.Generator(run.device).manual_seed(cfg.seed * run.world + run.rank)
        state = _State(step=0, anchor=(0, 1.0), rng=rng)  # data + noise, one stream per rank
        state.watchdog = Watchdog.from_config(cfg) if cfg.watchdog else None
        nets = _build(cfg, run.data, run.device, aug_seed=cfg.seed * run.world + run.rank)
        if resume:  # check_run_dir refused to resume without a checkpoint
            _restore(run, nets, state)
        _on_rank0(lambda: rundir.commit_run_dir(run.run_dir, cfg, resume=resume,
                                                overwrite=overwrite, step=state.step),
                  run.rank)  # fmt: skip
        mon = _Monitor(run, state.step)
        timer = StepTimer(cfg, run.device, first=state.step, warn=run.rank == 0)
        last = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
        try:
            while state.step < last and not state.stopped:  # phase 3: the loop
                _set_lr(run, nets, state)
                fake_g, y_fake, logit_r, logit_f, loss_d = _d_phase(run, nets, state)
                loss_g = _g_phase(run, nets, fake_g, y_fake)
                state.step += 1
                timer.after_step(state.step)  # warns once when a step takes seconds
                mon.add(run.loss, logit_r, logit_f, loss_d, loss_g)
                _sync_points(run, nets, state, mon, last)  # logging, evaluation, checkpoint
            result = _finish(run, nets, state, mon)  # phase 4
        finally:
            mon.close()
    g_out = nets.g_eval.eval()
    return TrainResult(run.run_dir, state.step, g_out, nets.d, run.data, result,
                       mon.seconds_per_step())  # fmt: skip


def _finish(run: _Run, nets: _Nets, state: _State, mon: _Monitor) -> dict[str, Any]:
    """Phase 4: the final checkpoint, then (at ``cfg.steps``) evaluation and plots."""
    from gan import evaluation, plots  # evaluation pulls in metrics; plots is lazy

    _save_checkpoint(run, nets, state)
    result: dict[str, Any] = {}
    done = state.step == run.cfg.steps or state.stopped  # a watchdog stop ends the run
    if done and run.cfg.eval_samples > 0:
        result = _evaluate(run, nets, state.step, final=True)  # every rank its shard
        if mon.log is not None:
            mon.log.write({"kind": "eval", "step": state.step, "final": True, **result})
            evaluation.write_json(run.run_dir / rundir.EVALUATION, result)
        wd = state.watchdog
        metric = next((float(result[k]) for k in WATCHED if k in result), math.nan)
        metric = float(_dist.broadcast_object(metric))
        if wd is not None and not state.stopped and metric < wd.best_value:  # new best.pt
            wd.best_value, wd.best_step, wd.bad_in_a_row = metric, state.step, 0
            _save_checkpoint(run, nets, state, rundir.BEST)
    if run.rank == 0 and done and run.cfg.plots:
        plots.plot_run(run.run_dir, nets.g_eval, run.data, run.cfg)
    _dist.barrier()
    return result


def _on_rank0(fn, rank: int):
    """Run ``fn`` on rank 0 only; its ValueError is raised on every rank (no deadlock)."""
    err: Any = None
    out = None
    if rank == 0:
        try:
            out = fn()
        except ValueError as exc:
            err = str(exc)
    err = _dist.broadcast_object(err)
    if err is not None:
        raise ValueError(err)
    return out
