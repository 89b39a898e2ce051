"""two_sample_test: bad input raises errors that name the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.testing import TestResult, two_sample_test

rng = np.random.default_rng(0)
X, Y = rng.normal(size=(10, 2)), rng.normal(size=(12, 2))


@pytest.mark.parametrize(
    "args, kwargs, err, match",
    [
        ((X[:1], Y), {}, ValueError, "x needs at least 2 samples"),
        ((X, Y[:1]), {}, ValueError, "y needs at least 2 samples"),
        ((X, Y[:, :1]), {}, ValueError, "same dimension"),
        ((np.where(np.eye(10, 2) > 0, np.nan, X), Y), {}, ValueError, "x must be finite"),
        ((X, np.full((3, 2), np.inf)), {}, ValueError, "y must be finite"),
        ((X, Y), {"permutations": 0}, ValueError, "permutations must be >= 1"),
        ((X, Y), {"permutations": 2.5}, TypeError, "permutations must be an integer"),
        ((X, Y), {"alpha": 0.0}, ValueError, r"alpha must be in \(0, 1\)"),
        ((X, Y), {"alpha": 1.5}, ValueError, r"alpha must be in \(0, 1\)"),
        ((X, Y), {"alpha": "0.05"}, TypeError, "alpha must be a number"),
        ((X, Y, "t-test"), {}, ValueError, "statistic must be one of"),
        ((X, Y, 3), {}, TypeError, "statistic must be a name or a callable"),
        ((X, Y, lambda a, b: np.ones(2)), {}, TypeError, "statistic must return a real scalar"),
        ((X, Y, lambda a, b: "big"), {}, TypeError, "statistic must return a real scalar"),
        ((X, Y, lambda a, b: float("nan")), {}, ValueError, "statistic returned NaN"),
        ((X, Y), {"kernel": "cosine"}, ValueError, "kernel must be one of"),
        ((X, Y), {"bandwidth": -1.0}, ValueError, "bandwidth must be finite and > 0"),
        ((X, Y, "knn"), {"kernel": "gaussian"}, TypeError, r"unknown option\(s\) \['kernel'\]"),
        ((X, Y, "knn"), {"k": 0}, ValueError, "k must be >= 1"),
        ((X, Y, "knn"), {"k": 30}, ValueError, "k=30 needs more than 22"),
        ((X, Y, "mmd-agg"), {"weights": "flat"}, ValueError, "weights must be one of"),
        ((X, Y, "mmd-agg"), {"n_bandwidths": 1}, ValueError, "n_bandwidths must be >= 2"),
        ((X, Y), {"resampling": "wild"}, ValueError, "resampling='wild' needs equal"),
        ((X, Y), {"resampling": "bootstrap"}, ValueError, "resampling must be one of"),
        ((X, Y), {"generator": 0}, TypeError, "generator must be a torch.Generator"),
        ((X, Y), {"exact": 1}, TypeError, "exact must be None, True or False"),
        ((X, Y), {"ties": "random"}, ValueError, "ties must be one of"),
        ((X, Y, "wasserstein"), {"method": "assignment"}, ValueError, "equal sample sizes"),
        ((X, Y, "wasserstein"), {"method": "exact_1d"}, ValueError, "needs D = 1"),
        ((X, Y, "c2st"), {"n_folds": 11}, ValueError, "n_folds=11 needs"),
        ((np.zeros((3, 2)), np.zeros((3, 2))), {}, ValueError, "median heuristic gave bandwidth 0"),
        (("abc", Y), {}, TypeError, "x must be an array"),
        ((X.astype(np.complex128), Y), {}, TypeError, "x must be real"),
        ((X, np.vstack([Y, Y + 1])), {"exact": True}, ValueError, r"more than 10\^6"),
    ],
)
def test_errors_name_the_argument(args, kwargs, err, match):
    with pytest.raises(err, match=match):
        two_sample_test(*args, **kwargs)


def test_mixed_dtypes_and_devices_are_refused():
    with pytest.raises(TypeError, match="same dtype"):
        two_sample_test(torch.zeros(3, 2), torch.zeros(3, 2, dtype=torch.float64))


def test_exported_from_the_package():
    assert dv.two_sample_test is two_sample_test and dv.TestResult is TestResult
    r = dv.two_sample_test(X, Y + 2, permutations=19)
    assert "reject" in str(r) and r.n_x == 10 and r.n_y == 12
    with pytest.raises(AttributeError):
        r.p_value = 0.5  # frozen
