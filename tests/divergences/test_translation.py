"""Translation laws: every translation-invariant distance gives f(x + t, y + t) = f(x, y) at any
offset t, up to 1e300 where the spread is 1e-300 of it (in another coordinate).

The data are built so that ``x + t`` is exact in float64: ``x = s a`` with small integers ``a``
and a power of two ``s``; each coordinate's offset is 0, ``m 2^K`` with a 10-bit ``m`` and
``2^K`` at most 2^31 times ``s`` (so ``t + s a`` needs at most 53 bits: exact), or any float
up to ~1e308 in a coordinate where every point has the same value (an offset with no spread
at all; its full mantissa means that a float mean of the equal values need not equal them). The
reference is the function itself on ``(s a, s b)``: the law, with no rounding in the inputs.
"""

from __future__ import annotations

import math
import os
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import divergences as dv


def _sinkhorn_w(x, y):
    return dv.wasserstein(x, y, method="sinkhorn", p=2)


def _sliced(x, y):
    return dv.wasserstein(x, y, method="sliced", p=1, generator=torch.Generator().manual_seed(3))


# name -> (function, power of s in its value, relative tolerance)
# exact methods: a few ulps of their sums; Sinkhorn: its marginal tolerance (1e-6) on a
# problem that differs by a translation far below s (the two runs centre on different means)
FUNCTIONS = {
    "wasserstein_exact_or_assignment": (lambda x, y: dv.wasserstein(x, y, p=2), 1, 1e-9),
    "wasserstein_sinkhorn": (_sinkhorn_w, 1, 1e-5),
    "wasserstein_sliced": (_sliced, 1, 1e-9),
    "sinkhorn_divergence": (lambda x, y: dv.sinkhorn_divergence(x, y, p=2), 2, 1e-5),
    "mmd2_gaussian": (lambda x, y: dv.mmd2(x, y), 0, None),
    "mmd2_laplace": (lambda x, y: dv.mmd2(x, y, kernel="laplace", unbiased=False), 0, None),
    "energy_distance": (lambda x, y: dv.energy_distance(x, y), 1, 1e-9),
    "median_heuristic": (lambda x, y: dv.median_heuristic(x, y), 1, 1e-12),
    "chamfer": (lambda x, y: dv.chamfer(x, y), 1, 1e-12),
    "hausdorff": (lambda x, y: dv.hausdorff(x, y), 1, 1e-12),
    "nearest_pair": (lambda x, y: dv.nearest_pair_distance(x, y), 1, 1e-12),
    "knn": (lambda x, y: dv.knn(x, y, k=2)[0], 1, 1e-12),
    "knn_kl": (lambda x, y: dv.knn_kl(x, y, k=2, stderr="none").value, 0, None),
}


@st.composite
def _shifted(draw):
    """``(a, b, s, t)``: integer sets, a power-of-two spread and an exactly addable offset."""
    d = draw(st.integers(1, 3))
    n = draw(st.integers(5, 9))
    m = draw(st.sampled_from([n, n + 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    big = draw(st.sampled_from([2**20, 2**10, 50]))
    rng = np.random.default_rng(seed)
    a = rng.integers(-big, big + 1, (n, d)).astype(float)
    b = rng.integers(-big, big + 1, (m, d)).astype(float)
    s_exp = draw(st.integers(-400, 400))
    kinds = draw(st.lists(st.sampled_from(["none", "near", "far"]), min_size=d, max_size=d))
    if all(k == "far" for k in kinds):
        kinds[0] = "near"
    t = np.zeros(d)
    for j, kind in enumerate(kinds):
        mant = draw(st.integers(1, 1023)) * draw(st.sampled_from([1, -1]))
        if kind == "near":  # t + s a is a multiple of s below 2^(42 + 11) s: exact
            t[j] = math.ldexp(mant, s_exp + draw(st.integers(11, 31)))
        elif kind == "far":  # no spread in this coordinate: any offset (full mantissa) to 1e308
            a[:, j] = b[:, j] = 0.0
            t[j] = math.ldexp(draw(st.floats(-2, 2).filter(lambda v: abs(v) >= 1)),
                              draw(st.integers(-1000, 1022)))  # fmt: skip
    return a, b, s_exp, t


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@settings(max_examples=int(os.environ.get("TRANSLATION_EXAMPLES", 12)), deadline=None)
@given(data=_shifted())
@example(  # the reported case: offset 1e300 in one coordinate, unit spread in another
    data=(np.array([[0.0, 0.0], [0.0, 2.0]]), np.array([[0.0, 1.0], [0.0, 3.0]]), -1,
     np.array([1e300, 0.0])),
)  # fmt: skip
def test_translation_changes_no_distance(name, data):
    fn, power, rtol = FUNCTIONS[name]
    a, b, s_exp, t = data
    x, y = np.ldexp(a, s_exp), np.ldexp(b, s_exp)
    xt, yt = x + t, y + t
    assert np.array_equal(np.ldexp(xt - t, -s_exp), a) and np.array_equal(
        np.ldexp(yt - t, -s_exp), b
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # Sinkhorn's convergence notes
        try:
            want = np.asarray(fn(x, y), dtype=float)
        except ValueError as err:  # e.g. the median bandwidth of mostly duplicated points
            with pytest.raises(ValueError, match=re.escape(str(err)[:30])):
                fn(xt, yt)
            return
        got = np.asarray(fn(xt, yt), dtype=float)
    unit = math.ldexp(1.0, s_exp * power) * max(1.0, float(np.abs(np.r_[a, b]).max())) ** power
    if rtol is None:  # unitless values (kernel sums, log-ratios) that may be near 0
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * unit)
