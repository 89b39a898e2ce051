"""
MMD and the energy distance as one sample moves
===============================================

Kernel distances compare two samples through their kernel mean embeddings and need neither
densities nor a classifier. We shift ``Q = N((δ, 0), I)`` away from ``P = N(0, I)`` and follow
:func:`divergences.mmd2` with three kernels and :func:`divergences.energy_distance`. Each is
computed in tiles: no ``N × M`` kernel matrix is ever built.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

import divergences as dv

rng = np.random.default_rng(0)
deltas = np.linspace(0.0, 2.0, 6)
seeds = range(3)
names = ["gaussian (median)", "laplace (σ = 1)", "energy distance"]
values = np.zeros((len(names), len(deltas), len(seeds)))
for j, delta in enumerate(deltas):
    for s in seeds:
        x = rng.normal(size=(300, 2))
        y = rng.normal(size=(200, 2)) + np.array([delta, 0.0])
        values[0, j, s] = dv.mmd2(x, y)  # unbiased: can dip below 0 when P = Q
        values[1, j, s] = dv.mmd2(x, y, kernel="laplace", bandwidth=1.0)
        values[2, j, s] = dv.energy_distance(x, y)

# %%
# Mean over three pairs of samples, with their spread. At ``δ = 0`` the unbiased MMD² is
# centred on zero; the energy distance (a V-statistic) is slightly positive.

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for ax, name, v in zip(axes, names, values):
    ax.plot(deltas, v.mean(axis=1), "o-", ms=4)
    ax.fill_between(deltas, v.min(axis=1), v.max(axis=1), alpha=0.3)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(title=name, xlabel="shift δ")
axes[0].set_ylabel("MMD² / energy distance")
fig.tight_layout()
plt.show()

# %%
# With tensors the result is a differentiable tensor: gradient descent on ``y`` alone moves it
# onto ``x``.

x = torch.randn(300, 2, generator=torch.Generator().manual_seed(1))
y = (torch.randn(200, 2, generator=torch.Generator().manual_seed(2)) + 2.0).requires_grad_()
opt = torch.optim.SGD([y], lr=100.0)  # each point's gradient is of order 1/len(y)
for step in range(16):
    loss = dv.energy_distance(x, y)
    if step % 5 == 0:
        print(f"step {step:2d}: energy distance {loss.item():.4f}, mean of y {y.mean(0).tolist()}")
    opt.zero_grad()
    loss.backward()
    opt.step()
