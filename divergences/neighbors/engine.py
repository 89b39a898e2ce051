"""The exact k-nearest-neighbour engine shared by set distances, estimators and metrics.

One function, :func:`knn`, with three engines behind it:

* ``"kdtree"`` — scipy's ``cKDTree`` with all cores on float64 copies (CPU, low dimension);
* ``"brute"`` — blocked brute force: tiles of ``||y||^2 - 2 x.y`` by matrix products on
  centred data, a running min / top-(k+1) per row, and a rigorous rounding bound that certifies
  each row; uncertified rows (near-ties, duplicates) are re-solved exactly (p = 2, see
  :mod:`divergences.neighbors._brute_l2`); ``torch.cdist`` tiles and a running top-k for p != 2;
* ``"triton"`` — a fused tiled CUDA kernel (p = 2) that keeps a running top-k per row and never
  writes the distance matrix.

Low-precision products only *select* neighbours: returned distances are exact (cKDTree's
float64 distances, or recomputed from the coordinates in float64 / float32), and recomputed
differentiably when autograd needs them. :func:`search_both` gives the nearest neighbour in
both directions (Chamfer, Hausdorff) from one pass of the brute engine. Memory is the inputs
plus one bounded tile, never O(N·M).

Magnitudes: the engines see each set rescaled by a power of two (exact) when its max-abs is
far from 1, so squared distances neither overflow nor underflow; exact distances divide each
difference by its max-abs first. Rows whose distances lie below what an engine resolves
(sets mixing huge and tiny rows) are re-solved exactly from the coordinates. Distances beyond
the dtype's range are ``inf`` with a ``RuntimeWarning``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from divergences._validation import (
    as_tensor,
    as_tensor_pair,
    check_choice,
    check_point_sets,
    check_positive_int,
    max_abs,
    max_exponent,
    mul_pow2,
    pow2_exponent,
    to_output,
)
from divergences.neighbors import _brute_l2 as _brute
from divergences.neighbors import _brute_lp, _kdtree
from divergences.neighbors import _exact as _eng

__all__ = ["ENGINES", "KDTREE_MAX_DIM", "knn"]

ENGINES = ("auto", "kdtree", "brute", "triton")
# "auto" uses the kd-tree on CPU up to this dimension: the crossover in benchmarks/RESULTS.md.
KDTREE_MAX_DIM = 12
# Tests flip this to run the Triton kernel on CPU tensors under TRITON_INTERPRET=1.
_TRITON_ON_CPU = False


def _check_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"p must be a real number >= 1 (or math.inf), got {type(p).__name__}")
    p = float(p)
    if math.isnan(p) or p < 1:
        raise ValueError(f"p must be >= 1 (or math.inf) so that it is a norm, got {p}")
    return p


def _check_lengths(lengths: Any, name: str, batch: int, size: int, device) -> list[int] | None:
    if lengths is None:
        return None
    if isinstance(lengths, torch.Tensor):
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"{name} must hold integers, got dtype {lengths.dtype}")
        if lengths.device != device:
            raise ValueError(
                f"{name} is on {lengths.device} but the points are on {device}; move it explicitly"
            )
        vals = lengths.detach().cpu().reshape(-1).tolist()
        shape = tuple(lengths.shape)
    else:
        t, _ = as_tensor(lengths, name)
        if not bool((t == t.round()).all()):
            raise TypeError(f"{name} must hold integers")
        vals = [int(v) for v in t.reshape(-1).tolist()]
        shape = tuple(t.shape)
    if shape != (batch,):
        raise ValueError(f"{name} must have shape (B,) = ({batch},), got {shape}")
    for v in vals:
        if v < 1 or v > size:
            raise ValueError(
                f"{name} must lie in [1, {size}] (empty sets are not allowed), got {vals}"
            )
    return [int(v) for v in vals]


def _auto_engine(x: torch.Tensor, p: float, k: int) -> str:
    if x.device.type == "cuda":
        from divergences.neighbors._triton import triton_available

        if p == 2.0 and k <= 32 and triton_available():
            return "triton"
        return "brute"
    return "kdtree" if x.shape[-1] <= KDTREE_MAX_DIM else "brute"


def knn(
    x: Any,
    y: Any,
    k: int = 1,
    *,
    p: float = 2.0,
    exclude_self: bool = False,
    x_lengths: Any = None,
    y_lengths: Any = None,
    engine: str = "auto",
    tile: int | None = None,
) -> tuple[Any, Any]:
    r"""Exact k nearest neighbours of every row of ``x`` among the rows of ``y``.

    .. math:: \mathrm{idx}_{i,1..k} = \operatorname{arg\,k\,min}_j \lVert x_i - y_j \rVert_p

    Args:
        x: Query points, shape (N, D) or batched (B, N, D). Tensor or array.
        y: Reference points, shape (M, D) or batched (B, M, D), same dtype/device as ``x``
            (an array given with a tensor is moved to the tensor's dtype and device).
        k: Number of neighbours, ``1 <= k <= M`` (``M - 1`` with ``exclude_self``).
        p: Ground norm as in ``torch.cdist``: any ``p >= 1`` or ``math.inf``.
        exclude_self: ``x`` and ``y`` are the same set (identical values and shape); row i
            never gets itself (index i) as a neighbour. Duplicates of ``x_i`` at other
            indices are still returned, at distance 0.
        x_lengths: Optional (B,) integer sizes of the batched sets in ``x``; rows at
            ``i >= x_lengths[b]`` are padding and get distance ``+inf`` and index ``-1``.
        y_lengths: Optional (B,) integer sizes of the sets in ``y``; padded rows of ``y`` are
            never returned. ``k`` must not exceed the smallest set.
        engine: ``"auto"`` (kd-tree on CPU for ``D <= KDTREE_MAX_DIM``, else brute; on CUDA
            the Triton kernel when ``p == 2``), ``"kdtree"`` (CPU only), ``"brute"``,
            ``"triton"`` (CUDA only, ``p == 2``).
        tile: Optional tile edge of the brute engine (rows and columns per tile); the
            default bounds one score tile to 2**22 entries.

    Returns:
        ``(dists, idx)``, each of shape (N, k) or (B, N, k): distances ascending, in ``x``'s
        dtype, recomputed exactly from the coordinates (float32 or float64) and
        differentiable with respect to ``x`` and ``y`` (a zero subgradient where a distance is
        0); ``idx`` int64 rows of ``y``. Equal distances are listed by increasing index; when
        more than k points tie at the k-th distance, which of them are kept depends on the
        engine. NumPy (or list) inputs give NumPy outputs (float64 distances). Exact at any
        magnitude: ``knn(c x, c y)`` has the same indices and ``c`` times the distances;
        a distance beyond the dtype's range is ``inf`` with a ``RuntimeWarning``.

    Raises:
        TypeError: Non-floating or mismatched dtypes, mixed tensor and array inputs.
        ValueError: Mismatched shapes, empty sets, NaN/inf, ``k`` larger than a set,
            inputs on different devices, an engine unavailable for the inputs.

    References:
        Bentley (1975), multidimensional binary search trees (``scipy.spatial.cKDTree``);
        the blocked ``||x||^2 + ||y||^2 - 2 x.y`` scheme of
        ``sklearn.metrics.pairwise_distances_chunked``, with exact recomputation.

    Example:
        >>> import numpy as np
        >>> y = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
        >>> d, i = knn(np.array([[0.9, 0.1]]), y, k=2)
        >>> i.tolist(), np.round(d, 3).tolist()
        ([[1, 0]], [[0.141, 0.906]])
        >>> d, i = knn(y, y, k=1, exclude_self=True)
        >>> i.ravel().tolist(), d.ravel().tolist()
        ([1, 0, 0], [1.0, 1.0, 3.0])
    """
    s = prepare_sets(x, y, x_lengths, y_lengths, p, engine)
    k = check_positive_int(k, "k")
    if not isinstance(exclude_self, bool):
        raise TypeError(f"exclude_self must be a bool, got {type(exclude_self).__name__}")
    if tile is not None:
        tile = check_positive_int(tile, "tile")
    if exclude_self:
        if s.x.shape != s.y.shape or s.x_len != s.y_len:
            raise ValueError(
                "exclude_self=True needs x and y to be the same set; got shapes "
                f"{tuple(s.x.shape)} and {tuple(s.y.shape)}"
                + ("" if s.x_len == s.y_len else f" and lengths {s.x_len} and {s.y_len}")
            )
        if s.x is not s.y and not torch.equal(s.x, s.y):
            raise ValueError("exclude_self=True needs x and y to hold the same points")
    k_max = min(s.y_len) - (1 if exclude_self else 0)
    if k > k_max:
        what = "the smallest set of y" if s.batched else "y"
        raise ValueError(
            f"k={k} is larger than {what} allows: {min(s.y_len)} points"
            + (" (k <= M - 1 with exclude_self)" if exclude_self else "")
        )
    dist, idx = search(s, k, exclude_self=exclude_self, tile=tile)
    if not s.batched:
        dist, idx = dist[0], idx[0]
    return to_output(dist, s.is_numpy), to_output(idx, s.is_numpy)


@dataclass(frozen=True)
class PointSets:
    """Validated inputs in batched form (private; shared with :mod:`divergences.sets`)."""

    x: torch.Tensor  # (B, N, D)
    y: torch.Tensor  # (B, M, D)
    x_len: list[int]
    y_len: list[int]
    batched: bool
    is_numpy: bool
    p: float
    engine: str


def prepare_sets(x: Any, y: Any, x_lengths: Any, y_lengths: Any, p: Any, engine: str) -> PointSets:
    """Validate two point sets, their lengths, ``p`` and ``engine`` once (public boundary)."""
    x, y, x_np = as_tensor_pair(x, y, ("x", "y"))  # an array mixed with a tensor follows it
    if x.dtype != y.dtype:
        raise TypeError(f"x and y must have the same dtype, got {x.dtype} and {y.dtype}")
    batched = check_point_sets(x, y)
    p = _check_p(p)
    check_choice(engine, "engine", ENGINES)
    if not batched and (x_lengths is not None or y_lengths is not None):
        raise ValueError(
            f"x_lengths/y_lengths need batched (B, N, D) inputs; got x of shape {tuple(x.shape)}"
        )
    xb = x if batched else x.unsqueeze(0)
    yb = xb if y is x else (y if batched else y.unsqueeze(0))  # keep identity: no equal() pass
    B, N, _ = xb.shape
    M = yb.shape[1]
    xl = _check_lengths(x_lengths, "x_lengths", B, N, x.device) or [N] * B
    yl = _check_lengths(y_lengths, "y_lengths", B, M, x.device) or [M] * B
    if engine == "kdtree" and x.device.type != "cpu":
        raise ValueError(f"engine='kdtree' runs on CPU only, but x is on {x.device}")
    if engine == "triton":
        if x.device.type != "cuda" and not _TRITON_ON_CPU:
            raise ValueError(f"engine='triton' needs CUDA tensors, but x is on {x.device}")
        if p != 2.0:
            raise ValueError(f"engine='triton' supports p=2 only, got p={p}; use 'brute'")
    return PointSets(xb, yb, xl, yl, batched, x_np, p, engine)


def _engine(s: PointSets, k: int) -> str:
    return _auto_engine(s.x, s.p, k) if s.engine == "auto" else s.engine


@dataclass(frozen=True)
class _Scaled:
    """Copies of validated sets for one search (private).

    ``xe``/``ye`` (no grad) feed the selection engines: each set times ``2^-e_b`` (max-abs
    in [1/2, 1) when its magnitude is far from 1), so squared distances neither overflow nor
    underflow. ``xs``/``ys`` give the exact distances: the inputs, times ``2^-h_b`` only
    where a difference of two coordinates could overflow; distances are multiplied back.
    """

    xe: torch.Tensor
    ye: torch.Tensor
    xs: torch.Tensor
    ys: torch.Tensor
    e: list[int]
    h: list[int]


def _per_set(t: torch.Tensor, k: list[int]) -> torch.Tensor:
    """``t[b] * 2**k[b]`` for each set b of a (B, n, d) tensor (exact powers of two)."""
    if all(v == 0 for v in k):
        return t
    if len(set(k)) == 1:
        return mul_pow2(t, k[0])
    kt = torch.tensor(k, dtype=torch.float64)
    half = torch.trunc(kt / 2)  # two factors: 2^k alone may not be representable
    f1, f2 = (torch.pow(2.0, v).to(t.device, t.dtype).view(-1, 1, 1) for v in (half, kt - half))
    return t * f1 * f2


def _set_max_abs(t: torch.Tensor, lengths: list[int]) -> list[float]:
    """Largest ``|value|`` of each set's valid rows of a (B, n, d) tensor."""
    if t.shape[0] == 1:
        return [max_abs(t[0, : lengths[0]])]
    a = _numpy_view(t)
    n = t.shape[1]
    if a is not None:
        row = np.abs(a).max(-1)
        valid = np.arange(n)[None, :] < np.asarray(lengths)[:, None]
        return np.where(valid, row, 0.0).max(-1).tolist()
    row_t = t.detach().abs().amax(-1)
    valid_t = torch.arange(n, device=t.device).view(1, -1) < torch.tensor(
        lengths, device=t.device
    ).view(-1, 1)
    return row_t.masked_fill(~valid_t, 0).amax(-1).double().cpu().tolist()


def _engine_dtype(engine: str, dtype: torch.dtype, dim: int, p: float) -> torch.dtype:
    """The dtype a selection engine computes its scores in."""
    if engine == "kdtree":
        return torch.float64
    if engine == "brute" and p == 2.0:
        return _brute.score_dtype(dtype, dim)
    return torch.float32 if engine == "triton" else _eng.compute_dtype(dtype)


def _scaled(s: PointSets, engine_dtype: torch.dtype) -> _Scaled:
    cdt = _eng.compute_dtype(s.x.dtype)
    top = max_exponent(cdt)
    # within 2^±comfort no p-th power leaves the engine's range: no copy needed
    p_eff = s.p if math.isfinite(s.p) and s.p > 2 else 2.0
    comfort = int(max_exponent(engine_dtype) // (4 * p_eff))
    mx = _set_max_abs(s.x, s.x_len)
    my = mx if s.y is s.x else _set_max_abs(s.y, s.y_len)
    es, hs = [], []
    for a, b in zip(mx, my):
        e = pow2_exponent(max(a, b))
        es.append(e if abs(e) > comfort else 0)
        hs.append(max(0, e + 2 - top))
    neg_e, neg_h = [-v for v in es], [-v for v in hs]
    xe = _per_set(s.x.detach(), neg_e)
    ye = xe if s.y is s.x else _per_set(s.y.detach(), neg_e)
    xs = _per_set(s.x, neg_h)
    ys = xs if s.y is s.x else _per_set(s.y, neg_h)
    return _Scaled(xe, ye, xs, ys, es, hs)


def _resolve_unresolved(sc, s, dist, idx, k, exclude_self, engine_dtype, *, exact=True):
    """Re-solve exactly the rows the selection engine could not resolve.

    Re-solve exactly the rows whose distances fall below what the selection engine could
    resolve (their p-th powers underflowed: data mixing huge and tiny rows); in place.

    ``exact=False``: ``dist`` are the engine's own distances (kd-tree), possibly 0 by
    underflow; rows with one below the floor get theirs recomputed from the coordinates first.
    """
    floor = _eng.resolution_floor(s.p, engine_dtype)
    for b in range(dist.shape[0]):
        thr = math.ldexp(floor, sc.e[b] - sc.h[b])  # the floor in units of the exact distances
        d = dist[b, : s.x_len[b]]
        if exact:
            rows = ((d > 0) & (d < thr)).any(-1).nonzero()[:, 0]
        else:
            rows = _rows_below(d, thr)
            if not rows.numel():
                continue
            xs, ys = sc.xs[b : b + 1].detach(), sc.ys[b : b + 1].detach()
            sel = idx[b : b + 1, rows]
            de = _eng.exact_distances(xs[:, rows], ys, sel, s.p, torch.float64)[0]
            dist[b, rows] = de.to(dist.dtype)
            rows = rows[((de > 0) & (de < thr)).any(-1)]
        if rows.numel():
            xs, ys = sc.xs[b].detach(), sc.ys[b, : s.y_len[b]].detach()
            fd, fi = _eng.exact_rows(xs, ys, rows, k, s.p, exclude_self, torch.float64)
            dist[b, rows], idx[b, rows] = fd.to(dist.dtype), fi


def _numpy_view(t: torch.Tensor):
    """A NumPy view of a CPU float32/64 tensor, else None.

    A NumPy view of a CPU float32/64 tensor, else None (NumPy scans need no OpenMP pool,
    whose spinning workers would slow down the kd-tree threads; see ``check_finite``).
    """
    t = t.detach()
    if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64):
        return t.numpy()
    return None


def _rows_below(d: torch.Tensor, thr: float) -> torch.Tensor:
    """Indices of the rows of ``d`` (n, k) with an entry below ``thr``."""
    a = _numpy_view(d)
    if a is not None:
        return torch.from_numpy(np.flatnonzero((a < thr).any(-1)))
    return (d < thr).any(-1).nonzero()[:, 0]


def _any_inf(dist: torch.Tensor, lengths: list[int]) -> bool:
    a = _numpy_view(dist)
    if a is not None:
        return any(bool(np.isinf(a[b, :n]).any()) for b, n in enumerate(lengths))
    return any(bool(torch.isinf(dist[b, :n].detach()).any()) for b, n in enumerate(lengths))


def _back(sc: _Scaled, s: PointSets, dist: torch.Tensor) -> torch.Tensor:
    """Distances back to the caller's units; inf (with a warning) where they overflow."""
    dist = _per_set(dist, sc.h)
    if _any_inf(dist, s.x_len):
        warnings.warn(
            f"knn: distances exceed the range of {dist.dtype} and are returned as inf",
            RuntimeWarning,
            stacklevel=4,
        )
    return dist


def search(
    s: PointSets, k: int, *, exclude_self: bool = False, tile: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-NN of validated sets: batched (B, N, k) distances (differentiable) and indices."""
    engine = _engine(s, k)
    xl, yl, p = s.x_len, s.y_len, s.p
    edt = _engine_dtype(engine, s.x.dtype, s.x.shape[-1], p)
    sc = _scaled(s, edt)
    xe, ye = sc.xe, sc.ye
    x0, y0 = sc.xs.detach(), sc.ys.detach()
    with torch.no_grad():
        if engine == "kdtree":
            dist, idx = _kdtree.kdtree(xe, ye, k, p, exclude_self, xl, yl)
            dist = _per_set(dist, [e - h for e, h in zip(sc.e, sc.h)])  # exact: powers of 2
            _resolve_unresolved(sc, s, dist, idx, k, exclude_self, edt, exact=False)
        elif engine == "triton":
            from divergences.neighbors._triton_kernel import triton_knn_candidates

            cand = triton_knn_candidates(xe, ye, k, exclude_self, xl, yl)
            dist, idx = _eng.rerank(x0, y0, cand, k, p)
            _resolve_unresolved(sc, s, dist, idx, k, exclude_self, edt)
        elif p == 2.0:
            dist, idx = _brute.knn_l2(xe, ye, k, exclude_self, xl, yl, tile, x0, y0)
            if edt != s.x.dtype:
                _resolve_unresolved(sc, s, dist, idx, k, exclude_self, edt)
        else:
            cand = _brute_lp.brute(xe, ye, k, p, exclude_self, xl, yl, tile)
            dist, idx = _eng.rerank(x0, y0, cand, k, p)
            _resolve_unresolved(sc, s, dist, idx, k, exclude_self, edt)
    dist, idx = _eng.finalize(sc.xs, sc.ys, dist, idx, p, xl)
    return _back(sc, s, dist), idx


def search_both(
    s: PointSets, *, tile: int | None = None
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Nearest neighbour of each x in y and of each y in x.

    Nearest neighbour of each x in y and of each y in x: ``((dx, ix), (dy, iy))`` with
    shapes (B, N, 1) and (B, M, 1), equal to ``search(s, 1)`` and ``search`` of the swapped
    sets. The p = 2 brute engine computes both from one pass over the score tiles (half the
    matrix products); the kd-tree engine queries each set in its own tree's leaf order; the
    other engines run twice.
    """
    rev = PointSets(s.y, s.x, s.y_len, s.x_len, s.batched, s.is_numpy, s.p, s.engine)
    if _engine(s, 1) == "brute" and s.p == 2.0:
        edt = _engine_dtype("brute", s.x.dtype, s.x.shape[-1], s.p)
        sc = _scaled(s, edt)
        x0, y0 = sc.xs.detach(), sc.ys.detach()
        with torch.no_grad():
            (dx, ix), (dy, iy) = _brute.nearest_both_l2(
                sc.xe, sc.ye, s.x_len, s.y_len, tile, x0, y0
            )
            if edt != s.x.dtype:
                _resolve_unresolved(sc, s, dx, ix, 1, False, edt)
                _resolve_unresolved(
                    _Scaled(sc.ye, sc.xe, sc.ys, sc.xs, sc.e, sc.h), rev, dy, iy, 1, False, edt
                )
        fx = _eng.finalize(sc.xs, sc.ys, dx, ix, s.p, s.x_len)
        fy = _eng.finalize(sc.ys, sc.xs, dy, iy, s.p, s.y_len)
        rsc = _Scaled(sc.ye, sc.xe, sc.ys, sc.xs, sc.e, sc.h)
        return (_back(sc, s, fx[0]), fx[1]), (_back(rsc, rev, fy[0]), fy[1])
    if _engine(s, 1) == "kdtree" and _engine(rev, 1) == "kdtree":
        sc = _scaled(s, torch.float64)
        rsc = _Scaled(sc.ye, sc.xe, sc.ys, sc.xs, sc.e, sc.h)
        with torch.no_grad():
            both = _kdtree.kdtree_both(sc.xe, sc.ye, s.p, s.x_len, s.y_len)
        out = []
        for (dist, idx), scl, sets in zip(both, (sc, rsc), (s, rev)):
            dist = _per_set(dist, [e - h for e, h in zip(scl.e, scl.h)])  # exact: powers of 2
            _resolve_unresolved(scl, sets, dist, idx, 1, False, torch.float64, exact=False)
            d, i = _eng.finalize(scl.xs, scl.ys, dist, idx, s.p, sets.x_len)
            out.append((_back(scl, sets, d), i))
        return out[0], out[1]
    return search(s, 1, tile=tile), search(rev, 1, tile=tile)
