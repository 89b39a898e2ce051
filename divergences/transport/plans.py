"""Transport plans you can look inside: sparse for exact transport, lazy for entropic transport.

A plan ``π`` (``N × M``, or ``B × N × M`` for a batch) is a linear operator: ``plan @ v``
(``Σ_j π_ij v_j``), ``plan.T @ u`` (``Σ_i π_ij u_i``), :meth:`~TransportPlan.row_argmax`, and
:meth:`~TransportPlan.dense` when it is small. An exact plan stores its nonzero entries
(:class:`SparsePlan`, at most ``N + M − 1`` per item); an entropic plan stores the potentials
and recomputes ``π_ij = a_i b_j exp((f_i + g_j − C_ij)/ε)`` block by block
(:class:`EntropicPlan`), so no ``N × M`` matrix exists beyond a ``tile × tile`` block.

Everything a plan returns is in the kind of the problem's inputs: tensors (the plan's dtype and
device) when x and y were tensors, NumPy arrays (float64) when they were NumPy arrays or lists;
operands of either kind are accepted. The plan is a fixed object: products with it are not
differentiated with respect to the points or weights (the transport cost is).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from divergences._validation import as_tensor, check_finite, check_positive_int
from divergences.transport._tiles import Pairs, apply, argmax_rows

Tensor = torch.Tensor

#: Largest number of entries :meth:`TransportPlan.dense` builds unless told otherwise
#: (2^24: 128 MiB in float64).
DENSE_MAX = 1 << 24


class TransportPlan:
    """Common interface of :class:`SparsePlan` and :class:`EntropicPlan` (not built directly).

    Attributes:
        shape: ``(N, M)``, or ``(B, N, M)`` for a batch.
        batched: whether the problem was a batch.
        dtype: dtype of the plan's entries (x's dtype; float64 for NumPy inputs).
        device: device of the plan's tensors.

    Example:
        >>> import divergences as dv
        >>> t = dv.transport([[0.0], [1.0]], [[0.2], [3.0]], method="sinkhorn", eps=0.1)
        >>> t.plan.shape, t.plan.row_argmax().tolist(), t.plan.T @ [1.0, 1.0]
        ((2, 2), [0, 1], array([0.5, 0.5]))
    """

    def __init__(self, shape: tuple[int, ...], batched: bool, dtype: torch.dtype, device: Any):
        self.shape = shape
        self.batched = batched
        self.dtype = dtype
        self.device = device
        self._is_numpy = False

    def _out(self, t: Tensor) -> Any:
        t = t if self.batched else t.squeeze(0)
        return t.detach().cpu().numpy() if self._is_numpy else t

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype})"

    # -- the operator -------------------------------------------------------------------
    def __matmul__(self, v: Any) -> Any:
        """``Σ_j π_ij v_j``: ``v`` of shape ``(M,)`` or ``(M, K)`` (``(B, M[, K])`` batched)."""
        vt, squeeze = self._operand(v, self.shape[-1])
        out = self._apply(vt)
        return self._out(out.squeeze(-1) if squeeze else out)

    @property
    def T(self) -> TransportPlan:
        """The transposed plan ``πᵀ`` (``M × N``), a view."""
        return self._transpose()

    def row_argmax(self) -> Any:
        """Column of the largest entry of each row, ``(N,)`` (``(B, N)``) int64; -1 on padding."""
        return self._out(self._argmax())

    def row_sums(self) -> Any:
        """``π 1``, shape ``(N,)`` (``(B, N)``): the first marginal of the plan."""
        ones = torch.ones(
            *self._batch_shape(), self.shape[-1], 1, dtype=self.dtype, device=self.device
        )
        return self._out(self._apply(ones).squeeze(-1))

    def dense(self, *, max_entries: int = DENSE_MAX) -> Any:
        """The plan as a dense tensor ``(N, M)`` (``(B, N, M)``), refused beyond ``max_entries``.

        Raises:
            ValueError: the plan has more than ``max_entries`` entries (default
                :data:`DENSE_MAX`); use the products, ``row_argmax`` or, for exact plans,
                ``to_sparse`` instead, or pass a larger ``max_entries`` explicitly.
        """
        max_entries = check_positive_int(max_entries, "max_entries")
        total = int(np.prod(self.shape))
        if total > max_entries:
            raise ValueError(
                f"plan.dense() would build {' x '.join(map(str, self.shape))} = {total} entries "
                f"> max_entries={max_entries}; use plan @ v, plan.T @ u, plan.row_argmax() or "
                "the record's barycentric_map(), or pass a larger max_entries"
            )
        return self._out(self._dense())

    # -- helpers -----------------------------------------------------------------------
    def _batch_shape(self) -> tuple[int, ...]:
        return (self.shape[0],) if self.batched else (1,)

    def _operand(self, v: Any, size: int) -> tuple[Tensor, bool]:
        """``v`` as ``(B, size, K)`` in the plan's dtype/device, and whether it had 1 column."""
        vt, is_np = as_tensor(v, "v")
        if not is_np and vt.device != torch.device(self.device):
            raise ValueError(f"v is on {vt.device} but the plan is on {self.device}; move it")
        check_finite(vt, "v")
        lead = 2 if self.batched else 1
        if (
            vt.ndim not in (lead, lead + 1)
            or vt.shape[lead - 1] != size
            or (self.batched and vt.shape[0] != self.shape[0])
        ):
            want = (
                f"({self.shape[0]}, {size}) or ({self.shape[0]}, {size}, K)"
                if self.batched
                else (f"({size},) or ({size}, K)")
            )
            raise ValueError(f"v must have shape {want} for this plan; got {tuple(vt.shape)}")
        squeeze = vt.ndim == lead
        if squeeze:
            vt = vt.unsqueeze(-1)
        if not self.batched:
            vt = vt.unsqueeze(0)
        return vt.detach().to(self.device, self.dtype), squeeze

    def _apply(self, v: Tensor) -> Tensor:
        raise NotImplementedError

    def _transpose(self) -> TransportPlan:
        raise NotImplementedError

    def _argmax(self) -> Tensor:
        raise NotImplementedError

    def _dense(self) -> Tensor:
        raise NotImplementedError


