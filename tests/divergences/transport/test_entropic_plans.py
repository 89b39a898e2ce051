"""dv.transport(method="sinkhorn"): potentials, lazy plans, gradients vs dense references."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import divergences as dv
from tests.divergences.transport._ot_reference import cost_matrix, lp, primal, sinkhorn


def _problem(rng, n=7, m=5, d=2):
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.5
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0])
def test_matches_dense_reference_and_duality(rng, p):
    x, y, a, b = _problem(rng)
    eps = 0.3
    f, g, plan = sinkhorn(x, y, a, b, p, eps)
    t = dv.transport(x, y, a=a, b=b, method="sinkhorn", p=p, eps=eps, tol=1e-12)
    ref = a @ f + b @ g
    assert t.cost == pytest.approx(ref, rel=1e-10)
    # primal objective of the plan = dual value (strong duality at convergence)
    assert primal(x, y, a, b, p, eps, t.plan.dense()) == pytest.approx(t.cost, rel=1e-9)
    np.testing.assert_allclose(t.plan.dense(), plan, atol=1e-11)
    # potentials are defined up to (f + c, g - c): compare the plan-invariant sums
    np.testing.assert_allclose(t.f[:, None] + t.g[None, :], f[:, None] + g[None, :], atol=1e-10)
    assert t.transport_cost() == pytest.approx(float((plan * cost_matrix(x, y, p)).sum()), rel=1e-9)


@settings(max_examples=15)
@given(
    n=st.integers(1, 6),
    m=st.integers(1, 6),
    eps=st.sampled_from([0.05, 0.5, 5.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_marginals_of_every_plan(n, m, eps, seed):
    rng = np.random.default_rng(seed)
    x, y, a, b = _problem(rng, n, m, 2)
    t = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=eps, tol=1e-9, max_iter=5000)
    assert t.converged
    np.testing.assert_allclose(t.plan.row_sums(), a, atol=1e-13)  # rows by construction
    col_err = np.abs(t.plan.T @ np.ones(n) - b).sum()
    assert col_err <= 1e-9 and col_err == pytest.approx(t.marginal_error, rel=1e-6, abs=1e-13)


def test_entropic_cost_decreases_to_the_exact_cost(rng):
    x, y, a, b = _problem(rng, 8, 6)
    exact, *_ = lp(x, y, a, b, 2.0)
    costs = []
    for eps in [1.0, 0.1, 0.01, 0.001]:
        t = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=eps, tol=1e-9, max_iter=20000)
        assert t.converged
        costs.append(float(t.cost))
        # W ≤ OT_ε ≤ W + ε log(n m) (KL(π ‖ a⊗b) ≤ log min... bounded by the entropy of a⊗b)
        assert exact - 1e-9 <= t.cost <= exact + eps * np.log(8 * 6) + 1e-9
    assert all(c1 > c2 for c1, c2 in itertools.pairwise(costs))
    assert costs[-1] == pytest.approx(exact, abs=0.02)


def test_lazy_plan_operations_match_the_dense_plan(rng):
    x, y, a, b = _problem(rng, 9, 6, 3)
    t = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=0.2, tol=1e-10, tile=4)
    dense = t.plan.dense()
    v, u = rng.normal(size=(6, 2)), rng.normal(size=9)
    np.testing.assert_allclose(t.plan @ v, dense @ v, atol=1e-14)
    np.testing.assert_allclose(t.plan @ v[:, 0], dense @ v[:, 0], atol=1e-14)
    np.testing.assert_allclose(t.plan.T @ u, dense.T @ u, atol=1e-14)
    np.testing.assert_array_equal(t.plan.row_argmax(), dense.argmax(1))
    np.testing.assert_allclose(t.plan.T.dense(), dense.T)
    np.testing.assert_allclose(t.barycentric_map(), (dense @ y) / a[:, None], rtol=1e-8)
    whole = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=0.2, tol=1e-10)
    np.testing.assert_allclose(whole.plan.dense(), dense, atol=1e-13)  # tiled = one block
    assert whole.cost == pytest.approx(t.cost, rel=1e-12)


def test_dense_is_refused_beyond_its_size(rng):
    x, y, _, _ = _problem(rng, 9, 6)
    t = dv.transport(x, y, method="sinkhorn", eps=1.0)
    with pytest.raises(
        ValueError, match=r"plan.dense\(\) would build 9 x 6 = 54 entries > max_entries=50"
    ):
        t.plan.dense(max_entries=50)
    assert t.plan.dense(max_entries=54).shape == (9, 6)
    with pytest.raises(ValueError, match="max_entries must be >= 1"):
        t.plan.dense(max_entries=0)
    with pytest.raises(ValueError, match=r"v must have shape \(6,\) or \(6, K\)"):
        t.plan @ np.ones(5)
    with pytest.raises(ValueError, match="v must be finite"):
        t.plan @ np.full(6, np.nan)


def test_translation_and_permutation_invariance(rng):
    x, y, a, b = _problem(rng, 7, 5, 3)
    t = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=0.1, tol=1e-11)
    far = dv.transport(x + 1e4, y + 1e4, a=a, b=b, method="sinkhorn", eps=0.1, tol=1e-11)
    assert far.cost == pytest.approx(t.cost, rel=1e-8)
    np.testing.assert_allclose(far.plan.dense(), t.plan.dense(), atol=1e-9)
    perm = rng.permutation(7)
    tp = dv.transport(x[perm], y, a=a[perm], b=b, method="sinkhorn", eps=0.1, tol=1e-11)
    assert tp.cost == pytest.approx(t.cost, rel=1e-10)
    np.testing.assert_allclose(tp.plan.dense(), t.plan.dense()[perm], atol=1e-11)


@pytest.mark.parametrize("scale", [1e-120, 1e120])
def test_magnitudes(rng, scale):
    x, y, a, b = _problem(rng)
    t = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=0.2, tol=1e-11)
    s = dv.transport(
        x * scale, y * scale, a=a, b=b, method="sinkhorn", eps=0.2 * scale**2, tol=1e-11
    )
    assert s.cost == pytest.approx(t.cost * scale**2, rel=1e-9)
    np.testing.assert_allclose(s.plan.dense(), t.plan.dense(), atol=1e-10)


def _unrolled(x, y, a, b, eps, iters):
    """Autograd through ``iters`` dense log-domain Sinkhorn iterations (the other reference)."""
    c = torch.cdist(x, y) ** 2
    la, lb = a.log(), b.log()
    g = torch.zeros_like(b)
    for _ in range(iters):
        f = -eps * torch.logsumexp(lb[None, :] + (g[None, :] - c) / eps, 1)
        g = -eps * torch.logsumexp(la[:, None] + (f[:, None] - c) / eps, 0)
    f = -eps * torch.logsumexp(lb[None, :] + (g[None, :] - c) / eps, 1)
    return (a * f).sum() + (b * g).sum()


def test_gradients_from_potentials(rng):
    x0, y0, a0, b0 = _problem(rng, 6, 5, 2)
    x = torch.tensor(x0, requires_grad=True)
    y = torch.tensor(y0, requires_grad=True)
    a = torch.tensor(a0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    eps = 0.5
    t = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=eps, tol=1e-13, tile=3)
    gx, gy, ga, gb = torch.autograd.grad(t.cost, (x, y, a, b))
    xr, yr = x.detach().clone().requires_grad_(), y.detach().clone().requires_grad_()
    ar, br = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    ux, uy, ua, ub = torch.autograd.grad(_unrolled(xr, yr, ar, br, eps, 300), (xr, yr, ar, br))
    torch.testing.assert_close(gx, ux, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(gy, uy, rtol=1e-8, atol=1e-10)
    # weights: along directions that keep both masses equal (constants are not identified)
    center = lambda v: v - v.mean()  # noqa: E731
    torch.testing.assert_close(center(ga), center(ua), rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(center(gb), center(ub), rtol=1e-8, atol=1e-10)
    # finite differences on a point coordinate
    h = 1e-6
    e = np.zeros_like(x0)
    e[2, 1] = h
    up = dv.transport(x0 + e, y0, a=a0, b=b0, method="sinkhorn", eps=eps, tol=1e-13).cost
    dn = dv.transport(x0 - e, y0, a=a0, b=b0, method="sinkhorn", eps=eps, tol=1e-13).cost
    assert (up - dn) / (2 * h) == pytest.approx(float(gx[2, 1]), rel=1e-6)


def test_torch_float32_and_numpy_kinds(rng):
    x, y, _, _ = _problem(rng)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    t = dv.transport(xt, yt, method="sinkhorn", eps=0.1)
    assert t.cost.dtype == torch.float32 and t.f.dtype == torch.float32
    assert isinstance(t.plan @ torch.ones(5), torch.Tensor)
    ref = dv.transport(x, y, method="sinkhorn", eps=0.1)
    assert isinstance(ref.cost, float) and isinstance(ref.f, np.ndarray)
    assert float(t.cost) == pytest.approx(ref.cost, rel=1e-4)
    assert isinstance(ref.plan @ torch.ones(5, dtype=torch.float64), np.ndarray)


def test_not_converged_is_flagged_and_warned(rng):
    x, y, a, b = _problem(rng)
    with pytest.warns(RuntimeWarning, match="Sinkhorn did not converge for 1 of 1 problems"):
        t = dv.transport(x, y, a=a, b=b, method="sinkhorn", eps=1e-3, max_iter=3, tol=1e-12)
    assert t.converged is False and t.marginal_error > 1e-12 and t.n_iter >= 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dv.transport(x, y, method="sinkhorn", eps=1.0).converged


@pytest.mark.parametrize("method", ["exact", "sinkhorn", "unbalanced"])
def test_stays_on_the_input_device(device, method):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(9, 3, generator=g, dtype=torch.float64).to(device)
    y = torch.rand(7, 3, generator=g, dtype=torch.float64).to(device)
    kw = {} if method == "exact" else {"eps": 0.1, "tol": 1e-10}
    if method == "unbalanced":
        kw["rho"] = 1.0
    t = dv.transport(x, y, method=method, **kw)
    ref = dv.transport(x.cpu().numpy(), y.cpu().numpy(), method=method, **kw)
    assert t.cost.device == x.device and t.f.device == x.device
    assert (t.plan @ torch.ones(7, dtype=torch.float64, device=device)).device == x.device
    assert float(t.cost) == pytest.approx(ref.cost, rel=1e-9)
    np.testing.assert_allclose(t.plan.dense().cpu().numpy(), ref.plan.dense(), atol=1e-10)
    np.testing.assert_allclose(t.barycentric_map().cpu().numpy(), ref.barycentric_map(), atol=1e-9)
