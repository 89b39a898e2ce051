"""How ``divergences train`` presents each :class:`~gan.config.TrainConfig` field: group and help.

Every field is an option; the ones marked advanced (evaluation policy, drills, watchdog
tuning) are shown only by ``--help-all`` and are still accepted on the command line and in
config files. ``tests/gan/test_cli_help.py`` checks that every field has an entry here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

__all__ = ["GROUPS", "OPTIONS", "Option", "add_train_options"]

#: Option groups of ``divergences train --help``, in the order shown.
GROUPS = ("data", "model", "loss", "optimisation", "evaluation", "output", "execution")


@dataclass(frozen=True)
class Option:
    """Group, one-line help, and whether only ``--help-all`` shows it."""

    group: str
    help: str
    advanced: bool = False


def _o(group: str, text: str, advanced: bool = False) -> Option:
    return Option(group, text, advanced)


OPTIONS: dict[str, Option] = {
    # data
    "data": _o("data", "data set: ring8, grid25, swissroll, digits, fashion-mnist, mnist, or a "
               ".npy/.npz/.pt file or an image folder"),
    "image_size": _o("data", "resize images to this square side (0: keep their size)"),
    "data_root": _o("data", "folder searched first for fashion-mnist/mnist IDX files (then "
                    "$DIVERGENCES_DATA, torchvision's layout, Debian's location)"),
    "conditional": _o("data", "class-conditional G and D, labels from the data (digits, "
                      "class subfolders, an .npz with x and y)"),
    "clusters": _o("data", "unconditional runs: train conditional G and D on K clusters "
                   "of the data (--cluster-method), generated in proportion (0: off)"),
    "cluster_method": _o("data", "how --clusters finds its clusters in the data's first 50 "
                         "principal components: kmeans, or spectral (k-means on the spectral "
                         "embedding of their 10-nearest-neighbour graph)"),
    "class_weights": _o("data", "conditional runs: 'K:W,...' draws class K W times as often in "
                        "training, real and generated alike (sampling and evaluation keep the "
                        "data's proportions)"),
    "normalize": _o("data", "G and D work in standardised coordinates (x - mean) / scale"),
    "data_fraction": _o("data", "train on this share of the training set (one fixed subset)"),
    "augment": _o("data", "augment every image D sees: none, diffaug (DiffAugment), ada "
                  "(adaptive probability)"),
    "augment_policy": _o("data", "DiffAugment's transforms, comma-separated: color, "
                         "translation, cutout"),
    "ada_target": _o("data", "ADA's target for E[sign D(real)]", advanced=True),
    # model
    "arch": _o("model", "networks: auto (mlp for vectors, dcgan for images), mlp, dcgan, "
               "resnet (SNGAN)"),
    "z_dim": _o("model", "noise dimension"),
    "hidden": _o("model", "MLP width of G and D"),
    "g_layers": _o("model", "hidden layers of the MLP generator"),
    "d_layers": _o("model", "hidden layers of the MLP discriminator"),
    "channels": _o("model", "DCGAN base channels"),
    "g_channels": _o("model", "DCGAN base channels of G alone (0: --channels)"),
    "float32_channels": _o("model", "DCGAN base channels of D where the networks run in float32 "
                           "(a CPU without native bf16, or --no-amp) (0: --channels)"),
    "label_in_z": _o("model", "conditional DCGAN (labels or clusters): G's first layer also "
                     "takes the one-hot label, beside its conditional batch norms"),
    "g_refine": _o("model", "DCGAN G: upsample to this many channels at full size, then a 3x3 "
                   "convolution to the image (0: straight to the image)"),
    "resnet_ch": _o("model", "ResNet base width (0: the paper's)"),
    "spectral_norm": _o("model", "spectral normalisation on every layer of D"),
    "pac": _o("model", "PacGAN packing: D sees this many samples at once"),
    # loss
    "loss": _o("loss", "minimax, ns (non-saturating), hinge, wgan-gp, lsgan, or fgan-NAME "
               "for any f-divergence (fgan-kl, fgan-js, ...)"),
    "alpha": _o("loss", "alpha of loss fgan-alpha"),
    "r1": _o("loss", "R1 penalty weight gamma: gamma/2 E_real |grad D|^2"),
    "r1_every": _o("loss", "lazy R1 (StyleGAN2): the penalty every k-th D update, weighted k"),
    "gp": _o("loss", "WGAN-GP weight (0 with loss wgan-gp: the paper's 10)"),
    # optimisation
    "steps": _o("optimisation", "generator steps"),
    "batch_size": _o("optimisation", "batch size per process"),
    "n_critic": _o("optimisation", "D steps per G step"),
    "lr_g": _o("optimisation", "Adam learning rate of G"),
    "lr_d": _o("optimisation", "Adam learning rate of D (TTUR: larger than lr_g)"),
    "beta1": _o("optimisation", "Adam beta1"),
    "beta2": _o("optimisation", "Adam beta2"),
    "lr_schedule": _o("optimisation", "learning-rate schedule: constant, linear, cosine"),
    "lr_decay_start": _o("optimisation", "share of the steps after which the lr decays"),
    "lr_final": _o("optimisation", "final lr as a share of the initial one"),
    "ema": _o("optimisation", "EMA decay of G's weights per step (0: no EMA)"),
    "watchdog": _o("optimisation", "keep best.pt; when training diverges roll back to it "
                   "with lower learning rates"),
    "watchdog_factor": _o("optimisation", "a metric this many times the best counts as bad",
                          advanced=True),
    "watchdog_patience": _o("optimisation", "bad evaluations in a row before a rollback",
                            advanced=True),
    "watchdog_max_rollbacks": _o("optimisation", "rollbacks before the run stops",
                                 advanced=True),
    "watchdog_lr_decay": _o("optimisation", "learning rates are multiplied by this at a "
                            "rollback", advanced=True),
    "lr_spike_at": _o("optimisation", "divergence drill: multiply the lrs by lr_spike from "
                      "this step (0: off)", advanced=True),
    "lr_spike": _o("optimisation", "divergence drill: the lr multiplier", advanced=True),
    # evaluation
    "eval_every": _o("evaluation", "evaluate every this many steps (0: only at the end)"),
    "eval_samples": _o("evaluation", "generated samples per evaluation (0: no evaluation)"),
    "rejection": _o("evaluation", "also evaluate discriminator rejection sampling at the end"),
    "eval_seed_stride": _o("evaluation", "seed stride between evaluations", advanced=True),
    "eval_batch_size": _o("evaluation", "batch of the evaluation classifiers' fits",
                          advanced=True),
    "eval_js_steps": _o("evaluation", "Adam steps of the JS classifier (periodic)",
                        advanced=True),
    "final_js_steps": _o("evaluation", "Adam steps of the JS classifiers (final)",
                         advanced=True),
    "drs_steps": _o("evaluation", "Adam steps of the rejection-sampling calibration",
                    advanced=True),
    "fresh_eval_js_steps": _o("evaluation", "eval_js_steps when pac > 1", advanced=True),
    "fresh_final_js_steps": _o("evaluation", "final_js_steps when pac > 1", advanced=True),
    "final_fid_draws": _o("evaluation", "sets of generated samples whose FIDs the final "
                          "evaluation averages", advanced=True),
    "fresh_drs_steps": _o("evaluation", "drs_steps when pac > 1", advanced=True),
    # output
    "out": _o("output", "run directory (default runs/DATA-LOSS-TIME)"),
    "log_every": _o("output", "log a line every this many steps"),
    "ckpt_every": _o("output", "checkpoint every this many steps (0: only at the end)"),
    "plots": _o("output", "write PNG plots"),
    "progress": _o("output", "show a progress bar"),
    "tensorboard": _o("output", "also log to TensorBoard (needs the tensorboard package)"),
    # execution
    "seed": _o("execution", "random seed"),
    "device": _o("execution", "auto (CUDA if present), cpu or cuda"),
    "threads": _o("execution", "CPU threads (0: leave torch's setting)"),
    "time_budget": _o("execution", "minutes for the whole run, evaluations included: steps are "
                      "lowered to what the measured times allow (0: off)"),
    "amp": _o("execution", "bf16 autocast on CUDA, and for images on a CPU with native bf16"),
    "compile": _o("execution", "torch.compile G and D"),
    "deterministic": _o("execution", "deterministic algorithms (bit-for-bit resume on CUDA)"),
}  # fmt: skip


class _HelpAll(argparse.Action):
    """``--help-all``: the help with the advanced options too."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, **kw):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        for action in parser._actions:
            full = getattr(action, "advanced_help", None)
            if full is not None:
                action.help = full
        parser.print_help()
        parser.exit()


