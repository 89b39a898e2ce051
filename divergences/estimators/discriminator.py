"""Jensen–Shannon divergence implied by a discriminator's logits (e.g. a GAN's own D)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from divergences._validation import as_tensor, check_finite
from divergences.estimators._record import Estimate, check_confidence, make_estimate

__all__ = ["js_from_discriminator", "js_terms"]


def _logits(t: Any, name: str) -> torch.Tensor:
    tensor, _ = as_tensor(t, name)
    tensor = tensor.detach().reshape(-1)
    if tensor.numel() < 2:
        raise ValueError(
            f"{name} needs at least 2 logits to give a standard error, got {tensor.numel()}"
        )
    check_finite(tensor, name)
    return tensor.to(torch.float64)


def js_terms(
    logits_real: torch.Tensor, logits_fake: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample terms ``(log 2 + log D(x_i), log 2 + log(1 − D(y_j)))`` computed from logits.

    The one implementation of "JS from logits": :func:`js_from_discriminator` (with a
    standard error), the classifier estimator and the GAN trainer's on-device estimate
    (``gan.losses.js_estimate``) all average these terms, ``JS ≈ ½ (mean a + mean b)``. Torch
    in, torch out (same dtype and device, differentiable); ``log D = logsigmoid(logit)``
    keeps large logits finite.

    Example:
        >>> import torch
        >>> a, b = js_terms(torch.tensor([20.0, 0.0]), torch.tensor([-20.0]))
        >>> [round(v, 4) for v in a.tolist()], [round(v, 4) for v in b.tolist()]
        ([0.6931, 0.0], [0.6931])
    """
    log2 = math.log(2.0)
    return log2 + F.logsigmoid(logits_real), log2 + F.logsigmoid(-logits_fake)


def js_from_discriminator(
    logits_real: Any, logits_fake: Any, *, confidence: float = 0.95
) -> Estimate:
    r"""JS divergence (nats) implied by a discriminator's logits, with its standard error.

    With ``D = sigmoid(logit)`` the probability that a point is real, the estimate is

    .. math:: \widehat{JS} = \log 2 + \tfrac12\,\overline{\log D(x)}
              + \tfrac12\,\overline{\log(1 - D(y))},

    computed stably as ``logsigmoid(l_real)`` and ``logsigmoid(-l_fake)``. At the optimal
    discriminator ``D* = p/(p+q)`` (balanced classes) its expectation equals JS(P‖Q); for any
    other D it is a **lower bound** (the GAN value function is maximised at D*), so an
    under-trained or over-regularised discriminator under-reports the divergence. It can be
    negative for a badly wrong D. Feed logits of points the discriminator was **not** trained
    on for an honest estimate: on its own training batch the value is biased upwards by
    over-fitting.

    The standard error is the CLT one over the two independent means,
    ``sqrt(var(a)/(4N) + var(b)/(4M))`` (unbiased variances), and ``ci`` the normal
    interval at ``confidence``.

    Args:
        logits_real: Discriminator logits on samples of P, any shape ``(N, ...)``
            (flattened; NumPy or torch, no gradient is kept).
        logits_fake: Logits on samples of Q, any shape ``(M, ...)``.
        confidence: Level of the interval in ``(0, 1)``.

    Returns:
        ``Estimate`` with ``method="discriminator"``, ``divergence="js"``; ``details`` holds
        ``mean_log_d_real``, ``mean_log_1m_d_fake`` and the balanced ``accuracy`` at
        threshold 0.

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (Prop. 1 and Thm. 1:
        C(G) = −log 4 + 2·JS); Nowozin, Cseke & Tomioka, "f-GAN", NeurIPS 2016.

    Example:
        >>> import torch
        >>> e = js_from_discriminator(torch.full((8,), 20.0), torch.full((8,), -20.0))
        >>> round(e.value, 4)  # a perfect discriminator: JS = log 2
        0.6931
    """
    confidence = check_confidence(confidence)
    lr = _logits(logits_real, "logits_real")
    lf = _logits(logits_fake, "logits_fake")
    a, b = js_terms(lr, lf.to(lr.device))
    n, m = a.numel(), b.numel()
    value = 0.5 * (a.mean() + b.mean())
    var = 0.25 * (a.var() / n + b.var() / m)
    acc = 0.5 * ((lr > 0).double().mean() + (lf < 0).double().mean())
    out = torch.stack([value, var, a.mean(), b.mean(), acc]).cpu().tolist()
    details = {
        "mean_log_d_real": out[2] - math.log(2.0),
        "mean_log_1m_d_fake": out[3] - math.log(2.0),
        "accuracy": out[4],
        "lower_bound": True,
    }
    return make_estimate(
        out[0],
        math.sqrt(max(out[1], 0.0)),
        n_x=n,
        n_y=m,
        method="discriminator",
        divergence="js",
        confidence=confidence,
        details=details,
    )
