"""The statistics of ``two_sample_test``: options, validation and evaluation (private).

:func:`prepare` turns a statistic and its options into a :class:`Prepared`: the labels to
relabel (observed labels and blocks) and ``evaluate(labels) -> (t, tol, details)``, the
statistic of every labelling row (row 0 observed) with its rounding tolerance for ties.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from divergences._validation import (
    check_choice,
    check_positive_int,
    max_abs,
    mul_pow2,
    pow2_exponent,
)
from divergences.kernels import KERNELS, _bandwidths, _check_polynomial_range
from divergences.testing import _graph, _kernels, _pooled, _transport
from divergences.testing._labels import Pooled

Tensor = torch.Tensor

__all__ = ["STATISTICS", "SYMMETRIC", "Prepared", "check_options", "check_statistic", "prepare"]

STATISTICS = ("mmd", "energy", "mmd-agg", "mmd-fuse", "knn", "chamfer", "wasserstein", "c2st")
SYMMETRIC = frozenset(STATISTICS) - {"c2st"}
_COLLECTIONS = ("laplace_gaussian", "laplace", "gaussian")
_OPTIONS: dict[str, dict[str, Any]] = {
    "mmd": {"kernel": "gaussian", "bandwidth": None, "degree": 3, "gamma": None, "coef0": 1.0,
            "unbiased": True},
    "energy": {"unbiased": False},
    "mmd-agg": {"kernel": "laplace_gaussian", "n_bandwidths": 10, "weights": "uniform",
                "level_permutations": None},
    "mmd-fuse": {"kernel": "laplace_gaussian", "n_bandwidths": 10},
    "knn": {"k": 3, "p": 2.0},
    "chamfer": {"p": 2.0, "squared": False, "reduction": "mean"},
    "wasserstein": {"p": 1.0, "method": "auto", "n_projections": 128},
    "c2st": {"classifier": "auto", "n_folds": 2, "clip": 1e-6, "device": None},
    "callable": {},
}  # fmt: skip


@dataclass
class Prepared:
    """A statistic ready to evaluate on labelling rows (see the module docstring)."""

    obs: Tensor
    block: Tensor
    ones: list[int]
    evaluate: Callable[[Tensor, bool, int], tuple[Tensor, float, dict[str, Any]]]
    smaller: bool = False
    scale_pow2: int = 0
    second: Callable[[int], int] | None = None


def check_statistic(statistic: Any) -> str:
    """The statistic's name (``"callable"`` for a function), or raise."""
    if callable(statistic):
        return "callable"
    if not isinstance(statistic, str):
        got = type(statistic).__name__
        raise TypeError(f"statistic must be a name or a callable (x, y) -> float, got {got}")
    check_choice(statistic, "statistic", STATISTICS)
    return statistic


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The statistic's options with defaults filled in; unknown names raise TypeError."""
    allowed = _OPTIONS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(allowed) or "none"
        raise TypeError(f"unknown option(s) {unknown} for statistic {name!r}; options: {valid}")
    return {**allowed, **options}


def _real(v: Any, name: str, *, minimum: float, open_min: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v) or v < minimum or (open_min and v == minimum):
        raise ValueError(
            f"{name} must be finite and {'>' if open_min else '>='} {minimum}, got {v}"
        )
    return v


def _flag(v: Any, name: str) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be a bool, got {type(v).__name__}")
    return v


