"""The parts of the kNN estimators: distinct-neighbour searches, tie counts, the KL and α sums.

Private to :mod:`divergences.estimators.knn` (see there for the estimators and references).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.special import gammaln

from divergences.estimators._common import locations
from divergences.estimators._gaussian_start import fit_frame, log_mass_ratio
from divergences.neighbors.engine import knn

__all__: list[str] = []

_KL_LIKE = ("kl", "reverse_kl", "jeffreys")
_ALPHA_LIKE = ("alpha", "renyi", "hellinger2")


def _positive_knn(
    x: torch.Tensor, y: torch.Tensor | None, k: int, name: str
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(N, k) float64 distances and indices of the k nearest *distinct* points of y.

    ``y=None`` searches x itself with the point excluded. Zero distances (duplicates) are
    skipped: k neighbours are asked for, and only rows holding a zero among them are
    re-queried with more. Returns the distances, the indices into ``y`` (or ``x``) and the
    number of zero distances skipped.
    """
    same = y is None
    pool = x if y is None else y
    m = pool.shape[0] - int(same)

    def query(rows: torch.Tensor | None, kq: int) -> tuple[torch.Tensor, torch.Tensor]:
        if rows is None:
            dist, idx = knn(x, pool, kq, exclude_self=same)
        elif same:  # the excluded point is a zero distance of its own: ask for one more
            dist, idx = knn(x[rows], pool, kq + 1)
            own = idx == rows[:, None]
            keep = ~own | (own.cumsum(1) > 1)  # drop the row's own index once
            keep[:, -1] &= own.any(1)  # if it was not listed, drop the farthest instead
            dist, idx = dist[keep].view(-1, kq), idx[keep].view(-1, kq)
        else:
            dist, idx = knn(x[rows], pool, kq)
        return dist.double(), idx.long()

    kq = min(m, k)
    dist, idx = query(None, kq)
    zeros = (dist == 0).sum(1)
    if kq == k and not bool(zeros.any()):  # no duplicates: the search's lists as they are
        return dist, idx, 0
    out = torch.empty(x.shape[0], k, dtype=torch.float64, device=x.device)
    out_idx = torch.empty(x.shape[0], k, dtype=torch.long, device=x.device)
    ok = (zeros + k <= kq).nonzero().flatten()
    cols = zeros[ok, None] + torch.arange(k, device=x.device)
    out[ok] = dist[ok].gather(1, cols)
    out_idx[ok] = idx[ok].gather(1, cols)
    short = (zeros + k > kq).nonzero().flatten()
    while short.numel():
        if kq == m:
            raise ValueError(
                f"{name} has points with fewer than {k} distinct neighbours at positive "
                "distance (too many duplicate points for this k)"
            )
        kq = min(m, 2 * kq + 1)
        d2, i2 = query(short, kq)
        z2 = (d2 == 0).sum(1)
        done = z2 + k <= kq
        rows = short[done]
        cols = z2[done, None] + torch.arange(k, device=x.device)
        out[rows] = d2[done].gather(1, cols)
        out_idx[rows] = i2[done].gather(1, cols)
        zeros[short] = z2
        short = short[~done]
    return out, out_idx, int(zeros.sum())


class _Parts(NamedTuple):
    """A kNN estimate with its jackknife values, deleting one location of x or of y."""

    value: float
    loo_a: torch.Tensor | None  # (G_x,) the estimate without a location of a, or None
    loo_b: torch.Tensor | None  # (G_y,) the estimate without a location of b, or None


class _Sites(NamedTuple):
    """The distinct locations of a and of b, as rows of their pooled distinct rows."""

    rows: torch.Tensor  # (G, D) distinct rows of [a; b]
    a: torch.Tensor  # (G_x,) locations holding points of a
    b: torch.Tensor  # (G_y,) locations holding points of b
    ca: torch.Tensor  # (G_x,) float64 copies of a at each
    cb: torch.Tensor  # (G_y,) float64 copies of b at each
    la: torch.Tensor  # (N,) the location of each point of a
    lb: torch.Tensor  # (M,) the location of each point of b


