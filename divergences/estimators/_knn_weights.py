"""Weights over the neighbour order k for the kNN KL estimators, and the default order.

The noise of one point's log ball masses is that of ``log S_1, ..., log S_K`` with ``S_k`` a
sum of k unit exponentials (the masses of the balls to the k nearest points of a Poisson
process). ``S_j / S_k ~ Beta(j, k − j)`` is independent of ``S_k``, so
``Cov(log S_j, log S_k) = ψ'(max(j, k))`` exactly: the weights below minimise that variance
under the bias constraints.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import gammaln, polygamma

from divergences._validation import check_positive_int

__all__ = ["DEFAULT_K_MAX", "default_bias_terms", "default_k", "ensemble_weights"]

# The largest default orders for d <= 3 and d >= 4 (benchmarks/RESULTS.md, "kNN KL against
# the textbook"): kd-tree queries cost about k at low d, the weights need more orders above.
DEFAULT_K_MAX = (8, 12)


def default_bias_terms(d: int) -> int:
    """Bias terms the default ensemble cancels: 0 for ``d <= 3``, 1 above.

    Berrett, Samworth & Yuan (2019) cancel ``l = 1..⌊d/4⌋``; for d ≤ 3 the terms are
    negligible next to the standard error, and cancelling a second term (d ≥ 8) triples
    the standard error at n = 10^4 (benchmarks/RESULTS.md, "kNN KL against the
    textbook"), so at most one is cancelled.
    """
    return 0 if d <= 3 else 1


def default_k(g_x: int, g_y: int, d: int) -> int:
    """Default largest order ``min(K_d, max(2, min(G_x, G_y) // 16))``; K_d = 8 (d ≤ 3) or 12.

    ``G`` counts distinct points. Example: ``default_k(10_000, 10_000, 5) == 12``.
    """
    return min(DEFAULT_K_MAX[d >= 4], max(2, min(g_x, g_y) // 16))


def ensemble_weights(k_max: int, d: int, n_constraints: int | None = None) -> np.ndarray:
    """Least-variance weights over k = 1..k_max cancelling the leading kNN bias terms.

    Minimises ``wᵀΣw`` with ``Σ_jk = ψ'(max(j, k))`` (the covariance of the log masses of
    the balls to the j-th and k-th neighbour) subject to ``Σ_k w_k = 1`` and
    ``Σ_k w_k Γ(k + 2l/d)/Γ(k) = 0`` for ``l = 1..L``: the bias of the k-NN log-distance
    estimators expands in ``(k/n)^{2l/d}`` with k-dependence ``Γ(k + 2l/d)/Γ(k)``
    (Berrett, Samworth & Yuan, Ann. Statist. 47 (2019), eq. (3)). Default ``L`` = 0 for
    ``d <= 3``, where the solution is the plain estimator at ``k_max`` (``w = e_K``), and 1
    above (:func:`default_bias_terms`).

    Args:
        k_max: Largest order K (>= L + 1).
        d: Dimension of the data.
        n_constraints: Bias terms L to cancel (default by ``d``, see above).

    Returns:
        ``(K,)`` float64 weights, summing to 1.

    Example:
        >>> w = ensemble_weights(8, 10)
        >>> round(float(w.sum()), 12)
        1.0
        >>> ensemble_weights(4, 2).round(12).tolist()  # d <= 3: the plain estimator at k = 4
        [0.0, 0.0, 0.0, 1.0]
    """
    k_max = check_positive_int(k_max, "k_max")
    d = check_positive_int(d, "d")
    if n_constraints is None:
        L = default_bias_terms(d)
    else:
        L = check_positive_int(n_constraints, "n_constraints", minimum=0)
    if L + 1 > k_max:
        raise ValueError(
            f"k={k_max} is too small to cancel {L} bias terms in dimension {d}; use k >= {L + 1}"
        )
    if L == 0:  # Σ e_K = ψ'(K)·1, so e_K is the exact solution
        return np.eye(k_max)[-1]
    ks = np.arange(1, k_max + 1, dtype=np.float64)
    rows = [np.ones(k_max)] + [
        np.exp(gammaln(ks + 2 * l / d) - gammaln(ks)) for l in range(1, L + 1)
    ]
    A = np.stack(rows)
    rhs = np.zeros(L + 1)
    rhs[0] = 1.0
    # rows grow like k^(2l/d): unit rows keep the sum constraint exact to rounding
    norms = np.linalg.norm(A, axis=1)
    A, rhs = A / norms[:, None], rhs / norms
    chol = np.linalg.cholesky(polygamma(1, np.maximum.outer(ks, ks)))  # Σ = C Cᵀ
    # with v = Cᵀw: the minimum-norm v with (A C⁻ᵀ) v = rhs (robust when A is near rank-deficient)
    v = np.linalg.lstsq(solve_triangular(chol, A.T, lower=True).T, rhs, rcond=None)[0]
    return solve_triangular(chol.T, v, lower=False)
