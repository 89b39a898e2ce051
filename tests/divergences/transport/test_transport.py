"""wasserstein (exact 1-D, assignment, Sinkhorn, sliced) and sinkhorn_divergence.

References: an exact transport linear program solved by scipy's HiGHS (any sizes, weights, D),
brute force over permutations, ``scipy.stats.wasserstein_distance``, closed forms.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linprog
from scipy.spatial.distance import cdist

from divergences import energy_distance, sinkhorn_divergence, wasserstein
from divergences.transport._exact1d import directions, sliced_wpp


def lp_cost(x, y, a=None, b=None, p=1.0):
    """Exact ``W_p^p`` by the transport linear program (float64, HiGHS)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, m = len(x), len(y)
    a = np.full(n, 1 / n) if a is None else np.asarray(a, np.float64) / np.sum(a)
    b = np.full(m, 1 / m) if b is None else np.asarray(b, np.float64) / np.sum(b)
    rows = np.kron(np.eye(n), np.ones((1, m)))
    cols = np.kron(np.ones((1, n)), np.eye(m))
    res = linprog(
        cdist(x, y).ravel() ** p,
        A_eq=np.vstack([rows, cols]),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    assert res.status == 0
    return res.fun


def brute_force_assignment(x, y, p):
    c = cdist(x, y) ** p
    n = len(x)
    return min(c[np.arange(n), list(s)].mean() for s in itertools.permutations(range(n)))


# ------------------------------------------------------------------------------ exact 1-D


@pytest.mark.parametrize("n, m", [(1, 1), (1, 6), (5, 5), (8, 3), (20, 13)])
@pytest.mark.parametrize("weighted", [False, True])
def test_exact_1d_matches_scipy_and_lp(rng, n, m, weighted):
    u, v = rng.normal(size=n), rng.exponential(size=m)
    u[: n // 2] = u[0]  # duplicates
    wu = wv = None
    if weighted:
        wu, wv = rng.random(n), rng.random(m)
        wu[0] = 0.0 if n > 1 else wu[0]  # a zero weight
    got = wasserstein(u[:, None], v[:, None], x_weights=wu, y_weights=wv)
    assert got == pytest.approx(scipy.stats.wasserstein_distance(u, v, wu, wv), rel=1e-10)
    for p in (1.5, 2.0, 3.0):
        got = wasserstein(u[:, None], v[:, None], p=p, x_weights=wu, y_weights=wv)
        want = lp_cost(u[:, None], v[:, None], wu, wv, p) ** (1 / p)
        assert got == pytest.approx(want, rel=1e-7, abs=1e-9)


def test_exact_1d_sorted_quantile_formula_p2(rng):
    u, v = rng.normal(size=30), rng.normal(size=30) + 2
    want = np.sqrt(np.mean((np.sort(u) - np.sort(v)) ** 2))
    assert wasserstein(u[:, None], v[:, None], p=2) == pytest.approx(want, rel=1e-12)
    assert wasserstein(u[:, None], v[:, None], p=2, method="exact_1d") == pytest.approx(want)


# ------------------------------------------------------------------------------ assignment


@pytest.mark.parametrize("n, d", [(1, 2), (2, 1), (4, 3), (6, 2), (7, 5)])
@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_assignment_matches_brute_force(rng, n, d, p):
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5
    x[-1] = y[0]  # a duplicate across the sets
    want = brute_force_assignment(x, y, p) ** (1 / p)
    assert wasserstein(x, y, p=p, method="assignment") == pytest.approx(want, rel=1e-10)
    if d > 1:
        assert wasserstein(x, y, p=p) == pytest.approx(want, rel=1e-10)  # auto → assignment


def test_assignment_gradient(rng):
    x = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(5, 3)) + 1.0, requires_grad=True)
    for p in (1, 2):
        assert torch.autograd.gradcheck(lambda a, b, p=p: wasserstein(a, b, p=p), (x, y))


# ------------------------------------------------------------------------------ Sinkhorn