def _sites(a: torch.Tensor, b: torch.Tensor) -> _Sites:
    rows, la, lb = locations(a, b)
    g = rows.shape[0]
    if g == a.shape[0] + b.shape[0]:  # no ties: locations are the points themselves
        ones = torch.ones(g, dtype=torch.float64, device=rows.device)
        return _Sites(rows, la, lb, ones[: la.numel()], ones[la.numel() :], la, lb)
    na, nb = torch.bincount(la, minlength=g), torch.bincount(lb, minlength=g)
    ia, ib = na.nonzero().flatten(), nb.nonzero().flatten()
    return _Sites(rows, ia, ib, na[ia].to(torch.float64), nb[ib].to(torch.float64), la, lb)


def _neighbour_lists(
    a: torch.Tensor, b: torch.Tensor, s: _Sites, k: int, extra: int, base: str
) -> tuple:
    """Log ball masses and indices of the k (+1 for the jackknife) distinct neighbours.

    Lists are per distinct location of ``a`` and index the distinct locations of a (``s.a``)
    or of b (``s.b``). Returns ``(mr, ri, mn, ni)``: ``mr`` (G_x, K) the log mass of the
    ball from a location of a to its r-th distinct neighbour in a, ``mn`` to its r-th in b,
    each relative to the base measure: ``d·log ρ`` for ``base="none"`` (Lebesgue, up to a
    constant that cancels), and ``log G(B) − log g(a_i)`` in each sample's own Gaussian frame
    (fitted to all points, copies included) for ``"gaussian"``. Each pooled location is
    whitened once per frame, so a point of a equal to a point of b stays at distance 0.
    """
    if base == "none":
        ua, ub = s.rows[s.a], s.rows[s.b]
        rho, ri, _ = _positive_knn(ua, None, k + extra, "x")
        nu, ni, _ = _positive_knn(ua, ub, k + extra, "y")
        d = a.shape[1]
        return d * rho.log(), ri, d * nu.log(), ni
    fa, fb = fit_frame(a, "x"), fit_frame(b, "y")
    in_a, in_b = fa.whiten(s.rows), fb.whiten(s.rows)
    wa, va = in_a[s.a], in_b[s.a]
    rho, ri, _ = _positive_knn(wa, None, k + extra, "x")
    nu, ni, _ = _positive_knn(va, in_b[s.b], k + extra, "y")
    return log_mass_ratio(rho, wa, fa), ri, log_mass_ratio(nu, va, fb), ni


def _group_sum(values: torch.Tensor, inv: torch.Tensor, size: int) -> torch.Tensor:
    out = torch.zeros(size, dtype=torch.float64, device=values.device)
    return out.index_add_(0, inv.flatten(), values.flatten())


def _tie_counts(s: _Sites, n: int, m: int) -> tuple[int, int, int, float, float, float]:
    """``(G_x, G_y, ties, cross, uneven_x, uneven_y)`` of the pooled locations.

    ``ties`` = (N − G_x) + (M − G_y) + the locations shared by x and y (the zero distances
    the search skips); ``cross`` the fraction of x on a location of y; ``uneven_*`` the
    fraction of a sample whose copy count differs from that sample's most common count.
    """
    g = s.rows.shape[0]
    if g == n + m:  # all points distinct: nothing shared, every copy count 1
        return n, m, 0, 0.0, 0.0, 0.0
    cx = torch.zeros(g, dtype=torch.long, device=s.rows.device)
    cy = torch.zeros_like(cx)
    cx[s.a], cy[s.b] = s.ca.long(), s.cb.long()
    shared = (cx > 0) & (cy > 0)
    gx, gy = s.a.numel(), s.b.numel()
    ties = (n - gx) + (m - gy) + int(shared.sum())
    cross = float(cx[shared].sum()) / n
    uneven = []
    for c, size in ((s.ca.long(), n), (s.cb.long(), m)):
        mode = torch.mode(c).values  # the copy count shared by the most locations
        uneven.append(float(c[c != mode].sum()) / size)
    return gx, gy, ties, cross, uneven[0], uneven[1]


