"""
FID and KID on digits
=====================

FID and KID compare the features of real and generated images. On scikit-learn's 8 × 8 digits,
with the small digits network that ships with the package (``features="digits"``), we degrade
half of the digits more and more — blur, then noise — and watch both metrics against the other
half. Nothing is downloaded.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits

import metrics

digits = load_digits().data.reshape(-1, 8, 8) / 16.0  # (1797, 8, 8) in [0, 1]
real, other = digits[:900], digits[900:]
rng = np.random.default_rng(0)


def degrade(images, level):
    """Blur by ``level`` pixels, then add noise of standard deviation ``level / 4``."""
    blurred = ndimage.gaussian_filter(images, sigma=(0, level, level)) if level > 0 else images
    return np.clip(blurred + level / 4 * rng.normal(size=images.shape), 0, 1)


levels = [0.0, 0.25, 0.5, 0.75, 1.0]
net = metrics.digits_features()  # a torch module: (N, 64) or (N, 1, 8, 8) in [0, 1] -> (N, 64)
f_real = metrics.extract(net, real.reshape(-1, 64))
fids, kids, kid_std = [], [], []
for level in levels:
    f_fake = metrics.extract(net, degrade(other, level).reshape(-1, 64))
    fids.append(float(metrics.fid(f_real, f_fake)))
    k = metrics.kid(f_real, f_fake, subsets=10, subset_size=400)
    kids.append(k.mean)
    kid_std.append(k.std)

# %%
# At level 0 the two halves are real digits: FID and KID measure only the difference between
# two finite samples, and a light blur stays within it. Past that, both rise steeply as the
# digits lose their shape.

fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
ax[0].plot(levels, fids, "o-")
ax[0].set(xlabel="degradation level", ylabel="FID", title="FID (digits features)")
ax[1].errorbar(levels, kids, yerr=kid_std, fmt="o-", capsize=3)
ax[1].set(xlabel="degradation level", ylabel="KID", title="KID (mean ± std over subsets)")
fig.tight_layout()
plt.show()

# %%
# What the levels look like:

fig, axes = plt.subplots(1, len(levels), figsize=(9, 1.8))
for ax, level in zip(axes, levels):
    ax.imshow(degrade(other[:1], level)[0], cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"{level}", fontsize=9)
    ax.axis("off")
plt.show()

# %%
# :func:`metrics.evaluate` does it in one call, from the images to a report, with the
# FID's jackknife standard error and FID∞:

report = metrics.evaluate(
    real.reshape(-1, 64), degrade(other, 0.5).reshape(-1, 64), metrics=["fid"], features="digits"
)
print(report.table())
