"""Statistics of every relabelling from one neighbour graph of the pooled sample (private).

* Schilling–Henze: the fraction of the ``k`` nearest neighbours (in the pooled sample, self
  excluded) that carry their point's label. Under a relabelling only the labels change, so
  the graph from :func:`divergences.knn` is computed once.
* Chamfer: each point's distance to the nearest point of the other label, averaged per label
  and summed (:func:`divergences.chamfer`). The pooled ``K``-nearest-neighbour lists give it
  for every point that has a point of the other label among its ``K`` neighbours; the others
  are computed exactly from the coordinates.
"""

from __future__ import annotations

import math

import torch

from divergences.neighbors import knn

Tensor = torch.Tensor

__all__ = ["chamfer_table", "knn_table"]

_CHUNK = 1 << 24  # (labellings × points × neighbours) entries per step


def knn_table(w: Tensor, labels: Tensor, *, k: int, p: float) -> Tensor:
    """``(C,)`` Schilling's statistic ``T_k`` for each labelling (float64)."""
    _, idx = knn(w, w, k, p=p, exclude_self=True)
    n_pts = w.shape[0]
    out = torch.empty(labels.shape[0], dtype=torch.float64, device=w.device)
    step = max(1, _CHUNK // (n_pts * k))
    for c0 in range(0, labels.shape[0], step):
        lab = labels[c0 : c0 + step]
        same = lab[:, idx] == lab.unsqueeze(-1)
        out[c0 : c0 + step] = same.sum((1, 2), dtype=torch.float64) / (n_pts * k)
    return out


def _neighbours(n: int, m: int) -> int:
    """List length so that a point lacks the other label among them with chance < 1e-3."""
    rare = min(n, m) / (n + m)
    want = math.ceil(math.log(1e-3) / math.log1p(-rare)) if rare < 1 else 1
    return max(1, min(n + m - 1, want, 64))


def _fill_exact(d: Tensor, w: Tensor, lab: Tensor, missing: Tensor, p: float) -> None:
    """Distances to the other label, from the coordinates, for the ``missing`` points."""
    for val in (True, False):
        rows = (missing & (lab == val)).nonzero().flatten()
        if rows.numel() == 0:
            continue
        opp = w[lab != val]
        step = max(1, (1 << 22) // opp.shape[0])
        for i in range(0, rows.numel(), step):
            r = rows[i : i + step]
            exact = torch.cdist(w[r], opp, p=p, compute_mode="donot_use_mm_for_euclid_dist")
            d[r] = exact.amin(1).to(torch.float64)


def chamfer_table(w: Tensor, labels: Tensor, *, p: float, squared: bool, reduction: str) -> Tensor:
    """``(C,)`` symmetric Chamfer distance between the two label classes of each labelling."""
    n_pts = w.shape[0]
    n = int(labels[0].sum())
    m = n_pts - n
    kk = _neighbours(n, m)
    dist, idx = knn(w, w, kk, p=p, exclude_self=True)
    dist = dist.to(torch.float64)
    out = torch.empty(labels.shape[0], dtype=torch.float64, device=w.device)
    step = max(1, _CHUNK // (n_pts * kk))
    for c0 in range(0, labels.shape[0], step):
        lab = labels[c0 : c0 + step]
        other = lab[:, idx] != lab.unsqueeze(-1)  # (c, N, kk)
        has = other.any(-1)
        first = other.to(torch.uint8).argmax(-1)
        d = torch.gather(dist.expand(lab.shape[0], -1, -1), 2, first.unsqueeze(-1)).squeeze(-1)
        for r in (~has).any(1).nonzero().flatten().tolist():
            _fill_exact(d[r], w, lab[r], ~has[r], p)
        if squared:
            d = d.square()
        lab64 = lab.to(torch.float64)
        sx = (d * lab64).sum(1)
        sy = (d * (1.0 - lab64)).sum(1)
        out[c0 : c0 + step] = sx + sy if reduction == "sum" else sx / n + sy / m
    return out
