"""The result of :func:`~divergences.transport.transport`: cost, potentials, plan, diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from divergences._validation import to_output
from divergences.transport.plans import EntropicPlan, SparsePlan, TransportPlan

Tensor = torch.Tensor


@dataclass(frozen=True)
class Transport:
    """An optimal transport problem, solved: what it cost, its potentials and its plan.

    Shapes are given for one problem; a batch (``(B, N, D)`` inputs) adds a leading ``B`` to
    every array, and lists of ``B`` numbers replace the numbers. Arrays follow the inputs: torch
    in → torch out on x's device and dtype (``cost`` differentiable), NumPy in → NumPy out.

    Attributes:
        cost: the optimal cost: ``min_π ⟨π, C⟩`` for ``method="exact"`` (``W_p^p``), the
            entropic objective ``OT_ε`` (``OT_{ε,ρ}`` for unbalanced) otherwise; differentiable
            with respect to the points and the weights (through the potentials).
        f: ``(N,)`` dual potential on x (cost units). Exact and balanced potentials are defined
            up to ``(f + c, g − c)``; exact ones are split so that ``⟨a, f⟩ = ⟨b, g⟩``.
        g: ``(M,)`` dual potential on y.
        plan: :class:`~divergences.transport.SparsePlan` (exact) or
            :class:`~divergences.transport.EntropicPlan` (entropic).
        marginal_error: L1 distance between the plan's marginals and their targets (``a`` and
            ``b``; ``a e^{−f/ρ_x}`` and ``b e^{−g/ρ_y}`` for unbalanced). Exact: the larger of
            the two sides. Entropic: the column side, the rows holding by construction (``f`` is
            the soft c-transform of ``g``).
        n_iter: Sinkhorn updates (ε-scaling stages included), or rounds of column generation
            of the exact solver (0 for the closed forms).
        converged: whether ``marginal_error`` met ``tol`` (always True for exact transport).
        method: ``"exact"``, ``"sinkhorn"`` or ``"unbalanced"``.
        solver: ``"1d"``, ``"assignment"``, ``"lp"`` (exact) or ``"sinkhorn"``.
        p: power of the ground cost ``‖x − y‖₂^p``.
        eps: temperature ε in cost units (None for exact transport).
        rho: ``(ρ_x, ρ_y)`` marginal penalties in cost units (``inf``: kept exactly), or None.

    Example:
        >>> import divergences as dv
        >>> t = dv.transport([[0.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]],
        ...                  a=[0.5, 0.5], b=[0.25, 0.25, 0.5])
        >>> round(t.cost, 6), t.solver, t.plan.indices.tolist(), t.plan.values.tolist()
        (4.0, 'lp', [[0, 0, 1], [0, 1, 2]], [0.25, 0.25, 0.5])
        >>> t.barycentric_map().tolist()
        [[1.0, 1.0], [4.0, 1.0]]
    """

    cost: Any
    f: Any
    g: Any
    plan: TransportPlan
    marginal_error: Any
    n_iter: Any
    converged: Any
    method: str
    solver: str
    p: float
    eps: Any = None
    rho: tuple[float, float] | None = None
    _y: Tensor | None = field(default=None, repr=False)
    _is_numpy: bool = field(default=False, repr=False)
    _scale: Tensor | None = field(default=None, repr=False)  # (B,) 2^(e p): back to data units

    def __repr__(self) -> str:
        # the potentials are N + M numbers: the summary names their shapes, not their values
        shape = tuple(getattr(self.f, "shape", ()))
        eps = "" if self.eps is None else f", eps={self.eps!r}"
        rho = "" if self.rho is None else f", rho={self.rho!r}"
        return (
            f"Transport(cost={self.cost!r}, method={self.method!r}, solver={self.solver!r}, "
            f"p={self.p!r}{eps}{rho}, f/g shapes={shape}/{tuple(getattr(self.g, 'shape', ()))}, "
            f"plan={self.plan!r}, marginal_error={self.marginal_error!r}, "
            f"n_iter={self.n_iter!r}, converged={self.converged!r})"
        )

    def barycentric_map(self) -> Any:
        """Where the plan sends each point of x: ``T(x_i) = Σ_j π_ij y_j / Σ_j π_ij``.

        ``(N, D)`` (``(B, N, D)``), in y's units. For balanced transport the denominator is
        ``a_i``. Points without mass (weight 0) are sent where the potentials would send them:
        the row's kernel ``b_j e^{(g_j − C_ij)/ε}`` (entropic), or ``argmin_j C_ij − g_j``
        (exact). Padded rows give 0.
        """
        assert self._y is not None
        y = self._y.detach()
        plan = self.plan
        with torch.no_grad():
            if isinstance(plan, EntropicPlan):
                out = plan.conditional_apply(y.to(plan.dtype))
            else:
                assert isinstance(plan, SparsePlan)
                mass = plan._apply(torch.ones(*y.shape[:2], 1, dtype=plan.dtype, device=y.device))
                out = plan._apply(y.to(plan.dtype)) / torch.where(mass > 0, mass, 1.0)
                idle = plan._idle_rows
                take = idle >= 0
                if bool(take.any()):
                    bi, ri = take.nonzero(as_tuple=True)
                    out[bi, ri] = y[bi, idle[bi, ri]].to(out.dtype)
            valid = torch.arange(out.shape[1], device=out.device).view(1, -1) < torch.tensor(
                plan._x_len, device=out.device
            ).view(-1, 1)
            out = torch.where(valid.unsqueeze(-1), out, 0.0).to(y.dtype)
        return to_output(out if plan.batched else out.squeeze(0), self._is_numpy)

    def transport_cost(self) -> Any:
        """``⟨π, C⟩``: the transport part of the cost (what POT's ``sinkhorn2`` returns).

        Equal to ``cost`` for exact transport; for entropic transport one more blocked pass.
        """
        from divergences.transport._tiles import cost_sum

        plan = self.plan
        if isinstance(plan, SparsePlan):
            return self.cost
        assert isinstance(plan, EntropicPlan)
        with torch.no_grad():
            val = cost_sum(plan._pairs(), plan._r, plan._c, plan._inv_eps)
        assert self._scale is not None
        out = (val * self._scale).to(plan.dtype)
        return to_output(out if plan.batched else out.squeeze(0), self._is_numpy)
