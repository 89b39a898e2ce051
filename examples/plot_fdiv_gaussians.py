"""
f-divergences between Gaussians: closed forms, quadrature and Monte Carlo
=========================================================================

Between two Gaussians several members of the f-divergence family have closed forms. Here we
move a unit Gaussian ``Q = N(m, 1)`` away from ``P = N(0, 1)`` and compare three ways of
computing ``D_f(P‖Q)``:

- the closed forms (:func:`divergences.gaussian_kl`, :func:`divergences.gaussian_hellinger2`,
  and ``TV = 2Φ(m/2) − 1`` for equal variances);
- adaptive quadrature of ``E_Q[f(p/q)]`` on the densities (:func:`divergences.f_divergence_1d`);
- Monte Carlo from log-densities at samples, with a standard error
  (:func:`divergences.monte_carlo_f_divergence`): at samples of ``P`` for KL, the usual
  ``mean(log p − log q)``, whose variance stays small (at samples of ``Q`` the terms
  ``(p/q) log(p/q)`` are heavy-tailed once the shift is large).
"""

import math

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

import divergences as dv


def normal_logpdf(mean, std=1.0):
    """The log-density of N(mean, std²) at a float (quadrature calls it point by point)."""
    return lambda x: -0.5 * ((x - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


shifts = np.linspace(0.0, 3.0, 7)
rng = np.random.default_rng(0)
closed = {"kl": [], "hellinger2": [], "tv": []}
quad = {name: [] for name in [*closed, "js"]}
mc, mc_se = [], []
for m in shifts:
    closed["kl"].append(dv.gaussian_kl([0.0], [[1.0]], [m], [[1.0]]))
    closed["hellinger2"].append(dv.gaussian_hellinger2([0.0], [[1.0]], [m], [[1.0]]))
    closed["tv"].append(2 * stats.norm.cdf(m / 2) - 1)
    log_p, log_q = normal_logpdf(0.0), normal_logpdf(m)
    for name in quad:
        quad[name].append(dv.f_divergence_1d(log_p, log_q, name, log_densities=True).value)
    z = rng.normal(0.0, 1.0, size=2000)  # samples of P
    r = dv.monte_carlo_f_divergence(
        stats.norm.logpdf(z), stats.norm.logpdf(z, m), "kl", samples_from="p"
    )
    mc.append(r.value)
    mc_se.append(r.stderr)

# %%
# Closed form (lines), quadrature (dots) and Monte Carlo with two standard errors (bars):
# they agree. JS has no closed form here; it saturates at log 2, TV and Hellinger² at 1.

fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
ax[0].plot(shifts, closed["kl"], "C0-", label="closed form")
ax[0].plot(shifts, quad["kl"], "C0o", ms=4, label="quadrature")
ax[0].errorbar(
    shifts,
    mc,
    yerr=2 * np.array(mc_se),
    fmt="none",
    ecolor="k",
    capsize=2,
    label="Monte Carlo ± 2 se",
)
ax[0].set(xlabel="mean shift m", ylabel="KL(P‖Q), nats", title="KL = m²/2")
ax[0].legend()
for i, name in enumerate(["hellinger2", "tv"]):
    ax[1].plot(shifts, closed[name], f"C{i + 1}-", label=f"{name} (closed form)")
    ax[1].plot(shifts, quad[name], f"C{i + 1}o", ms=4)
ax[1].plot(shifts, quad["js"], "C3o-", ms=4, label="js (quadrature)")
ax[1].axhline(np.log(2), color="C3", ls=":", lw=1)
ax[1].set(xlabel="mean shift m", title="bounded members")
ax[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# The same closed forms work in any dimension and batch over leading axes:

mu = np.zeros((3, 2))
cov = np.stack([np.eye(2) * s for s in (0.5, 1.0, 2.0)])
print(dv.gaussian_kl(mu, cov, np.zeros(2), np.eye(2)))  # KL(N(0, sI) ‖ N(0, I)), one per s