def _lengths_mask(lengths: list[int], n: int, device: Any) -> Tensor:
    return torch.arange(n, device=device).view(1, -1) < torch.tensor(lengths, device=device).view(
        -1, 1
    )


class EntropicPlan(TransportPlan):
    """``π_ij = exp(r_i + c_j − C_ij/ε)`` with ``r = log a + f/ε``, ``c = log b + g/ε``, lazily.

    Built by :func:`~divergences.transport.transport`; every operation visits the pairs in
    blocks of at most ``tile²`` entries (memory O(tile² + N + M)).
    """

    def __init__(self, xs, ys, log_a, log_b, fe, ge, inv_eps, p, tile, x_len, y_len, batched):
        b, n, m = xs.shape[0], xs.shape[1], ys.shape[1]
        super().__init__((b, n, m) if batched else (n, m), batched, xs.dtype, xs.device)
        self._xs, self._ys, self._log_a, self._log_b = xs, ys, log_a, log_b
        self._fe, self._ge = fe, ge  # f/ε and g/ε
        self._r, self._c = log_a + fe, log_b + ge
        self._inv_eps, self._p, self._tile = inv_eps, p, tile
        self._x_len, self._y_len = x_len, y_len

    def _pairs(self) -> Pairs:
        return Pairs(self._xs, self._ys, self._p, self._tile)

    def _apply(self, v: Tensor) -> Tensor:
        with torch.no_grad():
            return apply(self._pairs(), self._r, self._c, self._inv_eps, v)

    def _transpose(self) -> EntropicPlan:
        out = EntropicPlan(
            self._ys,
            self._xs,
            self._log_b,
            self._log_a,
            self._ge,
            self._fe,
            self._inv_eps,
            self._p,
            self._tile,
            self._y_len,
            self._x_len,
            self.batched,
        )
        out._is_numpy = self._is_numpy
        return out

    def conditional_apply(self, v: Tensor) -> Tensor:
        """``Σ_j π_ij v_j / Σ_j π_ij`` for ``v (B, M, K)``, also for rows of weight 0."""
        ones = torch.ones(*v.shape[:2], 1, dtype=v.dtype, device=v.device)
        with torch.no_grad():
            both = apply(self._pairs(), self._fe, self._c, self._inv_eps, torch.cat([v, ones], -1))
        return both[..., :-1] / both[..., -1:]

    def _argmax(self) -> Tensor:
        with torch.no_grad():
            idx = argmax_rows(self._pairs(), self._c, self._inv_eps)
        return idx.masked_fill(~_lengths_mask(self._x_len, idx.shape[1], idx.device), -1)

    def _dense(self) -> Tensor:
        b, n, m = self._xs.shape[0], self._xs.shape[1], self._ys.shape[1]
        out = torch.zeros(b, n, m, dtype=self.dtype, device=self.device)
        with torch.no_grad():
            for i0, i1, j0, j1, blk in self._pairs().blocks(self._r, self._c, self._inv_eps):
                out[:, i0:i1, j0:j1] = blk.exp_()
        return out


