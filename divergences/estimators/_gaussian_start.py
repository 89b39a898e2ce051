"""The Gaussian start of the kNN estimators (private): frames and Gaussian ball masses.

A k-NN density estimate reads the probability of the ball to the k-th neighbour,
``P(B(x, ρ_k)) ~ Beta(k, N − k + 1)`` whatever the density, as ``p(x)·V_d ρ^d``: exact only
if p is flat over the ball. With a parametric start g (Hjort & Glad 1995) it is read as
``(p/g)(x)·G(B(x, ρ_k))`` instead, exact when p/g is flat. For g the Gaussian with the
sample's mean and covariance, ``G(B)`` is a noncentral χ² CDF in whitened coordinates:
``G(B(x, ρ)) = F_{χ²_d(λ)}(ρ²)`` with ``λ = ‖L⁻¹(x − μ)‖²`` and balls in the Mahalanobis
metric of that covariance. The estimators only see the *log mass relative to g*,
``log G(B) − log g(x)``, which tends to ``log V_d + d log ρ`` as the ball shrinks.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy.special import chndtr, gammainc, gammaln, logsumexp

__all__ = ["Frame", "fit_frame", "log_mass_ratio", "log_ncx2_cdf"]

# chndtr keeps full relative precision down to the smallest normal doubles; below this the
# CDF is summed in the log domain.
_TINY = 1e-280


class Frame(NamedTuple):
    """A fitted Gaussian: its mean and the Cholesky factor of its covariance (float64)."""

    mean: torch.Tensor  # (D,)
    chol: torch.Tensor  # (D, D), lower
    log_det: float  # log |Σ|^{1/2} = Σ log diag(L)

    def whiten(self, t: torch.Tensor) -> torch.Tensor:
        """``L⁻¹(t − μ)`` row-wise, float64 on the frame's device."""
        z = (t.to(self.mean) - self.mean).T
        return torch.linalg.solve_triangular(self.chol, z, upper=False).T.contiguous()


def fit_frame(t: torch.Tensor, name: str) -> Frame:
    """Sample mean and (N − 1) covariance of ``t`` (N, D) in float64, or a clear error."""
    n, d = t.shape
    if n <= d + 1:
        raise ValueError(
            f"base='gaussian' needs more samples than dimensions + 1 in {name} to fit its "
            f"covariance; got {n} samples in dimension {d}"
        )
    t64 = t.detach().to(torch.float64)
    mean = t64.mean(0)
    c = t64 - mean
    cov = c.T @ c / (n - 1)
    scale = cov.diagonal().sqrt()
    corr_chol, info = torch.linalg.cholesky_ex(cov / scale[:, None] / scale[None, :])
    chol = scale[:, None] * corr_chol
    # a pivot² of the correlation matrix below 1e-10: numerically dependent features
    if int(info) != 0 or not bool(corr_chol.diagonal().min() ** 2 > 1e-10):
        raise ValueError(
            f"the covariance of {name} is singular (linearly dependent features); "
            "base='gaussian' needs a full-rank covariance: drop redundant features or use "
            "base='none'"
        )
    return Frame(mean, chol, float(chol.diagonal().log().sum()))


def _log_gammainc_small(a: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Log P(a, z) by the series ``z^a e^{−z}/Γ(a+1) · Σ_n z^n/((a+1)…(a+n))`` (any z ≥ 0)."""
    with np.errstate(divide="ignore"):
        lead = a * np.log(z) - z - gammaln(a + 1)
    term = np.ones_like(z)
    total = np.ones_like(z)
    n_terms = int(np.ceil(np.max(z, initial=0.0) * 2 + 60))
    for n in range(1, n_terms + 1):
        term = term * z / (a + n)
        total = total + term
        if np.all(term <= 1e-17 * total):
            break
    return lead + np.log(total)


def _log_mixture(xs: np.ndarray, lam: np.ndarray, df: int) -> np.ndarray:
    """``log Σ_j e^{−λ}λ^j/j! · P(df/2 + j, xs)`` (half-scaled arguments), in the log domain."""
    j_max = int(np.ceil(np.max(lam) + 12 * np.sqrt(np.max(lam)) + 40))
    j = np.arange(j_max + 1, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pois = -lam + j * np.log(lam) - gammaln(j + 1)
    log_pois[0] = -lam  # 0·log 0 = 0 when λ = 0
    a = df / 2 + j
    p = gammainc(a, xs)
    with np.errstate(divide="ignore"):
        log_p = np.where(p > _TINY, np.log(np.maximum(p, _TINY)), 0.0)
    rows, cols = np.nonzero(p <= _TINY)
    if rows.size:
        log_p[rows, cols] = _log_gammainc_small(a[rows, 0], xs[cols])
    return logsumexp(log_pois + log_p, axis=0)


def log_ncx2_cdf(x: np.ndarray, df: int, nc: np.ndarray) -> np.ndarray:
    """``log P(χ²_df(nc) ≤ x)`` elementwise, accurate where the CDF underflows.

    ``chndtr`` (scipy, Boost's algorithm) where the CDF exceeds 1e-280; below, the Poisson
    mixture ``Σ_j e^{−λ/2}(λ/2)^j/j! · P(df/2 + j, x/2)`` summed in the log domain.
    """
    x, nc = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(nc, np.float64))
    cdf = chndtr(x, df, nc)
    out = np.empty(x.shape, dtype=np.float64)
    big = cdf > _TINY
    out[big] = np.log(cdf[big])
    small = np.flatnonzero(~big.ravel())
    flat = out.reshape(-1)
    step = 4096  # columns per block: the (terms, columns) table stays bounded
    for s in range(0, small.size, step):
        idx = small[s : s + step]
        flat[idx] = _log_mixture(x.reshape(-1)[idx] / 2, nc.reshape(-1)[idx] / 2, df)
    return out


def log_mass_ratio(dist: torch.Tensor, white: torch.Tensor, frame: Frame) -> torch.Tensor:
    """``log G(B(x_i, r_ij)) − log g(x_i)`` for distances (N, K) measured in the frame.

    ``white`` (N, D) holds the whitened points ``L⁻¹(x_i − μ)``; g is the frame's density in
    the original coordinates, hence the ``log |Σ|^{1/2}``. Returns float64 (N, K) on the
    device of ``dist``; as r → 0 it tends to ``log V_d + d log r + log |Σ|^{1/2}``, the log
    Lebesgue volume of the Mahalanobis ball.
    """
    d = white.shape[1]
    r = dist.detach().to(torch.float64).cpu().numpy()
    nc = (white.detach().to(torch.float64) ** 2).sum(1).cpu().numpy()
    log_g = -0.5 * nc - 0.5 * d * math.log(2 * math.pi)
    out = log_ncx2_cdf(r**2, d, nc[:, None]) - log_g[:, None] + frame.log_det
    return torch.from_numpy(out).to(dist.device)
