"""Exact tiled ball tests: how many balls ``B(c_j, r_j)`` contain each query ``q_i`` (``<=``).

Never materialises the ``N × M`` distance matrix: squared distances are computed tile by tile
as ``|q|² + |c|² - 2 q·c`` on centred data in the working dtype (float32 or float64); entries
whose comparison with ``r²`` is within a rigorous rounding bound of the boundary are recomputed
exactly in float64 from the coordinates and compared as ``sqrt(sum (q - c)²) <= r`` — the same
formula that produced the radii, so ties (duplicates, a point exactly on a sphere) are decided
consistently and the ``<=`` convention holds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_TILE_ROWS = 1024
_TILE_ENTRIES = 1 << 22  # entries of one distance tile
_PAIR_ENTRIES = 1 << 17  # float64 scalars gathered at once: cache-sized, no page faults


def exact_distances(
    a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor | None = None, ib: torch.Tensor | None = None
) -> torch.Tensor:
    """Float64 ``||a[ia_p] - b[ib_p]||`` for index pairs.

    ``||a[ia_p] - b[ib_p]||`` for index pairs (default: paired rows), in float64, gathered in
    bounded chunks (the one exact formula used for radii and ball tests alike).
    """
    n = a.shape[0] if ia is None else ia.shape[0]
    out = torch.empty(n, dtype=torch.float64, device=a.device)
    step = max(1, _PAIR_ENTRIES // max(1, a.shape[1]))
    for lo in range(0, n, step):
        ra = a[lo : lo + step] if ia is None else a[ia[lo : lo + step]]
        rb = b[lo : lo + step] if ib is None else b[ib[lo : lo + step]]
        out[lo : lo + step] = (ra.double() - rb.double()).square_().sum(1).sqrt_()
    return out


@dataclass
class BallTest:
    """One test over the tile sweep: radii per centre (``per="center"``) or per query."""

    radii: torch.Tensor  # float64, (M,) or (N,)
    per: str  # "center" | "query"
    count: bool  # True: count the balls; False: only whether any ball contains the query


def _augment(
    z: torch.Tensor, centre: torch.Tensor, query: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 augmented rows whose products are squared distances.

    float32 rows ``[z, |z|², 1]`` (queries) or ``[-2z, 1, |z|²]`` (centres) of the centred
    points, so one product gives ``|q|² + |c|² - 2 q·c``; also the float64 ``|z|²``.
    """
    zc = z.double() - centre
    nz = (zc * zc).sum(1)
    one = torch.ones_like(nz)
    cols = [zc, nz[:, None], one[:, None]] if query else [-2 * zc, one[:, None], nz[:, None]]
    return torch.cat(cols, 1).to(torch.float32), nz


def ball_tests(q: torch.Tensor, c: torch.Tensor, tests: list[BallTest]) -> list[torch.Tensor]:
    """For each test, the number of centres whose ball holds it.

    For each test, int64 ``(N,)``: number of ``j`` with ``||q_i - c_j|| <= r`` (or, for
    ``count=False``, a value > 0 iff there is one). ``q`` (N, D) and ``c`` (M, D) are the exact
    coordinates (any float dtype, same device).

    Squared distances come from one float32 product of augmented rows; with
    ``u = 2^-24`` their error is at most ``2 (D + 10) u (|q|² + |c|²)`` (the dot-product bound
    ``γ_{D+2} Σ|a_k b_k|`` plus input rounding), so entries farther than that from ``r²`` are
    decided in float32 and the rest exactly in float64.
    """
    u = torch.finfo(torch.float32).eps / 2
    centre = c.double().mean(0)
    n, m = q.shape[0], c.shape[0]
    c_aug, c_norm = _augment(c, centre, query=False)
    slack = 2 * (q.shape[1] + 10) * u
    outs = [torch.zeros(n, dtype=torch.int64, device=q.device) for _ in tests]
    tq = min(n, _TILE_ROWS)
    tc = max(1, min(m, _TILE_ENTRIES // tq))
    for q0 in range(0, n, tq):
        q_aug, q_norm = _augment(q[q0 : q0 + tq], centre, query=True)
        q_max = float(q_norm.max())
        for c0 in range(0, m, tc):
            s = q_aug @ c_aug[c0 : c0 + tc].T
            base = slack * (q_max + c_norm[c0 : c0 + tc])[None, :]
            for t, out in zip(tests, outs):
                _tile_test(t, out[q0 : q0 + tq], s, base, q, c, q0, c0, u)
            if all(not t.count for t in tests) and all(
                bool((o[q0 : q0 + tq] > 0).all()) for o in outs
            ):
                break
    return outs


def _exact_hits(t: BallTest, cand: torch.Tensor, rows: torch.Tensor, q, c, q0: int, c0: int):
    """Query indices of the candidate entries inside their ball.

    Query indices (tile-relative, repeated per hit) of the candidate entries that are inside
    their ball by the exact float64 formula; ``cand`` is a bool ``(len(rows), tc)`` mask.
    """
    ri, cj = cand.nonzero(as_tuple=True)
    qi = rows[ri]
    dist = exact_distances(q, c, q0 + qi, c0 + cj)
    rad = t.radii[c0 + cj] if t.per == "center" else t.radii[q0 + qi]
    return qi[dist <= rad]


def _tile_test(t: BallTest, out, s, base, q, c, q0: int, c0: int, u: float) -> None:
    """Add this tile's contribution to ``out`` (see :func:`ball_tests`)."""
    tq, tc = s.shape
    if t.per == "center":
        r2 = t.radii[c0 : c0 + tc].square()[None, :]
        tol = (base + 8 * u * r2).to(s.dtype)  # (1, tc); 8u r²: rounding of r² and of s - r²
        diff = s - r2.to(s.dtype)
    else:
        r2 = t.radii[q0 : q0 + tq].square()[:, None]
        tol = (base.max() + 8 * u * r2).to(s.dtype)  # (tq, 1), conservative over the tile
        diff = s.amin(1, keepdim=True) - r2.to(s.dtype)  # (tq, 1): nearest centre only
    if t.count:
        ones = diff.new_ones(diff.shape[1], 1)
        n_lo = ((diff <= -tol).to(s.dtype) @ ones).squeeze(1)
        n_hi = ((diff <= tol).to(s.dtype) @ ones).squeeze(1)
        out += n_lo.round().long()
        rows = (n_hi > n_lo).nonzero().squeeze(1)
        if rows.numel():
            d, tl = diff[rows], tol if tol.shape[0] == 1 else tol[rows]
            qi = _exact_hits(t, (d > -tl) & (d <= tl), rows, q, c, q0, c0)
            out.index_add_(0, qi, torch.ones_like(qi))
        return
    m = diff.amin(1)
    tmax = tol.amax() if t.per == "center" else tol.squeeze(1)
    out += (m <= -tmax).long()
    rows = ((m > -tmax) & (m <= tmax) & (out == 0)).nonzero().squeeze(1)
    if rows.numel():
        if t.per == "center":
            cand = diff[rows] <= tol
        else:
            cand = s[rows] <= (r2[rows] + tol[rows]).to(s.dtype)
        qi = _exact_hits(t, cand, rows, q, c, q0, c0)
        out.index_add_(0, qi, torch.ones_like(qi))