def _warn_heavy_ties(cross: float, uneven_x: float, uneven_y: float, limit: float = 0.01) -> None:
    """Warn when ties look like discrete data, not copies of a continuous sample.

    Every point copied equally often is handled exactly (distinct neighbours, grouped
    jackknife); points of x coinciding with points of y, or copy counts that vary from point
    to point (atoms), break the continuous-density premise of the estimators.
    """
    if cross > limit or max(uneven_x, uneven_y) > limit:
        warnings.warn(
            f"knn: heavy ties ({cross:.1%} of x coincide with points of y; copy counts vary "
            f"for {uneven_x:.1%} of x and {uneven_y:.1%} of y): the kNN estimators assume "
            "continuous distributions, so the estimate and its interval are unreliable; for "
            "discrete data use the exact divergences of the empirical frequencies",
            RuntimeWarning,
            stacklevel=3,
        )


def _revcumsum(t: torch.Tensor) -> torch.Tensor:
    return t.flip(1).cumsum(1).flip(1)


def _kl_parts(
    a: torch.Tensor, b: torch.Tensor, w: np.ndarray, loo: bool, base: str, s: _Sites | None = None
) -> _Parts:
    """Weighted WKV ``Σ_k w_k [d·mean log(ν_k/ρ_k) + log(G_y/(G_x−1))]`` and its jackknife.

    (``d log ν_k − d log ρ_k`` is the difference of log ball masses, read relative to the
    Gaussian frames for ``base="gaussian"``.) ``G_x, G_y`` count the distinct points: the
    k-th *distinct* neighbour is an order statistic of them, not of all N (the two coincide
    without duplicates); the mean over i counts every point.

    The jackknife deletes one distinct location at a time, with all its copies: that
    removes their terms and, for every i with it among its first K distinct neighbours at
    position r, shifts ρ_r..ρ_K to ρ_{r+1}..ρ_{K+1}; deleting a location of b does the same
    to ν. Both are exact (the K + 1-th neighbour is queried for them), and duplicating a
    sample leaves the interval as wide as without the copies.
    """
    n = a.shape[0]
    k = w.size
    s = _sites(a, b) if s is None else s
    ca, gx, gy = s.ca, s.a.numel(), s.b.numel()
    mr, ri, mn, ni = _neighbour_lists(a, b, s, k, int(loo), base)
    wt = torch.as_tensor(w, dtype=torch.float64, device=a.device)
    t = (mn[:, :k] - mr[:, :k]) @ wt
    total = (ca * t).sum()
    value = float(total) / n + math.log(gy / (gx - 1))
    if not loo:
        return _Parts(value, None, None)
    dx = -_revcumsum(wt * (mr[:, 1:] - mr[:, :-1]))  # change of t_g when a neighbour goes
    dy = _revcumsum(wt * (mn[:, 1:] - mn[:, :-1]))
    acc_a = _group_sum(ca[:, None] * dx, ri[:, :k], gx)
    acc_b = _group_sum(ca[:, None] * dy, ni[:, :k], gy)
    loo_a = (total - ca * t + acc_a) / (n - ca) + math.log(gy / (gx - 2))
    loo_b = (total + acc_b) / n + math.log((gy - 1) / (gx - 1))
    return _Parts(value, loo_a, loo_b)


def _alpha_parts(
    a: torch.Tensor,
    b: torch.Tensor,
    alpha: float,
    k: int,
    loo: bool,
    base: str,
    s: _Sites | None = None,
) -> _Parts:
    """Póczos–Schneider ``B_{k,α}·mean[((G_x−1)ρ_k^d/(G_yν_k^d))^{1−α}] ≈ ∫p^α q^{1−α}``.

    ``G_x, G_y`` count distinct points, as in :func:`_kl_parts`. The jackknife values are of
    the integral, deleting one distinct location (all its copies) at a time; deleting a
    neighbour among the first k moves ρ_k (or ν_k) to ρ_{k+1} (ν_{k+1}), and the counts in
    the constant change too.
    """
    n = a.shape[0]
    s = _sites(a, b) if s is None else s
    ca, gx, gy = s.ca, s.a.numel(), s.b.numel()
    mr, ri, mn, ni = _neighbour_lists(a, b, s, k, int(loo), base)
    e = 1.0 - alpha
    log_b = 2 * gammaln(k) - gammaln(k - alpha + 1) - gammaln(k + alpha - 1)
    u = torch.exp(e * (math.log((gx - 1) / gy) + mr[:, k - 1] - mn[:, k - 1]) + log_b)
    total = (ca * u).sum()
    value = float(total) / n
    if not loo:
        return _Parts(value, None, None)
    du_a = ca * u * torch.expm1(e * (mr[:, k] - mr[:, k - 1]))
    du_b = ca * u * torch.expm1(-e * (mn[:, k] - mn[:, k - 1]))
    acc_a = _group_sum(du_a[:, None].expand(-1, k), ri[:, :k], gx)
    acc_b = _group_sum(du_b[:, None].expand(-1, k), ni[:, :k], gy)
    loo_a = ((gx - 2) / (gx - 1)) ** e * (total - ca * u + acc_a) / (n - ca)
    loo_b = (gy / (gy - 1)) ** e * (total + acc_b) / n
    return _Parts(value, loo_a, loo_b)


