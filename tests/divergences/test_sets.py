"""Tests of divergences.sets against float64 brute force (scipy cdist, directed_hausdorff)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist, directed_hausdorff

from divergences.sets import chamfer, hausdorff, nearest_pair_distance

PS = [1.0, 2.0, 3.0, math.inf]
ENGINES = ["kdtree", "brute"]


def C(x, y, p):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return cdist(x, y, "chebyshev") if math.isinf(p) else cdist(x, y, "minkowski", p=p)


def ref_chamfer(x, y, p=2.0, squared=False, reduction="mean", direction="both"):
    D = C(x, y, p) ** (2 if squared else 1)
    red = np.mean if reduction == "mean" else np.sum
    a, b = red(D.min(1)), red(D.min(0))
    return {"both": a + b, "x_to_y": a, "y_to_x": b}[direction]


def ref_hausdorff(x, y, p=2.0, directed=False):
    D = C(x, y, p)
    h = D.min(1).max()
    return h if directed else max(h, D.min(0).max())


@pytest.fixture
def sets(rng):
    x = rng.normal(size=(57, 3))
    x[5:9] = x[0]  # duplicates
    y = rng.normal(size=(33, 3))
    y[3] = x[2]  # a shared point
    return x, y


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("p", PS)
def test_chamfer_matches_bruteforce(sets, engine, p):
    x, y = sets
    for squared in (False, True):
        for reduction in ("mean", "sum"):
            for direction in ("both", "x_to_y", "y_to_x"):
                kw = dict(p=p, squared=squared, reduction=reduction, direction=direction)
                got = chamfer(x, y, engine=engine, **kw)
                assert isinstance(got, float)
                assert got == pytest.approx(ref_chamfer(x, y, **kw), rel=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("p", PS)
def test_hausdorff_and_nearest_pair_match_bruteforce(sets, engine, p, rng):
    x, y = sets
    assert hausdorff(x, y, p=p, engine=engine) == pytest.approx(ref_hausdorff(x, y, p), 1e-12)
    h = hausdorff(x, y, p=p, directed=True, engine=engine)
    assert h == pytest.approx(ref_hausdorff(x, y, p, directed=True), rel=1e-12)
    assert hausdorff(x, y, p=p, squared=True, engine=engine) == pytest.approx(
        ref_hausdorff(x, y, p) ** 2, rel=1e-12
    )
    assert nearest_pair_distance(x, y, p=p, engine=engine) == 0.0  # they share a point
    x2 = rng.normal(size=(20, 3)) + 3.0
    assert nearest_pair_distance(x2, y, p=p, engine=engine) == pytest.approx(
        C(x2, y, p).min(), rel=1e-12
    )
    assert nearest_pair_distance(x2, y, p=p, squared=True) == pytest.approx(
        C(x2, y, p).min() ** 2, rel=1e-12
    )


def test_directed_hausdorff_matches_scipy(rng):
    for n, m, d in ((40, 30, 2), (1, 7, 5), (25, 1, 1)):
        x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
        assert hausdorff(x, y, directed=True) == pytest.approx(directed_hausdorff(x, y)[0])
        assert hausdorff(y, x, directed=True) == pytest.approx(directed_hausdorff(y, x)[0])


def test_golden_values():
    # hand-computed: x = {(0,0), (2,0)}, y = {(0,1)}
    x, y = [[0.0, 0.0], [2.0, 0.0]], [[0.0, 1.0]]
    assert chamfer(x, y, squared=True) == pytest.approx((1 + 5) / 2 + 1)  # pytorch3d's default
    assert chamfer(x, y, reduction="sum") == pytest.approx(1 + math.sqrt(5) + 1)
    assert chamfer(x, y, p=1) == pytest.approx((1 + 3) / 2 + 1)
    assert hausdorff(x, y) == pytest.approx(math.sqrt(5))
    assert hausdorff(y, x, directed=True) == pytest.approx(1.0)
    assert nearest_pair_distance(x, y) == pytest.approx(1.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_batched_with_lengths_matches_per_set(engine, rng):
    B, N, M, D = 3, 15, 11, 2
    x = torch.from_numpy(rng.normal(size=(B, N, D)))
    y = torch.from_numpy(rng.normal(size=(B, M, D)))
    xl, yl = [15, 4, 9], [1, 11, 6]
    kw = dict(x_lengths=torch.tensor(xl), y_lengths=torch.tensor(yl), engine=engine)
    outs = {
        "chamfer": chamfer(x, y, **kw),
        "chamfer_sum_sq": chamfer(x, y, reduction="sum", squared=True, **kw),
        "hausdorff": hausdorff(x, y, **kw),
        "directed": hausdorff(x, y, directed=True, **kw),
        "nearest": nearest_pair_distance(x, y, **kw),
    }
    for v in outs.values():
        assert v.shape == (B,) and v.dtype == torch.float64
    for b in range(B):
        xb, yb = x[b, : xl[b]].numpy(), y[b, : yl[b]].numpy()
        assert float(outs["chamfer"][b]) == pytest.approx(ref_chamfer(xb, yb), rel=1e-12)
        assert float(outs["chamfer_sum_sq"][b]) == pytest.approx(
            ref_chamfer(xb, yb, squared=True, reduction="sum"), rel=1e-12
        )
        assert float(outs["hausdorff"][b]) == pytest.approx(ref_hausdorff(xb, yb), rel=1e-12)
        assert float(outs["directed"][b]) == pytest.approx(
            ref_hausdorff(xb, yb, directed=True), rel=1e-12
        )
        assert float(outs["nearest"][b]) == pytest.approx(C(xb, yb, 2).min(), rel=1e-12)
    # NumPy batches give NumPy arrays
    got = chamfer(x.numpy(), y.numpy(), x_lengths=xl, y_lengths=yl)
    assert isinstance(got, np.ndarray) and got.shape == (B,)
    np.testing.assert_allclose(got, outs["chamfer"].numpy(), rtol=1e-13)


def test_dtype_and_device_preserved(rng):
    x = torch.from_numpy(rng.normal(size=(20, 4)))
    y = torch.from_numpy(rng.normal(size=(30, 4)))
    for dt in (torch.float32, torch.float64, torch.bfloat16):
        for fn in (chamfer, hausdorff, nearest_pair_distance):
            v = fn(x.to(dt), y.to(dt))
            assert v.dtype == dt and v.shape == () and v.device == x.device
    assert float(chamfer(x.float(), y.float())) == pytest.approx(
        ref_chamfer(x.numpy(), y.numpy()), rel=1e-6
    )


def test_array_mixed_with_tensor_follows_the_tensor(sets):
    x, y = sets
    for fn, ref in ((chamfer, ref_chamfer(x, y)), (hausdorff, ref_hausdorff(x, y))):
        for a, b in ((torch.from_numpy(x), y), (x, torch.from_numpy(y))):
            v = fn(a, b)
            assert isinstance(v, torch.Tensor) and v.dtype == torch.float64
            assert float(v) == pytest.approx(ref, rel=1e-12)
    v = nearest_pair_distance(torch.from_numpy(x).float(), y + 10.0)  # cast to the tensor's dtype
    assert v.dtype == torch.float32
    assert float(v) == pytest.approx(C(x, y + 10.0, 2.0).min(), rel=1e-5)


@pytest.mark.parametrize("p", PS)
def test_gradcheck(p, rng):
    x = torch.from_numpy(rng.normal(size=(7, 3))).requires_grad_()
    y = torch.from_numpy(rng.normal(size=(5, 3))).requires_grad_()
    fns = [
        lambda a, b: chamfer(a, b, p=p),
        lambda a, b: chamfer(a, b, p=p, squared=True, reduction="sum", direction="y_to_x"),
        lambda a, b: hausdorff(a, b, p=p),
        lambda a, b: nearest_pair_distance(a, b, p=p),
    ]
    for fn in fns:
        assert torch.autograd.gradcheck(fn, (x, y), eps=1e-6, atol=1e-7)


def test_gradcheck_batched_with_padding(rng):
    x = torch.from_numpy(rng.normal(size=(2, 6, 2))).requires_grad_()
    y = torch.from_numpy(rng.normal(size=(2, 5, 2))).requires_grad_()
    fn = lambda a, b: chamfer(a, b, x_lengths=[6, 3], y_lengths=[2, 5])  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, y), eps=1e-6, atol=1e-7)
    (g,) = torch.autograd.grad(fn(x, y).sum(), x)
    assert (g[1, 3:] == 0).all()  # padding gets no gradient


def test_gradient_is_finite_on_identical_sets(rng):
    x = torch.from_numpy(rng.normal(size=(10, 3))).requires_grad_()
    for p in PS:
        for fn in (chamfer, hausdorff, nearest_pair_distance):
            v = fn(x, x.detach().clone(), p=p)
            assert v.item() == 0.0
            (g,) = torch.autograd.grad(v, x)
            assert torch.isfinite(g).all()


small = arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.just(2)),
    elements=st.integers(-4, 4).map(float),
)


@settings(max_examples=200)
@given(x=small, y=small, z=small, p=st.sampled_from(PS))
@example(x=np.full((3, 2), 2.0), y=np.array([[0.0, -1.0]]), z=np.zeros((1, 2)), p=3.0)
def test_laws(x, y, z, p):
    """Symmetry, zero on identical sets, permutation/translation invariance, triangle ineq."""
    for fn in (chamfer, hausdorff, nearest_pair_distance):
        assert fn(x, y, p=p) == pytest.approx(fn(y, x, p=p), abs=1e-12)
        assert fn(x, x, p=p) == 0.0
        assert fn(x[::-1], y, p=p) == pytest.approx(fn(x, y, p=p), abs=1e-12)
        assert fn(x + np.array([3.0, -1.5]), y + np.array([3.0, -1.5]), p=p) == pytest.approx(
            fn(x, y, p=p), abs=1e-12
        )
        assert fn(x, y, p=p) >= 0
    hxz, hxy, hyz = hausdorff(x, z, p=p), hausdorff(x, y, p=p), hausdorff(y, z, p=p)
    assert hxz <= hxy + hyz + 1e-12
    assert chamfer(x, y, p=p, direction="x_to_y") + chamfer(
        x, y, p=p, direction="y_to_x"
    ) == pytest.approx(chamfer(x, y, p=p))
    # min <= mean <= max, up to the mean's rounding (a few ulps: three equal d's mean to d - 1 ulp)
    mean_xy = chamfer(x, y, p=p, direction="x_to_y")
    assert nearest_pair_distance(x, y, p=p) <= mean_xy * (1 + 1e-14)
    assert mean_xy <= hausdorff(x, y, p=p, directed=True) * (1 + 1e-14)


@settings(max_examples=100)
@given(x=small, extra=small)
def test_overlap_nearest_pair_zero_but_chamfer_not(x, extra):
    y = np.concatenate([x[:1], extra + 100.0])  # shares x[0], otherwise far away
    assert nearest_pair_distance(x, y) == 0.0
    assert chamfer(x, y) > 0
    assert hausdorff(x, y) > 0


def test_errors(rng):
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum'"):
        chamfer(x, x, reduction="max")
    with pytest.raises(ValueError, match="direction must be one of"):
        chamfer(x, x, direction="forward")
    with pytest.raises(TypeError, match="squared must be a bool"):
        chamfer(x, x, squared=1)
    with pytest.raises(TypeError, match="directed must be a bool"):
        hausdorff(x, x, directed="yes")
    with pytest.raises(ValueError, match="same dimension D"):
        hausdorff(x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="x is empty"):
        nearest_pair_distance(torch.zeros(0, 3), x)
    with pytest.raises(ValueError, match="y must be finite"):
        chamfer(x, torch.full((2, 3), float("nan")))
    with pytest.raises(TypeError, match="floating"):
        chamfer(x, torch.zeros(4, 3, dtype=torch.int32))
    with pytest.raises(ValueError, match="p must be >= 1"):
        chamfer(x, x, p=0)
    with pytest.raises(ValueError, match="same batch size B"):
        chamfer(torch.zeros(2, 4, 3), torch.zeros(3, 4, 3))


@pytest.mark.gpu
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, 5000, 3, generator=g), torch.randn(2, 4000, 3, generator=g)
    kw = dict(x_lengths=[5000, 1234], y_lengths=[17, 4000])
    xc, yc = x.cuda(), y.cuda()
    for fn in (chamfer, hausdorff, nearest_pair_distance):
        ref = fn(x, y, **kw)
        got = fn(
            xc,
            yc,
            x_lengths=torch.tensor([5000, 1234], device="cuda"),
            y_lengths=torch.tensor([17, 4000], device="cuda"),
        )
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), ref, rtol=1e-5, atol=1e-6)
