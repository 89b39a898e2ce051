"""Tests of divergences.neighbors.engine.knn against a float64 brute-force oracle (scipy cdist)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

from divergences.neighbors import knn

ENGINES = ["kdtree", "brute"]
PS = [1.0, 2.0, 3.0, math.inf]


def ref_dists(x, y, p):
    """Full float64 distance matrix, the independent oracle."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if math.isinf(p):
        return cdist(x, y, "chebyshev")
    return cdist(x, y, "minkowski", p=p)


def check_knn(x, y, k, p, d, i, exclude_self=False, rtol=1e-12, atol=1e-12):
    """d, i must be the k smallest distances (ascending, ties by index) at valid indices."""
    d, i = np.asarray(d, np.float64), np.asarray(i)
    C = ref_dists(x, y, p)
    if exclude_self:
        np.fill_diagonal(C, np.inf)
    ref = np.sort(C, axis=1)[:, :k]
    np.testing.assert_allclose(d, ref, rtol=rtol, atol=atol)
    assert i.dtype == np.int64 and i.min() >= 0 and i.max() < len(y)
    np.testing.assert_allclose(np.take_along_axis(C, i, 1), d, rtol=rtol, atol=atol)
    if exclude_self:
        assert not (i == np.arange(len(x))[:, None]).any()
    assert (np.diff(d, axis=1) >= 0).all()
    same = np.diff(d, axis=1) == 0
    assert (np.diff(i, axis=1)[same] > 0).all(), "ties must be listed by increasing index"
    assert all(len(set(r)) == k for r in i.tolist()), "indices in a row must be distinct"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("k", [1, 3])
def test_matches_bruteforce_random(engine, p, k, rng):
    x = rng.normal(size=(97, 4))
    y = rng.normal(size=(61, 4))
    d, i = knn(x, y, k, p=p, engine=engine, tile=16)
    assert isinstance(d, np.ndarray) and d.shape == (97, k) and d.dtype == np.float64
    check_knn(x, y, k, p, d, i)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_duplicates_ties_and_integer_grid(engine, p, rng):
    # integer grid points: many exact ties and duplicated points in both sets
    x = rng.integers(0, 3, size=(80, 2)).astype(float)
    y = np.concatenate([rng.integers(0, 3, size=(30, 2)), [[1, 1]] * 5]).astype(float)
    for k in (1, 4):
        d, i = knn(x, y, k, p=p, engine=engine, tile=7)
        check_knn(x, y, k, p, d, i)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_exclude_self_with_duplicates(engine, p, rng):
    x = rng.normal(size=(50, 3))
    x[10:20] = x[0]  # 11 copies of one point
    for k in (1, 2, 12):
        d, i = knn(x, x, k, p=p, exclude_self=True, engine=engine, tile=8)
        check_knn(x, x, k, p, d, i, exclude_self=True)
        # a duplicate is found at distance exactly 0, but never the point itself
        assert d[0, 0] == 0.0 and i[0, 0] != 0


@pytest.mark.parametrize("engine", ENGINES)
def test_edge_shapes(engine, rng):
    # d = 1, single query, single reference, unequal sizes, k = M
    x1, y1 = rng.normal(size=(40, 1)), rng.normal(size=(9, 1))
    d, i = knn(x1, y1, 9, engine=engine)
    check_knn(x1, y1, 9, 2.0, d, i)
    d, i = knn(x1[:1], y1, 2, engine=engine)
    check_knn(x1[:1], y1, 2, 2.0, d, i)
    d, i = knn(x1, y1[:1], 1, engine=engine)
    assert (i == 0).all()
    np.testing.assert_allclose(d[:, 0], np.abs(x1[:, 0] - y1[0, 0]), rtol=1e-14)
    d, i = knn(y1[:2], y1[:2], 1, exclude_self=True, engine=engine)
    assert i.ravel().tolist() == [1, 0]


@pytest.mark.parametrize("engine", ENGINES)
def test_far_from_origin_tiny_spread(engine, rng):
    # the GEMM formula without centring loses every digit here (|x|^2 ~ 1e8, d^2 ~ 1e-8)
    x = 1e4 + 1e-4 * rng.normal(size=(300, 3))
    y = 1e4 + 1e-4 * rng.normal(size=(200, 3))
    d, i = knn(x, y, 2, engine=engine, tile=64)
    check_knn(x, y, 2, 2.0, d, i, rtol=1e-9, atol=0)