def precheck(name: str, o: dict[str, Any], n: int, m: int, d: int) -> None:
    """Validate option values that need the sizes only (before any work)."""
    if name == "mmd":
        check_choice(o["kernel"], "kernel", KERNELS)
        _flag(o["unbiased"], "unbiased")
        o["degree"] = check_positive_int(o["degree"], "degree")
        o["gamma"] = (
            1.0 / d if o["gamma"] is None else _real(o["gamma"], "gamma", minimum=0, open_min=True)
        )
        o["coef0"] = _real(o["coef0"], "coef0", minimum=0)
    elif name == "energy":
        _flag(o["unbiased"], "unbiased")
    elif name in ("mmd-agg", "mmd-fuse"):
        check_choice(o["kernel"], "kernel", _COLLECTIONS)
        o["n_bandwidths"] = check_positive_int(o["n_bandwidths"], "n_bandwidths", minimum=2)
        if name == "mmd-agg":
            check_choice(o["weights"], "weights", _kernels.WEIGHTS)
            if o["level_permutations"] is not None:
                check_positive_int(o["level_permutations"], "level_permutations")
    elif name in ("knn", "chamfer"):
        o["p"] = _real(o["p"], "p", minimum=1)
        if name == "knn":
            o["k"] = check_positive_int(o["k"], "k")
            if o["k"] > n + m - 1:
                raise ValueError(f"k={o['k']} needs more than {n + m} pooled samples")
        else:
            _flag(o["squared"], "squared")
            check_choice(o["reduction"], "reduction", ("mean", "sum"))
    elif name == "wasserstein":
        o["p"] = _real(o["p"], "p", minimum=1)
        check_choice(o["method"], "method", ("auto", "exact_1d", "sliced", "assignment"))
        o["n_projections"] = check_positive_int(o["n_projections"], "n_projections")
        if o["method"] == "exact_1d" and d != 1:
            raise ValueError(f"method='exact_1d' needs D = 1, got D = {d}")
        if o["method"] == "assignment" and n != m:
            raise ValueError(f"method='assignment' needs equal sample sizes, got {n} and {m}")
    elif name == "c2st":
        o["n_folds"] = check_positive_int(o["n_folds"], "n_folds", minimum=2)
        if min(n, m) < o["n_folds"]:
            raise ValueError(f"c2st with n_folds={o['n_folds']} needs at least that many samples "
                             f"in each set, got {n} and {m}")  # fmt: skip
        if not isinstance(o["clip"], float) or not 0.0 < o["clip"] < 0.5:
            raise ValueError(f"clip must be a float in (0, 0.5), got {o['clip']!r}")


def _rescaled(w: Tensor) -> tuple[Tensor, int]:
    """``w`` in float64 times ``2^-e`` (max-abs in [1/2, 1)), centred: scale-free distances."""
    w64 = w.to(torch.float64)
    e = pow2_exponent(max_abs(w64))
    wr = mul_pow2(w64, -e)
    return wr - wr.mean(0), e


def _kernel_stat(pooled: Pooled, block, n_kernels: int, unbiased: bool, details: dict, wr):
    def evaluate(labels: Tensor, exact: bool, b: int):
        table, _, kmax = _pooled.mmd_table(
            wr, labels, block, n_kernels, unbiased=unbiased, pairs=pooled.wild
        )
        tol = _pooled.tie_tolerance(kmax, pooled.n, pooled.m)
        return table[0], tol, details

    return evaluate


def _mmd(name: str, o: dict[str, Any], pooled: Pooled) -> Prepared:
    kernel = "energy" if name == "energy" else o["kernel"]
    if kernel == "polynomial":
        w64 = pooled.w.to(torch.float64)
        _check_polynomial_range(max_abs(w64), w64, w64[:0], o["degree"], o["gamma"], o["coef0"])
        block = _kernels.mmd_kernel(kernel, None, (o["degree"], o["gamma"], o["coef0"]))
        poly = {"kernel": kernel, "degree": o["degree"], "gamma": o["gamma"], "coef0": o["coef0"]}
        ev = _kernel_stat(pooled, block, 1, o["unbiased"], poly, w64)
        return Prepared(pooled.obs, pooled.block, pooled.ones, ev)
    wr, e = _rescaled(pooled.w)
    bandwidth = None if kernel == "energy" else o["bandwidth"]
    bw = _bandwidths(bandwidth, kernel, wr, wr[:0], torch.Generator().manual_seed(0), e)
    details: dict[str, Any] = {"kernel": kernel}
    if bw is not None:
        details["bandwidth"] = mul_pow2(bw.to(torch.float64), e).cpu().tolist()
    ev = _kernel_stat(pooled, _kernels.mmd_kernel(kernel, bw, None), 1, o["unbiased"], details, wr)
    return Prepared(pooled.obs, pooled.block, pooled.ones, ev,
                    scale_pow2=e if kernel == "energy" else 0)  # fmt: skip


