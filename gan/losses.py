"""GAN losses as pure functions of discriminator logits, and the divergence each one implies.

Conventions: ``real`` and ``fake`` are the discriminator's raw outputs (logits) ``(B,)`` on
real and generated samples; D(x) = σ(logit) for the logistic losses; every loss is a mean
over the batch and is *minimised* by its player.

=========  ===============================  ==============================  =========
name       discriminator loss               generator loss                  estimate
=========  ===============================  ==============================  =========
minimax    E softplus(−r) + E softplus(f)   −E softplus(f) = E log(1 − D)   JS (nats)
ns         E softplus(−r) + E softplus(f)   E softplus(−f) = −E log D       JS (nats)
hinge      E relu(1 − r) + E relu(1 + f)    −E f                            E r − E f
wgan-gp    E f − E r  (+ gradient penalty)  −E f                            E r − E f
lsgan      ½ E (r − 1)² + ½ E f²            ½ E (f − 1)²                    E r − E f
fgan-NAME  −(E g(r) − E f*(g(f)))           −E g(f)                         bound
=========  ===============================  ==============================  =========

f-GAN (Nowozin et al. 2016): g = g_f is the output activation of the divergence's record and
f* its convex conjugate, so ``−d_loss`` is the variational lower bound
D_f(P‖Q) ≥ E_P[g_f(V)] − E_Q[f*(g_f(V))] with P real and Q generated. The generator uses the
paper's non-saturating alternative (its §3.2): maximise E_Q[g_f(V(G(z)))].
The JS estimate is log 2 + ½ E log D(real) + ½ E log(1 − D(fake)) (Goodfellow et al. 2014,
the value of the game at D's optimum), computed from the per-sample terms of
:func:`divergences.estimators.discriminator.js_terms`, the implementation behind
:func:`divergences.estimators.js_from_discriminator`, here kept on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

import divergences as dv
from divergences.estimators.discriminator import js_terms

__all__ = [
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
]

Tensor = torch.Tensor


def _check_logits(real: Any = None, fake: Any = None) -> None:
    """Discriminator outputs must be non-empty float tensors; shape-only checks (no host sync)."""
    for t, name in ((real, "real"), (fake, "fake")):
        if t is None and name == "real":
            continue  # generator losses see fake logits only
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of logits, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
        if t.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(t.shape)}): no logits to average")
    if real is not None and real.device != fake.device:
        raise ValueError(
            f"real and fake must be on one device, got {real.device} and {fake.device}"
        )


def logistic_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    r"""Binary cross-entropy of D (real → 1, fake → 0) on logits.

    .. math:: L_D = -E_P[\log σ(r)] - E_Q[\log(1 - σ(f))]

    Args:
        real: logits on real samples ``(B,)``.
        fake: logits on generated samples ``(B',)``.

    Returns:
        A scalar tensor. Reference: Goodfellow et al. 2014, eq. 1.

    Example:
        >>> round(float(logistic_d_loss(torch.zeros(3), torch.zeros(3))), 4)  # 2 log 2
        1.3863
    """
    _check_logits(real, fake)
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def minimax_g_loss(fake: Tensor) -> Tensor:
    """The original (saturating) generator loss E_Q[log(1 − D)] = −E softplus(f).

    Example:
        >>> round(float(minimax_g_loss(torch.zeros(2))), 4)
        -0.6931
    """
    _check_logits(fake=fake)
    return -F.softplus(fake).mean()


def ns_g_loss(fake: Tensor) -> Tensor:
    """The non-saturating generator loss −E_Q[log D] = E softplus(−f) (Goodfellow et al. 2014).

    Example:
        >>> round(float(ns_g_loss(torch.zeros(2))), 4)
        0.6931
    """
    _check_logits(fake=fake)
    return F.softplus(-fake).mean()


def hinge_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge loss of D: E relu(1 − r) + E relu(1 + f) (Lim & Ye 2017; Miyato et al. 2018).

    Example:
        >>> float(hinge_d_loss(torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 0.0])))
        1.0
    """
    _check_logits(real, fake)
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g_loss(fake: Tensor) -> Tensor:
    """Hinge generator loss −E f (same as :func:`wasserstein_g_loss`).

    Example:
        >>> float(hinge_g_loss(torch.tensor([1.0, 3.0])))
        -2.0
    """
    _check_logits(fake=fake)
    return -fake.mean()


def wasserstein_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Critic loss E f − E r of WGAN (Arjovsky et al. 2017); add :func:`gradient_penalty`.

    Example:
        >>> float(wasserstein_d_loss(torch.tensor([1.0]), torch.tensor([3.0])))
        2.0
    """
    _check_logits(real, fake)
    return fake.mean() - real.mean()


def wasserstein_g_loss(fake: Tensor) -> Tensor:
    """Generator loss −E f of WGAN.

    Example:
        >>> float(wasserstein_g_loss(torch.tensor([1.0, 3.0])))
        -2.0
    """
    _check_logits(fake=fake)
    return -fake.mean()


def lsgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Least-squares D loss ½ E (r − 1)² + ½ E f² (Mao et al. 2017, 0-1 coding).

    Example:
        >>> float(lsgan_d_loss(torch.tensor([1.0]), torch.tensor([2.0])))
        2.0
    """
    _check_logits(real, fake)
    return 0.5 * (real - 1).square().mean() + 0.5 * fake.square().mean()


def lsgan_g_loss(fake: Tensor) -> Tensor:
    """Least-squares generator loss ½ E (f − 1)².

    Example:
        >>> float(lsgan_g_loss(torch.tensor([3.0])))
        2.0
    """
    _check_logits(fake=fake)
    return 0.5 * (fake - 1).square().mean()


def _record(divergence: Any, **params: Any):
    if isinstance(divergence, str):
        return dv.get_f_divergence(divergence, **params)
    return divergence


def fgan_bound(real: Tensor, fake: Tensor, divergence: Any) -> Tensor:
    r"""Variational lower bound on D_f(P‖Q) from a critic's outputs V.

    .. math:: \hat D_f = E_P[g_f(V)] - E_Q[f^*(g_f(V))] \le D_f(P \| Q)

    Args:
        real: critic outputs on samples of P ``(B,)``.
        fake: critic outputs on samples of Q ``(B',)``.
        divergence: an ``FDivergence`` record or its registry name.

    Returns:
        A scalar tensor in nats. Reference: Nowozin et al. 2016, eq. 6 and Table 2.

    Example:
        >>> round(float(fgan_bound(torch.zeros(4), torch.zeros(4), "kl")), 4)  # E v − E e^(v−1)
        -0.3679
    """
    rec = _record(divergence)
    # f*(g_f(v)) through the record's stable form where it has one (saturating g_f).
    _check_logits(real, fake)
    return rec.activation(real).mean() - rec.conjugate_of_activation(fake).mean()


def fgan_d_loss(real: Tensor, fake: Tensor, divergence: Any) -> Tensor:
    """f-GAN discriminator loss: the negated bound, −(E_P[g_f(V)] − E_Q[f*(g_f(V))]).

    Example:
        >>> round(float(fgan_d_loss(torch.zeros(4), torch.zeros(4), "kl")), 4)
        0.3679
    """
    return -fgan_bound(real, fake, divergence)


def fgan_g_loss(fake: Tensor, divergence: Any) -> Tensor:
    """f-GAN generator loss, Nowozin et al.'s non-saturating variant: −E_Q[g_f(V(G(z)))].

    Example:
        >>> float(fgan_g_loss(torch.tensor([1.0, 3.0]), "kl"))  # g_f(v) = v for KL
        -2.0
    """
    rec = _record(divergence)
    _check_logits(fake=fake)
    return -rec.activation(fake).mean()


def js_estimate(real: Tensor, fake: Tensor) -> Tensor:
    """JS(P, Q) in nats implied by a logistic discriminator: log 2 + ½E log D + ½E log(1 − D).

    The point value of :func:`divergences.estimators.js_from_discriminator` (the same
    :func:`~divergences.estimators.discriminator.js_terms`), on the device and differentiable,
    without a host synchronisation or a standard error.

    Example:
        >>> round(float(js_estimate(torch.full((3,), 20.0), torch.full((3,), -20.0))), 4)
        0.6931
    """
    _check_logits(real, fake)
    a, b = js_terms(real, fake)
    return 0.5 * (a.mean() + b.mean())


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """R1 = E_P ‖∇_x D(x)‖² on real samples (Mescheder et al. 2018); weight it by γ/2.

    Args:
        real_logits: D's outputs ``(B,)`` computed from ``real``.
        real: the real batch ``(B, ...)`` with ``requires_grad=True``.

    Returns:
        A scalar tensor, differentiable w.r.t. D's parameters (``create_graph=True``).

    Example:
        >>> x = torch.ones(4, 2, requires_grad=True)
        >>> float(r1_penalty((3 * x).sum(1), x))  # ∇ = (3, 3)
        18.0
    """
    for t, name in ((real_logits, "real_logits"), (real, "real")):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {t!r:.60}")
    if real.ndim == 0 or real_logits.shape != (real.shape[0],):
        raise ValueError(
            f"real_logits must have shape (B,) = ({real.shape[0] if real.ndim else '?'},) "
            f"to match real {tuple(real.shape)}, got {tuple(real_logits.shape)}"
        )
    if not real.requires_grad or real_logits.grad_fn is None:
        raise ValueError(
            "r1_penalty needs real with requires_grad=True and real_logits computed from it "
            "(call real.requires_grad_(True) before the discriminator)"
        )
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True, allow_unused=True)
    if grad is None:
        raise ValueError("real_logits do not depend on real: compute them as D(real)")
    return grad.square().reshape(grad.shape[0], -1).sum(1).mean()