@pytest.mark.parametrize("n, m, weighted", [(5, 5, False), (6, 4, True), (1, 3, False)])
@pytest.mark.parametrize("p", [1, 2])
def test_sinkhorn_brackets_exact_cost(rng, n, m, weighted, p):
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) + 0.7
    wx, wy = (rng.random(n) + 0.1, rng.random(m) + 0.1) if weighted else (None, None)
    exact = lp_cost(x, y, wx, wy, p)
    slack = 1e-6 * cdist(x, y).max() ** p
    errors = []
    for eps in (1.0, 0.1, 0.03, 0.01):
        with warnings.catch_warnings():
            # near-ties in the optimal assignment make the marginals converge slowly (sublinearly)
            # at some ε; the value is accurate long before, which is what is checked here
            warnings.simplefilter("ignore", RuntimeWarning)
            ot = wasserstein(
                x, y, p=p, method="sinkhorn", eps=eps, x_weights=wx, y_weights=wy, tol=1e-7,
                max_iter=3000,
            ) ** p  # fmt: skip
        assert exact - slack <= ot <= exact + eps * math.log(min(n, m)) + slack
        errors.append(ot - exact)
    assert errors[-1] < 0.05 * max(errors[0], 1e-12) or errors[-1] < 1e-9  # → exact as ε → 0


def test_sinkhorn_tiled_equals_dense_and_matches_lp(rng):
    x, y = rng.normal(size=(11, 3)), rng.normal(size=(7, 3))
    x[3] = x[2]
    opts = {"eps": 0.05, "tol": 1e-12, "max_iter": 5000}
    dense = wasserstein(x, y, p=2, method="sinkhorn", **opts)
    tiled = wasserstein(x, y, p=2, method="sinkhorn", tile=3, **opts)
    assert tiled == pytest.approx(dense, rel=1e-10)
    s_dense = sinkhorn_divergence(x, y, **opts)
    s_tiled = sinkhorn_divergence(x, y, tile=4, **opts)
    assert s_tiled == pytest.approx(s_dense, rel=1e-9)