def _agg(o: dict[str, Any], pooled: Pooled) -> Prepared:
    wr, e = _rescaled(pooled.w)
    block, wts, desc = _kernels.agg_collection(wr, kernel=o["kernel"], count=o["n_bandwidths"],
                                               weight_kind=o["weights"], unit=2.0**-e)  # fmt: skip
    wts = wts.to(wr.device)

    def evaluate(labels: Tensor, exact: bool, b1: int):
        table, _, kmax = _pooled.mmd_table(
            wr, labels, block, len(desc), unbiased=True, pairs=pooled.wild
        )
        tol = _pooled.tie_tolerance(kmax, pooled.n, pooled.m)
        ref = table[:, 1:] if exact else table[:, 1 : 1 + b1]
        query = table if exact else torch.cat([table[:, :1], table[:, 1 + b1 :]], 1)
        srt = torch.sort(ref, dim=1).values
        ge = ref.shape[1] - torch.searchsorted(srt, (query - tol).contiguous())
        ge = ge.to(torch.float64)
        pk = ge / ref.shape[1] if exact else (1.0 + ge) / (1.0 + ref.shape[1])
        s = (pk / wts[:, None]).amin(0)
        kernels = [{**dct, "weight": float(wt), "mmd2": float(v), "p_value": float(p)}
                   for dct, wt, v, p in zip(desc, wts, table[:, 0], pk[:, 0])]  # fmt: skip
        details = {"kernels": kernels, "quantile_permutations": int(ref.shape[1])}
        return s, 1e-12 * float(s.abs().amax()), details

    def second(b: int) -> int:
        return b if o["level_permutations"] is None else o["level_permutations"]

    return Prepared(pooled.obs, pooled.block, pooled.ones, evaluate, smaller=True, second=second)


def _fuse(o: dict[str, Any], pooled: Pooled) -> Prepared:
    wr, e = _rescaled(pooled.w)
    block, desc = _kernels.fuse_collection(wr, kernel=o["kernel"], count=o["n_bandwidths"],
                                           unit=2.0**-e)  # fmt: skip
    nn = min(pooled.n, pooled.m)
    lam = nn * (nn - 1) * math.sqrt(nn * (nn - 1))

    def evaluate(labels: Tensor, exact: bool, b: int):
        table, frob, kmax = _pooled.mmd_table(wr, labels, block, len(desc), unbiased=True,
                                              frobenius=True, pairs=pooled.wild)  # fmt: skip
        scale = torch.where(frob > 0, lam / frob.clamp_min(1e-300), 0.0)
        t = torch.logsumexp(scale[:, None] * table, 0) - math.log(len(desc))
        tol = float(scale.amax()) * _pooled.tie_tolerance(kmax, pooled.n, pooled.m)
        return t, tol, {"kernels": desc}

    return Prepared(pooled.obs, pooled.block, pooled.ones, evaluate)


def _graph_stat(name: str, o: dict[str, Any], pooled: Pooled) -> Prepared:
    wr, e = _rescaled(pooled.w)

    def evaluate(labels: Tensor, exact: bool, b: int):
        if name == "knn":
            t = _graph.knn_table(wr, labels, k=o["k"], p=o["p"])
            return t, 1e-12, {"k": o["k"]}
        t = _graph.chamfer_table(wr, labels, p=o["p"], squared=o["squared"],
                                 reduction=o["reduction"])  # fmt: skip
        return t, 1e-12 * float(t.abs().amax()), {}

    power = 0 if name == "knn" else (2 if o["squared"] else 1)
    return Prepared(pooled.obs, pooled.block, pooled.ones, evaluate, scale_pow2=power * e)