class SparsePlan(TransportPlan):
    """An exact plan: its nonzero entries ``(item, row, col, mass)`` (at most N + M − 1 per item).

    ``indices`` is ``(2, K)`` (rows, columns), or ``(3, K)`` (item, row, column) for a batch, and
    ``values`` the ``K`` masses, as in a COO sparse tensor (:meth:`to_sparse`).
    """

    def __init__(self, item, rows, cols, mass, idle_rows, idle_cols, shape3, batched, x_len, y_len):
        b, n, m = shape3
        super().__init__((b, n, m) if batched else (n, m), batched, mass.dtype, mass.device)
        self._item, self._rows, self._cols, self._mass = item, rows, cols, mass
        self._idle_rows, self._idle_cols = idle_rows, idle_cols
        self._x_len, self._y_len = x_len, y_len

    def _index(self) -> Tensor:
        parts = [self._item, self._rows, self._cols] if self.batched else [self._rows, self._cols]
        return torch.stack(parts)

    @property
    def indices(self) -> Any:
        """``(2, K)`` row and column indices, ``(3, K)`` with the item first for a batch."""
        idx = self._index()
        return idx.cpu().numpy() if self._is_numpy else idx

    @property
    def values(self) -> Any:
        """``(K,)`` masses of the entries listed by :attr:`indices`."""
        return self._mass.cpu().numpy() if self._is_numpy else self._mass

    def to_sparse(self) -> Tensor:
        """The plan as a coalesced ``torch.sparse_coo_tensor`` (a tensor for any inputs)."""
        return torch.sparse_coo_tensor(
            self._index(), self._mass, self.shape, check_invariants=True
        ).coalesce()

    def _apply(self, v: Tensor) -> Tensor:
        b, n = v.shape[0], self._idle_rows.shape[1]
        out = torch.zeros(b * n, v.shape[-1], dtype=v.dtype, device=v.device)
        src = v[self._item, self._cols] * self._mass.to(v.dtype).unsqueeze(-1)
        out.index_add_(0, self._item * n + self._rows, src)
        return out.view(b, n, -1)

    def _transpose(self) -> SparsePlan:
        b, n, m = self._idle_rows.shape[0], self._idle_rows.shape[1], self._idle_cols.shape[1]
        out = SparsePlan(
            self._item,
            self._cols,
            self._rows,
            self._mass,
            self._idle_cols,
            self._idle_rows,
            (b, m, n),
            self.batched,
            self._y_len,
            self._x_len,
        )
        out._is_numpy = self._is_numpy
        return out

    def _argmax(self) -> Tensor:
        n = self._idle_rows.shape[1]
        idx = self._idle_rows.clone()
        if self._mass.numel():
            order = torch.argsort(self._mass, descending=True, stable=True)
            key = (self._item * n + self._rows)[order]
            first = torch.argsort(key, stable=True)
            key_sorted = key[first]
            lead = torch.ones_like(key_sorted, dtype=torch.bool)
            lead[1:] = key_sorted[1:] != key_sorted[:-1]
            idx.view(-1)[key_sorted[lead]] = self._cols[order][first][lead]
        return idx

    def _dense(self) -> Tensor:
        b, n, m = self._idle_rows.shape[0], self._idle_rows.shape[1], self._idle_cols.shape[1]
        out = torch.zeros(b, n, m, dtype=self.dtype, device=self.device)
        out.index_put_((self._item, self._rows, self._cols), self._mass, accumulate=True)
        return out
