"""
Chamfer and Hausdorff distances between point clouds
====================================================

Every set distance stands on one exact nearest-neighbour engine, :func:`divergences.knn`. We
sample a noisy outline of a shape, rotate a second sample of it, and follow the Chamfer
distance (the mean distance from each point to the other set, both ways) and the Hausdorff
distance (the worst such distance) as the rotation grows.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection

import divergences as dv

rng = np.random.default_rng(0)


def outline(n):
    """Points near a three-lobed curve, r = 1 + 0.3 cos(3t)."""
    t = rng.uniform(0, 2 * np.pi, n)
    r = 1 + 0.3 * np.cos(3 * t) + 0.02 * rng.normal(size=n)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def rotate(x, angle):
    c, s = np.cos(angle), np.sin(angle)
    return x @ np.array([[c, -s], [s, c]]).T


x = outline(400)
y = rotate(outline(300), 0.3)

# %%
# Each point of ``y`` and its nearest neighbour in ``x``:

dist, idx = dv.knn(y, x, k=1)  # NumPy in: float64 NumPy out, shapes (300, 1)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.add_collection(LineCollection(np.stack([y, x[idx[:, 0]]], axis=1), colors="0.6", lw=0.7))
ax.scatter(*x.T, s=5, label="x")
ax.scatter(*y.T, s=5, label="y (rotated by 0.3 rad)")
ax.set_aspect("equal")
ax.legend(loc="lower left", fontsize=8)
plt.show()

# %%
# The distances as ``y`` turns: the shape has a three-fold symmetry, so they return to the
# noise level at a third of a turn.

angles = np.linspace(0, 2 * np.pi / 3, 25)
y0 = outline(300)
values = {"chamfer": [], "hausdorff": [], "nearest pair": []}
for a in angles:
    ya = rotate(y0, a)
    values["chamfer"].append(dv.chamfer(x, ya))
    values["hausdorff"].append(dv.hausdorff(x, ya))
    values["nearest pair"].append(dv.nearest_pair_distance(x, ya))
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, v in values.items():
    ax.plot(angles, v, label=name)
ax.set(xlabel="rotation (rad)", ylabel="distance")
ax.legend()
plt.show()

# %%
# With tensors, the distances are differentiable: gradient descent on the angle recovers the
# rotation.

xt, yt = torch.tensor(x), torch.tensor(y)
angle = torch.zeros((), dtype=torch.float64, requires_grad=True)
opt = torch.optim.Adam([angle], lr=0.03)
for _ in range(60):
    c, s = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    loss = dv.chamfer(xt, yt @ rot.T, squared=True)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"recovered rotation: {-angle.item():.3f} rad (true 0.3)")
