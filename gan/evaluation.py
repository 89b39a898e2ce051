"""Evaluating a generator during and after training, through :mod:`metrics`.

* mixtures (``ring8``, ``grid25``): :func:`metrics.mode_coverage` with the PacGAN protocol
  (modes captured, share of high-quality samples within 3 std, reverse KL of the mode
  histogram to the uniform one);
* ``digits``: FID, KID, precision and recall in the features of the bundled digits network,
  against the held-out test split (with FID(train, test) as the yardstick, the training
  samples as many as the generated ones);
* grey 28 × 28 images (``fashion-mnist``, ``mnist``, such folders and arrays): the same in
  the features of the shipped Fashion-MNIST network
  (:func:`metrics.networks.features.fashion_features`),
  against the test split when there is one, else the training set;
* always: a JS estimate (nats) from a discriminator fine-tuned on real vs generated samples
  and scored on held-out samples with :func:`divergences.estimators.js_from_discriminator`.

With ``rejection=True`` the same metrics are computed again on samples refined by
discriminator rejection sampling (:mod:`gan.rejection`), under ``drs_``-prefixed keys, with
the acceptance rate. Raw and refined numbers are always reported side by side.

Under ``torch.distributed`` every rank calls the same function with its own generator
(seeded with :func:`gan._dist.rank_seed`) and handles its shard of the ``n`` samples
(:func:`metrics.parallel.shard_range`); the result, complete on rank 0, is the one of a
single process given the union of the shards:

* summed with ``all_reduce``: the mode histogram and sample count (then
  :func:`metrics.modes.mode_coverage_from_counts`), the generated features' moments for FID
  (:meth:`metrics.FeatureStats.all_reduce`), DRS's accepted and proposed counts;
* gathered (``all_gather``): the generated digits features for KID and precision/recall,
  which are not sums; the held-out logits of the JS estimate (N floats); the training half
  of the generated samples for the JS classifier;
* fitted on rank 0 and broadcast: the JS classifier and the DRS calibration (their cost is
  a fixed number of steps, independent of ``n``); the DRS bound M and shift γ are each
  rank's own burn-in estimates.

With one process nothing is communicated and the numbers are those of the unsharded code.
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

from divergences.estimators import js_from_discriminator
from gan import _dist
from gan.data import Data
from gan.image_metrics import _batched, feature_network, reference_features
from gan.losses import logistic_d_loss
from gan.rejection import _fusable, calibrate_discriminator, rejection_sample
from metrics.io.atomic import write_atomic
from metrics.parallel import all_reduce_sum, is_distributed, shard_range

__all__ = [
    "evaluate_generator",
    "fit_discriminator",
    "fit_steps",
    "format_table",
    "js_two_sample",
    "sample_count",
    "sample_metrics",
]


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


def _fitted_on_rank0(fit: Callable[[], nn.Module], like: nn.Module) -> nn.Module:
    """``fit()`` on rank 0; every other rank gets a copy of ``like`` holding its weights."""
    if not is_distributed():
        return fit()
    d = fit() if _dist.get_rank() == 0 else copy.deepcopy(like)
    _dist.broadcast_module(d)
    return d


def fit_discriminator(
    d_init: nn.Module,
    sample_real: Callable[[int, torch.Generator], torch.Tensor],
    fake: torch.Tensor,
    *,
    generator: torch.Generator,
    steps: int = 300,
    batch_size: int = 512,
    lr: float = 1e-4,
) -> nn.Module:
    """A copy of ``d_init`` trained with the logistic loss on fresh real samples vs ``fake``.

    Each Adam step (β = (0.5, 0.999)) draws ``batch_size`` real samples and ``batch_size``
    rows of ``fake`` (with replacement) from ``generator``. Under ``torch.distributed``
    ``fake`` is this rank's shard: the shards are gathered, rank 0 fits (with its
    generator) and broadcasts the weights, so every rank returns the same network, the one a
    single process fits on the union.

    Returns:
        The fitted copy, in eval mode (``d_init`` is not modified).

    Example:
        >>> from gan.data import load_data
        >>> ring = load_data("ring8")
        >>> d0 = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))
        >>> gen = torch.Generator().manual_seed(0)
        >>> fake = 3 * torch.randn(500, 2, generator=gen)
        >>> d = fit_discriminator(d0, ring.sample, fake, steps=200, batch_size=64, lr=1e-2,
        ...                       generator=gen)
        >>> with torch.no_grad():  # real points score higher than far-away fakes
        ...     bool(d(ring.centers).mean() > d(torch.full((8, 2), 4.0)).mean())
        True
    """
    fake = _dist.all_gather_cat(fake)

    def fit() -> nn.Module:
        d = copy.deepcopy(d_init).train().requires_grad_(True)
        opt = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999), fused=_fusable(d))
        for _ in range(steps):
            idx = torch.randint(len(fake), (batch_size,), generator=generator,
                                device=generator.device)  # fmt: skip
            loss = logistic_d_loss(
                d(sample_real(batch_size, generator)).float(), d(fake[idx]).float()
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return d

    return _fitted_on_rank0(fit, d_init).eval()


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
    half of ``fake`` (:func:`fit_discriminator`) and scored on fresh real samples vs the
    other half with :func:`divergences.estimators.js_from_discriminator` (a lower bound on JS
    in expectation). Under ``torch.distributed`` ``fake`` is this rank's shard: each rank
    splits its own shard in halves and scores its own share; the held-out logits are gathered
    (two floats per sample) and every rank returns the estimate on their union.

    Returns:
        ``(value, stderr)``, on every rank.

    Example:
        >>> from gan.data import load_data
        >>> ring = load_data("ring8")
        >>> d0 = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))
        >>> gen = torch.Generator().manual_seed(0)
        >>> v, se = js_two_sample(d0, ring.sample, ring.sample(400, gen), generator=gen,
        ...                       steps=20, batch_size=64)
        >>> abs(v) < 0.05  # generated = real: the lower bound is ~0
        True
    """
    half = len(fake) // 2
    d = fit_discriminator(d_init, sample_real, fake[:half], generator=generator, steps=steps,
                          batch_size=batch_size, lr=lr)  # fmt: skip
    with torch.no_grad():
        lr_ = d(sample_real(len(fake) - half, generator)).float()
        lf_ = d(fake[half:]).float()
    est = js_from_discriminator(_dist.all_gather_cat(lr_), _dist.all_gather_cat(lf_))
    return float(est.value), float(est.stderr)


