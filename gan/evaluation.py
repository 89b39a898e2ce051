"""Evaluating a generator during and after training, through :mod:`metrics`.

* mixtures (``ring8``, ``grid25``): :func:`metrics.mode_coverage` with the PacGAN protocol
  (modes captured, share of high-quality samples within 3 std, reverse KL of the mode
  histogram to the uniform one);
* ``digits``: FID, KID, precision and recall in the features of the bundled digits network,
  against the held-out test split (with FID(train, test) as the yardstick);
* always: a JS estimate (nats) from a discriminator fine-tuned on real vs generated samples
  and scored on held-out samples with :func:`divergences.estimators.js_from_discriminator`.

With ``rejection=True`` the same metrics are computed again on samples refined by
discriminator rejection sampling (:mod:`gan.rejection`), under ``drs_``-prefixed keys, with
the acceptance rate. Raw and refined numbers are always reported side by side.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan.data import Data
from gan.losses import logistic_d_loss
from gan.rejection import calibrate_discriminator, rejection_sample

__all__ = ["evaluate_generator", "format_table", "js_two_sample", "sample_metrics"]


def _as_dict(record: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(record):
        return dataclasses.asdict(record)
    if hasattr(record, "_asdict"):  # NamedTuple records
        return dict(record._asdict())
    return dict(record)


@torch.no_grad()
def generate(g: nn.Module, n: int, z_dim: int, generator: torch.Generator, batch: int = 4096):
    """``n`` samples of ``g`` in batches, float32, on the generator's device."""
    out = []
    for i in range(0, n, batch):
        z = torch.randn(min(batch, n - i), z_dim, generator=generator, device=generator.device)
        out.append(g(z).float())
    return torch.cat(out)


