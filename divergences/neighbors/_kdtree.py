"""The kd-tree engine (scipy's cKDTree, float64 copies, one tree per set), for low dimension.

Behind :func:`divergences.neighbors.engine.knn`; inputs are already validated.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_numpy64(t: torch.Tensor) -> np.ndarray:
    """A float64 NumPy view or copy (NumPy converts; no multi-threaded torch pass)."""
    t = t.detach()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t.cpu().numpy().astype(np.float64, copy=False)


def _order_ties(d: np.ndarray, i: np.ndarray) -> None:
    """In place: rows where equal distances are not listed by increasing index get sorted."""
    bad = ((d[:, 1:] == d[:, :-1]) & (i[:, 1:] < i[:, :-1])).any(1)
    if bad.any():
        r = np.flatnonzero(bad)
        o = np.lexsort((i[r], d[r]), axis=-1)
        d[r] = np.take_along_axis(d[r], o, 1)
        i[r] = np.take_along_axis(i[r], o, 1)


def kdtree(
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    p: float,
    exclude_self: bool,
    x_len: list[int],
    y_len: list[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scipy cKDTree (torch's thread count) on float64 copies, one tree per set.

    cKDTree's distances are exact float64 distances of the (float64-converted) coordinates
    while their squares stay in the normal range (the caller rescales the data and re-solves
    rows below :func:`resolution_floor`), so they are returned as they are (float32 for
    float32 inputs, float64 otherwise). Returns ``(dist, idx)``, each (B, N, k), sorted by
    (distance, index).
    """
    from scipy.spatial import cKDTree

    B, N, _ = x.shape
    out_dt = np.float32 if x.dtype == torch.float32 else np.float64
    dist = np.full((B, N, k), np.inf, dtype=out_dt)
    out = np.full((B, N, k), -1, dtype=np.int64)
    kq = k + 1 if exclude_self else k
    workers = torch.get_num_threads()  # the thread budget the user gave torch, as elsewhere
    for b in range(B):
        xb = _as_numpy64(x[b, : x_len[b]])
        same = exclude_self or (y is x and y_len[b] == x_len[b])  # exclude_self: equal sets
        yb = xb if same else _as_numpy64(y[b, : y_len[b]])
        tree = cKDTree(yb, balanced_tree=False, compact_nodes=False)  # cheaper build, same queries
        db, ib = tree.query(xb, k=kq, p=p, workers=workers)
        if kq == 1:
            db, ib = db[:, None], ib[:, None]
        ib = ib.astype(np.int64, copy=False)
        if exclude_self:
            # drop the index i itself (not merely a zero distance: duplicates are kept);
            # when i is not among the k + 1 found, every one of them is at least as close,
            # so drop the last
            rows = np.arange(ib.shape[0])
            is_self = ib == rows[:, None]
            drop = np.where(is_self.any(1), is_self.argmax(1), kq - 1)
            keep = np.ones_like(ib, dtype=bool)
            keep[rows, drop] = False
            ib = ib[keep].reshape(ib.shape[0], k)
            db = db[keep].reshape(ib.shape[0], k)
        if k > 1:
            _order_ties(db, ib)
        dist[b, : x_len[b]] = db
        out[b, : x_len[b]] = ib
    return torch.from_numpy(dist), torch.from_numpy(out)


def kdtree_both(
    x: torch.Tensor, y: torch.Tensor, p: float, x_len: list[int], y_len: list[int]
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Nearest neighbour of each x in y and of each y in x, from one tree per set.

    Each set is queried in the leaf order of its own tree (built anyway for the other
    direction), so consecutive queries walk the same branches; the answers are put back in
    the caller's order. Same distances, indices and dtypes as two :func:`kdtree` calls.
    """
    from scipy.spatial import cKDTree

    B = x.shape[0]
    out_dt = np.float32 if x.dtype == torch.float32 else np.float64
    workers = torch.get_num_threads()
    res = []
    for n_max in (x.shape[1], y.shape[1]):
        res.append((np.full((B, n_max, 1), np.inf, out_dt), np.full((B, n_max, 1), -1, np.int64)))
    for b in range(B):
        pts = (_as_numpy64(x[b, : x_len[b]]), _as_numpy64(y[b, : y_len[b]]))
        trees = [cKDTree(a, balanced_tree=False, compact_nodes=False) for a in pts]
        for side, (dist, idx) in enumerate(res):
            q, order, other = pts[side], trees[side].indices, trees[1 - side]
            d, i = other.query(q[order], k=1, p=p, workers=workers)
            dist[b, order, 0] = d
            idx[b, order, 0] = i
    return tuple((torch.from_numpy(d), torch.from_numpy(i)) for d, i in res)  # type: ignore[return-value]
