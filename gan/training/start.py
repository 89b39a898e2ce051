"""Phases 0 to 2 of a run: processes and device, data, run directory, networks and state."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from gan import _dist, rundir
from gan.augment import AdaptiveProbability, DiffAugment
from gan.clusters import check_clusterable, cluster_labels, with_clusters
from gan.config import TrainConfig, parse_class_weights
from gan.data import DATASETS, Data, load_data
from gan.ema import EMA
from gan.losses import get_loss
from gan.models import build_models
from gan.speed import cpu_bf16, resolve_arch
from gan.training.adam import LeanAdam
from gan.training.settings import pick_device
from gan.training.state import Nets, Run, State
from gan.watchdog import Watchdog

__all__ = [
    "autocast_kind",
    "build",
    "class_probabilities",
    "float32_width",
    "on_rank0",
    "start",
    "subset",
]

T = TypeVar("T")


def start(cfg: TrainConfig, resume: bool, overwrite: bool) -> Run:
    """Processes, device, data and run directory (phases 0-1); nothing is written yet.

    The returned :attr:`Run.cfg` is ``cfg`` completed: absolute data paths, the run directory
    and the architecture that ``arch="auto"`` picked, as ``config.json`` will record them.
    """
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
    data = subset(data, cfg.data_fraction).to(device)
    _check_against_data(cfg, data)
    run_dir = Path(_dist.broadcast_object(str(cfg.out or rundir.default_run_dir(cfg))))
    cfg = cfg.replace(out=str(run_dir))
    if cfg.clusters:
        data = with_clusters(data, _cluster_labels(cfg, data, run_dir, resume, rank))
    if data.n_classes and 0 < cfg.eval_samples < 2 * data.n_classes:
        raise ValueError(f"eval_samples must be 0 or >= 2 per class ({2 * data.n_classes}) for "
                         f"a conditional run, got {cfg.eval_samples}")  # fmt: skip
    if cfg.arch == "auto":  # recorded in config.json: another device builds the same networks
        saved = _saved_arch(run_dir) if resume else None  # a resumed run keeps its own
        cfg = cfg.replace(arch=saved or resolve_arch(cfg.arch, data.shape, device, pac=cfg.pac))
    cfg = float32_width(cfg, autocast_kind(cfg, device, data) is None)
    # Decide first, change nothing: a refused or failed start leaves the folder as it was.
    on_rank0(lambda: rundir.check_run_dir(run_dir, cfg, resume=resume, overwrite=overwrite), rank)
    return Run(cfg, device, rank, world, run_dir, data, loss)


def build(run: Run) -> tuple[Nets, State]:
    """Phase 2: seeded networks (identical on every rank) and the state at step 0.

    Each rank draws its data and noise from its own stream, ``seed · world + rank``.
    """
    cfg = run.cfg
    torch.manual_seed(cfg.seed)  # model initialisation: identical on every rank
    stream = cfg.seed * run.world + run.rank
    rng = torch.Generator(run.device).manual_seed(stream)
    watchdog = Watchdog.from_config(cfg) if cfg.watchdog else None
    state = State(step=0, anchor=(0, 1.0), rng=rng, watchdog=watchdog)  # rng: data + noise
    return _build_nets(cfg, run.data, run.device, aug_seed=stream), state


def _adam(params, lr: float, betas: tuple[float, float], device: torch.device):
    # One fused kernel per step instead of several small operations per parameter.
    if device.type in ("cpu", "cuda"):
        return LeanAdam(params, lr=lr, betas=betas)
    return torch.optim.Adam(params, lr=lr, betas=betas)


def _batch_coupled(d: nn.Module) -> bool:
    """True when D's output on one sample depends on the others or on the forward count."""
    for m in d.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) or m._forward_pre_hooks:
            return True  # batch statistics, or spectral norm's per-forward power iteration
        if torch.nn.utils.parametrize.is_parametrized(m):
            return True
    return False


def _build_nets(cfg: TrainConfig, data: Data, device: torch.device, aug_seed: int) -> Nets:
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
    return Nets(
        g=g, d=d, g_fwd=torch.compile(g) if cfg.compile else g,
        d_fwd=torch.compile(d) if cfg.compile and not d_eager else d,
        opt_g=_adam(g.parameters(), cfg.lr_g, betas, device),
        opt_d=_adam(d.parameters(), cfg.lr_d, betas, device),
        ema=EMA(g, cfg.ema) if cfg.ema > 0 else None,
        amp=_autocast(cfg, device, data),
        joint_d=not _batch_coupled(d),
        # R1 is measured in the coordinates D works in (standardised ones with cfg.normalize).
        r1_scale=float(d.scale) ** 2 if cfg.normalize else 1.0,
        gp_weight=gp_weight, n_classes=data.n_classes,
        class_p=class_probabilities(cfg, data, device),
        aug=None if cfg.augment == "none" else DiffAugment(
            cfg.augment_policy, p=0.0 if cfg.augment == "ada" else 1.0, seed=aug_seed),
        ada=AdaptiveProbability(target=cfg.ada_target) if cfg.augment == "ada" else None,
    )  # fmt: skip


