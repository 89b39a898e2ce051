"""Validation at the public boundary, and the NumPy/torch array boundary.

Every public function validates its inputs here once; private helpers assume valid input.
Errors are ``ValueError`` (bad values or shapes) or ``TypeError`` (bad types) and name the
argument and the problem.

Array boundary: torch in → torch out on the same device and dtype (differentiable);
NumPy arrays, lists or Python scalars in → computed in float64 and returned as NumPy
arrays (or Python floats for 0-d results).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "as_point_pair",
    "as_tensor",
    "as_tensor_pair",
    "check_choice",
    "check_finite",
    "check_generator",
    "check_interval",
    "check_point_sets",
    "check_positive_int",
    "check_probabilities",
    "check_same_device",
    "max_abs",
    "max_exponent",
    "mul_pow2",
    "pow2_exponent",
    "to_output",
    "warn_if_overflow",
]


def as_tensor(x: Any, name: str) -> tuple[torch.Tensor, bool]:
    """Return ``(tensor, is_numpy)``.

    Tensors pass through unchanged (they must be floating point). Anything else is converted
    to a float64 CPU tensor; ``is_numpy`` is then True and results go back through
    :func:`to_output`.
    """
    if isinstance(x, torch.Tensor):
        if not (x.is_floating_point()):
            raise TypeError(
                f"{name} must be a floating-point tensor, got dtype {x.dtype}; "
                f"convert it with {name}.float() or .double()"
            )
        return x, False
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array or tensor, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - numpy's own message is kept
        raise TypeError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must hold numbers, got an array of dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    return torch.from_numpy(np.array(arr, dtype=np.float64, copy=True)), True


def to_output(t: torch.Tensor, is_numpy: bool) -> Any:
    """Convert a result back to the caller's array type (see :func:`as_tensor`)."""
    if not is_numpy:
        return t
    arr = t.detach().cpu().numpy()
    if arr.ndim == 0:
        return float(arr)
    return arr


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or ±inf."""
    if not x.numel():
        return
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        # NumPy's single-threaded scan: a threaded torch reduction here wakes OpenMP workers
        # that keep spinning and slow down the kd-tree threads that usually follow.
        ok = bool(np.isfinite(x.detach().numpy()).all())
    else:
        ok = bool(torch.isfinite(x).all())
    if not ok:
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise ValueError(f"{name} must be finite, found {n_nan} NaN and {n_inf} inf values")


def check_interval(value: Any, name: str) -> tuple[float, float]:
    """Return ``value`` as a float pair ``(lo, hi)`` with ``lo < hi`` (±inf allowed), else raise."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a pair (lo, hi) of numbers, got {value!r}") from exc
    if math.isnan(lo) or math.isnan(hi) or not lo < hi:
        raise ValueError(f"{name} must satisfy lo < hi, got ({lo}, {hi})")
    return lo, hi


def check_same_device(tensors: Sequence[torch.Tensor], names: Sequence[str]) -> None:
    """Raise ``ValueError`` if the tensors live on different devices (never copy silently)."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        where = ", ".join(f"{n} on {t.device}" for n, t in zip(names, tensors))
        raise ValueError(f"inputs must be on one device, got {where}; move them explicitly")


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (listing them)."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is a bool (not merely truthy), else raise ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        kind = type(value).__name__
        raise TypeError(f"{name} must be a bool (True or False), got {kind} {value!r}")
    return bool(value)


def check_number(
    value: Any, name: str, *, lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite real number in ``[lo, hi]`` (``(lo, hi]``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
        raise ValueError(
            f"{name} must be finite and in {'(' if lo_open else '['}{lo}, {hi}], got {value}"
        )
    return v


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_probabilities(
    p: torch.Tensor,
    name: str,
    *,
    normalize: bool = False,
    atol: float | None = None,
) -> torch.Tensor:
    """Validate probability vectors along the last axis; return them (normalised if asked).

    Entries must be finite and non-negative; each row must sum to 1 within ``atol``
    (default ``1e-6`` in float64, ``1e-4`` in lower precision) unless ``normalize=True``,
    in which case each row is divided by its sum (which must be positive).
    """
    if p.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (categories last), got a scalar")
    if p.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one category, got shape {tuple(p.shape)}")
    if p.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(p.shape)})")
    check_finite(p, name)
    if bool((p < 0).any()):
        n_neg = int((p < 0).sum())
        raise ValueError(f"{name} must be non-negative, found {n_neg} negative entries")
    s = p.sum(dim=-1, keepdim=True)
    if normalize:
        if bool((s <= 0).any()):
            raise ValueError(f"{name} has a row summing to 0; it cannot be normalised")
        return p / s
    if atol is None:
        atol = 1e-6 if p.dtype == torch.float64 else 1e-4
    dev = (s.detach() - 1).abs().max()
    if float(dev) > atol:
        raise ValueError(
            f"{name} must sum to 1 along the last axis (max deviation {float(dev):.3g} > "
            f"{atol:g}); pass normalize=True to rescale"
        )
    return p


def as_point_pair(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Two ``(N, D)`` sample sets as tensors of one dtype and device, and whether to return NumPy.

    Arrays go through :func:`as_tensor`; a NumPy array mixed with a tensor follows the tensor
    (torch out). Then :func:`check_point_sets` (unbatched) and a same-dtype check.
    """
    xt, yt, is_np = as_tensor_pair(x, y, ("x", "y"))
    check_point_sets(xt, yt, allow_batch=False)
    if xt.dtype != yt.dtype:
        raise TypeError(f"x and y must have the same dtype, got {xt.dtype} and {yt.dtype}")
    return xt, yt, is_np