def sample_metrics(samples: torch.Tensor, data: Data) -> dict[str, Any]:
    """The data set's sample-quality metrics for ``samples`` (no discriminator involved).

    Under ``torch.distributed`` every rank passes its shard (at least one sample) and the
    metrics of the union are returned on rank 0 (an empty dict on the other ranks): mode
    histograms and FID moments are summed, digits features gathered for KID and
    precision/recall.

    Example:
        >>> from gan.data import load_data
        >>> ring = load_data("ring8")
        >>> r = sample_metrics(ring.sample(2500, torch.Generator().manual_seed(0)), ring)
        >>> r["modes"], r["high_quality"] > 0.97, r["reverse_kl"] < 0.01
        (8, True, True)
    """
    import metrics
    from metrics.fid import fid_from_stats
    from metrics.kid import kid
    from metrics.modes import mode_coverage, mode_coverage_from_counts
    from metrics.stats import FeatureStats

    out: dict[str, Any] = {}
    rank0 = _dist.get_rank() == 0
    if data.centers is not None:
        local = mode_coverage(samples.double().cpu(), data.centers.double().cpu(), data.std)
        state = torch.tensor([*local.counts.tolist(), len(samples)], dtype=torch.int64)
        state = all_reduce_sum(state)
        rec = _as_dict(mode_coverage_from_counts(state[:-1], int(state[-1])))
        out.update({k: v for k, v in rec.items() if isinstance(v, (int, float))})
    elif (net := feature_network(data, samples.device)) is not None:  # digits, 28-px grey
        f_fake, fake_stats = _features_and_stats(samples, net)
        f_fake = _dist.all_gather_cat(f_fake)
        if rank0:
            f_test, f_train = reference_features(data, net, len(f_fake))
            test_stats = FeatureStats().update(f_test)
            out["fid"] = fid_from_stats(test_stats, fake_stats)
            if f_train is not None:  # the yardstick, at the generated sample count
                out.update(_mean_and_stderr(
                    "fid_train_test", [fid_from_stats(test_stats, FeatureStats().update(f))
                                       for f in f_train]))  # fmt: skip
            m = min(len(f_test), len(f_fake), 1000)
            out["kid"] = float(kid(f_test, f_fake, subset_size=m).mean)
            pr = _as_dict(metrics.precision_recall(f_test, f_fake, k=3))
            out.update({k: float(v) for k, v in pr.items() if isinstance(v, (int, float))})
    return out if rank0 else {}


