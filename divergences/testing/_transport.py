"""Wasserstein statistics of every relabelling from the pooled sample sorted once (private).

In one dimension ``W_p^p = ∫ |F_x^{-1} − F_y^{-1}|^p`` depends on the two sorted samples
only; with the pooled sample sorted once, the sorted samples of a relabelling are the pooled
values where its mask is True (False), in order: a masked selection, no sort. The merged
quantile grid depends on the sizes ``n``, ``m`` alone, so it is built once. The sliced
distance does the same on each projection (:func:`divergences.wasserstein`,
``method="sliced"``, with its default directions). ``"assignment"`` (``n = m``) computes the
pooled cost matrix once and solves one assignment per relabelling on its ``n × n`` block.
"""

from __future__ import annotations

import torch

from divergences._pairwise import cost_matrix
from divergences.transport._exact1d import directions

Tensor = torch.Tensor

__all__ = ["assignment_table", "sliced_table"]

_CHUNK = 1 << 24  # (labellings × projections × points) entries per step


def _grid(n: int, m: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor | None]:
    """Indices into the sorted samples on the merged quantile pieces, and the piece lengths."""
    if n == m:
        i = torch.arange(n, device=device)
        return i, i, None
    cu = torch.arange(1, n + 1, dtype=torch.float64, device=device) / n
    cv = torch.arange(1, m + 1, dtype=torch.float64, device=device) / m
    t = torch.sort(torch.cat([cu, cv])).values
    dt = torch.diff(t, prepend=torch.zeros(1, dtype=torch.float64, device=device))
    ju = torch.searchsorted(cu, t).clamp_max(n - 1)
    jv = torch.searchsorted(cv, t).clamp_max(m - 1)
    return ju, jv, dt


def sliced_table(w: Tensor, labels: Tensor, *, p: float, n_projections: int | None) -> Tensor:
    """``(C,)`` ``W_p`` (one dimension) or sliced ``W_p`` of each labelling, float64.

    ``n_projections=None`` means the data are one-dimensional (no projection).
    """
    n_pts = w.shape[0]
    n = int(labels[0].sum())
    m = n_pts - n
    if n_projections is None:
        proj = w.to(torch.float64)  # (N, 1)
    else:
        theta = directions(n_projections, w.shape[1], None, w).to(torch.float64)
        proj = w.to(torch.float64) @ theta.T  # (N, P)
    vals, order = torch.sort(proj.T, dim=1)  # (P, N)
    n_proj = vals.shape[0]
    ju, jv, dt = _grid(n, m, w.device)
    out = torch.empty(labels.shape[0], dtype=torch.float64, device=w.device)
    step = max(1, _CHUNK // (n_pts * n_proj))
    for c0 in range(0, labels.shape[0], step):
        lab = labels[c0 : c0 + step]
        c = lab.shape[0]
        mask = lab[:, order]  # (c, P, N) in each projection's sorted order
        v = vals.expand(c, n_proj, n_pts)
        xs = v[mask].view(c, n_proj, n)
        ys = v[~mask].view(c, n_proj, m)
        gap = (xs[..., ju] - ys[..., jv]).abs().pow(p)
        wpp = gap.mean(-1) if dt is None else (gap * dt).sum(-1)
        out[c0 : c0 + c] = wpp.mean(-1).clamp_min(0.0) ** (1.0 / p)
    return out


def assignment_table(w: Tensor, labels: Tensor, *, p: float) -> Tensor:
    """``(C,)`` exact ``W_p`` of each labelling (equal sizes) by optimal assignment."""
    from scipy.optimize import linear_sum_assignment  # lazy, as in divergences.transport

    cost = cost_matrix(w.to(torch.float64), w.to(torch.float64), p).cpu().numpy()
    lab = labels.cpu().numpy()
    out = torch.empty(labels.shape[0], dtype=torch.float64)
    for r in range(lab.shape[0]):
        block = cost[lab[r]][:, ~lab[r]]
        i, j = linear_sum_assignment(block)
        out[r] = float(block[i, j].mean()) ** (1.0 / p)
    return out.to(w.device)
