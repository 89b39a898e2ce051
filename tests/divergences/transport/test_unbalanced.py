"""Unbalanced and semi-relaxed entropic transport, and the debiased unbalanced divergence.

References: a dense log-domain damped Sinkhorn (tests/.../_ot_reference.py), the primal objective
with generalised KL terms, and geomloss/POT values on a tiny problem committed in
fixtures/peers.npz (scripts/make_transport_fixtures.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

import divergences as dv
from tests.divergences.transport._ot_reference import primal, sinkhorn

PEERS = np.load(Path(__file__).parent / "fixtures" / "peers.npz")


def _problem(rng, n=7, m=5, mass_b=1.4):
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) + 0.5
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return x, y, a / a.sum(), mass_b * b / b.sum()


def _dual(a, b, f, g, plan, eps, rx, ry):
    phi = lambda u, r: u if np.isinf(r) else -r * np.expm1(-u / r)  # noqa: E731
    return a @ phi(f, rx) + b @ phi(g, ry) - eps * (plan.sum() - a.sum() * b.sum())


@pytest.mark.parametrize("rho", [(0.3, 0.3), (2.0, 5.0), (None, 1.0), (1.0, None)])
def test_matches_dense_reference_primal_equals_dual(rng, rho):
    x, y, a, b = _problem(rng)
    if rho[0] is None:
        b = b / b.sum()  # exact rows: the plan's row mass is a's
    if rho[1] is None:
        a = a * b.sum()
    eps = 0.2
    rx, ry = (np.inf if r is None else r for r in rho)
    f, g, plan = sinkhorn(x, y, a, b, 2.0, eps, rx, ry, tol=1e-14)
    t = dv.transport(x, y, a=a, b=b, method="unbalanced", eps=eps, rho=rho, tol=1e-12)
    assert t.converged
    np.testing.assert_allclose(t.plan.dense(), plan, atol=1e-11)
    assert t.cost == pytest.approx(_dual(a, b, f, g, plan, eps, rx, ry), rel=1e-10)
    assert t.cost == pytest.approx(primal(x, y, a, b, 2.0, eps, plan, rx, ry), rel=1e-9)
    if rho[1] is None:  # semi-relaxed: the kept marginal holds
        np.testing.assert_allclose(t.plan.T @ np.ones(len(a)), b, atol=1e-11)
    if rho[0] is None:
        np.testing.assert_allclose(t.plan.row_sums(), a, atol=1e-12)


def test_large_penalty_gives_balanced_transport(rng):
    x, y, a, b = _problem(rng, mass_b=1.0)
    eps = 0.1
    bal = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=eps, tol=1e-12)
    gaps = []
    for rho in [1e1, 1e3, 1e5, 1e7]:
        t = dv.transport(x, y, a=a, b=b, method="unbalanced", eps=eps, rho=rho, tol=1e-12)
        gaps.append(abs(float(t.cost) - float(bal.cost)))
        np.testing.assert_allclose(t.plan.dense(), bal.plan.dense(), atol=30 / rho)
    # the gap closes like 1/ρ
    assert all(g1 > 50 * g2 for g1, g2 in itertools.pairwise(gaps)) and gaps[-1] < 1e-5


def test_reach_and_rho_and_geomloss_conventions():
    x, y, a, b = PEERS["x"], PEERS["y"], PEERS["a"], PEERS["b"]
    blur, reach = float(PEERS["blur"]), float(PEERS["reach"])
    eps, rho = 2 * blur**2, 2 * reach**2  # geomloss's cost is |x-y|^2 / 2
    kw = {"eps": eps, "tol": 1e-12}
    t = dv.transport(x, y, a=a, b=b, method="unbalanced", rho=rho, **kw)
    ma, mb, eps_g = a.sum(), b.sum(), blur**2
    # geomloss's raw unbalanced value leaves out the constant eps (m_a m_b − (m_a + m_b)/2)
    geo = PEERS["geomloss_unbalanced_debias0"] + eps_g * (ma * mb - (ma + mb) / 2)
    assert t.cost / 2 == pytest.approx(geo, rel=1e-5)
    s = dv.unbalanced_sinkhorn_divergence(x, y, a=a, b=b, rho=rho, **kw)
    assert s / 2 == pytest.approx(PEERS["geomloss_unbalanced_debias1"], rel=5e-6)
    reach_t = dv.unbalanced_sinkhorn_divergence(x, y, a=a, b=b, reach=reach, **kw)
    rho_t = dv.unbalanced_sinkhorn_divergence(x, y, a=a, b=b, rho=reach**2, **kw)
    assert reach_t == pytest.approx(rho_t, rel=1e-14)
    b1 = b / b.sum()
    bal = dv.transport(x, y, a=a, b=b1, method="sinkhorn", **kw)
    assert bal.cost / 2 == pytest.approx(PEERS["geomloss_balanced_debias0"], rel=1e-6)
    sb = dv.unbalanced_sinkhorn_divergence(x, y, a=a, b=b1, **kw)
    assert sb / 2 == pytest.approx(PEERS["geomloss_balanced_debias1"], rel=1e-6)
    assert sb == pytest.approx(
        dv.sinkhorn_divergence(x, y, x_weights=a, y_weights=b1, **kw), rel=1e-10
    )
    assert dv.transport(x, y, a=a, b=b1).cost == pytest.approx(PEERS["pot_emd2"], rel=1e-12)


def test_divergence_laws(rng):
    x, y, a, b = _problem(rng)
    kw = {"eps": 0.1, "rho": 1.0, "tol": 1e-11}
    s_xy = dv.unbalanced_sinkhorn_divergence(x, y, a=a, b=b, **kw)
    s_yx = dv.unbalanced_sinkhorn_divergence(y, x, a=b, b=a, **kw)
    assert s_xy == pytest.approx(s_yx, rel=1e-9) and s_xy > 0
    assert abs(dv.unbalanced_sinkhorn_divergence(x, x, a=a, b=a, **kw)) < 1e-10
    # unequal masses on identical supports: the mass term keeps it positive
    assert dv.unbalanced_sinkhorn_divergence(x, x, a=a, b=2 * a, **kw) > 0


def test_unbalanced_gradients_from_potentials(rng):
    x0, y0, a0, b0 = _problem(rng, 5, 4)
    kw = {"method": "unbalanced", "eps": 0.3, "rho": 0.7, "tol": 1e-13}
    x = torch.tensor(x0, requires_grad=True)
    a = torch.tensor(a0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    t = dv.transport(x, torch.tensor(y0), a=a, b=b, **kw)
    gx, ga, gb = torch.autograd.grad(t.cost, (x, a, b))
    h = 1e-6
    for k in range(3):  # any direction: the masses are free
        e = np.zeros_like(a0)
        e[k] = h
        up = dv.transport(x0, y0, a=a0 + e, b=b0, **kw).cost
        dn = dv.transport(x0, y0, a=a0 - e, b=b0, **kw).cost
        assert (up - dn) / (2 * h) == pytest.approx(float(ga[k]), rel=1e-6)
    e = np.zeros_like(b0)
    e[1] = h
    fd = (
        dv.transport(x0, y0, a=a0, b=b0 + e, **kw).cost
        - dv.transport(x0, y0, a=a0, b=b0 - e, **kw).cost
    ) / (2 * h)
    assert fd == pytest.approx(float(gb[1]), rel=1e-6)
    e = np.zeros_like(x0)
    e[3, 0] = h
    fd = (
        dv.transport(x0 + e, y0, a=a0, b=b0, **kw).cost
        - dv.transport(x0 - e, y0, a=a0, b=b0, **kw).cost
    ) / (2 * h)
    assert fd == pytest.approx(float(gx[3, 0]), rel=1e-6)
    sx = torch.tensor(x0, requires_grad=True)
    s = dv.unbalanced_sinkhorn_divergence(
        sx, torch.tensor(y0), a=a0, b=b0, eps=0.3, rho=0.7, tol=1e-13
    )
    (gs,) = torch.autograd.grad(s, sx)
    fd = (
        dv.unbalanced_sinkhorn_divergence(x0 + e, y0, a=a0, b=b0, eps=0.3, rho=0.7, tol=1e-13)
        - dv.unbalanced_sinkhorn_divergence(x0 - e, y0, a=a0, b=b0, eps=0.3, rho=0.7, tol=1e-13)
    ) / (2 * h)
    assert fd == pytest.approx(float(gs[3, 0]), rel=1e-6)


def test_small_eps_against_large_rho_converges(rng):
    """ε ≪ ρ is the slow regime of plain unbalanced Sinkhorn (the translation step fixes it)."""
    x, y, a, b = _problem(rng)
    t = dv.transport(x, y, a=a, b=b, method="unbalanced", eps=0.01, rho=100.0, tol=1e-8)
    assert t.converged and t.n_iter < 1000
