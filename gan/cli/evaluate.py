"""``divergences evaluate``: a run against its data set, or REAL FAKE sample files.

The REAL FAKE form runs :func:`metrics.evaluate`; its extractor and folder options are
shared with ``divergences stats`` (:mod:`gan.cli.stats`).
"""

from __future__ import annotations

import argparse

from gan.cli._common import check_device, check_n, device

__all__ = [
    "add_extractor_arguments",
    "add_files_arguments",
    "add_folder_arguments",
    "add_parser",
    "run",
    "run_files",
]

_FILES_FORM = ("metrics", "features", "num_samples", "batch_size", "progress", "image_size",
               "resize", "workers", "no_cache", "no_check_hash", "precision",
               "data_root")  # fmt: skip
_RUN_FORM = ("n", "rejection", "seed", "checkpoint")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Mount ``evaluate`` with the options of both forms."""
    ev = sub.add_parser(
        "evaluate",
        help="evaluate a run, or two sample files",
        usage="divergences evaluate [options] RUN\n       divergences evaluate [options] REAL FAKE",
        description="Evaluate a run (one path: its generator against its data set), or "
        "generated samples against real ones (two paths: .npy/.npz/.pt files or image "
        "folders, through the metrics package).",
    )
    ev.add_argument("paths", nargs="+", metavar="RUN | REAL FAKE", help="a run directory, or "
                    "the real and generated samples")  # fmt: skip
    both = ev.add_argument_group("both forms")
    both.add_argument("--json", default=None, help="also write the result to this new file")
    both.add_argument("--overwrite", action="store_true", help="let --json replace a file")
    both.add_argument("--device", default=None, help="cpu or cuda (RUN: cpu; files: cuda if "
                      "present)")  # fmt: skip
    run_form = ev.add_argument_group("RUN form")
    run_form.add_argument("-n", type=int, default=None, help="generated samples (2500)")
    run_form.add_argument("--rejection", action="store_true", default=None,
                          help="also with rejection sampling")  # fmt: skip
    run_form.add_argument("--seed", type=int, default=None, help="sampling seed (0)")
    run_form.add_argument("--checkpoint", choices=("best", "last"), default=None,
                          help="best.pt when the run has one (default), or the last")  # fmt: skip
    add_files_arguments(ev.add_argument_group("REAL FAKE form"))


def add_files_arguments(ap: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add the options of ``divergences evaluate REAL FAKE`` to a parser or argument group.

    ``--device``, ``--json`` and ``--overwrite`` are the caller's (shared with the RUN form).
    """
    from metrics.evaluate import DEFAULT_METRICS, METRICS

    ap.add_argument(
        "--metrics",
        default=None,
        help=f"comma-separated, from: {', '.join(METRICS)} (default: {','.join(DEFAULT_METRICS)})",
    )
    add_extractor_arguments(ap)
    ap.add_argument("--num-samples", type=int, default=None, help="use at most this many")
    ap.add_argument("--batch-size", type=int, default=None, help="feature batch size (256)")
    add_folder_arguments(ap)
    ap.add_argument(
        "--no-cache", action="store_true", default=None, help="do not use cached real statistics"
    )