def test_float32_selection_is_exact_after_recompute(rng):
    # offset data in float32: the returned neighbours match the float64 oracle on the
    # float32 values, and the distances are recomputed (not taken from the GEMM)
    x = torch.from_numpy(100 + rng.normal(size=(500, 16))).float()
    y = torch.from_numpy(100 + rng.normal(size=(400, 16))).float()
    d, i = knn(x, y, 3, engine="brute", tile=128)
    assert d.dtype == torch.float32 and i.dtype == torch.int64
    check_knn(x.double().numpy(), y.double().numpy(), 3, 2.0, d.numpy(), i.numpy(), rtol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_agree_high_and_low_dim(engine, rng):
    for dim in (2, 12, 40):
        x, y = rng.normal(size=(120, dim)), rng.normal(size=(130, dim))
        d, i = knn(x, y, 5, engine=engine, tile=32)
        d2, i2 = knn(x, y, 5, engine="brute" if engine == "kdtree" else "kdtree")
        np.testing.assert_allclose(d, d2, rtol=1e-12)
        np.testing.assert_array_equal(i, i2)  # continuous data: no ties


def test_tile_size_invariance(rng):
    x, y = rng.normal(size=(70, 6)), rng.normal(size=(90, 6))
    ref = knn(x, y, 4, engine="brute")
    for tile in (1, 3, 5, 64, 1000):
        d, i = knn(x, y, 4, engine="brute", tile=tile)
        np.testing.assert_allclose(d, ref[0], rtol=1e-13)
        np.testing.assert_array_equal(i, ref[1])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("exclude_self", [False, True])
def test_batched_with_lengths_matches_per_set(engine, exclude_self, rng):
    B, N, M, D = 3, 20, 25, 3
    x = torch.from_numpy(rng.normal(size=(B, N, D)))
    y = x.clone() if exclude_self else torch.from_numpy(rng.normal(size=(B, M, D)))
    xl = torch.tensor([20, 7, 13])
    yl = xl.clone() if exclude_self else torch.tensor([25, 4, 19])
    d, i = knn(x, y, 3, exclude_self=exclude_self, x_lengths=xl, y_lengths=yl, engine=engine)
    assert d.shape == (B, N, 3) and d.dtype == torch.float64
    for b in range(B):
        n, m = int(xl[b]), int(yl[b])
        db, ib = knn(x[b, :n], y[b, :m], 3, exclude_self=exclude_self, engine="brute")
        torch.testing.assert_close(d[b, :n], db, rtol=1e-13, atol=0)
        torch.testing.assert_close(i[b, :n], ib)
        assert torch.isinf(d[b, n:]).all() and (i[b, n:] == -1).all()
        assert (i[b, :n] < m).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_torch_in_torch_out_and_dtypes(engine, rng):
    x = torch.from_numpy(rng.normal(size=(30, 3)))
    for dt in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        d, i = knn(x.to(dt), x.to(dt), 2, engine=engine)
        assert d.dtype == dt and i.dtype == torch.int64 and d.device == x.device
        assert torch.equal(d[:, 0], torch.zeros(30, dtype=dt))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("p", PS)
def test_gradcheck_distances(engine, p, rng):
    x = torch.from_numpy(rng.normal(size=(6, 3))).requires_grad_()
    y = torch.from_numpy(rng.normal(size=(8, 3))).requires_grad_()
    fn = lambda a, b: knn(a, b, 2, p=p, engine=engine)[0]  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, y), eps=1e-6, atol=1e-7)


def test_gradient_finite_at_zero_distance():
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0.0, 0.0], [5.0, 5.0]], dtype=torch.float64)
    for p in PS:
        d, _ = knn(x, y, 1, p=p)
        (g,) = torch.autograd.grad(d.sum(), x)
        assert torch.isfinite(g).all() and (g[0] == 0).all()


def test_auto_engine_matches(rng):
    for dim in (3, 30):
        x, y = rng.normal(size=(50, dim)), rng.normal(size=(40, dim))
        check_knn(x, y, 2, 2.0, *knn(x, y, 2))