def test_sinkhorn_gradient_matches_finite_differences(rng):
    x = torch.tensor(rng.normal(size=(4, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(3, 2)) + 0.5, requires_grad=True)
    opts = {"eps": 1.0, "tol": 1e-13, "max_iter": 20000}

    def ot(a, b):  # dense cost
        return wasserstein(a, b, p=2, method="sinkhorn", **opts)

    def sd(a, b):  # tiled cost, checkpointed tiles
        return sinkhorn_divergence(a, b, p=1, tile=2, **opts)

    assert torch.autograd.gradcheck(ot, (x, y), atol=1e-6)
    assert torch.autograd.gradcheck(sd, (x, y), atol=1e-6)


def test_sinkhorn_divergence_limits(rng):
    x, y = rng.normal(size=(7, 2)), rng.normal(size=(5, 2)) + 1.0
    # ε → ∞ with cost ‖x − y‖: S_ε → ½ · energy distance (Feydy et al. 2019, Thm. 1)
    big = sinkhorn_divergence(x, y, p=1, eps=1e5)
    assert big == pytest.approx(0.5 * energy_distance(x, y), rel=1e-3)
    # ε → 0: S_ε → W_p^p (exact LP)
    small = sinkhorn_divergence(x, y, p=2, eps=1e-3, max_iter=20000, tol=1e-9)
    assert small == pytest.approx(lp_cost(x, y, p=2), rel=1e-2)
    plain = sinkhorn_divergence(x, y, p=2, eps=0.5, debias=False)
    assert plain == pytest.approx(wasserstein(x, y, p=2, method="sinkhorn", eps=0.5) ** 2)


def test_sinkhorn_warns_when_not_converged(rng):
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(4, 2))
    w = rng.random(6)
    with pytest.warns(RuntimeWarning, match="Sinkhorn did not converge: marginal error"):
        wasserstein(x, y, method="sinkhorn", eps=1e-3, max_iter=3, x_weights=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wasserstein(x, y, method="sinkhorn", eps=0.1)


# ------------------------------------------------------------------------------ sliced


def test_sliced_in_1d_is_exact_1d(rng):
    u, v = rng.normal(size=(9, 1)), rng.normal(size=(4, 1))
    wu, wv = rng.random(9), rng.random(4)
    for p in (1, 2):
        got = wasserstein(u, v, p=p, method="sliced", n_projections=3, x_weights=wu, y_weights=wv)
        want = wasserstein(u, v, p=p, x_weights=wu, y_weights=wv)
        assert got == pytest.approx(want, rel=1e-12)


def test_sliced_bounds_and_closed_form(rng):
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.5
    for p in (1, 2):
        assert wasserstein(x, y, p=p, method="sliced") <= wasserstein(x, y, p=p) + 1e-12
    # a pure translation by m: each projection moves by θ·m, and E_θ (θ·m)² = ‖m‖²/D
    shift = np.array([3.0, -1.0, 2.0])
    got = wasserstein(x, x + shift, p=2, method="sliced", n_projections=20000)
    assert got**2 == pytest.approx(np.sum(shift**2) / 3, rel=0.03)


def test_sliced_generator_and_chunking(rng):
    x = torch.tensor(rng.normal(size=(10, 4)))
    y = torch.tensor(rng.normal(size=(7, 4)))
    a = wasserstein(x, y, method="sliced")
    b = wasserstein(x, y, method="sliced", generator=torch.Generator().manual_seed(0))
    c = wasserstein(x, y, method="sliced", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    theta = directions(37, 4, torch.Generator().manual_seed(2), x)
    assert torch.allclose(theta.norm(dim=1), torch.ones(37, dtype=x.dtype))
    whole = sliced_wpp(x, y, None, None, theta, 2.0)
    # per-direction exact 1-D transport, averaged (the definition)
    per = [
        wasserstein((x @ t)[:, None], (y @ t)[:, None], p=2, method="exact_1d") ** 2 for t in theta
    ]
    torch.testing.assert_close(whole, torch.stack(per).mean())


# ------------------------------------------------------------------------------ laws


finite = st.floats(-4, 4, allow_nan=False, width=64)


@st.composite
def clouds(draw, equal=False):
    d = draw(st.integers(1, 3))
    n = draw(st.integers(1, 6))
    m = n if equal else draw(st.integers(1, 6))
    x = draw(arrays(np.float64, (n, d), elements=finite))
    y = draw(arrays(np.float64, (m, d), elements=finite))
    return x, y


METHOD_OPTS = [
    ("auto", {}),
    ("sliced", {"n_projections": 16}),
    ("sinkhorn", {"eps": 0.5, "tol": 1e-9, "max_iter": 2000}),
]


# Duplicated points make Sinkhorn nearly decomposable (blocks coupled by exp(−C/ε) ≈ 0): its
# marginal error then decays very slowly although the value is already accurate, and the solver
# (rightly) warns. Only the values are under test in the two law tests below.
@pytest.mark.filterwarnings("ignore:Sinkhorn did not converge:RuntimeWarning")
@settings(max_examples=60)
@given(clouds(equal=True), st.sampled_from(METHOD_OPTS), st.sampled_from([1, 2]), st.data())
def test_laws(xy, mopt, p, data):
    x, y = xy
    method, opts = mopt
    seed = data.draw(st.integers(0, 10**6))

    def w(a, b):
        return wasserstein(a, b, p=p, method=method, **opts)

    v = w(x, y)
    tol = (1e-5 if method == "sinkhorn" else 1e-9) * (1 + np.abs(np.vstack([x, y])).max() ** p)
    assert v >= 0
    assert abs(w(y, x) - v) <= tol  # symmetric
    r = np.random.default_rng(seed)
    assert abs(w(x[r.permutation(len(x))], y[r.permutation(len(y))]) - v) <= tol
    shift = r.normal(size=x.shape[1]) * 2
    assert abs(w(x + shift, y + shift) - v) <= tol  # translation invariant
    if method != "sinkhorn":
        assert w(x, x) <= tol  # zero on identical sets
    if method == "auto":  # exact: agrees with the LP
        assert v == pytest.approx(lp_cost(x, y, p=p) ** (1 / p), rel=1e-6, abs=1e-6)


@pytest.mark.filterwarnings("ignore:Sinkhorn did not converge:RuntimeWarning")
@settings(max_examples=25)
@given(clouds())
def test_sinkhorn_divergence_laws(xy):
    x, y = xy
    opts = {"eps": 0.5, "tol": 1e-10, "max_iter": 2000}
    s = sinkhorn_divergence(x, y, **opts)
    tol = 1e-5 * (1 + np.abs(np.vstack([x, y])).max() ** 2)
    assert s >= -tol
    assert abs(sinkhorn_divergence(y, x, **opts) - s) <= tol
    assert abs(sinkhorn_divergence(x, x, **opts)) <= tol


@settings(max_examples=40)
@given(clouds(), st.sampled_from([1, 2]))
def test_exact_1d_unequal_sizes_matches_lp(xy, p):
    x, y = xy
    x, y = x[:, :1], y[:, :1]
    assert wasserstein(x, y, p=p) == pytest.approx(lp_cost(x, y, p=p) ** (1 / p), abs=1e-6)


# ------------------------------------------------------------------------------ types, errors


@pytest.mark.parametrize(
    "method, d, opts",
    [
        ("exact_1d", 1, {}),
        ("assignment", 2, {}),
        ("sinkhorn", 2, {"eps": 0.5}),
        ("sliced", 2, {"n_projections": 8}),
    ],
)
def test_dtype_device_and_numpy(device, method, d, opts):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(6, d, generator=g).to(device)
    y = torch.randn(6, d, generator=g).to(device) + 1
    out = wasserstein(x, y, p=2, method=method, **opts)
    assert out.dtype == torch.float32 and out.device == x.device and out.ndim == 0
    ref = wasserstein(
        x.double().cpu().numpy(), y.double().cpu().numpy(), p=2, method=method, **opts
    )
    assert isinstance(ref, float)
    assert float(out) == pytest.approx(ref, rel=1e-4)
    s = sinkhorn_divergence(x, y, eps=0.5)
    assert s.dtype == torch.float32 and s.device == x.device


def test_exact_1d_and_sliced_gradients(rng):
    x = torch.tensor(rng.normal(size=(6, 1)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(4, 1)), requires_grad=True)
    wx = rng.random(6)
    for p in (1, 2, 3):
        assert torch.autograd.gradcheck(
            lambda a, b, p=p: wasserstein(a, b, p=p, x_weights=wx), (x, y)
        )
    x2 = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    y2 = torch.tensor(rng.normal(size=(7, 3)), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: wasserstein(a, b, p=2, method="sliced", n_projections=5), (x2, y2)
    )


def test_gradient_finite_at_identical_sets():
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    for method in ("assignment", "sliced"):
        (g,) = torch.autograd.grad(wasserstein(x, x.detach(), p=2, method=method), x)
        assert torch.isfinite(g).all()


def _bad():
    x = torch.randn(5, 2)
    return [
        ((x, torch.randn(5, 3)), {}, ValueError, r"same dimension D.*\(5, 2\).*\(5, 3\)"),
        ((x, torch.randn(0, 2)), {}, ValueError, r"y is empty"),
        ((x, torch.full((5, 2), float("nan"))), {}, ValueError, "y must be finite, found 10 NaN"),
        ((torch.ones(5, 2, dtype=torch.int32), x), {}, TypeError, "x must be a floating-point"),
        ((x, torch.randn(5, 2, device="meta")), {}, ValueError, "one device"),
        ((x, x), {"p": 0.5}, ValueError, "p must be a finite number >= 1"),
        ((x, x), {"method": "emd"}, ValueError, "method must be one of"),
        ((x, x[:4]), {}, ValueError, r"no exact method for x with shape \(5, 2\).*\(4, 2\)"),
        ((x, x[:4]), {"method": "assignment"}, ValueError, "needs equal sizes"),
        ((x, x), {"method": "exact_1d"}, ValueError, r"needs D = 1.*\(5, 2\)"),
        ((x, x), {"x_weights": np.ones(4)}, ValueError, r"x_weights must have shape \(5,\)"),
        ((x, x), {"y_weights": -np.ones(5)}, ValueError, "y_weights must be non-negative"),
        ((x, x), {"x_weights": np.zeros(5)}, ValueError, "x_weights has a row summing to 0"),
        ((x, x), {"method": "sinkhorn", "eps": 0.0}, ValueError, "eps must be a number > 0"),
        ((x, x), {"method": "sinkhorn", "scaling": 1.5}, ValueError, r"scaling must be"),
        ((x, x), {"method": "sliced", "n_projections": 0}, ValueError, "n_projections must be"),
    ]


@pytest.mark.parametrize("args, kw, exc, match", _bad())
def test_bad_inputs(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        wasserstein(*args, **kw)


def test_sinkhorn_divergence_bad_inputs():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"same dimension D"):
        sinkhorn_divergence(x, torch.randn(4, 3))
    with pytest.raises(TypeError, match="debias must be a bool"):
        sinkhorn_divergence(x, x, debias=1)
    with pytest.raises(ValueError, match="tol must be > 0"):
        sinkhorn_divergence(x, x, tol=0.0)
