"""
Wasserstein distances: exact, sliced and entropic
=================================================

:func:`divergences.wasserstein` returns ``W_p`` between two samples. In one dimension it is
exact for any sizes and weights (quantile functions); for two samples of equal size it is
exact by assignment; otherwise it is entropic (Sinkhorn) or sliced.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import stats

import divergences as dv

rng = np.random.default_rng(0)

# %%
# In one dimension, the exact value equals scipy's, with unequal sizes and weights:

u, v = rng.normal(size=1000), rng.gamma(2.0, size=700)
w = rng.uniform(size=1000)
ours = dv.wasserstein(u[:, None], v[:, None], x_weights=w)
print(f"W1 = {ours:.6f}, scipy: {stats.wasserstein_distance(u, v, u_weights=w):.6f}")

# %%
# In two dimensions: the exact distance by assignment (equal sizes); the entropic cost
# ``OT_ε`` and the debiased Sinkhorn divergence ``S_ε`` (:func:`divergences.sinkhorn_divergence`,
# in the units of ``W_2²``) as the regularisation ``ε`` shrinks; and the sliced distance as the
# number of directions grows (a different distance, at most ``W_2``).

x = rng.normal(size=(150, 2))
y = rng.normal(size=(150, 2)) * [1.5, 0.5] + [1.0, 0.0]
exact = dv.wasserstein(x, y, p=2, method="assignment")
epsilons = np.array([2.0, 1.0, 0.5, 0.25])
entropic = [dv.wasserstein(x, y, p=2, method="sinkhorn", eps=e) for e in epsilons]
debiased = [np.sqrt(dv.sinkhorn_divergence(x, y, p=2, eps=e)) for e in epsilons]
projections = [4, 16, 64, 256]
sliced = [
    [
        dv.wasserstein(
            x, y, p=2, method="sliced", n_projections=k, generator=torch.Generator().manual_seed(s)
        )
        for s in range(3)
    ]
    for k in projections
]

fig, ax = plt.subplots(1, 2, figsize=(9, 3.3))
ax[0].plot(epsilons, entropic, "o-", label="OT_ε^(1/2)")
ax[0].plot(epsilons, debiased, "s-", label="S_ε^(1/2), debiased")
ax[0].axhline(exact, color="k", ls="--", label="W2 (assignment)")
ax[0].set_xscale("log")
ax[0].set_xticks(epsilons, [f"{e:g}" for e in epsilons])
ax[0].minorticks_off()
ax[0].invert_xaxis()
ax[0].set(xlabel="ε", ylabel="W2", title="entropic transport as ε → 0")
ax[0].legend()
ax[1].semilogx(projections, np.mean(sliced, axis=1), "o-", label="sliced W2 (mean of 3)")
ax[1].fill_between(projections, np.min(sliced, axis=1), np.max(sliced, axis=1), alpha=0.3)
ax[1].axhline(exact, color="k", ls="--", label="W2")
ax[1].set(xlabel="directions", title="sliced ≤ W2")
ax[1].legend(loc="center right")
fig.tight_layout()
plt.show()

# %%
# The debiased Sinkhorn divergence is zero between a sample and itself, where the entropic
# cost is not:

print(f"OT_eps(x, x)^(1/2) = {dv.wasserstein(x, x, p=2, method='sinkhorn', eps=0.5):.4f}")
print(f"S_eps(x, x)        = {dv.sinkhorn_divergence(x, x, eps=0.5):.2e}")
