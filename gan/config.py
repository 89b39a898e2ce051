"""The training configuration: one frozen dataclass, presets in TOML, overrides from the CLI.

``TrainConfig(...)`` is exactly what it says: the dataclass defaults plus the fields you
pass; it never reads a preset, whatever ``data`` is. The presets (the tuned recipe of each
embedded data set) apply through :meth:`TrainConfig.from_preset` or :func:`resolve_config`,
which is what the command line uses.

Precedence (lowest to highest): the dataclass defaults, the preset of the data set
(:func:`preset_for`: ``gan/presets/<data>.toml``, or ``<data>-cond.toml`` for a conditional
run when one exists, or ``image.toml`` for image data without a preset of its own), a user
TOML file, then ``--key value`` options on the command line. The resolved configuration is
written as JSON next to the results of every run (``config.json``) and stored in every
checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from divergences._validation import check_choice as _choice
from divergences._validation import check_number as _finite
from divergences._validation import check_positive_int as _positive_int

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    tomllib = None  # type: ignore[assignment]

__all__ = [
    "EVAL_FIELDS",
    "PRESET_DIR",
    "TrainConfig",
    "load_toml",
    "merge_layers",
    "parse_class_weights",
    "preset_for",
    "preset_names",
    "resolve_config",
]

PRESET_DIR = Path(__file__).with_name("presets")

#: Fields that may change when a run is resumed: the number of steps (the learning-rate
#: schedule continues from where it stands, see :func:`gan.training.lr_factor`) and
#: options that only schedule I/O; none changes the weights of the steps already taken.
RESUMABLE_FIELDS = frozenset(
    {"steps", "log_every", "eval_every", "ckpt_every", "eval_samples", "progress", "out",
     "tensorboard", "rejection", "plots", "eval_seed_stride", "eval_batch_size",
     "eval_js_steps", "final_js_steps", "drs_steps", "fresh_eval_js_steps",
     "fresh_final_js_steps", "fresh_drs_steps", "final_fid_draws", "data_root", "time_budget"}
)  # fmt: skip

#: The evaluation policy: the fields of :class:`TrainConfig` that only shape evaluations.
EVAL_FIELDS = (
    "eval_seed_stride", "eval_batch_size", "eval_js_steps", "final_js_steps", "drs_steps",
    "fresh_eval_js_steps", "fresh_final_js_steps", "fresh_drs_steps", "final_fid_draws",
)  # fmt: skip

ARCHS = ("auto", "mlp", "dcgan", "resnet")
AUGMENTS = ("none", "diffaug", "ada")
LR_SCHEDULES = ("constant", "linear", "cosine")
CLUSTER_METHODS = ("kmeans", "spectral")  # gan.clusters.cluster_labels
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """Every option of a training run (validated in ``__post_init__``).

    The defaults are generic; they are not the tuned preset of ``data``. For the recipe the
    command line uses (``divergences train --data ring8``), start from the preset with
    :meth:`from_preset` (or :func:`resolve_config`).

    Example:
        >>> cfg = TrainConfig(data="ring8", steps=100)
        >>> cfg.loss, cfg.batch_size, cfg.hidden
        ('ns', 512, 256)
        >>> TrainConfig.from_preset("ring8", steps=100).hidden
        64
        >>> TrainConfig(steps=0)
        Traceback (most recent call last):
        ...
        ValueError: steps must be >= 1, got 0
    """

    # --- data and objective ---------------------------------------------------------------
    data: str = "ring8"  # ring8 | grid25 | swissroll | digits | fashion-mnist | mnist | path
    data_root: str = ""  # where fashion-mnist / mnist look first for their IDX files
    image_size: int = 0  # images (folders, arrays, IDX) are resized to this square side (0: keep)
    loss: str = "ns"  # minimax | ns | wgan-gp | hinge | lsgan | fgan-<divergence>
    alpha: float = 0.5  # parameter of fgan-alpha
    r1: float = 0.0  # R1 penalty weight gamma: gamma/2 * E_real ||grad D||^2
    r1_every: int = 1  # lazy R1: the penalty on every k-th D update, weighted by k
    gp: float = 0.0  # WGAN-GP weight lambda; 0 with loss=wgan-gp means the paper's 10
    normalize: bool = False  # G and D work in standardised coordinates (x - loc) / scale
    # --- models ---------------------------------------------------------------------------
    arch: str = "auto"  # auto (mlp for vectors; for images by device) | mlp | dcgan | resnet
    z_dim: int = 16  # noise dimension
    hidden: int = 256  # MLP width (G and D)
    g_layers: int = 4  # MLP hidden layers of G
    d_layers: int = 4  # MLP hidden layers of D
    channels: int = 64  # DCGAN base channels
    g_channels: int = 0  # DCGAN base channels of G (0: channels)
    float32_channels: int = 0  # DCGAN D's base channels when the networks run in float32 (0: off)
    label_in_z: bool = False  # conditional DCGAN: G's first layer also takes the one-hot label
    g_refine: int = 0  # DCGAN G: channels of a last 3×3 convolution at full size (0: none)
    spectral_norm: bool = False  # spectral normalisation on every layer of D
    pac: int = 1  # PacGAN packing: D sees `pac` samples at once
    # --- optimisation ---------------------------------------------------------------------
    steps: int = 5000  # generator steps
    batch_size: int = 512  # per process
    n_critic: int = 1  # D steps per G step
    lr_g: float = 1e-4
    lr_d: float = 1e-4  # TTUR: set lr_d > lr_g
    beta1: float = 0.5
    beta2: float = 0.9
    lr_schedule: str = "constant"  # constant | linear | cosine (decay over the last part)
    lr_decay_start: float = 0.5  # fraction of steps after which the schedule decays
    lr_final: float = 0.1  # final lr as a fraction of the initial one
    ema: float = 0.999  # EMA decay of G's weights per step (0 disables)
    # --- execution ------------------------------------------------------------------------
    seed: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms, no cudnn autotuning
    device: str = "auto"  # auto (CUDA if present, else CPU) | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA, and for images on a CPU with native bf16
    compile: bool = False  # torch.compile G and D (D stays eager with R1 / gradient penalty)
    threads: int = 0  # CPU threads of torch during the run (0: leave torch's setting)
    time_budget: float = 0.0  # minutes for the whole run; steps are lowered to fit (0: off)
    # --- logging, evaluation, checkpoints -------------------------------------------------
    out: str = ""  # run directory ("" chooses runs/<data>-<loss>-<timestamp>)
    log_every: int = 100  # host sync, JSONL line, progress bar update
    eval_every: int = 0  # periodic evaluation (0: only at the end)
    ckpt_every: int = 1000  # checkpoints (0: only the one at the end, which is always written)
    eval_samples: int = 2500  # generated per evaluation (PacGAN: 2500; 0: none; short runs fewer)
    rejection: bool = True  # also evaluate discriminator rejection sampling at the end
    plots: bool = True  # write PNG plots
    progress: bool = True  # tqdm progress bar
    tensorboard: bool = False  # also log to TensorBoard (needs the tensorboard package)
    # --- evaluation policy (gan.evaluation.evaluate_generator) ----------------------------
    # An evaluation after step s draws its samples from seed + eval_seed_stride * (s + 1), so
    # evaluations of one run never share noise. The JS classifier and the DRS calibration
    # start from the trained D (pac = 1) or, with pac > 1, from a fresh unpacked D, which
    # needs longer fits (the fresh_* counts).
    eval_seed_stride: int = 7919  # a prime: distinct seeds per evaluation step
    eval_batch_size: int = 512  # samples of each class per Adam step of those fits
    eval_js_steps: int = 300  # Adam steps of the JS classifier at a periodic evaluation
    final_js_steps: int = 1000  # Adam steps of the JS classifiers at the final evaluation
    drs_steps: int = 3000  # Adam steps of the DRS calibration (final evaluation)
    fresh_eval_js_steps: int = 1000  # eval_js_steps when pac > 1
    fresh_final_js_steps: int = 2000  # final_js_steps when pac > 1
    fresh_drs_steps: int = 6000  # drs_steps when pac > 1
    final_fid_draws: int = 4  # sets of generated samples the final FID averages (its stderr)
    # --- conditional models, ResNet widths, augmentation, watchdog ----------------------
    conditional: bool = False  # class-conditional G and D; labels come from the data
    clusters: int = 0  # unconditional: conditional G and D on K clusters of the data (0: off)
    cluster_method: str = "kmeans"  # kmeans | spectral: how those clusters are found
    class_weights: str = ""  # conditional: "K:W,...", class K drawn W times as often in training
    resnet_ch: int = 0  # base width of arch=resnet (0: the paper's, 256/128 at 32 px, 64/64 else)
    augment: str = "none"  # none | diffaug (DiffAugment, p = 1) | ada (DiffAugment, adaptive p)
    augment_policy: str = "color,translation,cutout"  # DiffAugment's transforms
    ada_target: float = 0.6  # ADA's target for E[sign(D(real))]
    watchdog: bool = False  # keep best.pt; roll back and lower the lr when training diverges
    watchdog_factor: float = 2.0  # metric worse than best x factor counts as a bad evaluation
    watchdog_patience: int = 3  # K: bad evaluations in a row before a rollback
    watchdog_max_rollbacks: int = 3  # R: stop after this many rollbacks
    watchdog_lr_decay: float = 0.5  # learning rates are multiplied by this on each rollback
    # Divergence drill: learning rates x lr_spike from step lr_spike_at until the first
    # watchdog rollback (0: off); for testing and measuring the watchdog.
    lr_spike_at: int = 0
    lr_spike: float = 1.0
    data_fraction: float = 1.0  # train on this share of the stored training set (one fixed subset)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch_size",
            "n_critic",
            "r1_every",
            "z_dim",
            "hidden",
            "channels",
            "pac",
        ):
            _positive_int(getattr(self, name), name)
        for name in ("g_layers", "d_layers", "log_every", "ckpt_every", "eval_samples"):
            _positive_int(getattr(self, name), name, minimum=0 if name != "log_every" else 1)
        _positive_int(self.threads, "threads", minimum=0)
        for name in EVAL_FIELDS:
            _positive_int(getattr(self, name), name,
                          minimum=1 if "batch" in name or "draws" in name else 0)  # fmt: skip
        _positive_int(self.eval_every, "eval_every", minimum=0)
        _positive_int(self.image_size, "image_size", minimum=0)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise TypeError(f"seed must be an integer, got {type(self.seed).__name__}")
        for name in ("lr_g", "lr_d"):
            _finite(getattr(self, name), name, lo=0.0, lo_open=True)
        for name in ("r1", "gp"):
            _finite(getattr(self, name), name, lo=0.0)
        _finite(self.beta1, "beta1", lo=0.0, hi=1.0)
        _finite(self.beta2, "beta2", lo=0.0, hi=1.0)
        _finite(self.ema, "ema", lo=0.0, hi=1.0)
        _finite(self.lr_decay_start, "lr_decay_start", lo=0.0, hi=1.0)
        _finite(self.lr_final, "lr_final", lo=0.0, hi=1.0)
        _finite(self.alpha, "alpha")
        _choice(self.arch, "arch", ARCHS)
        _choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        _choice(self.device, "device", DEVICES)
        if self.batch_size % self.pac:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac})"
            )
        if not isinstance(self.data, str) or not self.data:
            raise ValueError("data must be a data set name or a path, got an empty value")
        if not isinstance(self.loss, str) or not self.loss:
            raise ValueError("loss must be a loss name, got an empty value")
        for name in ("conditional", "watchdog", "label_in_z"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        _positive_int(self.resnet_ch, "resnet_ch", minimum=0)
        _positive_int(self.g_channels, "g_channels", minimum=0)
        _positive_int(self.float32_channels, "float32_channels", minimum=0)
        _positive_int(self.g_refine, "g_refine", minimum=0)
        _positive_int(self.clusters, "clusters", minimum=0)
        _choice(self.cluster_method, "cluster_method", CLUSTER_METHODS)
        if self.clusters == 1:
            raise ValueError("clusters must be 0 (off) or >= 2, got 1")
        if self.clusters and self.conditional:
            raise ValueError(f"clusters={self.clusters} is for unconditional runs; a conditional "
                             "run uses the data's labels (set clusters to 0)")  # fmt: skip
        if self.clusters and self.pac > 1:
            raise ValueError(f"clusters={self.clusters} makes D conditional, which PacGAN "
                             f"packing (pac={self.pac}) does not support")  # fmt: skip
        if self.class_weights:
            if not self.conditional:
                raise ValueError(f"class_weights={self.class_weights!r} needs a conditional run "
                                 "(conditional=True): it weights the data's classes")  # fmt: skip
            parse_class_weights(self.class_weights)
        _choice(self.augment, "augment", AUGMENTS)
        from gan.augment import POLICIES

        names = [n.strip() for n in str(self.augment_policy).split(",") if n.strip()]
        if not isinstance(self.augment_policy, str) or not names or set(names) - set(POLICIES):
            raise ValueError(f"augment_policy must be comma-separated names among "
                             f"{', '.join(POLICIES)}; got {self.augment_policy!r}")  # fmt: skip
        _finite(self.ada_target, "ada_target", lo=-1.0, hi=1.0)
        _finite(self.watchdog_factor, "watchdog_factor", lo=1.0, lo_open=True)
        _positive_int(self.watchdog_patience, "watchdog_patience")
        _positive_int(self.watchdog_max_rollbacks, "watchdog_max_rollbacks", minimum=0)
        _finite(self.watchdog_lr_decay, "watchdog_lr_decay", lo=0.0, hi=1.0, lo_open=True)
        _positive_int(self.lr_spike_at, "lr_spike_at", minimum=0)
        _finite(self.lr_spike, "lr_spike", lo=0.0, lo_open=True)
        _finite(self.data_fraction, "data_fraction", lo=0.0, hi=1.0, lo_open=True)
        _finite(self.time_budget, "time_budget", lo=0.0)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The bundled preset ``name`` (see :func:`preset_names`) with ``overrides`` on top.

        Equivalent to the command line ``divergences train --data NAME --key value ...``;
        ``data`` may be overridden to train another data set with this recipe.

        Example:
            >>> cfg = TrainConfig.from_preset("grid25", steps=10)
            >>> cfg.data, cfg.steps, cfg.normalize
            ('grid25', 10, True)
        """
        if name not in preset_names():
            raise ValueError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
        return cls(**{**load_toml(PRESET_DIR / f"{name}.toml"), **overrides})

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-serialisable dict (``extra`` omitted when empty)."""
        d = dataclasses.asdict(self)
        if not d["extra"]:
            d.pop("extra")
        return d

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Fields (other than :data:`RESUMABLE_FIELDS`) whose values differ from ``other``."""
        out = {}
        for f in fields(self):
            if f.name in RESUMABLE_FIELDS or f.name == "extra":
                continue
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "data" and _same_path(a, b):
                continue
            if a != b:
                out[f.name] = (a, b)
        return out


