"""The built-in metrics of :func:`metrics.evaluate`, each registered with what it needs.

Each is a function ``(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult``
that reads its keyword options with ``options.of(name)`` and writes nothing anywhere else.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from metrics._jackknife import coarsen, fid_with_error_bars, prdc_with_error_bars
from metrics._options import EvaluationOptions
from metrics._records import MetricResult, Side
from metrics._registry import register
from metrics.cmmd import cmmd
from metrics.fid import fid_from_stats
from metrics.inception_score import inception_score
from metrics.kid import kid
from metrics.modes import mode_coverage
from metrics.prdc import density_coverage, precision_recall
from metrics.report import Entry
from metrics.two_sample import TWO_SAMPLE, two_sample, two_sample_tests

__all__: list[str] = []


def _score(s: Any) -> Entry:
    return Entry(float(s.mean), float(s.std), "std")


def _estimate(e: Any) -> Entry:
    return Entry(float(e.value), float(e.stderr), "stderr")


@register("fid", needs={"statistics"})
def _fid(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
    """``fid`` and, with K >= 2 groups of >= 2 samples, ``fid_bias_corrected`` and ``fid_inf``."""
    confidence = options.of("fid").get("confidence", 0.95)  # the sides were read with the groups
    rg, fg = list(real.groups), list(fake.groups)
    if rg and fg and len(rg) != len(fg):  # sizes known only after reading: match them
        rg, fg = coarsen(rg, len(fg)), coarsen(fg, len(rg))
    if len(rg or fg) < 2 or any(g.n < 2 for g in rg + fg):
        return MetricResult({"fid": Entry(fid_from_stats(real.total, fake.total))}, {"groups": 0})
    e = fid_with_error_bars(real.total, fake.total, rg, fg, confidence=confidence)
    entries = {  # the interval is about the bias-corrected FID, so it is that entry's
        "fid": Entry(e.value, e.stderr, "stderr"),
        "fid_bias_corrected": Entry(e.bias_corrected, e.stderr, "stderr", e.ci, confidence),
        "fid_inf": Entry(e.fid_infinity),
    }
    return MetricResult(entries, {"groups": len(rg or fg)})


@register("kid", needs={"features"})
def _kid(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
    """``kid``: mean and std over subsets (subset size at most 1000 and the smaller side)."""
    o = options.of("kid")
    o.setdefault("subset_size", min(1000, real.n, fake.n))
    return MetricResult({"kid": _score(kid(real.features, fake.features, **o))})


def _prdc(real: Side, fake: Side, o: dict, names: tuple[str, str], k: str) -> MetricResult:
    groups, confidence = o.pop("groups", 0), o.pop("confidence", 0.95)
    if not groups:
        fn = precision_recall if k == "k_pr" else density_coverage
        a, b = fn(real.features, fake.features, **o)
        return MetricResult({names[0]: Entry(a), names[1]: Entry(b)})
    ks = {"k_pr": None, "k_dc": None, k: o.pop("k", 3 if k == "k_pr" else 5)}
    out = prdc_with_error_bars(
        real.features, fake.features, **ks, **o, groups=groups, confidence=confidence
    )
    return MetricResult(
        {n: Entry(out[n].value, out[n].stderr, "stderr", out[n].ci, confidence) for n in names}
    )


@register("precision_recall", needs={"features"})
def _pr(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
    """``precision`` and ``recall`` (jackknife intervals with ``groups``)."""
    return _prdc(real, fake, options.of("precision_recall"), ("precision", "recall"), "k_pr")


@register("density_coverage", needs={"features"})
def _dc(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
    """``density`` and ``coverage`` (jackknife intervals with ``groups``)."""
    return _prdc(real, fake, options.of("density_coverage"), ("density", "coverage"), "k_dc")


@register("is", needs={"logits"})
def _is(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
    """``is``: the Inception Score of the fake logits, mean and std over splits."""
    o = options.of("is")
    o.setdefault("splits", min(10, fake.logits.shape[0]))
    return MetricResult({"is": _score(inception_score(fake.logits, **o))})


@register("mode_coverage", needs={"samples"})
def _modes(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
    """``modes``, ``high_quality``, ``reverse_kl`` of the fake samples around known centres."""
    o = options.of("mode_coverage")
    if "centers" not in o or "std" not in o:
        raise ValueError(
            "metric 'mode_coverage' needs options={'mode_coverage': {'centers': ..., 'std': ...}}"
        )
    x = fake.samples
    if not isinstance(x, torch.Tensor):
        raise ValueError("metric 'mode_coverage' needs fake samples as an array, not a folder")
    r = mode_coverage(x.reshape(x.shape[0], -1), **o)
    return MetricResult(
        {
            "modes": Entry(float(r.modes)),
            "high_quality": Entry(r.high_quality),
            "reverse_kl": Entry(r.reverse_kl),
        }
    )


@register("cmmd", needs={"features"})
def _cmmd(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
    """``cmmd`` with its stderr and interval; warns off CLIP embeddings."""
    network = (fake.extractor or {}).get("network")
    if not str(network).startswith("clip-"):
        warnings.warn(
            f"metric 'cmmd' is defined on CLIP embeddings (features='clip'); on "
            f"{network or 'these'} features it is not comparable with published CMMD",
            stacklevel=3,  # the caller of metrics.evaluate
        )
    e = cmmd(real.features, fake.features, **options.of("cmmd"))
    return MetricResult({"cmmd": Entry(e.value, e.stderr, "stderr", e.ci)})


def _two_sample_metric(name: str) -> None:
    @register(name, needs={"features"})
    def run(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
        v = two_sample(name, real.features, fake.features, **options.of(name))
        return MetricResult({name: _estimate(v) if hasattr(v, "stderr") else Entry(float(v))})


for _name in TWO_SAMPLE:
    _two_sample_metric(_name)


@register("two_sample", needs={"features"})
def _tests(real: Side, fake: Side, options: EvaluationOptions) -> MetricResult:
    """``p_<test>``: permutation p-values of real vs fake features (small: distinguishable)."""
    res = two_sample_tests(real.features, fake.features, **options.of("two_sample"))
    return MetricResult({f"p_{name}": Entry(r.p_value) for name, r in res.items()})