@settings(max_examples=150)
@given(
    pts=arrays(
        np.float64,
        st.tuples(st.integers(2, 12), st.integers(1, 3)),
        elements=st.integers(-3, 3).map(float),
    ),
    k=st.integers(1, 3),
    p=st.sampled_from(PS),
    engine=st.sampled_from(ENGINES),
    data=st.data(),
)
def test_law_k_smallest_and_invariances(pts, k, p, engine, data):
    """Oracle law on tie-heavy data; permuting y permutes indices; translation changes nothing."""
    n = pts.shape[0]
    split = data.draw(st.integers(1, n - 1))
    x, y = pts[:split], pts[split:]
    k = min(k, len(y))
    d, i = knn(x, y, k, p=p, engine=engine, tile=data.draw(st.integers(1, 6)))
    check_knn(x, y, k, p, d, i)
    perm = np.random.default_rng(n).permutation(len(y))
    dp, ip = knn(x, y[perm], k, p=p, engine=engine)
    np.testing.assert_array_equal(dp, d)
    # indices into the permuted set point back at points at the same distances
    np.testing.assert_allclose(np.take_along_axis(ref_dists(x, y, p), perm[ip], 1), d)
    shift = np.array([7.0, -2.0, 0.5][: x.shape[1]])
    ds, is_ = knn(x + shift, y + shift, k, p=p, engine=engine)
    np.testing.assert_allclose(ds, d, atol=1e-12)
    np.testing.assert_array_equal(is_, i)


# ---- certified p = 2 brute force: fallback on adversarial data, both-directions pass ----


def _adversarial_sets(rng):
    """Near-ties, far-off data with a tiny spread, duplicates; sizes that hit the grouped
    (tile multiple of 64/32) and the plain tile paths."""
    base = rng.normal(size=(150, 5))
    near = base[:1] + 1e-7 * rng.normal(size=(150, 5))  # a cluster of near-ties
    far = 1e4 + 1e-3 * rng.normal(size=(150, 5))
    dup = np.repeat(rng.normal(size=(30, 5)), 5, axis=0)  # every point 5 times
    return {"near": (near, base), "far": (far, far[::-1] + 1e-4), "dup": (dup, dup[::2])}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("tile", [None, 64, 40])
@pytest.mark.parametrize("force_fallback", [False, True])
def test_certified_brute_on_adversarial_data(dtype, tile, force_fallback, rng, monkeypatch):
    import divergences.neighbors._brute_l2 as nb

    if force_fallback:  # a certification band so wide that every row takes the exact re-check
        monkeypatch.setattr(nb, "unit_roundoff", lambda dtype, device: 1.0)
    for name, (x, y) in _adversarial_sets(rng).items():
        xt, yt = torch.from_numpy(x).to(dtype), torch.from_numpy(y).to(dtype)
        x64, y64 = xt.double().numpy(), yt.double().numpy()
        rtol = 1e-12 if dtype == torch.float64 else 1e-6
        for k in (1, 3):
            d, i = knn(xt, yt, k, engine="brute", tile=tile)
            check_knn(x64, y64, k, 2.0, d.double().numpy(), i.numpy(), rtol=rtol, atol=0)
            # kd-tree on the same float values returns the same neighbours (exact engine)
            dk, ik = knn(xt, yt, k, engine="kdtree")
            torch.testing.assert_close(d, dk, rtol=rtol, atol=0)
            if name != "dup" and dtype == torch.float64:  # float32 rounding makes exact ties
                torch.testing.assert_close(i, ik)
        d, i = knn(xt, xt, 2, exclude_self=True, engine="brute", tile=tile)
        check_knn(x64, x64, 2, 2.0, d.double().numpy(), i.numpy(), True, rtol=rtol, atol=0)


@pytest.mark.parametrize("dim", [3, 5, 64])
def test_float64_scored_in_float32_keeps_float64_order(dim, rng):
    """float64 inputs scored in float32 (dim >= F32_SCORES_MIN_DIM): near-ties far below
    float32's resolution, offset data and a wide dynamic range are ranked as in float64."""
    import divergences.neighbors._brute_l2 as nb

    assert nb.score_dtype(torch.float64, dim) == torch.float32
    base = rng.normal(size=(1, dim))
    cases = {
        "ties 1e-12": (
            base + 1e-12 * rng.normal(size=(120, dim)),
            base + 1e-12 * rng.normal(size=(90, dim)),
        ),
        "offset": (1e6 + rng.normal(size=(120, dim)), 1e6 + rng.normal(size=(90, dim))),
        "range": (
            rng.normal(size=(120, dim)) * 10.0 ** rng.integers(-150, 150, size=(120, 1)),
            rng.normal(size=(90, dim)) * 10.0 ** rng.integers(-150, 150, size=(90, 1)),
        ),
    }
    for name, (x, y) in cases.items():
        for k in (1, 3):
            d, i = knn(x, y, k, engine="brute", tile=32)
            check_knn(x, y, k, 2.0, d, i, rtol=1e-12, atol=0)
            if name != "range":  # there, distances tie in float64 (a tiny point beside a huge one)
                np.testing.assert_array_equal(i, knn(x, y, k, engine="kdtree")[1], err_msg=name)
        (dx, ix), (dy, iy) = _both(x, y)
        check_knn(x, y, 1, 2.0, dx, ix, rtol=1e-12, atol=0)
        check_knn(y, x, 1, 2.0, dy, iy, rtol=1e-12, atol=0)


