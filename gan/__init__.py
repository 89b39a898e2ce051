"""An f-divergence GAN trainer and the ``divergences`` command-line tool.

gan: a GAN trainer whose losses are the f-divergences of :mod:`divergences` and whose
evaluation is :mod:`metrics`; the ``divergences`` command-line tool.

The public names below are imported on first use, so that the command line's ``--help``
and its one-line errors do not pay for torch and the metrics.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: module → the public names it provides.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "gan.data": (
        "DATASETS",
        "Data",
        "load_array",
        "load_data",
    ),
    "gan.ema": ("EMA",),
    "gan.clusters": ("cluster_labels",),
    "gan.models": (
        "DCGANDiscriminator",
        "DCGANGenerator",
        "MLPDiscriminator",
        "MLPGenerator",
    ),
    "gan.rejection": (
        "DRSResult",
        "calibrate_discriminator",
        "rejection_sample",
    ),
    "gan.losses": (
        "GANLoss",
        "fgan_bound",
        "fgan_d_loss",
        "fgan_g_loss",
        "get_loss",
        "gradient_penalty",
        "hinge_d_loss",
        "hinge_g_loss",
        "js_estimate",
        "logistic_d_loss",
        "loss_names",
        "lsgan_d_loss",
        "lsgan_g_loss",
        "minimax_g_loss",
        "ns_g_loss",
        "r1_penalty",
        "wasserstein_d_loss",
        "wasserstein_g_loss",
    ),
    "gan.config": (
        "TrainConfig",
        "resolve_config",
    ),
    "gan.training": (
        "TrainResult",
        "TrainingDiverged",
        "train",
    ),
    "gan.evaluation": (
        "evaluate_generator",
        "format_table",
    ),
    "gan.sampling": (
        "load_run",
        "sample_run",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:  # static checkers and IDEs see the eager imports
    from gan.clusters import cluster_labels
    from gan.config import TrainConfig, resolve_config
    from gan.data import DATASETS, Data, load_array, load_data
    from gan.ema import EMA
    from gan.evaluation import evaluate_generator, format_table
    from gan.losses import (
        GANLoss,
        fgan_bound,
        fgan_d_loss,
        fgan_g_loss,
        get_loss,
        gradient_penalty,
        hinge_d_loss,
        hinge_g_loss,
        js_estimate,
        logistic_d_loss,
        loss_names,
        lsgan_d_loss,
        lsgan_g_loss,
        minimax_g_loss,
        ns_g_loss,
        r1_penalty,
        wasserstein_d_loss,
        wasserstein_g_loss,
    )
    from gan.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
    from gan.rejection import DRSResult, calibrate_discriminator, rejection_sample
    from gan.sampling import load_run, sample_run
    from gan.training import TrainingDiverged, TrainResult, train

__all__ = [
    "DATASETS",
    "EMA",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DRSResult",
    "Data",
    "GANLoss",
    "MLPDiscriminator",
    "MLPGenerator",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "calibrate_discriminator",
    "cluster_labels",
    "evaluate_generator",
    "fgan_bound",
    "fgan_d_loss",
    "fgan_g_loss",
    "format_table",
    "get_loss",
    "gradient_penalty",
    "hinge_d_loss",
    "hinge_g_loss",
    "js_estimate",
    "load_array",
    "load_data",
    "load_run",
    "logistic_d_loss",
    "loss_names",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "minimax_g_loss",
    "ns_g_loss",
    "r1_penalty",
    "rejection_sample",
    "resolve_config",
    "sample_run",
    "train",
    "wasserstein_d_loss",
    "wasserstein_g_loss",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'gan' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