def _alpha_transform(kind: str, alpha: float, integral: Any) -> Any:
    """∫p^α q^{1−α} → hellinger2, Rényi-α or the α-divergence (floats or tensors)."""
    if kind == "hellinger2":
        return 1.0 - integral
    if kind == "renyi":
        if (torch.as_tensor(integral) <= 0).any():
            raise FloatingPointError("the estimated ∫p^α q^(1−α) is not positive")
        log = math.log if isinstance(integral, float) else torch.log
        return log(integral) / (alpha - 1)
    return (integral - 1) / (alpha * (alpha - 1))


def _swap(s: _Sites | None) -> _Sites | None:
    """The sites of ``(b, a)`` from those of ``(a, b)``."""
    return None if s is None else _Sites(s.rows, s.b, s.a, s.cb, s.ca, s.lb, s.la)


_PartsFn = Callable[[torch.Tensor, torch.Tensor, bool, "_Sites | None"], _Parts]


def _make_parts_fn(
    kind: str, alpha: float | None, k: int, weights: np.ndarray, base: str
) -> _PartsFn:
    """(x, y, loo, sites) → the estimate of ``kind`` with leave-one-out values over x and y.

    ``sites`` are those of ``(x, y)`` when already known, else None.
    """
    if kind == "kl":
        return lambda a, b, loo, s: _kl_parts(a, b, weights, loo, base, s)
    if kind == "reverse_kl":

        def reverse(a: torch.Tensor, b: torch.Tensor, loo: bool, s: _Sites | None) -> _Parts:
            p = _kl_parts(b, a, weights, loo, base, _swap(s))
            return _Parts(p.value, p.loo_b, p.loo_a)

        return reverse
    if kind == "jeffreys":

        def jeffreys(a: torch.Tensor, b: torch.Tensor, loo: bool, s: _Sites | None) -> _Parts:
            p = _kl_parts(a, b, weights, loo, base, s)
            q = _kl_parts(b, a, weights, loo, base, _swap(s))
            if not loo:
                return _Parts(p.value + q.value, None, None)
            pa, pb, qa, qb = p.loo_a, p.loo_b, q.loo_a, q.loo_b
            assert pa is not None and pb is not None and qa is not None and qb is not None  # loo
            return _Parts(p.value + q.value, pa + qb, pb + qa)

        return jeffreys
    assert alpha is not None  # checked by the caller

    def transformed(a: torch.Tensor, b: torch.Tensor, loo: bool, s: _Sites | None) -> _Parts:
        p = _alpha_parts(a, b, alpha, k, loo, base, s)
        value = _alpha_transform(kind, alpha, p.value)
        if not loo:
            return _Parts(value, None, None)
        return _Parts(
            value,
            _alpha_transform(kind, alpha, p.loo_a),
            _alpha_transform(kind, alpha, p.loo_b),
        )

    return transformed


def _jackknife_stderr(loo_a: torch.Tensor, loo_b: torch.Tensor) -> float:
    """Two-sample delete-1 jackknife: ``√(Σ_s (n_s−1)/n_s Σ_j (θ_(−j) − θ̄_(·))²)``."""
    var = 0.0
    for v in (loo_a, loo_b):
        n = v.numel()
        var += (n - 1) / n * float(((v - v.mean()) ** 2).sum())
    return math.sqrt(var)
