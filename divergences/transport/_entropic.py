"""Batched log-domain Sinkhorn: balanced, unbalanced (KL-relaxed) and semi-relaxed marginals.

Private helper of :mod:`divergences.transport`; inputs are validated there, centred and rescaled.

Notation (per item of the batch): weights ``a`` (N,), ``b`` (M,), cost ``C_ij = ‖x_i − y_j‖^p``,
temperature ``ε``, marginal penalties ``ρ_x``, ``ρ_y`` (``inf``: that marginal is kept exactly).
The plan is ``π_ij = a_i b_j exp((f_i + g_j − C_ij)/ε)`` and the updates are the damped soft
c-transforms ``f_i = −κ_x ε log Σ_j b_j exp((g_j − C_ij)/ε)`` with ``κ = 1/(1 + ε/ρ)`` (Chizat
et al. 2018; ``κ = 1`` when balanced), and likewise for ``g``. At their fixed point the rows of
``π`` sum to ``a e^{−f/ρ_x}`` and the columns to ``b e^{−g/ρ_y}`` (``a`` and ``b`` when balanced).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from divergences.transport._tiles import Pairs, lse_rows

Tensor = torch.Tensor


@dataclass(frozen=True)
class Solution:
    """Potentials ``(B, N)``, ``(B, M)`` of the plan returned, and how the solver ended."""

    f: Tensor
    g: Tensor
    n_iter: list[int]
    error: list[float]  # L1 error of the column condition (the rows hold by construction)
    converged: list[bool]


def damping(eps: Tensor, rho: Tensor) -> Tensor:
    """``κ = 1/(1 + ε/ρ)``: 1 for ``ρ = inf``."""
    return 1.0 / (1.0 + eps / rho)


def _update(
    pairs: Pairs, log_w: Tensor, h: Tensor, eps: Tensor, kappa: Tensor, old: Tensor | None
) -> Tensor:
    """``−κ ε LSE_j(log w_j + h_j/ε − C_ij/ε)`` for every row (``old``: the previous value)."""
    e = eps.view(-1, 1)
    k = kappa.view(-1, 1)
    guess = None if old is None else -old / (k * e)
    zero = torch.zeros(pairs.x.shape[:2], dtype=h.dtype, device=h.device)
    return -k * e * lse_rows(pairs, zero, log_w + h / e, 1.0 / eps, guess)


def _error(log_w: Tensor, old: Tensor, new: Tensor, eps: Tensor, rho: Tensor) -> Tensor:
    """L1 gap ``Σ_j |π_·j − w_j e^{−old_j/ρ}|`` of the plan with potential ``old`` (float64).

    With ``new`` the damped c-transform of the other potential, the plan's marginal on this
    side is ``w e^{old/ε − new/(κε)}``; ``1/(κε) = 1/ε + 1/ρ``.
    """
    o, n = old.double(), new.double()
    inv = (1.0 / eps + 1.0 / rho).double().view(-1, 1)
    target = torch.exp(log_w.double() - o / rho.double().view(-1, 1))
    return (target * torch.expm1((o - n) * inv).abs()).sum(-1)


def _pick(t: Tensor, keep: Tensor) -> Tensor:
    return t if keep.numel() == t.shape[0] else t.index_select(0, keep)


# over-relaxation (Thibault et al. 2017; Lehmann et al. 2021): after WARMUP plain updates the
# rate θ of plain Sinkhorn is read off the errors and ω = 2/(1 + sqrt(1 − θ)) (capped at
# OMEGA_MAX); ω falls back to 1 for an item whose error grows RESET-fold above its best
WARMUP, SPAN, OMEGA_MAX, RESET = 20, 5, 1.9, 10.0


class _State:
    """The active items of a batch and their iterates (private to :func:`solve`)."""

    def __init__(self, **t: Tensor):
        self.t = t

    def __getattr__(self, k: str) -> Tensor:
        return self.__dict__["t"][k]

    def set(self, **t: Tensor) -> None:
        self.t.update(t)

    def keep(self, idx: Tensor) -> None:
        self.t = {k: _pick(v, idx) for k, v in self.t.items()}


def solve(
    x: Tensor,
    y: Tensor,
    log_a: Tensor,
    log_b: Tensor,
    p: float,
    eps: Tensor,
    rho_x: Tensor,
    rho_y: Tensor,
    stages: list[Tensor],
    *,
    tol: Tensor,
    max_iter: int,
    tile: int,
    symmetric: bool = False,
) -> Solution:
    """Entropic transport potentials by alternating damped c-transforms, batched.

    At the target ε the updates are over-relaxed, ``f ← f + ω (T g − f)`` (and likewise ``g``),
    with ω estimated per item from the plain updates' rate; a plan is returned only after its
    column error has been measured exactly, for ``f = T g``.

    Args:
        x: ``(B, N, D)`` centred, rescaled points.
        y: ``(B, M, D)`` (ignored when ``symmetric``: the problem is ``x`` against itself).
        log_a: ``(B, N)`` log-weights, :func:`~._tiles.neg` where the weight is 0 or padded.
        log_b: ``(B, M)`` likewise (ignored when ``symmetric``).
        p: power of the ground cost.
        eps: ``(B,)`` target temperatures (x's dtype).
        rho_x: ``(B,)`` penalties of the row marginal (``inf``: exact).
        rho_y: ``(B,)`` penalties of the column marginal.
        stages: ε-scaling temperatures ``(B,)`` before the target, one update each.
        tol: ``(B,)`` float64 bound on the L1 error of the column condition.
        max_iter: updates at the target temperature.
        tile: block edge of the pairs.
        symmetric: solve ``x`` against itself with the averaged update ``f ← (f + T f)/2``
            (Feydy et al. 2019); then ``g = f``.

    Returns:
        The potentials of the plan ``(f, g)`` whose rows hold exactly (``f`` is the damped
        c-transform of ``g``; up to the averaging when ``symmetric``) and whose column error
        is ``error``. Items stop on their own as they converge.
    """
    bsz = x.shape[0]
    if symmetric:
        y, log_b, rho_y = x, log_a, rho_x
    f_out = torch.zeros(log_a.shape, dtype=x.dtype, device=x.device)
    g_out = torch.zeros(log_b.shape, dtype=x.dtype, device=x.device)
    n_iter, error, conv = [len(stages) + max_iter] * bsz, [math.inf] * bsz, [False] * bsz
    with torch.no_grad():
        f, g = _anneal(x, y, log_a, log_b, p, rho_x, rho_y, stages, tile, symmetric)
        st = _State(
            x=x,
            y=y,
            la=log_a,
            lb=log_b,
            eps=eps,
            rx=rho_x,
            ry=rho_y,
            tol=tol,
            f=f,
            g=g,
            idx=torch.arange(bsz, device=x.device),
            omega=torch.ones(bsz, dtype=torch.float64, device=x.device),
            hist=torch.full((bsz, SPAN + 1), math.inf, dtype=torch.float64, device=x.device),
            best=torch.full((bsz,), math.inf, dtype=torch.float64, device=x.device),
        )
        fwd = Pairs(x, y, p, tile)
        bwd = fwd.transpose()
        for it in range(1, max_iter + 1):
            kx, ky = damping(st.eps, st.rx), damping(st.eps, st.ry)
            if symmetric:
                t = _update(fwd, st.la, st.f, st.eps, kx, st.f)
                err = _error(st.la, st.f, t, st.eps, st.rx)
                cand_f, cand_g, cand_err = st.f, st.f, err
                ok = err <= st.tol
                st.set(f=0.5 * (st.f + t))
            else:
                w = st.omega.to(x.dtype).view(-1, 1)
                t_f = _update(fwd, st.lb, st.g, st.eps, kx, st.f)
                relaxed = bool((st.omega > 1).any())
                f_new = st.f + w * (t_f - st.f) if relaxed else t_f
                t_g = _update(bwd, st.la, f_new, st.eps, ky, st.g)
                err = _error(st.lb, st.g, t_g, st.eps, st.ry)
                if relaxed:
                    err = err + _error(st.la, f_new, t_f, st.eps, st.rx)
                cand_f, cand_g, cand_err = t_f, st.g, err
                ok = err <= st.tol
                if relaxed and (bool(ok.any()) or it == max_iter):
                    # certify (T g, g): its rows are exact, measure its columns
                    t_c = _update(bwd, st.la, t_f, st.eps, ky, t_g)
                    cand_err = torch.where(
                        st.omega > 1, _error(st.lb, st.g, t_c, st.eps, st.ry), err
                    )
                    ok = cand_err <= st.tol
                g_new = st.g + w * (t_g - st.g) if relaxed else t_g
                f_new, g_new = _translate(st, f_new, g_new)
                st.set(f=f_new, g=g_new)
                _adapt(st, err, it)
            last = it == max_iter
            if bool(ok.any()) or last:
                stop = torch.ones_like(ok) if last else ok
                for k in stop.nonzero().squeeze(1).tolist():
                    item = int(st.idx[k])
                    f_out[item], g_out[item] = cand_f[k], cand_g[k]
                    n_iter[item] = len(stages) + it
                    error[item], conv[item] = float(cand_err[k]), bool(ok[k])
                keep = (~stop).nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                if keep.numel() < stop.numel():
                    st.keep(keep)
                    fwd = Pairs(st.x, st.y, p, tile)
                    bwd = fwd.transpose()
    if not all(conv):
        bad = [i for i in range(bsz) if not conv[i]]
        worst = max(error[i] for i in bad)
        warnings.warn(
            f"Sinkhorn did not converge for {len(bad)} of {bsz} problems: marginal error up to "
            f"{worst:.3g} > tol after {max_iter} iterations at the target eps; increase "
            "max_iter or eps",
            RuntimeWarning,
            stacklevel=4,
        )
    if symmetric:
        g_out = f_out
    return Solution(f_out, g_out, n_iter, error, conv)


def _adapt(st: _State, err: Tensor, it: int) -> None:
    """Update each item's over-relaxation ω from its error history (adaptive SOR).

    Every SPAN updates the observed rate ``r`` gives the plain rate ``θ = (r + ω − 1)²/(ω² r)``
    (the SOR relation of a consistently ordered iteration, exact for ω = 1), and ω moves up
    to ``2/(1 + sqrt(1 − θ))``; ω never decreases except for a reset to 1 on divergence.
    """
    hist = torch.cat([st.hist[:, 1:], err.view(-1, 1)], 1)
    best = torch.minimum(st.best, err)
    omega = st.omega
    if it >= WARMUP and it % SPAN == 0:
        r = (hist[:, -1] / hist[:, 0]) ** (1.0 / SPAN)
        theta = (r + omega - 1) ** 2 / (omega**2 * r)
        cand = 2.0 / (1.0 + torch.sqrt((1.0 - theta).clamp_min(0.0)))
        fine = torch.isfinite(r) & (r > 0) & (r < 1) & (theta < 1)
        omega = torch.where(fine, torch.maximum(omega, cand.clamp(1.0, OMEGA_MAX)), omega)
    blown = (omega > 1) & (err > RESET * best)
    omega = torch.where(blown, torch.ones_like(omega), omega)
    best = torch.where(blown, err, best)
    st.set(hist=hist, best=best, omega=omega)


def _translate(st: _State, f: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
    """``(f + λ, g − λ)`` with the λ that maximises the dual objective (unbalanced only).

    The entropic term is unchanged by the shift; the marginal terms give
    ``λ = log(⟨a, e^{−f/ρ_x}⟩ / ⟨b, e^{−g/ρ_y}⟩) / (1/ρ_x + 1/ρ_y)`` (Séjourné et al. 2022,
    translation-invariant Sinkhorn), which removes the slow mode of unbalanced Sinkhorn
    when ε ≪ ρ.
    """
    inv = (1.0 / st.rx + 1.0 / st.ry).double()
    if not bool((inv > 0).any()):
        return f, g
    la = torch.logsumexp(st.la.double() - f.double() / st.rx.double().view(-1, 1), -1)
    lb = torch.logsumexp(st.lb.double() - g.double() / st.ry.double().view(-1, 1), -1)
    lam = torch.where(inv > 0, (la - lb) / torch.where(inv > 0, inv, 1.0), 0.0)
    lam = lam.to(f.dtype).view(-1, 1)
    return f + lam, g - lam


def _anneal(x, y, log_a, log_b, p, rho_x, rho_y, stages, tile, symmetric):
    """One (damped) update per ε-scaling stage; returns the starting ``(f, g)``."""
    fwd = Pairs(x, y, p, tile)
    bwd = fwd.transpose()
    f: Tensor | None = None
    g: Tensor | None = None
    for e in stages:
        kx, ky = damping(e, rho_x), damping(e, rho_y)
        if symmetric:
            t = _update(fwd, log_a, f if f is not None else 0 * log_a, e, kx, f)
            f = t if f is None else 0.5 * (f + t)
        else:
            f = _update(fwd, log_b, g if g is not None else 0 * log_b, e, kx, f)
            g = _update(bwd, log_a, f, e, ky, g)
    if f is None:
        f = torch.zeros_like(log_a)
    if g is None:
        g = f if symmetric else torch.zeros_like(log_b)
    return f, g