def _same_path(a: str, b: str) -> bool:
    """Whether two data paths name the same file (a saved run holds the absolute one)."""
    try:
        return a == b or Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):
        return False


def field_types() -> dict[str, type]:
    """The Python type of each configurable field (for the CLI and TOML checks)."""
    kinds = {"int": int, "float": float, "str": str, "bool": bool}
    return {f.name: kinds[str(f.type)] for f in fields(TrainConfig) if f.name != "extra"}


def parse_class_weights(spec: str) -> dict[int, float]:
    """``"5:2,8:2"`` → ``{5: 2.0, 8: 2.0}``: class index → weight (classes not named keep 1).

    Example:
        >>> parse_class_weights("5:2, 8:1.5")
        {5: 2.0, 8: 1.5}
        >>> parse_class_weights("5:0")
        Traceback (most recent call last):
        ...
        ValueError: class_weights: the weight of class 5 must be a finite number > 0, got '0'
    """
    if not isinstance(spec, str):
        raise TypeError(f"class_weights must be a string like '5:2,8:2', got {spec!r}")
    out: dict[int, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        k, sep, w = (t.strip() for t in part.partition(":"))
        if not sep or not (k.isascii() and k.isdigit()):
            raise ValueError(f"class_weights must be comma-separated CLASS:WEIGHT pairs, "
                             f"class >= 0, like '5:2,8:2'; got {part!r} in {spec!r}")  # fmt: skip
        try:
            value = float(w)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"class_weights: the weight of class {int(k)} must be a finite "
                             f"number > 0, got {w!r}")  # fmt: skip
        if int(k) in out:
            raise ValueError(f"class_weights names class {int(k)} twice in {spec!r}")
        out[int(k)] = value
    return out


