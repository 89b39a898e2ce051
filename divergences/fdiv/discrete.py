"""Exact f-divergences between discrete distributions, batched along the last axis.

Inputs ``p`` and ``q`` are probability vectors of shape ``(..., K)`` (categories last; leading
axes broadcast, ``K`` must match). Each row must be non-negative, finite and sum to 1 within a
tolerance (``1e-6`` in float64, ``1e-4`` in float32, ``2e-3`` in float16, ``1.6e-2`` in
bfloat16), or pass ``normalize=True`` to divide each
row by its sum. Results have the broadcast leading shape ``(...)``.

Conventions (nats): ``D_f(P‖Q) = Σ_i q_i f(p_i/q_i)`` with ``0·f(0/0) = 0``, ``p = 0 < q``
giving ``q·f(0)`` and ``q = 0 < p`` giving ``p·lim_{u→∞} f(u)/u`` (``+inf`` for KL, Pearson,
Jeffreys). ``js`` is the divergence (≤ log 2), not scipy's square-rooted distance;
``tv = ½‖p − q‖₁ ∈ [0, 1]``; ``hellinger2 = 1 − Σ√(pq) ∈ [0, 1]``; ``pearson = Σ(p − q)²/q``.

Each named function uses a direct stable formula (``xlogy``, no ratio ``p/q`` that could
overflow). KL is ``Σ p log(p/q) − p + q``: exact on the simplex and never negative. When
autograd is on, the summands are masked so that gradients are NaN-free at zero entries.
Without autograd, KL and JS take a fewer-pass ``xlogy`` form; the two paths agree to rounding.
:func:`f_divergence` evaluates the generic ``Σ q f(p/q)`` from an
:class:`~divergences.fdiv.family.FDivergence` record instead.

Array boundary: NumPy/lists in → float64, NumPy array or Python float out; torch in → torch
out on the same device and dtype (float16/bfloat16 are computed in float32), differentiable.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from divergences._typing import pair_typed
from divergences._validation import to_output
from divergences.fdiv import _terms as _t
from divergences.fdiv import family as _fd

__all__ = [
    "alpha_divergence",
    "f_divergence",
    "hellinger2",
    "jeffreys",
    "js",
    "kl",
    "neyman",
    "pearson",
    "reverse_kl",
    "triangular",
    "tv",
]


# --- public functions ---------------------------------------------------------------------------


@pair_typed
def kl(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Kullback–Leibler divergence ``KL(P‖Q)`` in nats, batched over leading axes.

    ``KL(P‖Q) = Σ_k p_k log(p_k/q_k)``; ``0 log 0 = 0``; ``+inf`` if some ``q_k = 0 < p_k``.

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...): a tensor for torch input, else a NumPy array (a float if 0-d).

    Reference: Cover & Thomas, Elements of Information Theory, eq. 2.26; matches
    ``scipy.special.rel_entr(p, q).sum(-1)``.

    Example:
        >>> round(kl([0.5, 0.5], [0.9, 0.1]), 6)
        0.510826
    """
    return _kl(_t.prepare(p, q, normalize), swap=False)


def _kl(r: _t.Prepared, *, swap: bool) -> Any:
    p, q, sp, sq = (r.q, r.p, r.sum_q, r.sum_p) if swap else (r.p, r.q, r.sum_p, r.sum_q)
    if _t.needs_grad(p, q):
        return _t.finish(_t.kl_terms(p, q), r.is_numpy, r.out_dtype)
    return to_output(_t.kl_fast(p, q, sp, sq).to(r.out_dtype), r.is_numpy)


@pair_typed
def reverse_kl(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Reverse KL, ``KL(Q‖P) = Σ_k q_k log(q_k/p_k)`` (nats), i.e. f = −log u.

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...); ``+inf`` if some ``p_k = 0 < q_k``.

    Reference: Nowozin et al., f-GAN (NeurIPS 2016), Table 1.

    Example:
        >>> round(reverse_kl([0.9, 0.1], [0.5, 0.5]), 6)
        0.510826
    """
    return _kl(_t.prepare(p, q, normalize), swap=True)


@pair_typed
def js(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Jensen–Shannon divergence in nats (≤ log 2), symmetric, always finite.

    ``JS(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M)`` with ``M = (P + Q)/2``. This is the divergence, not
    scipy's ``jensenshannon`` (which returns its square root, a metric).

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...), values in ``[0, log 2]``.

    Reference: Lin, "Divergence measures based on the Shannon entropy", IEEE TIT 1991; matches
    ``scipy.spatial.distance.jensenshannon(p, q) ** 2``.

    Example:
        >>> import math
        >>> js([1.0, 0.0], [0.0, 1.0]) == math.log(2)
        True
    """
    r = _t.prepare(p, q, normalize)
    if _t.needs_grad(r.p, r.q):
        return _t.finish(_t.js_terms(r.p, r.q), r.is_numpy, r.out_dtype)
    return to_output(_t.js_fast(r.p, r.q).to(r.out_dtype), r.is_numpy)


