"""Independent float64 oracles for the metrics tests (NumPy/SciPy, written from the papers)."""

from __future__ import annotations

import numpy as np
import scipy.linalg


def fid_sqrtm(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook pytorch-fid route: np.cov (unbiased) and scipy.linalg.sqrtm."""
    m1, m2 = x.mean(0), y.mean(0)
    c1, c2 = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    root = scipy.linalg.sqrtm(c1 @ c2)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root).real)


def fid_nuclear(x: np.ndarray, y: np.ndarray) -> float:
    """FID via tr (Σ1Σ2)^½ = nuclear norm of Yc Xcᵀ / sqrt((n-1)(m-1)) (exact for n < d)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    n, m = len(x), len(y)
    s = np.linalg.svd(yc @ xc.T / np.sqrt((n - 1) * (m - 1)), compute_uv=False)
    tr1 = (xc**2).sum() / (n - 1)
    tr2 = (yc**2).sum() / (m - 1)
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + tr1 + tr2 - 2 * s.sum())


def mmd2_poly_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3) -> float:
    """Unbiased MMD² with k(a, b) = (a·b/d + 1)^degree, dense float64 (Gretton et al. 2012)."""
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** degree for a, b in ((x, x), (y, y), (x, y)))
    n, m = len(x), len(y)
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


def inception_score_splits(p: np.ndarray, splits: int) -> np.ndarray:
    """IS per split of probabilities p (N, C), splits as numpy.array_split (Salimans 2016)."""
    out = []
    for part in np.array_split(p, splits):
        py = part.mean(0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0)
        out.append(np.exp(terms.sum(1).mean()))
    return np.array(out)


def prdc_dense(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict:
    """Dense brute-force precision/recall/density/coverage with closed balls (<=)."""

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    drr, dff, dfr = dist(real, real), dist(fake, fake), dist(fake, real)
    np.fill_diagonal(drr, np.inf)
    np.fill_diagonal(dff, np.inf)
    r_pr = np.sort(drr, 1)[:, k_pr - 1]
    r_dc = np.sort(drr, 1)[:, k_dc - 1]
    f_pr = np.sort(dff, 1)[:, k_pr - 1]
    return {
        "precision": float((dfr <= r_pr[None, :]).any(1).mean()),
        "recall": float((dfr.T <= f_pr[None, :]).any(1).mean()),
        "density": float((dfr <= r_dc[None, :]).sum() / (k_dc * len(fake))),
        "coverage": float((dfr.min(0) <= r_dc).mean()),
    }