def gradient_penalty(
    discriminator: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
    pac: int = 1,
) -> Tensor:
    """WGAN-GP penalty E (‖∇_x D(x̂)‖ − 1)² at x̂ = ε·real + (1 − ε)·fake (Gulrajani et al. 2017).

    Args:
        discriminator: maps ``(B·pac, ...)`` to logits ``(B,)``.
        real: real samples ``(B, ...)``.
        fake: generated samples ``(B, ...)`` (same shape).
        generator: draws ε ~ U(0, 1) per packed group (deterministic if given).
        pac: D's packing; ε is shared within each packed group.

    Returns:
        A scalar tensor; weight it by λ (10 in the paper).

    Example:
        >>> d = lambda x: 2 * x.sum(1)
        >>> float(gradient_penalty(d, torch.zeros(3, 1), torch.ones(3, 1)))  # ‖∇‖ = 2
        1.0
    """
    if not callable(discriminator):
        raise TypeError(f"discriminator must be callable, got {type(discriminator).__name__}")
    for t, name in ((real, "real"), (fake, "fake")):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {t!r:.60}")
    if real.shape != fake.shape or real.ndim == 0:
        raise ValueError(
            f"real and fake must have one shape (B, ...), got {tuple(real.shape)} "
            f"and {tuple(fake.shape)}"
        )
    if isinstance(pac, bool) or not isinstance(pac, int) or pac < 1:
        raise ValueError(f"pac must be an int >= 1, got {pac!r}")
    b = real.shape[0]
    if b == 0 or b % pac:
        raise ValueError(f"the batch ({b} samples) must be a positive multiple of pac={pac}")
    eps = torch.rand(b // pac, generator=generator, device=real.device, dtype=real.dtype)
    eps = eps.repeat_interleave(pac).reshape(b, *([1] * (real.ndim - 1)))
    x = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = discriminator(x)
    if not isinstance(out, torch.Tensor) or out.shape != (b // pac,):
        raise ValueError(
            f"discriminator must return logits of shape ({b // pac},) for {b} samples with "
            f"pac={pac}, got {tuple(out.shape) if isinstance(out, torch.Tensor) else out!r}"
        )
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    norms = grad.reshape(b // pac, -1).norm(dim=1)
    return (norms - 1).square().mean()


@dataclass(frozen=True)
class GANLoss:
    """A named pair of losses and the divergence estimate they imply (all on logits).

    Attributes:
        name: the loss name (see :func:`loss_names`).
        d_loss: ``(real, fake) → scalar`` minimised by D.
        g_loss: ``fake → scalar`` minimised by G.
        estimate: ``(real, fake) → scalar`` the implied divergence (no host sync).
        estimate_name: what ``estimate`` measures, e.g. ``"js"`` or ``"kl_bound"``.
        logistic: True when σ(logit) is D's probability of "real" (minimax, ns).
    """

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    estimate: Callable[[Tensor, Tensor], Tensor]
    estimate_name: str
    logistic: bool = False


_gap = lambda r, f: r.mean() - f.mean()  # noqa: E731

_BASIC = {
    "minimax": GANLoss("minimax", logistic_d_loss, minimax_g_loss, js_estimate, "js", True),
    "ns": GANLoss("ns", logistic_d_loss, ns_g_loss, js_estimate, "js", True),
    "hinge": GANLoss("hinge", hinge_d_loss, hinge_g_loss, _gap, "critic_gap"),
    "wgan-gp": GANLoss("wgan-gp", wasserstein_d_loss, wasserstein_g_loss, _gap, "w1_dual"),
    "lsgan": GANLoss("lsgan", lsgan_d_loss, lsgan_g_loss, _gap, "critic_gap"),
}


def loss_names() -> tuple[str, ...]:
    """Valid loss names: the basic losses and ``fgan-<name>`` for every f-divergence.

    Example:
        >>> "ns" in loss_names() and "fgan-kl" in loss_names()
        True
    """
    return (*_BASIC, *(f"fgan-{n}" for n in dv.f_divergence_names()))


def get_loss(name: str, **params: Any) -> GANLoss:
    """The :class:`GANLoss` of a name; ``params`` go to the f-divergence (e.g. ``alpha``).

    Example:
        >>> get_loss("ns").estimate_name
        'js'
        >>> get_loss("fgan-kl").estimate_name
        'kl_bound'
    """
    if not isinstance(name, str):
        raise TypeError(f"loss must be a string, got {type(name).__name__}")
    if name in _BASIC:
        return _BASIC[name]
    if name.startswith("fgan-"):
        key = name[len("fgan-") :]
        if key in dv.f_divergence_names():
            rec = dv.get_f_divergence(key, **params) if key == "alpha" else dv.get_f_divergence(key)
            return GANLoss(
                name,
                lambda r, f: fgan_d_loss(r, f, rec),
                lambda f: fgan_g_loss(f, rec),
                lambda r, f: fgan_bound(r, f, rec),
                f"{key}_bound",
            )
    raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(loss_names())}")
