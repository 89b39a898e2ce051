"""Discriminator rejection sampling (DRS): the discriminator as a density-ratio estimator.

At the optimum D*(x) = p*(x) / (p*(x) + p_θ(x)), so its logit s(x) = log D/(1 − D) is
log p*(x)/p_θ(x): accepting a generated x with probability exp(s(x) − M), M = max s, draws
exactly from p*. DRS (Azadi et al. 2019, "Discriminator Rejection Sampling", §3) first
calibrates D with the logistic loss on real vs generated samples, estimates M on a burn-in
set, then accepts x with probability σ(F(x)), where

    F(x) = s(x) − M − log(1 − exp(s(x) − M − ε)) − γ,

γ being a quantile of F over the burn-in set in the paper (``shift_quantile``; 0.95 in
uber-research/metropolis-hastings-gans). The default here is γ = 0, exact rejection sampling
(σ(F) = e^(s−M)), after a longer calibration (3,000 Adam steps at lr 3e-4): a quantile shift
raises the high-quality share but skews the mode histogram, while exact rejection keeps it
(benchmarks/RESULTS.md, the DRS settings of the quality benchmark).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from gan.losses import logistic_d_loss

__all__ = ["DRSResult", "calibrate_discriminator", "rejection_sample"]


def _fusable(d: nn.Module) -> bool:
    """Whether Adam's fused kernel (one call per step, not several per parameter) applies."""
    p = next(d.parameters(), None)
    return p is not None and p.device.type in ("cpu", "cuda") and p.is_floating_point()


@torch.no_grad()
def _generate(g: nn.Module, n: int, z_dim: int, generator: torch.Generator) -> torch.Tensor:
    z = torch.randn(n, z_dim, generator=generator, device=generator.device)
    return g(z).float()


