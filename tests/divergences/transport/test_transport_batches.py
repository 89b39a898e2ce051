"""Batched transport ((B, N, D), lengths, per-item weights) equals item by item; bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import divergences as dv

OPTS = {
    "exact": {},
    "sinkhorn": {"eps": 0.2, "tol": 1e-11},
    "unbalanced": {"eps": 0.2, "rho": (1.0, 3.0), "tol": 1e-11},
}


def _batch(rng, junk=1e3):
    xl, yl = [5, 3, 6], [4, 6, 2]
    x = rng.normal(size=(3, 6, 2)) * np.array([1.0, 10.0, 0.01])[:, None, None]
    y = rng.normal(size=(3, 6, 2)) * np.array([1.0, 10.0, 0.01])[:, None, None] + 0.3
    a, b = rng.random((3, 6)) + 0.1, rng.random((3, 6)) + 0.1
    for k in range(3):
        x[k, xl[k] :], y[k, yl[k] :] = junk, -junk  # padding: any finite values
        a[k, xl[k] :], b[k, yl[k] :] = 7.0, 7.0
        a[k, : xl[k]] /= a[k, : xl[k]].sum()
        b[k, : yl[k]] /= b[k, : yl[k]].sum()
    return x, y, a, b, xl, yl


@pytest.mark.parametrize("method", ["exact", "sinkhorn", "unbalanced"])
def test_batched_equals_item_by_item(rng, method):
    x, y, a, b, xl, yl = _batch(rng)
    opts = OPTS[method]
    bt = dv.transport(x, y, a=a, b=b, x_lengths=xl, y_lengths=yl, method=method, **opts)
    assert bt.cost.shape == (3,) and bt.f.shape == (3, 6) and bt.plan.shape == (3, 6, 6)
    dense = bt.plan.dense()
    bary = bt.barycentric_map()
    v = rng.normal(size=(3, 6, 2))
    prod = bt.plan @ v
    argmax = bt.plan.row_argmax()
    for k in range(3):
        n, m = xl[k], yl[k]
        one = dv.transport(x[k, :n], y[k, :m], a=a[k, :n], b=b[k, :m], method=method, **opts)
        assert bt.cost[k] == pytest.approx(one.cost, rel=1e-10)
        np.testing.assert_allclose(dense[k, :n, :m], one.plan.dense(), atol=1e-12)
        assert np.all(dense[k, n:] == 0) and np.all(dense[k, :, m:] == 0)
        np.testing.assert_allclose(
            bt.f[k, :n, None] + bt.g[k, None, :m],
            one.f[:, None] + one.g,
            rtol=1e-8,
            atol=1e-10 * max(1.0, abs(one.cost)),
        )
        np.testing.assert_allclose(bary[k, :n], one.barycentric_map(), rtol=1e-8, atol=1e-12)
        assert np.all(bary[k, n:] == 0) and np.all(argmax[k, n:] == -1)
        np.testing.assert_allclose(prod[k, :n], one.plan @ v[k, :m], atol=1e-12)
        assert bt.n_iter[k] == one.n_iter or method != "exact"
        assert bt.converged[k] and one.converged


def test_batched_gradients_equal_item_by_item(rng):
    x, y, a, b, xl, yl = _batch(rng, junk=5.0)
    xt = torch.tensor(x, requires_grad=True)
    at = torch.tensor(a, requires_grad=True)
    bt = dv.transport(
        xt,
        torch.tensor(y),
        a=at,
        b=torch.tensor(b),
        x_lengths=xl,
        y_lengths=yl,
        method="sinkhorn",
        eps=0.2,
        tol=1e-12,
    )
    gx, ga = torch.autograd.grad(bt.cost.sum(), (xt, at))
    assert torch.all(gx[0, xl[0] :] == 0) and torch.all(ga[0, xl[0] :] == 0)
    for k in range(3):
        n, m = xl[k], yl[k]
        xk = torch.tensor(x[k, :n], requires_grad=True)
        ak = torch.tensor(a[k, :n], requires_grad=True)
        one = dv.transport(
            xk,
            torch.tensor(y[k, :m]),
            a=ak,
            b=torch.tensor(b[k, :m]),
            method="sinkhorn",
            eps=0.2,
            tol=1e-12,
        )
        ox, oa = torch.autograd.grad(one.cost, (xk, ak))
        torch.testing.assert_close(gx[k, :n], ox, rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(ga[k, :n], oa, rtol=1e-7, atol=1e-9)


def test_batched_divergence(rng):
    x, y, a, b, xl, yl = _batch(rng)
    s = dv.unbalanced_sinkhorn_divergence(
        x, y, a=a, b=b, x_lengths=xl, y_lengths=yl, eps=0.2, rho=2.0, tol=1e-11
    )
    for k in range(3):
        n, m = xl[k], yl[k]
        one = dv.unbalanced_sinkhorn_divergence(
            x[k, :n], y[k, :m], a=a[k, :n], b=b[k, :m], eps=0.2, rho=2.0, tol=1e-11
        )
        assert s[k] == pytest.approx(one, rel=1e-9)


X, Y = np.zeros((3, 2)), np.ones((4, 2))


def _bad():
    nan = X.copy()
    nan[1, 0] = math.nan
    return [
        ((nan, Y), {}, ValueError, "x must be finite"),
        ((X, np.ones((4, 3))), {}, ValueError, "same dimension D"),
        ((X, Y), {"a": [0.5, 0.5]}, ValueError, r"a must have shape \(3,\)"),
        ((X, Y), {"b": np.ones((4, 1))}, ValueError, r"b must have shape \(4,\)"),
        ((X, Y), {"a": [0.5, -0.1, 0.6]}, ValueError, "a must be non-negative"),
        ((X, Y), {"a": [0.5, np.inf, 0.6]}, ValueError, "a must be finite"),
        ((X, Y), {"b": np.zeros(4)}, ValueError, "b must have a positive sum"),
        ((X, Y), {"b": np.full(4, 0.5)}, ValueError, r"a and b must have the same total mass"),
        ((X, Y), {"method": "sinkhorn", "a": [1, 1, 1]}, ValueError, "same total mass"),
        ((X, Y), {"method": "sinkhorn", "eps": 0.0}, ValueError, "eps must be a finite number > 0"),
        ((X, Y), {"method": "sinkhorn", "eps": -1.0}, ValueError, "eps must be"),
        ((X, Y), {"method": "sinkhorn", "eps": math.inf}, ValueError, "eps must be"),
        ((X, Y), {"method": "sinkhorn", "eps": "big"}, TypeError, "eps must be a number"),
        ((X, Y), {"method": "sinkhorn", "eps": 1e-300}, ValueError, "eps=1e-300 is too small"),
        ((X, Y), {"method": "sinkhorn", "tol": 0}, ValueError, "tol must be"),
        ((X, Y), {"method": "unbalanced"}, ValueError, "needs rho"),
        ((X, Y), {"method": "unbalanced", "rho": -1.0}, ValueError, "rho must be a finite number"),
        ((X, Y), {"method": "unbalanced", "reach": 0}, ValueError, "reach must be"),
        ((X, Y), {"method": "unbalanced", "rho": 1, "reach": 1}, ValueError, "not both"),
        ((X, Y), {"method": "unbalanced", "rho": (None, None)}, ValueError, "keeps both"),
        ((X, Y), {"method": "sinkhorn", "rho": 1.0}, ValueError, "apply to method='unbalanced'"),
        ((X, Y), {"eps": 0.1}, ValueError, "not method='exact'"),
        ((X, Y), {"method": "emd"}, ValueError, "method must be one of"),
        ((X, Y), {"p": 0.5}, ValueError, "p must be a finite number >= 1"),
        ((X, Y), {"tile": 0}, ValueError, "tile must be >= 1"),
        ((X, Y), {"x_lengths": [3]}, ValueError, "x_lengths/y_lengths need batched"),
        ((X[None], Y[None]), {"x_lengths": [4]}, ValueError, r"x_lengths must lie in \[1, 3\]"),
        ((X[None], Y[None]), {"a": np.ones(3) / 3}, ValueError, r"a must have shape \(B, N\)"),
    ]


@pytest.mark.parametrize("args, kw, exc, match", _bad())
def test_bad_inputs_name_the_argument(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        dv.transport(*args, **kw)


def test_divergence_bad_inputs():
    with pytest.raises(ValueError, match=r"rho \(or reach\) must be a number"):
        dv.unbalanced_sinkhorn_divergence(X, Y, rho=(1.0, None))
    with pytest.raises(ValueError, match="same total mass"):
        dv.unbalanced_sinkhorn_divergence(X, Y, b=np.full(4, 0.5))


def test_public_names():
    for name in [
        "transport",
        "Transport",
        "SparsePlan",
        "EntropicPlan",
        "TransportPlan",
        "unbalanced_sinkhorn_divergence",
    ]:
        assert name in dv.__all__
    assert callable(dv.transport) and dv.Transport.__dataclass_params__.frozen  # type: ignore[attr-defined]
    t = dv.transport(X, Y)
    with pytest.raises(AttributeError):
        t.cost = 0.0  # type: ignore[misc]