def _features_and_stats(samples: torch.Tensor, net: Callable) -> tuple[torch.Tensor, Any]:
    """This rank's features (float64, CPU) of ``samples`` and the moments of all ranks' union."""
    from metrics.stats import FeatureStats

    with torch.no_grad():
        f = _batched(net, samples.float()).double().cpu()
    stats = FeatureStats(dim=f.shape[1]).update(f)
    if is_distributed():  # alone, all_reduce would recompute the mean (last-bit changes)
        stats.all_reduce()
    return f, stats


def _mean_and_stderr(name: str, values: list[float]) -> dict[str, float]:
    """``name``: the mean of ``values``; from two on, ``name_stderr`` (s / √r), ``name_draws``."""
    r = len(values)
    mean = math.fsum(values) / r
    if r < 2:
        return {name: mean}
    s = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (r - 1))
    return {name: mean, f"{name}_stderr": s / math.sqrt(r), f"{name}_draws": r}


def generated_fid(samples: torch.Tensor, data: Data) -> float | None:
    """FID of ``samples`` (this rank's shard) against ``data``'s reference, in its features.

    A collective under ``torch.distributed``: every rank calls it; rank 0 gets the float,
    the other ranks (and data without a feature network) None.
    """
    from metrics.fid import fid_from_stats
    from metrics.stats import FeatureStats

    net = feature_network(data, samples.device)
    if net is None:
        return None
    f_fake, fake_stats = _features_and_stats(samples, net)
    n = int(all_reduce_sum(torch.tensor([len(f_fake)], dtype=torch.int64))[0])
    if _dist.get_rank() != 0:
        return None
    f_test = reference_features(data, net, n)[0]
    return fid_from_stats(FeatureStats().update(f_test), fake_stats)


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
    drs_calibration_steps: int = 3000,
    batch_size: int = 512,
    fid_draws: int = 1,
) -> dict[str, Any]:
    """Evaluate ``g`` on ``data``: sample metrics, JS estimate, optionally DRS (``drs_`` keys).

    Args:
        g: the generator (evaluated without gradients).
        d: an unpacked discriminator (``pac = 1``) used to initialise the JS classifier and
            the DRS calibration; it is copied, never modified.
        data: the training distribution (on the generator's device).
        n: generated samples per evaluation over all processes (PacGAN: 2500); each rank
            generates its :func:`~metrics.parallel.shard_range` share (at least 2).
        z_dim: noise dimension.
        generator: RNG for sampling and calibration; under ``torch.distributed`` one per
            rank, seeded with :func:`gan._dist.rank_seed` so the union is reproducible for a
            given number of processes.
        rejection: also evaluate discriminator rejection sampling.
        calibration_steps: Adam steps of the JS classifiers.
        drs_calibration_steps: Adam steps of the DRS calibration (lr 3e-4; the sampling is
            exact rejection, γ = 0, see :mod:`gan.rejection`).
        batch_size: samples of each class per Adam step of the JS classifiers and of the
            DRS calibration.
        fid_draws: independent sets of ``n`` samples whose FIDs ``fid`` averages (data with
            a feature network), with ``fid_stderr`` (s / √r) when more than one; KID,
            precision and recall are the first set's: FID varies from one set of a few
            thousand samples to the next by more than most changes a run is compared on.

    Returns:
        A flat dict of floats, e.g. ``modes``, ``high_quality``, ``reverse_kl``, ``js``,
        ``js_stderr``; ``drs_*`` and ``drs_acceptance_rate`` with ``rejection=True``. Every
        rank must call it; ranks other than 0 get an empty dict.

    Example:
        >>> from gan.data import load_data
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> g, d = nn.Linear(4, 2), nn.Sequential(nn.Linear(2, 8), nn.Linear(8, 1), nn.Flatten(0))
        >>> res = evaluate_generator(g, d, load_data("ring8"), n=200, z_dim=4,
        ...                          generator=torch.Generator().manual_seed(0),
        ...                          calibration_steps=10)
        >>> sorted(res)
        ['high_quality', 'js', 'js_stderr', 'modes', 'n_modes', 'reverse_kl']
    """
    rank, world = _dist.rank_and_world()
    if isinstance(n, bool) or not isinstance(n, int) or n < 2 * world:
        raise ValueError(f"n must be an integer >= 2 per process ({2 * world}), got {n!r}")
    if isinstance(fid_draws, bool) or not isinstance(fid_draws, int) or fid_draws < 1:
        raise ValueError(f"fid_draws must be a positive integer, got {fid_draws!r}")
    if rejection and getattr(d, "pac", 1) != 1:  # checked on every rank before any collective
        raise ValueError("rejection sampling needs an unpacked discriminator (pac = 1)")
    n_local = len(shard_range(n, rank, world))
    fake = generate(g, n_local, z_dim, generator)
    out = sample_metrics(fake, data)
    fit = {"steps": calibration_steps, "batch_size": batch_size}
    out["js"], out["js_stderr"] = js_two_sample(d, data.sample, fake, generator=generator, **fit)
    if rejection:
        d_cal = _fitted_on_rank0(
            lambda: calibrate_discriminator(
                d, g, data.sample, z_dim=z_dim, steps=drs_calibration_steps,
                batch_size=batch_size, generator=generator,
            ),
            d,
        ).eval().requires_grad_(False)  # fmt: skip
        drs = rejection_sample(g, d_cal, n_local, z_dim=z_dim, generator=generator)
        out.update({f"drs_{k}": v for k, v in sample_metrics(drs.samples, data).items()})
        out["drs_js"], out["drs_js_stderr"] = js_two_sample(
            d_cal, data.sample, drs.samples, generator=generator, **fit
        )
        counts = all_reduce_sum(torch.tensor([drs.accepted, drs.proposed], dtype=torch.int64))
        out["drs_acceptance_rate"] = int(counts[0]) / int(counts[1])
    if fid_draws > 1 and feature_network(data, fake.device) is not None:  # the same on every rank
        fids = [out.get("fid")]
        for _ in range(fid_draws - 1):  # after JS and DRS: their numbers do not move with it
            fids.append(generated_fid(generate(g, n_local, z_dim, generator), data))
        if rank == 0:
            out.update(_mean_and_stderr("fid", [float(f) for f in fids if f is not None]))
    return out if rank == 0 else {}


