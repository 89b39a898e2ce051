"""k-nearest-neighbour divergence estimators on the project's kNN engine.

KL by Wang, Kulkarni & Verdú (2009), with an optional ensemble over k whose weights cancel
the leading bias terms (Berrett, Samworth & Yuan 2019; Moon & Hero 2014); the α family
(∫p^α q^{1−α}, Rényi-α, squared Hellinger, our α-divergence) by Póczos & Schneider (2011).
Duplicate points are handled by the k-th distinct neighbour convention: ρ_k(i) is the
distance to the k-th nearest distinct location, so log 0 never occurs. Optionally on a
Gaussian start (Hjort & Glad 1995; :mod:`divergences.estimators._gaussian_start`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.special import gammaln

from divergences._validation import check_choice, check_positive_int
from divergences.estimators._common import check_samples, locations, split_by_location
from divergences.estimators._gaussian_start import fit_frame, log_mass_ratio
from divergences.estimators._knn_weights import default_k, ensemble_weights
from divergences.estimators._record import Estimate, check_confidence, make_estimate
from divergences.neighbors.engine import knn

__all__ = ["ensemble_weights", "knn_divergence", "knn_kl"]

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


def _resolve(divergence: Any, alpha: Any) -> tuple[str, float | None]:
    """Map a name or FDivergence record to (kind, alpha)."""
    from divergences.fdiv.family import FDivergence

    if isinstance(divergence, FDivergence):
        params = dict(divergence.params)
        if divergence.name == "alpha" and alpha is None:
            alpha = params.get("alpha")
        divergence = divergence.name
    if not isinstance(divergence, str):
        raise TypeError(
            f"divergence must be a name or FDivergence, got {type(divergence).__name__}"
        )
    check_choice(divergence, "divergence (knn)", _KL_LIKE + _ALPHA_LIKE)
    if divergence in _KL_LIKE:
        if alpha is not None:
            raise ValueError(f"alpha is only used by 'alpha' and 'renyi', not {divergence!r}")
        return divergence, None
    if divergence == "hellinger2":
        return divergence, 0.5
    if alpha is None:
        raise ValueError(f"divergence={divergence!r} needs alpha= (a float, not 0 or 1)")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise TypeError(f"alpha must be a finite float, got {alpha!r}")
    if alpha in (0.0, 1.0):
        raise ValueError(f"alpha must not be 0 or 1 (the KL limits); got {alpha}; use 'kl'")
    return divergence, float(alpha)


def knn_divergence(
    x: Any,
    y: Any,
    divergence: Any = "kl",
    *,
    alpha: float | None = None,
    k: int | None = None,
    correction: str = "ensemble",
    base: str = "none",
    stderr: str = "jackknife",
    n_groups: int = 10,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    r"""k-NN estimate of a divergence between the distributions of ``x`` and ``y``.

    KL (``"kl"``, ``"reverse_kl"``, ``"jeffreys"``) by Wang–Kulkarni–Verdú with ν the
    distance to the k-th nearest point of y and ρ within x (self excluded):

    .. math:: \hat D_k = \frac{d}{N}\sum_i \log\frac{\nu_k(i)}{\rho_k(i)}
              + \log\frac{M}{N-1}

    (with repeated points, N and M in the constants become the distinct counts G_x, G_y;
    see "Ties" below). With ``correction="ensemble"`` (default) the estimate is
    ``Σ_k w_k D̂_k`` over ``k = 1..K`` with the least-variance :func:`ensemble_weights`:
    for ``d <= 3`` the plain estimator at ``K`` (its bias is negligible there), for
    ``d >= 4`` weights that cancel the leading ``(k/N)^{2/d}`` bias term (Berrett, Samworth
    & Yuan 2019). ``K`` = ``k``, default ``min(K_d, max(2, min(G_x, G_y) // 16))`` with
    ``K_d`` = 8 for ``d <= 3`` and 12 above, ``G`` the numbers of distinct locations
    (``N``, ``M`` without ties). At n = 10,000 it is at least as accurate as the textbook
    estimator at k = 5 on the Gaussian pairs measured (d = 1–10 and a mean shift) and takes
    under 2× its time with ``stderr="none"`` (``benchmarks/RESULTS.md``, "kNN KL against
    the textbook").
    ``"none"`` is the plain estimator at ``k`` (default 1).

    The α family (``"alpha"`` with ``alpha=``, ``"renyi"``, ``"hellinger2"``) by
    Póczos–Schneider: ``∫p^α q^{1−α} ≈ B_{k,α}·mean[((N−1)ρ_k^d/(Mν_k^d))^{1−α}]``,
    ``B_{k,α} = Γ(k)²/(Γ(k−α+1)Γ(k+α−1))`` (default k = 5, needs ``1−k < α < k+1``);
    Rényi-α = log(·)/(α−1), hellinger2 = 1 − ∫√(pq), α-divergence = (∫ − 1)/(α(α−1)).

    Ties follow the k-th *distinct* neighbour convention: distances are Euclidean to the
    k-th nearest distinct location (copies count once, points at distance 0 are skipped),
    the sample sizes in the constants are the numbers of distinct locations, and the mean
    over x counts every copy; so repeated points never give log 0, and duplicating a
    sample (``x → [x, x]``) leaves the estimate unchanged (for ``base="gaussian"`` up to
    the frame's ``N − 1`` covariance factor). The jackknife deletes a distinct location with
    all its copies and batch groups keep copies together, so copies do not narrow the
    interval. Each sample needs ``k + 2`` distinct locations. ``details["ties"]`` is
    ``(N − G_x) + (M − G_y)`` plus the locations shared by x and y (the zero distances
    skipped); ``details["distinct"]`` is ``(G_x, G_y)``. Ties that look like discrete data
    (over 1 % of x on points of y, or copy counts that vary between points) give a
    ``RuntimeWarning``: the estimators assume densities. Estimates can be negative for
    nearby distributions (they are not clipped at 0).

    ``base="gaussian"`` reads each ball on a Gaussian start (Hjort & Glad 1995): the mass
    ``P(B) ~ Beta(k, ·)`` is matched to ``(p/g)(x)·G(B)`` instead of ``p(x)·V_d r^d``, with g
    the Gaussian of the sample's own mean and covariance, balls in its Mahalanobis metric and
    ``G(B)`` a noncentral χ² CDF; i.e. ``d log ρ_k`` becomes ``log G_P(B(x, ρ_k)) −
    log g_P(x)`` (and ν_k with Q's frame). Still consistent for any density, exactly
    invariant to a shared invertible affine map, and free of the high-dimensional bias when
    the data are near-Gaussian; but p/g is rougher than p for heavy tails, where it biases
    downwards. Needs more samples than dimensions + 1 in x and y. The jackknife keeps the
    two frames fixed (still conservative).

    When to use which (accuracy by family and dimension: ``benchmarks/RESULTS.md``,
    bench_estimators): ``base="gaussian"`` for near-Gaussian data in d ≥ 10, where the
    default is biased upwards; the default for heavy-tailed data.

    Standard error (``stderr="jackknife"``, default) by the two-sample delete-1 jackknife,
    computed exactly from one neighbour more per list at no extra engine call (the
    measured cost over ``stderr="none"``, which skips it and returns NaN ``stderr`` and
    ``ci``, is in ``benchmarks/RESULTS.md``, "kNN KL against the textbook"):
    ``se² = Σ_{s∈{x,y}} (G_s−1)/G_s Σ_j (θ̂_(−j) − θ̂_(·))²`` over the ``G_s`` distinct
    locations j of each sample (``G_s = n_s`` without ties), with a normal interval. By the
    Efron–Stein inequality it over-estimates the variance on average (conservative
    intervals; calibration in ``benchmarks/RESULTS.md``). ``stderr="batch"`` re-runs the
    estimator on ``B = n_groups`` disjoint random groups of locations: ``se = sd(group values)/√B``,
    Student-t interval with B − 1 degrees of freedom (B + 1 times the work).

    Args:
        x: Samples of P, ``(N, D)`` or ``(N,)``; NumPy or torch (any device: the kNN
            engine runs there).
        y: Samples of Q, ``(M, D)`` or ``(M,)``.
        divergence: ``"kl"``, ``"reverse_kl"``, ``"jeffreys"``, ``"alpha"``, ``"renyi"``,
            ``"hellinger2"``, or an FDivergence record of those names.
        alpha: Order for ``"alpha"``/``"renyi"``.
        k: Neighbour order (the largest one for the ensemble).
        correction: ``"ensemble"`` or ``"none"`` (KL only; the α family uses B_{k,α}).
        base: ``"none"`` (the Lebesgue measure: the classical estimators) or
            ``"gaussian"`` (a Gaussian start fitted to each sample).
        stderr: ``"jackknife"`` (default), ``"batch"`` (batch means) or ``"none"`` (no
            error bar: ``stderr`` and ``ci`` are NaN; the fastest).
        n_groups: Groups for ``stderr="batch"`` (>= 2; reduced when groups would hold
            fewer than 2(k+2) distinct locations).
        confidence: Level of the interval.
        seed: Seed of the random grouping (``stderr="batch"`` only).

    Returns:
        ``Estimate`` (method ``"knn"``); ``details``: ``k``, ``correction``, ``weights``,
        ``base``, ``ties``, ``distinct``, ``stderr_method`` (``"none"`` without an error
        bar), and ``group_values`` for ``stderr="batch"``.

    Raises:
        ValueError: Bad options; a sample with fewer than ``k + 2`` distinct locations
            (or, for ``stderr="batch"``, too few for two groups); constant features;
            ``base="gaussian"`` with a singular covariance or too few samples.
        TypeError: A divergence or alpha of the wrong type.

    References:
        Wang, Kulkarni & Verdú, IEEE Trans. Inf. Theory 55 (2009) 2392–2405; Póczos &
        Schneider, AISTATS 2011; Berrett, Samworth & Yuan, Ann. Statist. 47 (2019) 288–318;
        Hjort & Glad, Ann. Statist. 23 (1995) 882–904 (the parametric start).
        Matches ``universal_divergence.estimate`` (plain estimator) on tie-free data.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2)) + [1.0, 0.0]
        >>> e = knn_divergence(x, y, "kl")
        >>> 0.4 < e.value < 0.6  # the true KL is 0.5
        True
    """
    kind, alpha = _resolve(divergence, alpha)
    confidence = check_confidence(confidence)
    check_choice(correction, "correction", ("ensemble", "none"))
    check_choice(base, "base", ("none", "gaussian"))
    check_choice(stderr, "stderr", ("jackknife", "batch", "none"))
    n_groups = check_positive_int(n_groups, "n_groups", minimum=2)
    check_positive_int(seed, "seed", minimum=0)
    tx, ty = check_samples(x, y, min_samples=2)
    d = tx.shape[1]
    ty = ty.to(tx.dtype)
    n, m = tx.shape[0], ty.shape[0]
    sites = _sites(tx, ty)
    gx, gy, ties, cross, uneven_x, uneven_y = _tie_counts(sites, n, m)
    if kind in _KL_LIKE and correction == "ensemble":
        k = default_k(gx, gy, d) if k is None else check_positive_int(k, "k")
        weights = ensemble_weights(k, d)
    else:
        k = (1 if kind in _KL_LIKE else 5) if k is None else check_positive_int(k, "k")
        weights = np.zeros(k)
        weights[-1] = 1.0
    if alpha is not None and not 1 - k < alpha < k + 1:
        raise ValueError(f"alpha={alpha} needs 1 - k < alpha < k + 1 (k={k}); raise k")
    for g, size, name in ((gx, n, "x"), (gy, m, "y")):
        if g < k + 2:  # k + 1 distinct neighbours besides the point itself (or its twin in y)
            raise ValueError(
                f"{name} needs at least k + 2 = {k + 2} samples at distinct locations, got "
                f"{g} (of {size} samples); lower k"
            )
    jackknife = stderr == "jackknife"
    groups = min(n_groups, gx // (2 * k + 4), gy // (2 * k + 4))
    if stderr == "batch" and groups < 2:
        raise ValueError(
            f"stderr='batch' needs at least {4 * k + 8} samples at distinct locations in "
            f"x and y with k={k}; got {gx} and {gy}"
        )
    _warn_heavy_ties(cross, uneven_x, uneven_y)
    parts_fn = _make_parts_fn(kind, alpha, k, weights, base)
    full = parts_fn(tx, ty, jackknife, sites)
    details: dict[str, Any] = {
        "k": k,
        "correction": correction if kind in _KL_LIKE else "B_k_alpha",
        "weights": weights.tolist(),
        "base": base,
        "ties": ties,
        "distinct": (gx, gy),
    }
    se: float | None = None
    dof: int | None = None
    if jackknife:
        assert full.loo_a is not None and full.loo_b is not None
        se = _jackknife_stderr(full.loo_a, full.loo_b)
        details["stderr_method"] = "delete-1 jackknife over x and y"
    elif stderr == "none":
        details["stderr_method"] = "none"
    else:
        rng = np.random.default_rng(seed)
        px = split_by_location(sites.la.cpu().numpy(), groups, rng)
        py = split_by_location(sites.lb.cpu().numpy(), groups, rng)
        vals = np.array([parts_fn(tx[px[g]], ty[py[g]], False, None).value for g in range(groups)])
        se, dof = float(vals.std(ddof=1) / math.sqrt(groups)), groups - 1
        details["group_values"] = vals.tolist()
        details["stderr_method"] = f"batch means over {groups} groups of locations"
    if alpha is not None:
        details["alpha"] = alpha
    return make_estimate(
        full.value,
        se,
        n_x=n,
        n_y=m,
        method="knn",
        divergence=kind,
        confidence=confidence,
        details=details,
        dof=dof,
    )


def knn_kl(
    x: Any,
    y: Any,
    *,
    k: int | None = None,
    correction: str = "ensemble",
    base: str = "none",
    stderr: str = "jackknife",
    n_groups: int = 10,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    r"""KL(P‖Q) by k-NN distances (Wang–Kulkarni–Verdú; bias-cancelling weights for d ≥ 4).

    Shorthand for ``knn_divergence(x, y, "kl", ...)``; see :func:`knn_divergence`.

    .. math:: \hat D = \sum_k w_k\Big[\frac{d}{N}\sum_i \log\frac{\nu_k(i)}{\rho_k(i)}
              + \log\frac{M}{N-1}\Big]

    With repeated points, ν and ρ reach the k-th distinct location and M, N count distinct
    locations (see :func:`knn_divergence`).

    Args:
        x: Samples of P, ``(N, D)`` or ``(N,)``.
        y: Samples of Q, ``(M, D)`` or ``(M,)``.
        k: Largest neighbour order (ensemble) or the order (``correction="none"``).
        correction: ``"ensemble"`` or ``"none"``.
        base: ``"none"`` (Lebesgue) or ``"gaussian"`` (Gaussian start; see
            :func:`knn_divergence`).
        stderr: ``"jackknife"`` (default), ``"batch"`` or ``"none"`` (no error bar, fastest).
        n_groups: Groups for ``stderr="batch"``.
        confidence: Level of the interval.
        seed: Seed of the grouping (``stderr="batch"``).

    Returns:
        ``Estimate`` with ``divergence="kl"``, ``method="knn"``.

    References:
        Wang, Kulkarni & Verdú (2009); Berrett, Samworth & Yuan (2019).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> x, y = rng.normal(size=1000), 2.0 * rng.normal(size=1500)
        >>> e = knn_kl(x, y)  # KL(N(0,1) ‖ N(0,4)) = 0.3181
        >>> abs(e.value - 0.3181) < 4 * e.stderr + 0.02
        True
    """
    return knn_divergence(
        x,
        y,
        "kl",
        k=k,
        correction=correction,
        base=base,
        stderr=stderr,
        n_groups=n_groups,
        confidence=confidence,
        seed=seed,
    )