@pair_typed
def tv(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Total variation distance ``½ Σ_k |p_k − q_k|`` ∈ [0, 1] (f = ½|u − 1|).

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...), values in ``[0, 1]``.

    Reference: Tsybakov, Introduction to Nonparametric Estimation, Def. 2.4.

    Example:
        >>> tv([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])
        0.5
    """
    pt, qt, is_np, dt, *_ = _t.prepare(p, q, normalize)
    return _t.finish(0.5 * (pt - qt).abs(), is_np, dt)


@pair_typed
def hellinger2(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Squared Hellinger distance ``1 − Σ_k √(p_k q_k) = ½ Σ_k (√p_k − √q_k)²`` ∈ [0, 1].

    (f = ½(√u − 1)²; Nowozin et al. list twice this.)

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...), values in ``[0, 1]``.

    Reference: Tsybakov, Introduction to Nonparametric Estimation, Def. 2.3 (with the ½).

    Example:
        >>> hellinger2([0.25, 0.75], [0.25, 0.75])
        0.0
    """
    pt, qt, is_np, dt, *_ = _t.prepare(p, q, normalize)
    return _t.finish(_t.hellinger2_terms(pt, qt), is_np, dt)


@pair_typed
def pearson(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Pearson χ² divergence ``Σ_k (p_k − q_k)²/q_k`` (f = (u − 1)²).

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...); ``+inf`` if some ``q_k = 0 < p_k``.

    Reference: Liese & Vajda, "On divergences and informations", IEEE TIT 2006, §II.

    Example:
        >>> round(pearson([0.5, 0.5], [0.25, 0.75]), 6)
        0.333333
    """
    pt, qt, is_np, dt, *_ = _t.prepare(p, q, normalize)
    return _t.finish(_t.chi2_terms(pt, qt), is_np, dt)


@pair_typed
def neyman(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Neyman χ² divergence ``Σ_k (p_k − q_k)²/p_k`` (f = (1 − u)²/u), = ``pearson(q, p)``.

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...); ``+inf`` if some ``p_k = 0 < q_k``.

    Reference: Liese & Vajda, IEEE TIT 2006, §II.

    Example:
        >>> round(neyman([0.25, 0.75], [0.5, 0.5]), 6)
        0.333333
    """
    pt, qt, is_np, dt, *_ = _t.prepare(p, q, normalize)
    return _t.finish(_t.chi2_terms(qt, pt), is_np, dt)