def class_probabilities(cfg: TrainConfig, data: Data, device: torch.device) -> torch.Tensor | None:
    """Training's class probabilities ``p_k ∝ n_k · w_k`` under ``cfg.class_weights`` (else None).

    Raises:
        ValueError: a weighted class the data does not have.
    """
    if not cfg.class_weights:
        return None
    weights = parse_class_weights(cfg.class_weights)
    if max(weights) >= data.n_classes:
        raise ValueError(f"class_weights={cfg.class_weights!r} names class {max(weights)}, but "
                         f"{data.name} has classes 0 to {data.n_classes - 1}")  # fmt: skip
    w = torch.ones(data.n_classes, dtype=torch.float64)
    for k, v in weights.items():
        w[k] = v
    p = data.class_counts().cpu().double() * w
    return (p / p.sum()).to(device)


def float32_width(cfg: TrainConfig, float32: bool) -> TrainConfig:
    """``cfg`` with D's width decided: ``float32_channels`` in place of ``channels`` in float32.

    A float32 step on a CPU costs more than a bf16 one, and a time budget's fewer steps favour
    the narrower D. G keeps its width (``g_channels``, or the old ``channels``). The result has
    ``float32_channels = 0``, so its ``config.json`` builds the same networks on any device.

    Example:
        >>> c = float32_width(TrainConfig(arch="dcgan", channels=48, float32_channels=32), True)
        >>> c.channels, c.g_channels, c.float32_channels
        (32, 48, 0)
        >>> float32_width(TrainConfig(channels=48, float32_channels=32), False).channels
        48
    """
    if not cfg.float32_channels:
        return cfg
    if float32 and cfg.arch == "dcgan":
        g = cfg.g_channels or cfg.channels
        return cfg.replace(channels=cfg.float32_channels, g_channels=g, float32_channels=0)
    return cfg.replace(float32_channels=0)


def autocast_kind(cfg: TrainConfig, device: torch.device, data: Data) -> str | None:
    """Where ``cfg.amp`` runs the networks in bf16: ``"cuda"``, ``"cpu"`` or None (float32).

    CUDA always; the CPU for image networks when it multiplies bf16 natively
    (:func:`gan.speed.cpu_bf16`); never for vector data, whose outputs bf16 would quantize.
    """
    if not cfg.amp:
        return None
    if device.type == "cuda":
        return "cuda"
    if device.type == "cpu" and data.is_image and cpu_bf16():
        return "cpu"
    return None


def _autocast(cfg: TrainConfig, device: torch.device, data: Data) -> Any:
    kind = autocast_kind(cfg, device, data)
    return contextlib.nullcontext() if kind is None else torch.autocast(kind, torch.bfloat16)


def subset(data: Data, fraction: float) -> Data:
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


def _cluster_labels(cfg: TrainConfig, data: Data, run_dir: Path, resume: bool, rank: int):
    """The run's cluster labels: its checkpoint's when resuming, else clustered on rank 0."""
    from gan.checkpoint import load_checkpoint

    check_clusterable(data)
    path = run_dir / rundir.CHECKPOINT
    if not (resume and path.is_file()):
        labels = on_rank0(
            lambda: cluster_labels(data.train, cfg.clusters, method=cfg.cluster_method), rank
        )
        return _dist.broadcast_object(labels)
    labels = load_checkpoint(path).get("clusters")  # the clusters it trained on, not new ones
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"cannot resume {run_dir} with clusters={cfg.clusters}: its "
                         "checkpoint holds no cluster labels")  # fmt: skip
    if labels.ndim != 1 or len(labels) != len(data.train) or \
            int(labels.max()) + 1 != cfg.clusters:  # fmt: skip
        raise ValueError(f"cannot resume {run_dir}: its checkpoint's cluster labels "
                         f"({tuple(labels.shape)}, {int(labels.max()) + 1} clusters) do not "
                         f"match clusters={cfg.clusters} and {len(data.train)} training "
                         "samples")  # fmt: skip
    return labels


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


def _saved_arch(run_dir: Path) -> str | None:
    """The architecture a run directory's config.json records (None if unreadable)."""
    try:
        return rundir.read_config(run_dir).arch
    except ValueError:
        return None


def on_rank0(fn: Callable[[], T], rank: int) -> T | None:
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