def add_extractor_arguments(ap: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--features``, ``--no-check-hash`` and ``--precision`` (``evaluate`` and ``stats``)."""
    from metrics.networks.inception import PRECISIONS

    ap.add_argument(
        "--features",
        default=None,
        help="identity (default), digits, fashion (28-px grey images), inception (pytorch-fid's "
        "weights, from `divergences weights fetch inception`), inception:PATH, dinov2 (DINOv2 "
        "ViT-L/14, `weights fetch dinov2-vitl14`), dinov2:PATH, clip (CLIP ViT-L/14@336, "
        "`weights fetch clip-vitl14-336`), clip:PATH, or a TorchScript file path",
    )
    ap.add_argument(
        "--no-check-hash",
        action="store_true",
        default=None,
        help="load a network weights file whose SHA-256 is not the published one (warns)",
    )
    ap.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
        help="--features inception/dinov2/clip: float32 (default), tf32 (CUDA) or bf16 (faster "
        "on GPUs)",
    )


def add_folder_arguments(ap: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--progress``, ``--image-size``, ``--resize`` and ``--workers`` (for image folders)."""
    ap.add_argument(
        "--progress", action="store_true", default=None, help="progress bars (default: on a TTY)"
    )
    ap.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    ap.add_argument("--image-size", type=int, default=None, help="resize folder images to this")
    ap.add_argument(
        "--resize",
        default=None,
        help="--features inception: pytorch-fid (default) or clean; dinov2: torch (EDM2, "
        "default), pil (dgm-eval) or clean; clip: openai (default) or cmmd; otherwise the PIL "
        "filter for folder images: bilinear (default), bicubic, lanczos or nearest",
    )
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: <= 4)")
    ap.add_argument("--data-root", default=None, help="where fashion-mnist[:test|:train] and "
                    "mnist[...] look first for their IDX files")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run ``evaluate`` in the form its paths say; the exit status."""
    from gan.rundir import is_run_dir

    if len(args.paths) > 2:
        raise ValueError(f"evaluate takes RUN, or REAL FAKE; got {len(args.paths)} paths")
    if len(args.paths) == 1 and not is_run_dir(args.paths[0]):
        raise ValueError(f"{args.paths[0]!r} is not a run directory (no config.json or "
                         "checkpoint.pt); to compare two sample files give REAL FAKE")  # fmt: skip
    form, other = ("RUN", _FILES_FORM) if len(args.paths) == 1 else ("REAL FAKE", _RUN_FORM)
    given = [k for k in other if getattr(args, k) is not None]
    if given:
        flags = ", ".join("-n" if k == "n" else f"--{k.replace('_', '-')}" for k in given)
        raise ValueError(f"{flags} do(es) not apply to the {form} form of evaluate")
    if form == "REAL FAKE":
        print(run_files(args.paths[0], args.paths[1], args).table())
        return 0
    return _evaluate_run(args)


def run_files(real: str, fake: str, args: argparse.Namespace):
    """Evaluate the files ``real`` and ``fake`` with the options of :func:`add_files_arguments`.

    Writes ``args.json`` (atomically; an existing file only with ``args.overwrite``) and
    returns the :class:`metrics.Report`. The JSON target is checked before any work is done.
    """
    from divergences._validation import check_positive_int
    from metrics.evaluate import DEFAULT_METRICS, evaluate
    from metrics.io.atomic import check_writable

    json_path = getattr(args, "json", None)
    overwrite = bool(getattr(args, "overwrite", False))
    if json_path:
        check_writable(json_path, overwrite=overwrite, what="--json")
    names = [m.strip() for m in (args.metrics or ",".join(DEFAULT_METRICS)).split(",")]
    if args.num_samples is not None:
        check_positive_int(args.num_samples, "--num-samples")
    dev = getattr(args, "device", None)
    if dev is not None:
        check_device(dev)
    report = evaluate(
        real,
        fake,
        metrics=[m for m in names if m],
        features=args.features or "identity",
        num_samples=args.num_samples,
        batch_size=256 if args.batch_size is None else args.batch_size,
        device=dev,
        progress=getattr(args, "progress", None),
        image_size=getattr(args, "image_size", None),
        resize=getattr(args, "resize", None),
        num_workers=getattr(args, "workers", None),
        cache=not getattr(args, "no_cache", False),
        check_hash=not getattr(args, "no_check_hash", False),
        precision=getattr(args, "precision", None),
        data_root=getattr(args, "data_root", None),
    )
    if json_path:
        report.to_json(json_path, overwrite=overwrite)
    return report


def _evaluate_run(args: argparse.Namespace) -> int:
    import torch

    from gan.evaluation import evaluate_generator, fit_steps, format_table, write_json
    from gan.sampling import load_run
    from metrics.io.atomic import check_writable

    if args.json:
        check_writable(args.json, overwrite=args.overwrite, what="--json")
    dev = device(args.device or "cpu")
    n = check_n(2500 if args.n is None else args.n, minimum=2)
    cfg, g, d, data = load_run(args.paths[0], device=dev, checkpoint=args.checkpoint or "best")
    k = data.n_classes
    if k and args.rejection:
        raise ValueError("--rejection needs an unconditional discriminator; this run's is "
                         + ("conditioned on its clusters of the data" if cfg.clusters
                            else "conditional"))  # fmt: skip
    if cfg.pac > 1 or k:  # the JS classifier is unconditional and unpacked: a fresh D
        from gan.models import plain_discriminator

        d = plain_discriminator(cfg, data.shape).to(dev)
    gen = torch.Generator(torch.device(dev)).manual_seed(args.seed or 0)
    g_eval = g
    if k:
        from gan.conditional import MarginalGenerator

        g_eval = MarginalGenerator(g, data.class_counts(), seed=args.seed or 0)
    fresh = cfg.pac > 1 or bool(k)  # the training's evaluation policy, scaled to the run
    res = evaluate_generator(g_eval, d, data, n=n, z_dim=cfg.z_dim, generator=gen,
                             rejection=bool(args.rejection),
                             calibration_steps=fit_steps(cfg, cfg.fresh_final_js_steps if fresh
                                                         else cfg.final_js_steps),
                             drs_calibration_steps=fit_steps(cfg, cfg.fresh_drs_steps if fresh
                                                             else cfg.drs_steps),
                             batch_size=cfg.eval_batch_size,
                             fid_draws=cfg.final_fid_draws)  # fmt: skip
    if k and not cfg.clusters:  # per-class metrics need the data's own labels
        from gan.conditional import evaluate_conditional

        res.update(evaluate_conditional(g, data, n=max(n, 2 * k), z_dim=cfg.z_dim,
                                        generator=gen))  # fmt: skip
    print(format_table(res))
    if args.json:
        write_json(args.json, res, overwrite=args.overwrite)
    return 0
