"""Scale laws of the set, kernel and transport distances across magnitudes 1e-300..1e300.

Each function is scale covariant: f(c x, c y) = c^power f(x, y), with power 1 for distances
(knn, Chamfer, Hausdorff, nearest pair, energy distance, W_p), p for the Sinkhorn divergence
(cost units) and 0 for MMD with the median-heuristic bandwidth; neighbour indices are scale
invariant. Internally the data are rescaled by powers of two, so with c = 2**k the law holds
to rounding of the final products; with c = 10**k the inputs c x are themselves rounded (one
ulp per coordinate), which moves a distance by a few ulps relative to the coordinates.
References are the same functions at scale 1 and, for mixed magnitudes, ``math.dist``
(Python's exactly scaled Euclidean norm).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import divergences as dv

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# float64 scales spanning 1e-300..1e300: exact powers of two, or rounded powers of ten
SCALES64 = st.one_of(
    st.integers(-990, 990).map(lambda k: 2.0**k), st.integers(-300, 300).map(lambda k: 10.0**k)
)
# float32 keeps c |x| (|x| <= ~5) well inside its normal range 1.2e-38..3.4e38
SCALES32 = st.integers(-110, 110).map(lambda k: 2.0**k)
# rounding of c x (one ulp per coordinate) and of the distance itself, times a margin
RTOL64 = 1e-12
RTOL32 = 1e-5


def _points(seed: int, n: int, m: int, d: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) + 0.5
    return x.to(dtype), y.to(dtype)


def _well_separated(d: torch.Tensor, rel: float = 1e-6) -> bool:
    """Sorted distances of each row (and the next candidate) differ by more than ``rel``."""
    s = d.double()
    gaps = (s[..., 1:] - s[..., :-1]).abs()
    return bool((gaps > rel * s[..., 1:].abs().clamp_min(1e-300)).all())


def _close(a, b, rtol, what):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert torch.isfinite(a).all(), f"{what}: not finite: {a}"
    torch.testing.assert_close(a, b, rtol=rtol, atol=0.0, msg=what)


# ------------------------------------------------------------------ neighbours and sets


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 9),
    m=st.integers(2, 9),
    d=st.integers(1, 4),
    p=st.sampled_from([1.0, 2.0, 3.0, math.inf]),
    engine=st.sampled_from(["kdtree", "brute"]),
    c=SCALES64,
)
def test_knn_scale_law_float64(seed, n, m, d, p, engine, c):
    x, y = _points(seed, n, m, d)
    k = min(3, m - 1)
    d1, i1 = dv.knn(x, y, k=k + 1, p=p, engine=engine)
    assume(_well_separated(d1))  # no (near-)ties: the neighbours are unique at every scale
    d1, i1 = d1[:, :k], i1[:, :k]
    dc, ic = dv.knn(c * x, c * y, k=k, p=p, engine=engine)
    assert torch.equal(ic, i1)
    _close(dc / c, d1, RTOL64, f"knn distances at scale {c}")


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 9),
    m=st.integers(2, 9),
    d=st.integers(1, 4),
    engine=st.sampled_from(["kdtree", "brute"]),
    c=SCALES32,
)
def test_knn_scale_law_float32(seed, n, m, d, engine, c):
    x, y = _points(seed, n, m, d, torch.float32)
    d1, i1 = dv.knn(x, y, k=2, engine=engine)
    assume(_well_separated(d1, 1e-3))
    dc, ic = dv.knn(x * c, y * c, k=1, engine=engine)
    assert dc.dtype == torch.float32
    assert torch.equal(ic, i1[:, :1])
    _close(dc / c, d1[:, :1], RTOL32, f"float32 knn at scale {c}")


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 8),
    m=st.integers(1, 8),
    d=st.integers(1, 3),
    engine=st.sampled_from(["kdtree", "brute"]),
    c=SCALES64,
)
def test_set_distances_scale_law(seed, n, m, d, engine, c):
    x, y = _points(seed, n, m, d)
    for fn in (dv.chamfer, dv.hausdorff, dv.nearest_pair_distance):
        ref = fn(x, y, engine=engine)
        _close(fn(c * x, c * y, engine=engine) / c, ref, RTOL64, f"{fn.__name__} at {c}")
    if 1e-150 < c < 1e150:  # c^2 stays representable
        ref = dv.chamfer(x, y, squared=True, engine=engine)
        val = dv.chamfer(c * x, c * y, squared=True, engine=engine)
        _close(val / c / c, ref, RTOL64, f"squared chamfer at {c}")


@pytest.mark.parametrize("engine", ["kdtree", "brute"])
@pytest.mark.parametrize("c", [2.0**-1000, 1e-200, 1e200, 2.0**1000])
def test_knn_gradient_scale_law(engine, c):
    x, y = _points(3, 6, 5, 3)
    x1 = x.clone().requires_grad_()
    dv.chamfer(x1, y, engine=engine).backward()
    xc = (c * x).requires_grad_()
    val = dv.chamfer(xc, c * y, engine=engine)
    val.backward()
    # d/d(cx) f(cx) = c^(power - 1) f'(x) with power 1: the gradient is scale invariant
    _close(xc.grad, x1.grad, 1e-10, f"chamfer gradient at {c}")


def _math_knn(x: torch.Tensor, y: torch.Tensor, k: int):
    rows = [sorted((math.dist(a, b), j) for j, b in enumerate(y.tolist()))[:k] for a in x.tolist()]
    return (
        torch.tensor([[d for d, _ in r] for r in rows], dtype=torch.float64),
        torch.tensor([[j for _, j in r] for r in rows]),
    )


@pytest.mark.parametrize("engine", ["kdtree", "brute"])
@pytest.mark.parametrize("p", [2.0, 3.0])
def test_knn_mixed_huge_and_tiny_rows(engine, p):
    # tiny rows near the origin, huge rows far away: a tiny query's neighbours are the tiny
    # points at ~1e-300, which no squared distance at the huge rows' scale can resolve
    x, y = _points(5, 7, 6, 2)
    xm = torch.cat([x * 1e-300, x * 1e300 + 3e300])
    ym = torch.cat([y * 1e-300, y * 1e300 + 3e300])
    d, i = dv.knn(xm, ym, k=2, p=p, engine=engine)
    if p == 2.0:
        rd, ri = _math_knn(xm, ym, 2)
    else:  # same law at each magnitude: the blocks are independent problems
        d1, i1 = dv.knn(x, y, k=2, p=p)
        rd = torch.cat([d1 * 1e-300, d1 * 1e300])
        ri = torch.cat([i1, i1 + 6])
    assert torch.equal(i, ri)
    _close(d, rd, 1e-12, "mixed magnitudes")
    np_ = dv.nearest_pair_distance(xm, ym, p=p, engine=engine)
    _close(np_, rd[:, 0].min(), 1e-12, "nearest pair, mixed magnitudes")


@pytest.mark.parametrize("engine", ["kdtree", "brute"])
def test_batched_sets_of_different_magnitudes(engine):
    # each set of a batch is rescaled on its own: one batch may mix 1e-300 and 1e300 sets
    x, y = _points(8, 3 * 6, 3 * 5, 2)
    x, y = x.view(3, 6, 2), y.view(3, 5, 2)
    c = torch.tensor([1e-300, 1.0, 1e300], dtype=torch.float64).view(3, 1, 1)
    xl, yl = [6, 4, 5], [5, 5, 3]
    d, i = dv.knn(c * x, c * y, k=2, x_lengths=xl, y_lengths=yl, engine=engine)
    ch = dv.chamfer(c * x, c * y, x_lengths=xl, y_lengths=yl, engine=engine)
    for b in range(3):
        db, ib = dv.knn(x[b, : xl[b]], y[b, : yl[b]], k=2)
        assert torch.equal(i[b, : xl[b]], ib)
        assert torch.isinf(d[b, xl[b] :]).all() and i[b, xl[b] :].eq(-1).all()
        _close(d[b, : xl[b]] / c[b, 0, 0], db, RTOL64, f"set {b}")
        _close(ch[b] / c[b, 0, 0], dv.chamfer(x[b, : xl[b]], y[b, : yl[b]]), RTOL64, "chamfer")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("engine", ["triton", "brute"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_knn_scale_law_cuda(engine, dtype):
    if engine == "triton":
        from divergences.neighbors._triton import triton_available

        if not triton_available():
            pytest.skip("needs triton")
    x, y = _points(9, 300, 200, 3, dtype)
    x, y = x.cuda(), y.cuda()
    d1, i1 = dv.knn(x, y, k=2, engine=engine)
    scales = [2.0**-100, 2.0**100] if dtype == torch.float32 else [1e-300, 1e300]
    for c in scales:
        dc, ic = dv.knn(c * x, c * y, k=2, engine=engine)
        assert torch.equal(ic, i1)
        _close((dc / c).cpu(), d1.cpu(), 1e-5 if dtype == torch.float32 else 1e-12, "cuda")
    xm = torch.cat([x[:50] * 1e-20, x[50:] * 1e15 + 1e16])
    ym = torch.cat([y[:40] * 1e-20, y[40:] * 1e15 + 1e16])
    dm, im = dv.knn(xm, ym, k=1, engine=engine)
    dr, ir = dv.knn(xm.double().cpu(), ym.double().cpu(), k=1, engine="brute")
    assert torch.equal(im.cpu(), ir)
    _close(dm.double().cpu(), dr, 1e-5, "cuda mixed magnitudes")


@pytest.mark.parametrize("engine", ["kdtree", "brute"])
def test_set_edge_cases_at_extreme_scales(engine):
    for c in (1e-300, 1e300):
        z = torch.zeros(4, 2, dtype=torch.float64)
        d, i = dv.knn(z, z, k=2, engine=engine)
        assert d.eq(0).all() and i.ge(0).all()
        dup = torch.full((5, 3), c, dtype=torch.float64)  # duplicates, all equal
        assert float(dv.chamfer(dup, dup, engine=engine)) == 0.0
        one = torch.tensor([[c]], dtype=torch.float64)  # n = 1, d = 1
        _close(dv.hausdorff(one, 3 * one, engine=engine), 2 * c, 1e-15, "n = 1")
        x, y = _points(2, 3, 7, 1)  # unequal sizes, d = 1
        _close(dv.chamfer(c * x, c * y, engine=engine) / c, dv.chamfer(x, y), 1e-12, "1-D")


def test_knn_overflowing_distance_is_inf_with_warning():
    big = torch.finfo(torch.float64).max
    x = torch.tensor([[big], [-big]], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="exceeds? the range"):
        d, i = dv.knn(x, x, k=1, exclude_self=True)
    assert torch.isinf(d).all() and i.ravel().tolist() == [1, 0]
    with pytest.warns(RuntimeWarning, match="exceeds? the range"):
        assert math.isinf(float(dv.chamfer(x, x[:1] * 0, squared=True)))
    # huge but representable: exact, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d, _ = dv.knn(x / 4, x[:1] / 4 * 0, k=1)
    _close(
        d.ravel(),
        torch.tensor([big / 4, big / 4], dtype=torch.float64),
        1e-15,
        "near the top of float64",
    )


# ------------------------------------------------------------------ kernels


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 8),
    m=st.integers(2, 8),
    d=st.integers(1, 3),
    kernel=st.sampled_from(["gaussian", "laplace", "energy"]),
    c=SCALES64,
)
def test_kernel_scale_laws(seed, n, m, d, kernel, c):
    x, y = _points(seed, n, m, d)
    power = 1 if kernel == "energy" else 0
    ref = float(dv.mmd2(x, y, kernel=kernel))
    val = float(dv.mmd2(c * x, c * y, kernel=kernel)) / c**power
    # the MMD^2 is a difference of O(1) sums: compare against their size, not the result's
    scale = 1.0 if kernel != "energy" else float(dv.energy_distance(x, x[:1]) + 1)
    assert abs(val - ref) <= 1e-12 * scale, (kernel, c, val, ref)
    _close(dv.energy_distance(c * x, c * y) / c, dv.energy_distance(x, y), 1e-11, "energy")
    _close(dv.median_heuristic(c * x, c * y) / c, dv.median_heuristic(x, y), 1e-12, "median")


@pytest.mark.parametrize("c", [1e-38, 1e-20, 1e20, 1e37])
def test_kernels_float32_range(c):
    x, y = _points(1, 6, 5, 2, torch.float32)
    ref = float(dv.mmd2(x.double(), y.double()))
    assert abs(float(dv.mmd2(x * c, y * c)) - ref) < 1e-5
    e = dv.energy_distance(x * c, y * c)
    assert e.dtype == torch.float32
    _close(float(e) / c, dv.energy_distance(x.double(), y.double()), 1e-5, "float32 energy")


def test_mmd2_at_1e307_and_gradient():
    x, y = _points(4, 6, 5, 2)
    for c in (1e307, 1e-307):
        xc = (c * x).requires_grad_()
        val = dv.mmd2(xc, c * y, kernel="energy")
        val.backward()
        x1 = x.clone().requires_grad_()
        dv.mmd2(x1, y, kernel="energy").backward()
        _close(val / c, dv.mmd2(x, y, kernel="energy"), 1e-12, "energy mmd2")
        _close(xc.grad, x1.grad, 1e-10, "energy gradient (power 1: scale invariant)")
        assert math.isfinite(float(dv.mmd2(c * x, c * y)))


def test_kernel_fixed_parameters_outside_their_range_raise():
    x, y = _points(0, 5, 4, 2)
    with pytest.raises(ValueError, match=r"bandwidth \[1.0\] is too small for these data"):
        dv.mmd2(1e300 * x, 1e300 * y, bandwidth=1.0)
    with pytest.raises(ValueError, match=r"bandwidth .* too small .*float32"):
        dv.mmd2((1e30 * x).float(), (1e30 * y).float(), kernel="laplace", bandwidth=1.0)
    # a fixed bandwidth far above the data is the kernel's k -> 1 limit, not an error
    assert abs(float(dv.mmd2(1e-300 * x, 1e-300 * y, bandwidth=1.0))) < 1e-15
    with pytest.raises(ValueError, match="polynomial kernel overflows"):
        dv.mmd2(1e200 * x, y, kernel="polynomial")
    with pytest.raises(ValueError, match="polynomial kernel overflows"):
        dv.mmd2((1e18 * x).float(), y.float(), kernel="polynomial")


# ------------------------------------------------------------------ transport


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 6),
    d=st.integers(1, 3),
    p=st.sampled_from([1.0, 2.0, 1.5]),
    c=SCALES64,
)
def test_transport_scale_laws(seed, n, d, p, c):
    x, y = _points(seed, n, n + 1, d)
    opts = {"tol": 1e-9, "max_iter": 3000}
    checks = [
        ("sliced", {}, 1e-11),
        ("sinkhorn", opts, 1e-7),  # the solver's tolerance, not rounding
    ]
    if d == 1:
        checks.append(("exact_1d", {}, 1e-11))
    for method, kw, rtol in checks:
        ref = dv.wasserstein(x, y, p=p, method=method, **kw)
        val = dv.wasserstein(c * x, c * y, p=p, method=method, **kw)
        _close(val / c, ref, rtol, f"{method} W_{p} at {c}")
    ref = dv.wasserstein(x, y[:n], p=p, method="assignment")
    _close(dv.wasserstein(c * x, c * y[:n], p=p, method="assignment") / c, ref, 1e-11, "assign")
    sd_ref = float(dv.sinkhorn_divergence(x, y, p=1, **opts))
    sd = float(dv.sinkhorn_divergence(c * x, c * y, p=1, **opts)) / c
    assert abs(sd - sd_ref) <= 1e-7 * (1 + abs(sd_ref))


@pytest.mark.parametrize("c", [2.0**-1000, 1e300])
def test_transport_gradients_at_extreme_scales(c):
    x, y = _points(6, 5, 4, 2)
    for method in ("sliced", "sinkhorn"):
        x1 = x.clone().requires_grad_()
        dv.wasserstein(x1, y, method=method).backward()
        xc = (c * x).requires_grad_()
        dv.wasserstein(xc, c * y, method=method).backward()
        _close(xc.grad, x1.grad, 1e-6, f"{method} gradient at {c}")


def test_transport_float32_and_overflow():
    x, y = _points(7, 6, 5, 2, torch.float32)
    for c in (2.0**-120, 2.0**120):
        for method in ("sliced", "sinkhorn"):
            val = dv.wasserstein(x * c, y * c, method=method)
            assert val.dtype == torch.float32
            _close(val / c, dv.wasserstein(x, y, method=method), 1e-5, f"float32 {method}")
    big = torch.finfo(torch.float64).max
    u = torch.tensor([[big], [-big]], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="exceeds? the range"):
        assert math.isinf(float(dv.wasserstein(u[:1].expand(2, 1), u[1:].expand(2, 1))))
    _close(dv.wasserstein(u, u[1:]), big, 1e-15, "W_1 = max float, exactly")
    with pytest.warns(RuntimeWarning, match="exceeds? the range"):
        assert math.isinf(float(dv.sinkhorn_divergence(1e300 * x.double(), 1e300 * y.double())))


def test_transport_edge_cases():
    z = torch.zeros(3, 2, dtype=torch.float64)
    for method in ("sliced", "sinkhorn", "assignment"):
        assert float(dv.wasserstein(z, z, method=method)) == 0.0
    one = torch.tensor([[1e-300]], dtype=torch.float64)
    _close(dv.wasserstein(one, 2 * one), 1e-300, 1e-15, "n = 1 at 1e-300")
    # mixed magnitudes in 1-D: the tiny gaps are the whole distance
    u = torch.tensor([[1e300], [1e-300]], dtype=torch.float64)
    v = torch.tensor([[1e300], [3e-300]], dtype=torch.float64)
    _close(dv.wasserstein(u, v), 1e-300, 1e-15, "mixed 1-D")
    _close(dv.wasserstein(u, v, method="assignment"), 1e-300, 1e-15, "mixed assignment")


def test_sinkhorn_fixed_eps_range():
    x, y = _points(0, 4, 4, 2)
    with pytest.raises(ValueError, match=r"eps=1e-300 is too small for these data"):
        dv.wasserstein(1e200 * x, 1e200 * y, method="sinkhorn", eps=1e-300)
    # eps scales with the data's cost: the same problem at scale c gives c W
    ref = dv.wasserstein(x, y, method="sinkhorn", eps=0.1, p=2)
    c = 2.0**500
    val = dv.wasserstein(c * x, c * y, method="sinkhorn", eps=0.1 * c * c, p=2)
    _close(val / c, ref, 1e-12, "fixed eps, rescaled")


# ------------------------------------------------------------------ bad inputs


def _bad_cases():
    x = torch.randn(5, 2, dtype=torch.float64)
    y = torch.randn(4, 2, dtype=torch.float64)
    nan = x.clone()
    nan[0, 0] = math.nan
    inf = x.clone()
    inf[1, 1] = math.inf
    return (
        x,
        y,
        [
            ((nan, y), {}, ValueError, r"x must be finite, found 1 NaN and 0 inf"),
            ((x, inf), {}, ValueError, r"y must be finite, found 0 NaN and 1 inf"),
            ((x[:0], y), {}, ValueError, r"x is empty"),
            ((x[:, 0], y[:, 0]), {}, ValueError, r"x must have shape"),
            ((x.long(), y.long()), {}, TypeError, r"x must be a floating-point tensor"),
            ((x, y.float()), {}, TypeError, r"same dtype"),
            ((x, torch.randn(4, 3, dtype=torch.float64)), {}, ValueError, r"same dimension D"),
            (("ab", y), {}, TypeError, r"x must be an array or tensor"),
        ],
    )


SET_FUNCTIONS = [
    dv.knn,
    dv.chamfer,
    dv.hausdorff,
    dv.nearest_pair_distance,
    dv.mmd2,
    dv.energy_distance,
    dv.median_heuristic,
    dv.wasserstein,
    dv.sinkhorn_divergence,
]


@pytest.mark.parametrize("fn", SET_FUNCTIONS, ids=lambda f: f.__name__)
def test_bad_point_sets_name_the_argument(fn):
    _, _, cases = _bad_cases()
    for args, kw, exc, match in cases:
        if fn in (dv.knn, dv.chamfer, dv.hausdorff, dv.nearest_pair_distance) and "(N, D)" in match:
            continue
        with pytest.raises(exc, match=match):
            fn(*args, **kw)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda x, y: dv.knn(x, y, k=5), ValueError, r"k=5 is larger than y allows: 4"),
        (lambda x, y: dv.knn(x, y, k=0), ValueError, r"k must be >= 1"),
        (lambda x, y: dv.knn(x, y, k=1.5), TypeError, r"k must be an integer"),
        (lambda x, y: dv.chamfer(x, y, p=0.5), ValueError, r"p must be >= 1"),
        (lambda x, y: dv.hausdorff(x, y, p="2"), TypeError, r"p must be a real number"),
        (lambda x, y: dv.wasserstein(x, y, p=0.5), ValueError, r"p must be a finite number >= 1"),
        (lambda x, y: dv.wasserstein(x, y, p="2"), TypeError, r"p must be a finite number"),
        (lambda x, y: dv.sinkhorn_divergence(x, y, p=math.inf), ValueError, r"p must be a fin"),
        (
            lambda x, y: dv.knn(x[None], y[None], x_lengths=[6]),
            ValueError,
            r"x_lengths must lie in \[1, 5\]",
        ),
        (
            lambda x, y: dv.chamfer(x[None], y[None], y_lengths=[0]),
            ValueError,
            r"y_lengths must lie in \[1, 4\] \(empty sets are not allowed\)",
        ),
        (
            lambda x, y: dv.knn(x[None], y[None], y_lengths=[1.5]),
            TypeError,
            r"y_lengths must hold integers",
        ),
        (
            lambda x, y: dv.wasserstein(x, y, method="sliced", generator=1),
            TypeError,
            r"generator must be a torch.Generator or None, got int",
        ),
        (
            lambda x, y: dv.mmd2(x, y, generator="seed"),
            TypeError,
            r"generator must be a torch.Generator",
        ),
        (
            lambda x, y: dv.mmd2(x, y, kernel="polynomial", gamma="a"),
            TypeError,
            r"gamma must be a real number, got str",
        ),
        (lambda x, y: dv.energy_distance(x, y, squared=1), TypeError, r"squared must be a bool"),
        (lambda x, y: dv.mmd2(x[:1], y), ValueError, r"unbiased=True needs at least 2 points"),
        (
            lambda x, y: dv.wasserstein(x, y, x_weights=[1.0, 2.0]),
            ValueError,
            r"x_weights must have shape \(5,\)",
        ),
    ],
)
def test_bad_options_name_the_argument(call, exc, match):
    x, y, _ = _bad_cases()
    with pytest.raises(exc, match=match):
        call(x, y)


def test_huge_p_terminates():
    x, y = _points(0, 4, 3, 2)
    val = dv.wasserstein(1e300 * x, 1e300 * y, method="sliced", p=1e6)
    assert math.isfinite(float(val))
    assert np.isfinite(dv.knn(1e300 * x, 1e300 * y, p=1e6)[0].numpy()).all()


@pytest.mark.parametrize("method", ["sinkhorn", "sliced", "assignment"])
def test_transport_far_from_the_origin_float32(method):
    # a common offset cancels in ‖x‖² + ‖y‖² − 2x·y; the data are centred first, so float32
    # agrees with float64 on the same (rounded) points to float32 accuracy of the spread
    x, y = _points(11, 12, 12, 2, torch.float32)
    x, y = x + 1e4, y + 1e4
    kw = {"eps": 0.1, "tol": 1e-4} if method == "sinkhorn" else {}
    ref = dv.wasserstein(x.double(), y.double(), method=method, p=2, **kw)
    _close(dv.wasserstein(x, y, method=method, p=2, **kw), ref, 1e-4, f"{method} at 1e4")
    if method == "sinkhorn":
        opts = {"eps": 0.1, "tol": 1e-4}
        sd = dv.sinkhorn_divergence(x, y, **opts)
        assert abs(float(sd) - float(dv.sinkhorn_divergence(x.double(), y.double(), **opts))) < 1e-3
