"""
The Jensen–Shannon divergence read from a discriminator
=======================================================

A classifier ``D`` trained to tell samples of ``P`` (label 1) from samples of ``Q`` (label 0)
approaches ``D* = p / (p + q)``, and at that optimum

.. math:: \\mathrm{JS}(P, Q) = \\log 2 + \\tfrac12 \\mathbb{E}_P[\\log D]
   + \\tfrac12 \\mathbb{E}_Q[\\log(1 - D)].

For any other ``D`` the right-hand side is a lower bound. :func:`divergences.js_from_discriminator`
computes it from the discriminator's logits on held-out samples, with a standard error. This is
how a GAN's discriminator measures the generator during training.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import stats

import divergences as dv

torch.manual_seed(0)
p, q = stats.norm(0.0, 1.0), stats.norm(1.5, 0.6)
truth = dv.f_divergence_1d(p.pdf, q.pdf, "js").value


def draw(law, n, seed):
    return torch.tensor(law.rvs(size=(n, 1), random_state=seed), dtype=torch.float32)


x_train, y_train = draw(p, 1000, 1), draw(q, 1000, 2)
x_test, y_test = draw(p, 1000, 3), draw(q, 1000, 4)

d = torch.nn.Sequential(
    torch.nn.Linear(1, 32),
    torch.nn.ReLU(),
    torch.nn.Linear(32, 32),
    torch.nn.ReLU(),
    torch.nn.Linear(32, 1),
    torch.nn.Flatten(0),
)
opt = torch.optim.Adam(d.parameters(), lr=1e-2)
bce = torch.nn.BCEWithLogitsLoss()
steps, curve = [], []
for step in range(201):
    if step % 20 == 0:
        with torch.no_grad():
            steps.append(step)
            curve.append(dv.js_from_discriminator(d(x_test), d(y_test)))
    loss = bce(d(x_train), torch.ones(1000)) + bce(d(y_train), torch.zeros(1000))
    opt.zero_grad()
    loss.backward()
    opt.step()

# %%
# The estimate rises towards the true JS (quadrature on the two densities) as the
# discriminator improves, and never crosses it by more than its error bar.

values = np.array([e.value for e in curve])
errors = np.array([e.stderr for e in curve])
t = np.linspace(-3, 4, 400)
with torch.no_grad():
    learned = torch.sigmoid(d(torch.tensor(t, dtype=torch.float32)[:, None])).numpy()
fig, ax = plt.subplots(1, 2, figsize=(9, 3.3))
ax[0].errorbar(steps, values, yerr=2 * errors, fmt="o-", ms=3, capsize=2, label="from D ± 2 se")
ax[0].axhline(truth, color="k", ls="--", label=f"true JS = {truth:.3f}")
ax[0].set(xlabel="discriminator steps", ylabel="nats", title="JS from the discriminator")
ax[0].legend()
ax[1].plot(t, p.pdf(t) / (p.pdf(t) + q.pdf(t)), "k--", label="optimal D* = p/(p+q)")
ax[1].plot(t, learned, label="learned D")
ax[1].set(xlabel="x", title="the discriminator")
ax[1].legend()
fig.tight_layout()
plt.show()

print(curve[-1])
