"""Independent float64 references for transport: dense LP (HiGHS), dense log-domain Sinkhorn.

Written from the definitions, in NumPy/scipy, sharing no code with the package.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.special import logsumexp


def cost_matrix(x, y, p):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    return d**p


def lp(x, y, a, b, p):
    """Exact transport by the dense LP: ``(cost, plan (n, m), f, g)``."""
    c = cost_matrix(x, y, p)
    n, m = c.shape
    rows = np.kron(np.eye(n), np.ones((1, m)))
    cols = np.kron(np.ones((1, n)), np.eye(m))
    res = linprog(
        c.ravel(),
        A_eq=np.vstack([rows, cols]),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    assert res.status == 0, res.message
    return res.fun, res.x.reshape(n, m), res.eqlin.marginals[:n], res.eqlin.marginals[n:]


def sinkhorn(x, y, a, b, p, eps, rho_x=np.inf, rho_y=np.inf, iters=200000, tol=1e-14):
    """Dense log-domain (damped) Sinkhorn to a fixed point: ``(f, g, plan)``.

    ``f_i = −κ_x ε log Σ_j b_j exp((g_j − C_ij)/ε)``, ``κ = ρ/(ρ + ε)`` (1 for ρ = inf).
    """
    c = cost_matrix(x, y, p)
    la, lb = np.log(a), np.log(b)
    kx = 1.0 if np.isinf(rho_x) else rho_x / (rho_x + eps)
    ky = 1.0 if np.isinf(rho_y) else rho_y / (rho_y + eps)
    f, g = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(iters):
        f_new = -kx * eps * logsumexp(lb[None, :] + (g[None, :] - c) / eps, axis=1)
        g_new = -ky * eps * logsumexp(la[:, None] + (f_new[:, None] - c) / eps, axis=0)
        done = max(np.abs(f_new - f).max(), np.abs(g_new - g).max()) < tol
        f, g = f_new, g_new
        if done:
            break
    else:
        raise AssertionError("reference Sinkhorn did not converge")
    f = -kx * eps * logsumexp(lb[None, :] + (g[None, :] - c) / eps, axis=1)
    plan = np.exp(la[:, None] + lb[None, :] + (f[:, None] + g[None, :] - c) / eps)
    return f, g, plan


def kl(p, q):
    """Generalised KL ``Σ p log(p/q) − p + q`` (0 log 0 = 0)."""
    p, q = np.asarray(p), np.asarray(q)
    pos = p > 0
    return float(np.sum(p[pos] * np.log(p[pos] / q[pos])) - p.sum() + q.sum())


def primal(x, y, a, b, p, eps, plan, rho_x=np.inf, rho_y=np.inf):
    """``⟨π, C⟩ + ε KL(π ‖ a⊗b) + ρ_x KL(π1 ‖ a) + ρ_y KL(πᵀ1 ‖ b)`` (finite ρ terms only)."""
    c = cost_matrix(x, y, p)
    val = float((plan * c).sum()) + eps * kl(plan, np.outer(a, b))
    if np.isfinite(rho_x):
        val += rho_x * kl(plan.sum(1), a)
    if np.isfinite(rho_y):
        val += rho_y * kl(plan.sum(0), b)
    return val