def _both(x, y):
    from divergences.neighbors.engine import prepare_sets, search_both

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    (dx, ix), (dy, iy) = search_both(prepare_sets(xt, yt, None, None, 2.0, "brute"), tile=32)
    return (dx[0].numpy(), ix[0].numpy()), (dy[0].numpy(), iy[0].numpy())


def test_fallback_runs_only_on_uncertified_rows(rng, monkeypatch):
    import divergences.neighbors._brute_l2 as nb

    rows = []
    orig = nb._fallback
    monkeypatch.setattr(nb, "_fallback", lambda *a: rows.append(a[6].numel()) or orig(*a))
    x, y = rng.normal(size=(256, 8)), rng.normal(size=(320, 8))
    knn(x, y, 1, engine="brute")
    assert rows == []  # well-separated float64 data: every row certified
    y[:40] = y[40:80]  # exact duplicates: the rows whose nearest point is duplicated re-check
    d, i = knn(torch.from_numpy(x).float(), torch.from_numpy(y).float(), 1, engine="brute")
    assert 0 < sum(rows) < len(x)
    check_knn(x, y, 1, 2.0, d.double().numpy(), i.numpy(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("engine", ["brute", "kdtree"])
@pytest.mark.parametrize("tile", [None, 64, 5])
def test_search_both_matches_two_knn_calls(engine, tile, rng):
    from divergences.neighbors.engine import prepare_sets, search_both

    x = np.concatenate([rng.normal(size=(190, 4)), np.repeat(rng.normal(size=(10, 4)), 3, 0)])
    y = np.concatenate([rng.normal(size=(250, 4)), x[:20]])  # shared points and duplicates
    for dt in (torch.float64, torch.float32):
        xt, yt = torch.from_numpy(x).to(dt), torch.from_numpy(y).to(dt)
        (dx, ix), (dy, iy) = search_both(prepare_sets(xt, yt, None, None, 2.0, engine), tile=tile)
        for (d, i), (a, b) in (((dx, ix), (xt, yt)), ((dy, iy), (yt, xt))):
            rd, ri = knn(a, b, 1, engine=engine, tile=tile)
            torch.testing.assert_close(d[0], rd, rtol=0, atol=0)
            torch.testing.assert_close(i[0], ri)
    # batched with padding, float32, against per-set calls
    xb = torch.from_numpy(rng.normal(size=(2, 96, 3))).float()
    yb = torch.from_numpy(rng.normal(size=(2, 128, 3))).float()
    s = prepare_sets(xb, yb, [96, 50], [70, 128], 2.0, engine)
    (dx, ix), (dy, iy) = search_both(s, tile=tile)
    for b, (n, m) in enumerate([(96, 70), (50, 128)]):
        rd, ri = knn(xb[b, :n], yb[b, :m], 1, engine="kdtree")
        torch.testing.assert_close(dx[b, :n], rd, rtol=1e-6, atol=0)
        torch.testing.assert_close(ix[b, :n], ri)
        rd, ri = knn(yb[b, :m], xb[b, :n], 1, engine="kdtree")
        torch.testing.assert_close(dy[b, :m], rd, rtol=1e-6, atol=0)
        torch.testing.assert_close(iy[b, :m], ri)
        assert torch.isinf(dx[b, n:]).all() and (ix[b, n:] == -1).all()
        assert torch.isinf(dy[b, m:]).all() and (iy[b, m:] == -1).all()


def test_errors():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="same dimension D"):
        knn(x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="y is empty"):
        knn(x, torch.zeros(0, 3))
    with pytest.raises(ValueError, match=r"x must be finite.*1 NaN"):
        knn(torch.tensor([[float("nan"), 0.0, 0.0]]), x)
    with pytest.raises(ValueError, match=r"y must be finite.*1 inf"):
        knn(x, torch.tensor([[float("inf"), 0.0, 0.0]]))
    with pytest.raises(ValueError, match="k=5 is larger than y allows: 4 points"):
        knn(x, x, 5)
    with pytest.raises(ValueError, match="k <= M - 1 with exclude_self"):
        knn(x, x, 4, exclude_self=True)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        knn(torch.zeros(4, 3, dtype=torch.int64), x)
    with pytest.raises(TypeError, match="same dtype"):
        knn(x, x.double())
    d, i = knn(x, np.ones((4, 3)), 1)  # an array mixed with a tensor follows the tensor
    assert isinstance(d, torch.Tensor) and d.dtype == x.dtype and isinstance(i, torch.Tensor)
    with pytest.raises(TypeError, match="k must be an integer"):
        knn(x, x, 1.5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        knn(x, x, 0)
    with pytest.raises(ValueError, match="p must be >= 1"):
        knn(x, x, p=0.5)
    with pytest.raises(ValueError, match="engine must be one of"):
        knn(x, x, engine="faiss")
    with pytest.raises(ValueError, match=r"triton.*needs CUDA"):
        knn(x, x, engine="triton")
    with pytest.raises(ValueError, match="x must have shape"):
        knn(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="same set; got shapes"):
        knn(x, torch.zeros(5, 3), exclude_self=True)
    with pytest.raises(ValueError, match="same points"):
        knn(x, x + 1, exclude_self=True)
    with pytest.raises(ValueError, match="need batched"):
        knn(x, x, x_lengths=torch.tensor([4]))


def test_length_errors():
    x = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match=r"x_lengths must have shape \(B,\) = \(2,\)"):
        knn(x, x, x_lengths=torch.tensor([5]))
    with pytest.raises(ValueError, match=r"y_lengths must lie in \[1, 5\]"):
        knn(x, x, y_lengths=torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"x_lengths must lie in \[1, 5\]"):
        knn(x, x, x_lengths=[6, 5])
    with pytest.raises(TypeError, match="y_lengths must hold integers"):
        knn(x, x, y_lengths=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="smallest set of y allows: 2 points"):
        knn(x, x, 3, y_lengths=[2, 5])
    with pytest.raises(ValueError, match="same set"):
        knn(x, x, exclude_self=True, x_lengths=[5, 5], y_lengths=[5, 4])


def test_different_devices_raise_without_copy():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    with pytest.raises(ValueError, match="one device"):
        knn(torch.zeros(3, 2), torch.zeros(3, 2, device="cuda"))


@pytest.mark.gpu
@pytest.mark.parametrize("engine", ["brute", "triton", "auto"])
def test_cuda_matches_cpu(engine):
    g = torch.Generator().manual_seed(0)
    for dim in (3, 8, 9, 64, 2048):
        x = torch.randn(3000 if dim < 2048 else 500, dim, generator=g)
        y = torch.randn(2000 if dim < 2048 else 700, dim, generator=g)
        d, i = knn(x, y, 4)
        dc, ic = knn(x.cuda(), y.cuda(), 4, engine=engine)
        assert dc.device.type == "cuda"
        torch.testing.assert_close(dc.cpu(), d, rtol=1e-5, atol=1e-6)
        assert (ic.cpu() == i).float().mean() > 0.999


@pytest.mark.gpu
@pytest.mark.parametrize("engine", ["brute", "triton"])
def test_cuda_batched_exclude_self(engine):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1500, 5, generator=g)
    x[:, 100:120] = x[:, :1]  # duplicates
    lengths = torch.tensor([1500, 777])
    d, _ = knn(x, x, 3, exclude_self=True, x_lengths=lengths, y_lengths=lengths)
    dc, ic = knn(
        x.cuda(),
        x.cuda(),
        3,
        exclude_self=True,
        x_lengths=lengths.cuda(),
        y_lengths=lengths.cuda(),
        engine=engine,
    )
    torch.testing.assert_close(dc.cpu(), d, rtol=1e-5, atol=1e-6)
    assert (ic.cpu()[:, :, 0] != torch.arange(1500)).all()
    assert (ic.cpu()[1, 777:] == -1).all()


@pytest.mark.parametrize("p", [1.0, 3.0])
def test_brute_lp_keeps_the_smallest_indices_among_many_ties(p):
    # more tied points than candidates: the smaller index must win, whatever the tile
    y = np.zeros((8, 1))
    for tile in (None, 1, 3):
        d, i = knn(np.zeros((1, 1)) + 7.0, y + 7.0, 2, p=p, engine="brute", tile=tile)
        assert i.tolist() == [[0, 1]] and d.tolist() == [[0.0, 0.0]]
