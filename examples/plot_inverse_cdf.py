"""
Sampling by the inverse CDF
===========================

In one dimension every law is the image of uniform noise under its quantile function:
``X = F⁻¹(U)`` with ``U`` uniform on (0, 1). :func:`divergences.inverse_cdf_sample` draws
samples from a quantile function (``ppf=``) or by numerically inverting a CDF (``cdf=``), and
:func:`divergences.empirical_quantile_sample` resamples data through its empirical quantile
function. Each takes an explicit ``torch.Generator``.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import stats

import divergences as dv

g = torch.Generator().manual_seed(0)
n = 5000

# a quantile function in closed form
student = stats.t(3)
x_t = dv.inverse_cdf_sample(n, ppf=student.ppf, generator=g)

# only a CDF: numerical inversion on the support
gamma = stats.gamma(2)
x_gamma = dv.inverse_cdf_sample(n, cdf=gamma.cdf, support=(0, np.inf), generator=g)


# a mixture has a CDF but no quantile function in closed form
def mixture_cdf(x):
    """CDF of 0.3 N(-2, 0.5²) + 0.7 N(1, 1)."""
    return 0.3 * stats.norm.cdf(x, -2, 0.5) + 0.7 * stats.norm.cdf(x, 1, 1)


def mixture_pdf(x):
    """Its density."""
    return 0.3 * stats.norm.pdf(x, -2, 0.5) + 0.7 * stats.norm.pdf(x, 1, 1)


x_mix = dv.inverse_cdf_sample(n, cdf=mixture_cdf, generator=g)

# resample the mixture's samples through their empirical quantile function
x_emp = dv.empirical_quantile_sample(x_mix, n, generator=g)

# %%
# Histograms of the samples against the densities:

fig, axes = plt.subplots(1, 4, figsize=(12, 3))
grids = [np.linspace(-6, 6, 400), np.linspace(0, 10, 400), np.linspace(-4, 5, 400)]
cases = [
    ("Student t(3), from ppf", x_t, student.pdf, grids[0], (-6, 6)),
    ("Gamma(2), from cdf", x_gamma, gamma.pdf, grids[1], (0, 10)),
    ("mixture, from cdf", x_mix, mixture_pdf, grids[2], (-4, 5)),
    ("mixture, empirical quantiles", x_emp, mixture_pdf, grids[2], (-4, 5)),
]
for ax, (title, x, pdf, grid, span) in zip(axes, cases):
    ax.hist(x, bins=60, range=span, density=True, color="0.75")
    ax.plot(grid, pdf(grid), "C0")
    ax.set_title(title, fontsize=9)
fig.tight_layout()
plt.show()

# %%
# A Kolmogorov–Smirnov test finds no difference from the target laws:

print(f"t(3):    KS p = {stats.kstest(x_t, student.cdf).pvalue:.2f}")
print(f"Gamma:   KS p = {stats.kstest(x_gamma, gamma.cdf).pvalue:.2f}")
print(f"mixture: KS p = {stats.kstest(x_mix, mixture_cdf).pvalue:.2f}")