def preset_names() -> tuple[str, ...]:
    """Names of the bundled presets (one per embedded data set).

    Example:
        >>> "ring8" in preset_names()
        True
    """
    return tuple(sorted(p.stem for p in PRESET_DIR.glob("*.toml")))


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a flat TOML config file and type-check its keys against :class:`TrainConfig`."""
    path = Path(path)
    if tomllib is None:  # pragma: no cover
        raise RuntimeError("reading TOML needs Python >= 3.11 (tomllib)")
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    types = field_types()
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = key.replace("-", "_")
        if key not in types:
            raise ValueError(
                f"unknown option {key!r} in {path}; valid options: {', '.join(sorted(types))}"
            )
        want = types[key]
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise TypeError(
                f"option {key!r} in {path} must be {want.__name__}, got {type(value).__name__}"
            )
        out[key] = value
    return out


def preset_for(data: str, conditional: bool = False) -> str | None:
    """The bundled preset the command line applies to ``data``, or None.

    The data set's own (``<data>-cond`` for a conditional run when it exists); for image
    data without one (a folder, or an array of images ``(N, H, W)`` / ``(N, C, H, W)``) the
    ``image`` recipe, never the 2-D defaults of :class:`TrainConfig`.

    Example:
        >>> preset_for("fashion-mnist", conditional=True), preset_for("ring8"), preset_for("x.csv")
        ('fashion-mnist-cond', 'ring8', None)
    """
    names = preset_names()
    if data in names:
        return f"{data}-cond" if conditional and f"{data}-cond" in names else data
    from gan.data import is_image_source

    return "image" if is_image_source(data) else None


def resolve_config(
    overrides: dict[str, Any] | None = None, *, config_file: str | Path | None = None
) -> TrainConfig:
    """Defaults < preset of the data set (:func:`preset_for`) < ``config_file`` < ``overrides``.

    Example:
        >>> cfg = resolve_config({"data": "grid25", "steps": 10})
        >>> cfg.data, cfg.steps
        ('grid25', 10)
    """
    overrides = dict(overrides or {})
    from_file = load_toml(config_file) if config_file is not None else {}
    data = overrides.get("data", from_file.get("data", TrainConfig.data))
    conditional = overrides.get("conditional", from_file.get("conditional", False))
    preset = preset_for(data, conditional is True)
    base = load_toml(PRESET_DIR / f"{preset}.toml") if preset is not None else {}
    return TrainConfig(**merge_layers(base, from_file, overrides))


def merge_layers(preset: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """A preset's values updated by later layers (a config file, the command line), in order.

    A preset's ``float32_channels`` is a width for its own ``channels``: a later layer that
    sets ``channels`` and not ``float32_channels`` sets D's width on every device.

    Example:
        >>> merge_layers({"channels": 48, "float32_channels": 32}, {"channels": 64})
        {'channels': 64, 'float32_channels': 0}
        >>> merge_layers({"channels": 48, "float32_channels": 32}, {"steps": 9})["float32_channels"]
        32
    """
    merged = dict(preset)
    for layer in layers:
        merged.update(layer)
    later = {k for layer in layers for k in layer}
    if "channels" in later and "float32_channels" not in later and "float32_channels" in preset:
        merged["float32_channels"] = 0
    return merged
