"""dv.transport(method="exact"): plans and potentials against the dense LP (HiGHS) reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import divergences as dv
from divergences.transport import _exact
from tests.divergences.transport._ot_reference import cost_matrix, lp


def _weights(rng, n, zeros=0):
    w = rng.random(n) + 0.05
    w[:zeros] = 0.0
    return w / w.sum()


def _check_solution(t, x, y, a, b, p, *, atol=1e-12):
    """Marginals, sparsity, dual feasibility and strong duality of an exact record."""
    c = cost_matrix(x, y, p)
    plan = t.plan.dense()
    assert plan.min() >= 0
    np.testing.assert_allclose(plan.sum(1), a, atol=atol)
    np.testing.assert_allclose(plan.sum(0), b, atol=atol)
    assert len(t.plan.values) <= len(a) + len(b) - 1
    scale = max(1.0, c.max())
    assert (t.f[:, None] + t.g[None, :] - c).max() <= 1e-10 * scale  # f ⊕ g ≤ C
    assert abs(a @ t.f + b @ t.g - t.cost) <= 1e-10 * scale  # primal = dual
    assert abs((plan * c).sum() - t.cost) <= 1e-10 * scale


@settings(max_examples=25)
@given(
    n=st.integers(1, 6),
    m=st.integers(1, 6),
    d=st.integers(1, 3),
    p=st.sampled_from([1.0, 1.5, 2.0]),
    seed=st.integers(0, 2**32 - 1),
    zeros=st.integers(0, 2),
)
def test_exact_equals_lp_reference(n, m, d, p, seed, zeros):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    x[n // 2 :] = x[0]  # duplicates
    a, b = _weights(rng, n, min(zeros, n - 1)), _weights(rng, m)
    ref, *_ = lp(x, y, a, b, p)
    t = dv.transport(x, y, a=a, b=b, p=p)
    assert t.cost == pytest.approx(ref, rel=1e-9, abs=1e-12)
    _check_solution(t, x, y, a, b, p)


@pytest.mark.parametrize("solver", ["1d", "assignment", "lp", "lp-cold"])
def test_each_exact_solver_matches_lp(rng, solver, monkeypatch):
    n, m, d = (9, 7, 1) if solver == "1d" else ((8, 8, 2) if solver == "assignment" else (9, 7, 2))
    x, y = rng.normal(size=(n, d)), rng.exponential(size=(m, d))
    uniform = solver == "assignment"
    a = np.full(n, 1 / n) if uniform else _weights(rng, n)
    b = np.full(m, 1 / m) if uniform else _weights(rng, m)
    if solver == "lp-cold":
        monkeypatch.setattr(_exact, "USE_HIGHS_OBJECT", False)
    ref, *_ = lp(x, y, a, b, 2.0)
    t = dv.transport(x, y, a=a, b=b)
    assert t.solver == solver.split("-")[0]
    assert t.cost == pytest.approx(ref, rel=1e-10)
    _check_solution(t, x, y, a, b, 2.0)


def test_lp_path_on_uniform_and_one_dimensional_data(rng):
    """The general solver agrees with the special paths on their own problems."""
    for n, m, d, uniform in [(6, 6, 2, True), (7, 5, 1, False)]:
        x = torch.tensor(rng.normal(size=(n, d)) * 0.3)
        y = torch.tensor(rng.normal(size=(m, d)) * 0.3)
        a = (
            torch.full((n,), 1 / n, dtype=torch.float64)
            if uniform
            else torch.tensor(_weights(rng, n))
        )
        b = (
            torch.full((m,), 1 / m, dtype=torch.float64)
            if uniform
            else torch.tensor(_weights(rng, m))
        )
        special = _exact.solve_exact(x, y, a, b, 2.0, 64)
        rows, cols, mass, _, _, rounds = _exact._lp(x, y, a, b, 2.0, 64)
        c = cost_matrix(x.numpy(), y.numpy(), 2.0)
        assert rounds >= 1
        assert float((mass * torch.tensor(c)[rows, cols]).sum()) == pytest.approx(
            float((special.mass * torch.tensor(c)[special.rows, special.cols]).sum()), rel=1e-12
        )


def test_weightless_points_and_their_map(rng):
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    a = np.array([0.0, 0.3, 0.2, 0.0, 0.4, 0.1])
    b = np.array([0.25, 0.0, 0.25, 0.25, 0.25])
    t = dv.transport(x, y, a=a, b=b)
    plan = t.plan.dense()
    assert np.all(plan[[0, 3]] == 0) and np.all(plan[:, 1] == 0)
    ref, *_ = lp(x, y, a, b, 2.0)
    assert t.cost == pytest.approx(ref, rel=1e-10)
    _check_solution(t, x, y, a, b, 2.0)
    # a point without mass goes where the potentials send it: argmin_j C_ij − g_j
    c = cost_matrix(x, y, 2.0)
    bary = t.barycentric_map()
    for i in (0, 3):
        np.testing.assert_array_equal(bary[i], y[np.argmin(c[i] - t.g)])
        assert t.plan.row_argmax()[i] == np.argmin(c[i] - t.g)
    moved = [1, 2, 4, 5]
    np.testing.assert_allclose(bary[moved], (plan @ y)[moved] / a[moved, None], rtol=1e-12)


def test_single_points_and_identical_sets(rng):
    y = rng.normal(size=(4, 3))
    b = _weights(rng, 4)
    t = dv.transport(np.zeros((1, 3)), y, b=b)
    np.testing.assert_allclose(t.plan.dense(), b[None, :])
    assert t.cost == pytest.approx(float(b @ (y**2).sum(1)))
    same = dv.transport(y, y)
    assert same.cost == 0.0
    np.testing.assert_allclose(same.plan.dense(), np.eye(4) / 4)


@pytest.mark.parametrize("scale", [1e-150, 1e-8, 1e8, 1e150])
def test_scale_covariance_at_any_magnitude(rng, scale):
    x, y = rng.normal(size=(7, 2)), rng.normal(size=(5, 2)) + 1
    a, b = _weights(rng, 7), _weights(rng, 5)
    base = dv.transport(x, y, a=a, b=b, p=1.5)
    big = dv.transport(x * scale, y * scale, a=a, b=b, p=1.5)
    assert big.cost == pytest.approx(base.cost * scale**1.5, rel=1e-12)
    np.testing.assert_allclose(big.plan.dense(), base.plan.dense(), atol=1e-14)


def test_invariances_translation_and_row_permutation(rng):
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(6, 3))
    a, b = _weights(rng, 8), _weights(rng, 6)
    t = dv.transport(x, y, a=a, b=b)
    moved = dv.transport(x + 1e3, y + 1e3, a=a, b=b)
    assert moved.cost == pytest.approx(t.cost, rel=1e-9)
    np.testing.assert_allclose(moved.plan.dense(), t.plan.dense(), atol=1e-12)
    perm = rng.permutation(8)
    tp = dv.transport(x[perm], y, a=a[perm], b=b)
    assert tp.cost == pytest.approx(t.cost, rel=1e-12)
    np.testing.assert_allclose(tp.plan.dense(), t.plan.dense()[perm], atol=1e-12)
    # for the squared cost, shifting y alone moves the cost by a closed form, not the plan
    shift = np.array([0.5, -1.0, 2.0])
    ts = dv.transport(x, y + shift, a=a, b=b)
    expected = t.cost + 2 * shift @ (a @ x - b @ y) * -1 + shift @ shift
    assert ts.cost == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(ts.plan.dense(), t.plan.dense(), atol=1e-12)


def test_exact_gradients_from_plan_and_potentials(rng):
    x = torch.tensor(rng.normal(size=(5, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(4, 2)), requires_grad=True)
    a = torch.tensor(_weights(rng, 5), requires_grad=True)
    b = torch.tensor(_weights(rng, 4))
    t = dv.transport(x, y, a=a, b=b)
    gx, gy, ga = torch.autograd.grad(t.cost, (x, y, a))
    plan = t.plan.dense()
    want_x = 2 * (a.detach()[:, None] * x.detach() - plan @ y.detach())
    torch.testing.assert_close(gx, want_x, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gy, 2 * (b[:, None] * y.detach() - plan.T @ x.detach()))
    torch.testing.assert_close(ga, t.f)
    # finite differences along a direction that keeps the masses equal
    h, u = 1e-6, torch.zeros(5, dtype=torch.float64)
    u[0], u[1] = 1.0, -1.0
    up = dv.transport(x.detach(), y.detach(), a=a.detach() + h * u, b=b).cost
    dn = dv.transport(x.detach(), y.detach(), a=a.detach() - h * u, b=b).cost
    assert float((up - dn) / (2 * h)) == pytest.approx(float(ga @ u), rel=1e-5, abs=1e-8)


def test_sparse_plan_views(rng):
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(4, 2))
    t = dv.transport(x, y)
    dense = t.plan.dense()
    coo = t.plan.to_sparse()
    np.testing.assert_allclose(coo.to_dense().numpy(), dense)
    rows, cols = t.plan.indices
    np.testing.assert_allclose(dense[rows, cols], t.plan.values)
    v = rng.normal(size=(4, 3))
    np.testing.assert_allclose(t.plan @ v, dense @ v, atol=1e-15)
    np.testing.assert_allclose(t.plan.T @ np.ones(5), dense.sum(0), atol=1e-15)
    np.testing.assert_array_equal(t.plan.row_argmax(), dense.argmax(1))
    assert t.plan.shape == (5, 4) and t.plan.T.shape == (4, 5)
    assert t.n_iter >= 0 and t.converged is True and t.eps is None


def test_exact_float32_torch_in_torch_out(rng):
    x = torch.tensor(rng.normal(size=(6, 3)), dtype=torch.float32)
    y = torch.tensor(rng.normal(size=(7, 3)), dtype=torch.float32)
    t = dv.transport(x, y)
    assert isinstance(t.cost, torch.Tensor) and t.cost.dtype == torch.float32
    assert t.plan.dense().dtype == torch.float32 and t.f.dtype == torch.float32
    ref, *_ = lp(x.double().numpy(), y.double().numpy(), np.full(6, 1 / 6), np.full(7, 1 / 7), 2)
    assert float(t.cost) == pytest.approx(ref, rel=1e-5)
    assert math.isfinite(float(t.cost))
