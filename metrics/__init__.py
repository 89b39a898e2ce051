"""metrics: evaluation of generators (FID, KID, IS, CMMD, precision/recall, density/coverage, ...).

Streaming and mergeable, in bounded memory; built on :mod:`divergences`. Every metric is a
function on feature arrays and, where state is useful, an accumulator class with
``update``/``compute``/``merge``/``reset`` that calls the same helper. :func:`evaluate` runs
several at once on arrays, files, image folders or a generator and returns a :class:`Report`.

The metrics are modules at this level; :mod:`metrics.io` reads and writes files (the one
image-folder reader, statistics files, the cache, the atomic writer), :mod:`metrics.networks`
holds the feature networks and the extraction, :mod:`metrics.parallel` the
``torch.distributed`` helpers. Command-line code lives in :mod:`gan.cli`, never here.
"""

from __future__ import annotations

from metrics._options import EvaluationOptions
from metrics._types import Score
from metrics.cmmd import cmmd
from metrics.evaluate import METRICS, evaluate, load_samples
from metrics.fid import FID, fid, fid_from_moments, fid_from_stats
from metrics.inception_score import InceptionScore, inception_score
from metrics.io.reference import compute_stats
from metrics.kid import KID, kid
from metrics.modes import ModeCoverage, mode_coverage, mode_coverage_from_counts
from metrics.networks.clip import clip_image
from metrics.networks.dinov2 import dinov2
from metrics.networks.features import (
    digits_features,
    digits_logits,
    extract,
    fashion_features,
    fashion_logits,
)
from metrics.networks.inception import inception
from metrics.networks.resize import resize
from metrics.prdc import (
    PRDC,
    DensityCoverage,
    PrecisionRecall,
    PrecisionRecallDensityCoverage,
    density_coverage,
    prdc,
    precision_recall,
)
from metrics.report import Entry, Report
from metrics.stats import FeatureStats
from metrics.two_sample import TWO_SAMPLE, two_sample

__all__ = [
    "FID",
    "KID",
    "METRICS",
    "PRDC",
    "TWO_SAMPLE",
    "DensityCoverage",
    "Entry",
    "EvaluationOptions",
    "FeatureStats",
    "InceptionScore",
    "ModeCoverage",
    "PrecisionRecall",
    "PrecisionRecallDensityCoverage",
    "Report",
    "Score",
    "clip_image",
    "cmmd",
    "compute_stats",
    "density_coverage",
    "digits_features",
    "digits_logits",
    "dinov2",
    "evaluate",
    "extract",
    "fashion_features",
    "fashion_logits",
    "fid",
    "fid_from_moments",
    "fid_from_stats",
    "inception",
    "inception_score",
    "kid",
    "load_samples",
    "mode_coverage",
    "mode_coverage_from_counts",
    "prdc",
    "precision_recall",
    "resize",
    "two_sample",
]