def _wasserstein(o: dict[str, Any], pooled: Pooled) -> Prepared:
    wr, e = _rescaled(pooled.w)
    d = wr.shape[1]
    method = o["method"] if o["method"] != "auto" else ("exact_1d" if d == 1 else "sliced")

    def evaluate(labels: Tensor, exact: bool, b: int):
        if method == "assignment":
            t = _transport.assignment_table(wr, labels, p=o["p"])
        else:
            proj = None if method == "exact_1d" else o["n_projections"]
            t = _transport.sliced_table(wr, labels, p=o["p"], n_projections=proj)
        return t, 1e-12 * float(t.abs().amax()), {"method": method}

    return Prepared(pooled.obs, pooled.block, pooled.ones, evaluate, scale_pow2=e)


def _c2st(o: dict[str, Any], pooled: Pooled, gen: torch.Generator) -> Prepared:
    from divergences.testing._c2st import fit_c2st  # scikit-learn only when asked

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen, device=gen.device))
    x, y = pooled.w[pooled.obs], pooled.w[~pooled.obs]
    obs, table, details = fit_c2st(x, y, classifier=o["classifier"], n_folds=o["n_folds"],
                                   clip=o["clip"], seed=seed, device=o["device"])  # fmt: skip
    block = torch.zeros(obs.numel(), dtype=torch.long)

    def evaluate(labels: Tensor, exact: bool, b: int):
        return table(labels), 1e-12, details

    return Prepared(obs, block, [int(obs.sum())], evaluate)


def _scalar(v: Any) -> float:
    if isinstance(v, torch.Tensor) or isinstance(v, np.ndarray) or np.isscalar(v):
        arr = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
        if arr.ndim == 0 and (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            return float(arr)
    raise TypeError(
        f"statistic must return a real scalar (a float or a 0-d array), got {type(v).__name__}"
        + (f" of shape {tuple(np.shape(v))}" if hasattr(v, "shape") else "")
    )


def _callable(fn: Callable[[Any, Any], Any], pooled: Pooled, is_numpy: bool) -> Prepared:
    w = pooled.w
    eps = float(torch.finfo(w.dtype).eps)

    def evaluate(labels: Tensor, exact: bool, b: int):
        vals = []
        for row in labels:
            a, c = w[row], w[~row]
            v = _scalar(fn(a.cpu().numpy(), c.cpu().numpy()) if is_numpy else fn(a, c))
            if math.isnan(v):
                raise ValueError("statistic returned NaN; it must return a number for every split")
            vals.append(v)
        t = torch.tensor(vals, dtype=torch.float64)
        finite = t[torch.isfinite(t)]
        top = float(finite.abs().amax()) if finite.numel() else 0.0
        return t, 64 * eps * top, {}

    return Prepared(pooled.obs, pooled.block, pooled.ones, evaluate)


def prepare(
    name: str, statistic: Any, o: dict[str, Any], pooled: Pooled, gen: torch.Generator,
    *, is_numpy: bool,
) -> Prepared:  # fmt: skip
    """The :class:`Prepared` statistic ``name`` on the pooled sample."""
    if name in ("mmd", "energy"):
        return _mmd(name, o, pooled)
    if name == "mmd-agg":
        return _agg(o, pooled)
    if name == "mmd-fuse":
        return _fuse(o, pooled)
    if name in ("knn", "chamfer"):
        return _graph_stat(name, o, pooled)
    if name == "wasserstein":
        return _wasserstein(o, pooled)
    if name == "c2st":
        return _c2st(o, pooled, gen)
    return _callable(statistic, pooled, is_numpy)