def sample_count(cfg: Any, minimum: int = 2) -> int:
    """Generated samples of an evaluation of a run ``cfg``: ``eval_samples``, scaled to the run.

    At most a quarter of the real samples the run's discriminator saw,
    ⌊steps · n_critic · batch_size / 4⌋, and at least ``minimum`` (2 per process and per
    class): with the feature passes over as many real images, a short run's evaluation reads
    fewer images than its training did. Long runs keep ``eval_samples``.

    Example:
        >>> from gan.config import TrainConfig
        >>> sample_count(TrainConfig(steps=100, batch_size=64, eval_samples=5000))
        1600
        >>> sample_count(TrainConfig(steps=8000, batch_size=64, eval_samples=5000))
        5000
    """
    seen = cfg.steps * cfg.n_critic * cfg.batch_size
    return max(minimum, min(cfg.eval_samples, seen // 4))


def fit_steps(cfg: Any, configured: int) -> int:
    """Adam steps of an evaluation's discriminator fit (JS classifier, DRS) for a run ``cfg``.

    ``configured`` (the policy's count), capped so that one fit sees at most half as many
    real samples as the run's discriminator did: ⌊steps · n_critic · batch_size /
    (2 · eval_batch_size)⌋ (at least 1). A run's step costs ``n_critic`` D steps and a G step,
    so the final evaluation's fits (JS, and with DRS its calibration and JS) stay within the
    run's own time; long runs keep the configured counts.

    Example:
        >>> from gan.config import TrainConfig
        >>> fit_steps(TrainConfig(steps=300, batch_size=512), 1000)
        150
        >>> fit_steps(TrainConfig(steps=20000, batch_size=64), 1000)
        1000
    """
    seen = cfg.steps * cfg.n_critic * cfg.batch_size
    return min(configured, max(1, seen // (2 * cfg.eval_batch_size)))


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


def write_json(path: str | Path, result: dict[str, Any], *, overwrite: bool = True) -> None:
    """Write an evaluation dict as JSON, atomically (``overwrite=False`` refuses a clobber)."""
    text = json.dumps(result, indent=2) + "\n"
    write_atomic(Path(path), text, overwrite=overwrite, what="evaluation JSON")