def as_tensor_pair(
    a: Any, b: Any, names: tuple[str, str]
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Two inputs as tensors, and whether both came as arrays (then return NumPy).

    Each goes through :func:`as_tensor`; an array mixed with a tensor is moved to the tensor's
    device and dtype, so the result follows the torch side.
    """
    at, a_np = as_tensor(a, names[0])
    bt, b_np = as_tensor(b, names[1])
    if a_np and not b_np:
        at = at.to(bt.device, bt.dtype)
    elif b_np and not a_np:
        bt = bt.to(at.device, at.dtype)
    return at, bt, a_np and b_np


def check_point_sets(
    x: torch.Tensor,
    y: torch.Tensor,
    names: tuple[str, str] = ("x", "y"),
    *,
    allow_batch: bool = True,
) -> bool:
    """Validate two sample sets of shape ``(N, D)`` / ``(M, D)`` or ``(B, N, D)`` / ``(B, M, D)``.

    Checks: floating dtype (TypeError), same device, same number of dims, matching D (and B),
    non-empty, finite. Returns True if the inputs are batched.
    """
    nx, ny = names
    for t, n in ((x, nx), (y, ny)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{n} must be a torch.Tensor here, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{n} must be floating point, got dtype {t.dtype}")
        if t.ndim not in ((2, 3) if allow_batch else (2,)):
            want = "(N, D) or (B, N, D)" if allow_batch else "(N, D)"
            raise ValueError(f"{n} must have shape {want}, got {tuple(t.shape)}")
    check_same_device((x, y), names)
    if x.ndim != y.ndim:
        raise ValueError(
            f"{nx} and {ny} must both be (N, D) or both (B, N, D); "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"{nx} and {ny} must have the same dimension D; got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if x.ndim == 3 and x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{nx} and {ny} must have the same batch size B; got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    for t, n in ((x, nx), (y, ny)):
        if t.shape[-2] == 0 or t.shape[-1] == 0:
            raise ValueError(f"{n} is empty (shape {tuple(t.shape)})")
    check_finite(x, nx)
    if y is not x:
        check_finite(y, ny)
    return x.ndim == 3


def max_abs(*tensors: torch.Tensor) -> float:
    """Largest ``|value|`` over finite tensors (0.0 if all are empty or zero), as a float."""
    m = 0.0
    for t in tensors:
        if not t.numel():
            continue
        if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64):
            # NumPy's single-threaded scan (see check_finite): no spinning OpenMP workers
            a = t.detach().numpy()
            m = max(m, float(a.max()), -float(a.min()))
        else:
            m = max(m, float(t.detach().abs().amax()))
    return m


def pow2_exponent(m: float) -> int:
    """``e`` with ``m * 2**-e`` in [0.5, 1) (0 for ``m == 0``): the exact rescaling exponent."""
    return math.frexp(m)[1] if m > 0 else 0


def max_exponent(dtype: torch.dtype) -> int:
    """``E`` with ``finfo(dtype).max < 2**E`` (1024 for float64, 128 for float32)."""
    return math.frexp(torch.finfo(dtype).max)[1]


def mul_pow2(t: torch.Tensor, k: float) -> torch.Tensor:
    """``t * 2**k``, exact and differentiable.

    ``t * 2**k`` in steps whose factors stay representable in ``t``'s dtype (exact for
    integer ``k`` unless the result leaves the normal range); differentiable.
    """
    step = max_exponent(t.dtype) - 2
    # beyond 2^±2300 every finite nonzero value under- or overflows anyway
    k = max(-2300, min(2300, k))
    while k != 0:
        s = max(-step, min(step, k))
        t = t * 2.0**s
        k -= s
    return t


def check_generator(generator: Any) -> None:
    """Raise ``TypeError`` unless ``generator`` is a ``torch.Generator`` or None."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )


def warn_if_overflow(value: torch.Tensor, name: str) -> None:
    """Warn when a result computed from finite inputs is ±inf (it exceeds the dtype's range)."""
    if value.numel() and not bool(torch.isfinite(value.detach()).all()):
        warnings.warn(
            f"{name}: the result exceeds the range of {value.dtype} "
            f"(max {torch.finfo(value.dtype).max:.3g}) and is returned as inf",
            RuntimeWarning,
            stacklevel=3,
        )