def add_train_options(p: argparse.ArgumentParser) -> None:
    """One option per :class:`~gan.config.TrainConfig` field, in groups, with one-line help.

    Multi-word options are spelled with dashes (``--lr-d``); the underscore spelling is
    accepted too but not listed. Defaults come from the data set's preset, else
    :class:`~gan.config.TrainConfig`.
    """
    from gan.config import TrainConfig, field_types

    defaults = TrainConfig()
    p.add_argument("--help-all", action=_HelpAll, help="show also the advanced options")
    groups = {g: p.add_argument_group(f"{g} options") for g in GROUPS}
    for name, kind in field_types().items():
        opt = OPTIONS[name]
        flag = f"--{name.replace('_', '-')}"
        text = f"{opt.help} (default {getattr(defaults, name)!r})"
        kw: dict = {"dest": name, "default": None}
        if kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = kind
            kw["metavar"] = {int: "N", float: "X", str: "TEXT"}[kind]
        action = groups[opt.group].add_argument(
            flag, help=argparse.SUPPRESS if opt.advanced else text, **kw
        )
        if opt.advanced:
            action.advanced_help = text  # type: ignore[attr-defined]
        if "_" in name:  # the underscore spelling of config files, accepted but not listed
            groups[opt.group].add_argument(f"--{name}", help=argparse.SUPPRESS, **kw)
