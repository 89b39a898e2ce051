"""
Precision, recall, density and coverage
=======================================

FID mixes two failures into one number: samples that do not look real (fidelity) and parts of
the data the generator never produces (diversity). Improved precision and recall (Kynkäänniemi
et al. 2019) and density and coverage (Naeem et al. 2020) separate them, from k-nearest-
neighbour balls around the real and generated features.

The "real" data here are a 2-D Gaussian, and four "generators" fail in different ways.
"""

import matplotlib.pyplot as plt
import numpy as np

import metrics

rng = np.random.default_rng(0)
real = rng.normal(size=(1000, 2))
fakes = {
    "good": rng.normal(size=(1000, 2)),
    "collapsed (0.4×)": 0.4 * rng.normal(size=(1000, 2)),
    "too spread (2×)": 2.0 * rng.normal(size=(1000, 2)),
    "shifted": rng.normal(size=(1000, 2)) + np.array([2.5, 0.0]),
}
scores = {name: metrics.prdc(real, fake, k=5) for name, fake in fakes.items()}

# %%
# The collapsed generator keeps its precision but loses recall and coverage; the spread one
# keeps recall but loses precision and density; the shifted one loses all four.

fig, axes = plt.subplots(1, 5, figsize=(14, 3), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.6]})
for ax, (name, fake) in zip(axes, fakes.items()):
    ax.scatter(*real.T, s=2, alpha=0.4, label="real")
    ax.scatter(*fake.T, s=2, alpha=0.4, label="generated")
    ax.set(title=name, xlim=(-6, 6), ylim=(-6, 6), aspect="equal")
    ax.set_xticks([])
    ax.set_yticks([])
names = ["precision", "recall", "density", "coverage"]
width = 0.2
for i, (label, s) in enumerate(scores.items()):
    axes[-1].bar(
        np.arange(4) + (i - 1.5) * width, [getattr(s, n) for n in names], width, label=label
    )
axes[-1].set_xticks(np.arange(4), names, fontsize=8)
axes[-1].set_ylim(0, 1.4)
axes[-1].legend(fontsize=7, ncol=2, loc="upper center")
fig.tight_layout()
plt.show()

for name, s in scores.items():
    print(f"{name:18s} " + "  ".join(f"{n} {getattr(s, n):.3f}" for n in names))