def calibrate_discriminator(
    discriminator: nn.Module,
    g: nn.Module,
    sample_real,
    *,
    z_dim: int,
    steps: int = 3000,
    batch_size: int = 512,
    lr: float = 3e-4,
    generator: torch.Generator,
) -> nn.Module:
    """A copy of D fine-tuned with the logistic loss on real vs G's samples (G frozen).

    Args:
        discriminator: the trained D (left unchanged); packing must be 1 at sampling time,
            so a packed D (``pac > 1``) is rejected.
        g: the generator to refine (evaluated without gradients).
        sample_real: ``(n, generator) → (n, *shape)`` real samples on the device.
        z_dim: noise dimension of ``g``.
        steps: Adam steps of calibration.
        batch_size: samples of each class per step.
        lr: Adam learning rate (β = (0.5, 0.999)).
        generator: the RNG for real and generated batches (its device is used).

    Returns:
        The calibrated copy, in eval mode, whose logits estimate log p*/p_θ.
    """
    if getattr(discriminator, "pac", 1) != 1:
        raise ValueError("rejection sampling needs an unpacked discriminator (pac = 1)")
    d = copy.deepcopy(discriminator).train().requires_grad_(True)
    opt = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999), fused=_fusable(d))
    for _ in range(steps):
        real = sample_real(batch_size, generator)
        fake = _generate(g, batch_size, z_dim, generator)
        loss = logistic_d_loss(d(real).float(), d(fake).float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return d.eval().requires_grad_(False)


@dataclass(frozen=True)
class DRSResult:
    """Accepted samples and the bookkeeping of a rejection-sampling run.

    Attributes:
        samples: the accepted samples ``(n, *shape)``.
        acceptance_rate: accepted / proposed.
        proposed: how many samples G proposed.
        max_logit: the bound M used.
        gamma: the shift γ used.
        accepted: how many proposals were accepted (≥ ``len(samples)``: whole batches are
            scored); ``accepted`` and ``proposed`` sum over shards.
    """

    samples: torch.Tensor
    acceptance_rate: float
    proposed: int
    max_logit: float
    gamma: float
    accepted: int = 0


@torch.no_grad()
def rejection_sample(
    g: nn.Module,
    calibrated_d: nn.Module,
    n: int,
    *,
    z_dim: int,
    generator: torch.Generator,
    burn_in: int = 10000,
    shift_quantile: float | None = None,
    gamma: float | None = None,
    eps: float = 1e-6,
    batch_size: int = 4096,
    max_proposals: int | None = None,
    min_acceptance: float = 1e-2,
) -> DRSResult:
    r"""Draw ``n`` samples from G refined by D's density ratio (Azadi et al. 2019).

    .. math:: P(\text{accept } x) = σ\big(s - M - \log(1 - e^{s - M - ε}) - γ\big)

    Args:
        g: the generator ``(B, z_dim) → (B, *shape)``.
        calibrated_d: D from :func:`calibrate_discriminator` (logits ``(B,)``).
        n: samples to return.
        z_dim: noise dimension.
        generator: the RNG (its device is used for everything).
        burn_in: proposals used to estimate M and γ (M is raised when a larger logit appears).
        shift_quantile: γ = this quantile of F over the burn-in set (the paper's code uses
            0.95, which over-selects some modes on ring8).
        gamma: a fixed γ. With neither ``gamma`` nor ``shift_quantile`` (default), γ = 0:
            exact rejection sampling, since σ(s − M − log(1 − e^(s−M))) = e^(s−M) (ε aside).
            When the burn-in predicts an exact acceptance rate below ``min_acceptance`` (G far
            from the data), the median shift is used instead, with a ``RuntimeWarning``; the
            γ used is in the result.
        eps: ε in F, keeps the log finite at s = M.
        batch_size: proposals per batch.
        max_proposals: stop with an error beyond this many proposals (default 1000·n).
        min_acceptance: see ``gamma``.

    Returns:
        A :class:`DRSResult`; its ``acceptance_rate`` is reported next to the samples.

    Example:
        >>> g = nn.Linear(2, 2)
        >>> d = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
        >>> r = rejection_sample(g, d, 50, z_dim=2, generator=torch.Generator().manual_seed(0),
        ...                      burn_in=500)
        >>> tuple(r.samples.shape), 0 < r.acceptance_rate <= 1
        ((50, 2), True)
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if shift_quantile is not None and gamma is not None:
        raise ValueError("give shift_quantile or gamma, not both")
    if shift_quantile is not None and not 0.0 <= shift_quantile <= 1.0:
        raise ValueError(f"shift_quantile must be in [0, 1], got {shift_quantile}")
    max_proposals = max_proposals or 1000 * n
    x0 = _generate(g, burn_in, z_dim, generator)
    s0 = calibrated_d(x0).float()
    m = s0.max()
    if shift_quantile is None and gamma is None:
        predicted = float(torch.exp(s0 - m).mean())  # E_θ[e^(s − M)], exact acceptance
        if predicted < min_acceptance:
            warnings.warn(
                f"exact rejection sampling would accept about {predicted:.2g} of the proposals "
                "(the generator is far from the data); using the median shift instead",
                RuntimeWarning,
                stacklevel=3,  # the caller of rejection_sample (no_grad adds a frame)
            )
            shift_quantile = 0.5
    if shift_quantile is not None:
        gamma_t = torch.quantile(_f_score(s0, m, eps), shift_quantile)
    else:
        gamma_t = torch.tensor(float(gamma or 0.0), device=s0.device)
    accepted, proposed, n_acc = [], 0, 0
    # One host sync per batch (the count of accepted samples): sampling is not in a hot loop.
    while n_acc < n:
        if proposed >= max_proposals:
            raise RuntimeError(
                f"rejection sampling accepted {n_acc} of {proposed} proposals; the "
                "discriminator rejects almost everything (is G collapsed?)"
            )
        x = _generate(g, batch_size, z_dim, generator)
        s = calibrated_d(x).float()
        m = torch.maximum(m, s.max())
        p = torch.sigmoid(_f_score(s, m, eps) - gamma_t)
        keep = torch.rand(p.shape, generator=generator, device=p.device) < p
        accepted.append(x[keep])
        proposed += batch_size
        n_acc += int(keep.sum())
    out = torch.cat(accepted)[:n]
    # Proposals actually needed for the first n acceptances are not tracked within the last
    # batch; the rate is accepted/proposed over whole batches (a conservative estimate).
    return DRSResult(out, n_acc / proposed, proposed, float(m), float(gamma_t), n_acc)


def _f_score(s: torch.Tensor, m: torch.Tensor, eps: float) -> torch.Tensor:
    d = s - m
    return d - _log1mexp(d - eps)


def _log1mexp(a: torch.Tensor) -> torch.Tensor:
    """log(1 − e^a) for a < 0, stable (Mächler 2012)."""
    return torch.where(a > -0.6931, torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))
