"""Evaluation during training: periodic and final, sharded over ranks, with sample grids."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gan import _dist
from gan.data import Data
from gan.models import plain_discriminator
from gan.training.state import Nets, Run

__all__ = ["evaluate"]


def evaluate(run: Run, nets: Nets, step: int, *, final: bool) -> dict[str, Any]:
    """Evaluate the generator (sharded over ranks) with the policy of ``run.cfg``.

    Its noise is seeded from ``cfg.seed``, the step and the rank, not drawn from the
    training's stream. A packed or conditional D cannot score single unlabelled samples: the JS
    classifier and DRS then fit a fresh unconditional D. Rank 0 adds the effort spent, the
    per-class metrics of a conditional run (not of a run on clusters) and, for image
    data with ``cfg.plots``, a grid of samples from the same noise at every evaluation.
    """
    from gan import evaluation  # pulls in metrics

    cfg, data = run.cfg, run.data
    seed = _dist.rank_seed(cfg.seed + cfg.eval_seed_stride * (step + 1), run.rank)
    d_eval, fresh = nets.d, cfg.pac > 1 or nets.n_classes > 0
    if fresh:  # the JS classifier and DRS need an unpacked, unconditional D: fitted longer
        d_eval = plain_discriminator(cfg, data.shape).to(run.device)
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
            fid_draws=cfg.final_fid_draws if final else 1,
        )  # fmt: skip
        if run.rank == 0:  # the evaluation states its own effort
            res.update(n_generated=n, js_fit_steps=js_steps)
        if run.rank == 0 and nets.n_classes and not cfg.clusters:  # per class: intra-FID, accuracy
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