def js_two_sample(
    d_init: nn.Module,
    sample_real: Callable[[int, torch.Generator], torch.Tensor],
    fake: torch.Tensor,
    *,
    generator: torch.Generator,
    steps: int = 300,
    batch_size: int = 512,
    lr: float = 1e-4,
) -> tuple[float, float]:
    """JS(real, fake) in nats from a discriminator fine-tuned on half of ``fake``.

    A copy of ``d_init`` is trained with the logistic loss on fresh real samples vs the first
    half of ``fake`` and scored on fresh real samples vs the other half with
    :func:`divergences.estimators.js_from_discriminator` (a lower bound on JS in expectation).

    Returns:
        ``(value, stderr)``.
    """
    from divergences.estimators import js_from_discriminator

    half = len(fake) // 2
    train_f, test_f = fake[:half], fake[half:]
    d = copy.deepcopy(d_init).train().requires_grad_(True)
    opt = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    for _ in range(steps):
        idx = torch.randint(half, (batch_size,), generator=generator, device=generator.device)
        loss = logistic_d_loss(
            d(sample_real(batch_size, generator)).float(), d(train_f[idx]).float()
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    d.eval()
    with torch.no_grad():
        lr_ = d(sample_real(len(test_f), generator)).float()
        lf_ = d(test_f).float()
    est = js_from_discriminator(lr_, lf_)
    return float(est.value), float(est.stderr)


def sample_metrics(samples: torch.Tensor, data: Data) -> dict[str, Any]:
    """The data set's sample-quality metrics for ``samples`` (no discriminator involved)."""
    from metrics.fid import fid
    from metrics.kid import kid
    from metrics.modes import mode_coverage

    out: dict[str, Any] = {}
    if data.centers is not None:
        rec = _as_dict(mode_coverage(samples.double().cpu(), data.centers.double().cpu(),
                                             data.std))  # fmt: skip
        out.update({k: v for k, v in rec.items() if isinstance(v, (int, float))})
    elif data.name == "digits" and data.test is not None:
        net = _digits_net(samples.device)
        with torch.no_grad():
            f_fake = net(samples.float()).double().cpu()
            f_test = net(data.test.float()).double().cpu()
            f_train = net(data.train.float()).double().cpu()
        out["fid"] = float(fid(f_test, f_fake))
        out["fid_train_test"] = float(fid(f_test, f_train))
        out["kid"] = float(kid(f_test, f_fake, subset_size=min(len(f_test), len(f_fake))).mean)
        import metrics

        if hasattr(metrics, "precision_recall"):
            pr = _as_dict(metrics.precision_recall(f_test, f_fake, k=3))
            out.update({k: float(v) for k, v in pr.items() if isinstance(v, (int, float))})
    return out


_DIGITS_NET: dict[str, nn.Module] = {}


def _digits_net(device: torch.device) -> nn.Module:
    """The digits feature network of :mod:`metrics`, on images in [−1, 1] ``(N, 1, 8, 8)``."""
    from metrics import features

    key = str(device)
    if key not in _DIGITS_NET:
        _DIGITS_NET[key] = features.digits_features().to(device).eval()
    net = _DIGITS_NET[key]
    return lambda x: net((x + 1.0) / 2.0)  # type: ignore[return-value]


def evaluate_generator(
    g: nn.Module,
    d: nn.Module,
    data: Data,
    *,
    n: int,
    z_dim: int,
    generator: torch.Generator,
    rejection: bool = False,
    calibration_steps: int = 1000,
) -> dict[str, Any]:
    """Evaluate ``g`` on ``data``: sample metrics, JS estimate, optionally DRS (``drs_`` keys).

    Args:
        g: the generator (evaluated without gradients).
        d: an unpacked discriminator (``pac = 1``) used to initialise the JS classifier and
            the DRS calibration; it is copied, never modified.
        data: the training distribution (on the generator's device).
        n: generated samples per evaluation (PacGAN: 2500).
        z_dim: noise dimension.
        generator: RNG for sampling and calibration.
        rejection: also evaluate discriminator rejection sampling.
        calibration_steps: Adam steps for the JS classifier and the DRS calibration.

    Returns:
        A flat dict of floats, e.g. ``modes``, ``high_quality``, ``reverse_kl``, ``js``,
        ``js_stderr``; ``drs_*`` and ``drs_acceptance_rate`` with ``rejection=True``.
    """
    fake = generate(g, n, z_dim, generator)
    out = sample_metrics(fake, data)
    out["js"], out["js_stderr"] = js_two_sample(
        d, data.sample, fake, generator=generator, steps=calibration_steps
    )
    if rejection:
        d_cal = calibrate_discriminator(
            d, g, data.sample, z_dim=z_dim, steps=calibration_steps, generator=generator
        )
        drs = rejection_sample(g, d_cal, n, z_dim=z_dim, generator=generator)
        out.update({f"drs_{k}": v for k, v in sample_metrics(drs.samples, data).items()})
        out["drs_js"], out["drs_js_stderr"] = js_two_sample(
            d_cal, data.sample, drs.samples, generator=generator, steps=calibration_steps
        )
        out["drs_acceptance_rate"] = drs.acceptance_rate
    return out


def format_table(result: dict[str, Any]) -> str:
    """A two-column table (raw | rejection sampling) of an evaluation dict.

    Example:
        >>> print(format_table({"modes": 8, "js": 0.01, "drs_modes": 8, "drs_js": 0.005}))
        metric  raw     rejection
        ------  ------  ---------
        modes   8       8
        js      0.0100  0.0050
    """
    names = [k for k in result if not k.startswith("drs_") and not k.endswith("_stderr")]
    rows = [("metric", "raw", "rejection")]
    for k in names:
        rej = result.get(f"drs_{k}", "")
        rows.append((k, _fmt(result[k]), _fmt(rej) if rej != "" else "-"))
    if "drs_acceptance_rate" in result:
        rows.append(("acceptance_rate", "-", _fmt(result["drs_acceptance_rate"])))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    rows.insert(1, tuple("-" * w for w in widths))
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4f}" if math.isfinite(v) and abs(v) < 1e4 else f"{v:.4g}"
    return str(v)


def write_json(path: str | Path, result: dict[str, Any]) -> None:
    """Write an evaluation dict as JSON."""
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