@pair_typed
def jeffreys(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Jeffreys divergence ``Σ_k (p_k − q_k) log(p_k/q_k) = KL(P‖Q) + KL(Q‖P)``.

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...); ``+inf`` if the supports differ.

    Reference: Jeffreys, Proc. R. Soc. A 186 (1946); f = (u − 1) log u (Nowozin et al. 2016).

    Example:
        >>> round(jeffreys([0.5, 0.5], [0.9, 0.1]), 6)
        0.878890
    """
    pt, qt, is_np, dt, *_ = _t.prepare(p, q, normalize)
    return _t.finish(_t.jeffreys_terms(pt, qt), is_np, dt)


@pair_typed
def triangular(p: Any, q: Any, *, normalize: bool = False) -> Any:
    """Triangular discrimination ``Σ_k (p_k − q_k)²/(p_k + q_k)`` ∈ [0, 2] (f = (u−1)²/(u+1)).

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...), values in ``[0, 2]``.

    Reference: Topsøe, "Some inequalities for information divergence", IEEE TIT 2000.

    Example:
        >>> triangular([1.0, 0.0], [0.0, 1.0])
        2.0
    """
    pt, qt, is_np, dt, *_ = _t.prepare(p, q, normalize)
    return _t.finish(_t.triangular_terms(pt, qt), is_np, dt)


@pair_typed
def alpha_divergence(p: Any, q: Any, *, alpha: float, normalize: bool = False) -> Any:
    """Amari α-divergence ``(Σ_k p_k^α q_k^{1−α} − 1)/(α(α − 1))``, any finite real ``α``.

    ``f(u) = (u^α − 1 − α(u − 1))/(α(α − 1))``; ``α → 1`` is KL(P‖Q), ``α → 0`` is KL(Q‖P)
    (returned exactly at ``α ∈ {0, 1}``), ``α = 2`` is ½ Pearson, ``α = ½`` is 4·hellinger2.
    Evaluated through ``D_α(P‖Q) = D_{1−α}(Q‖P)`` with an ``expm1`` form that stays accurate for
    ``α`` near 0 and 1.

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        alpha: the order α, a finite real number.
        normalize: divide each row by its sum instead of requiring it to sum to 1.

    Returns:
        Shape (...); ``+inf`` where the support condition fails (α ≥ 1: q = 0 < p; α ≤ 0:
        p = 0 < q).

    Reference: Amari, Information Geometry and Its Applications (2016), §3.4; Cichocki & Amari,
    "Families of alpha- beta- and gamma-divergences", Entropy 2010, eq. 4.

    Example:
        >>> round(alpha_divergence([0.5, 0.5], [0.25, 0.75], alpha=2.0), 6)  # ½ Pearson
        0.166667
    """
    a = _fd.check_alpha(alpha, "alpha")
    r = _t.prepare(p, q, normalize)
    if a == 1.0:
        return _kl(r, swap=False)
    if a == 0.0 or 1.0 - a == 1.0:  # α below float resolution of 1 − α: the α → 0 limit
        return _kl(r, swap=True)
    pt, qt, is_np, dt = r.p, r.q, r.is_numpy, r.out_dtype
    if a >= 0.5:
        terms = _t.alpha_terms(pt, qt, a)
    else:
        terms = _t.alpha_terms(qt, pt, 1.0 - a)
    return _t.finish(terms, is_np, dt)


@pair_typed
def f_divergence(
    p: Any, q: Any, f: str | _fd.FDivergence, *, normalize: bool = False, **params: float
) -> Any:
    """Generic ``D_f(P‖Q) = Σ_k q_k f(p_k/q_k)`` from a record (or its registry name).

    Zero conventions from the record: ``0·f(0/0) = 0``; ``p = 0 < q`` gives ``q·f_at_0``;
    ``q = 0 < p`` gives ``p·slope_at_inf``. ``f`` is evaluated only at ``u = p/q`` with both
    positive, so for generators growing faster than ``u log u`` it can overflow to ``+inf``
    (with a ``RuntimeWarning``) even where ``q·f(p/q)`` fits; the named functions do not.

    Args:
        p: probabilities, shape (..., K).
        q: probabilities, shape (..., K), broadcastable with ``p``.
        f: a registry name (see :func:`divergences.names`) or an ``FDivergence``.
        normalize: divide each row by its sum instead of requiring it to sum to 1.
        **params: parameters for :func:`divergences.get_f_divergence`, e.g. ``alpha=0.5``.

    Returns:
        Shape (...).

    Raises:
        ValueError: if the generator returns NaN on valid input.

    Reference: Csiszár, "Information-type measures of difference of probability distributions",
    Studia Sci. Math. Hungar. 2 (1967); Ali & Silvey, JRSS B 28 (1966).

    Example:
        >>> round(f_divergence([0.5, 0.5], [0.9, 0.1], "kl"), 6)
        0.510826
        >>> round(f_divergence([0.5, 0.5], [0.25, 0.75], "alpha", alpha=2.0), 6)
        0.166667
    """
    if not isinstance(f, (str, _fd.FDivergence)):
        raise TypeError(
            f"f must be a registry name or an FDivergence, got {type(f).__name__}; wrap a "
            "generator with divergences.from_generator(name, f)"
        )
    rec = _fd.get_f_divergence(f, **params)
    pt, qt, is_np, dt, *_ = _t.prepare(p, q, normalize)
    both = (pt > 0) & (qt > 0)
    ps, qs = _t.safe(pt, both, 1.0), _t.safe(qt, both, 1.0)
    inner = qs * rec.f(ps / qs)
    over = both & torch.isinf(inner)
    if bool(over.any()):
        # f(p/q) can overflow although q·f(p/q) fits: say so rather than return inf quietly
        warnings.warn(
            f"f_divergence: q·f(p/q) of {rec.name!r} overflowed to inf at {int(over.sum())} "
            f"entries (p/q up to {float((ps / qs)[over].max()):.3g}); the named function for "
            "this divergence, where there is one, evaluates such terms without overflow",
            RuntimeWarning,
            stacklevel=2,
        )
    zero = torch.zeros_like(pt)
    if rec.slope_at_inf == torch.inf:
        q_zero = torch.full_like(pt, torch.inf)
    else:
        q_zero = pt * rec.slope_at_inf
    if rec.f_at_0 == torch.inf:
        p_zero = torch.full_like(pt, torch.inf)
    else:
        p_zero = qt * rec.f_at_0
    terms = torch.where(both, inner, torch.where(pt > 0, q_zero, torch.where(qt > 0, p_zero, zero)))
    out = terms.sum(dim=-1)
    if bool(torch.isnan(out).any()):
        raise ValueError(f"the generator f of {rec.name!r} returned NaN on valid input")
    return to_output(out.to(dt), is_np)
