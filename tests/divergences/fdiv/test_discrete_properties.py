"""Laws of f-divergences, checked with hypothesis on random discrete distributions.

Distributions have K in 1..20 and mix exact zeros, tiny entries (1e-300 .. 1e-12) and ordinary
ones, so zero conventions and near-degenerate cases are exercised on every law.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import divergences as dv

LOG2 = math.log(2.0)


# (label, direct function, record) for every member; alpha over several orders
def _named(n: str):
    return lambda p, q: getattr(dv, n)(p, q)


def _alpha(a: float):
    return lambda p, q: dv.alpha_divergence(p, q, alpha=a)


MEMBERS = [
    (n, _named(n), dv.get_f_divergence(n))
    for n in ("kl", "reverse_kl", "js", "tv", "hellinger2", "pearson", "neyman", "jeffreys",
              "triangular")
] + [
    (f"alpha_{a:g}", _alpha(a), dv.get_f_divergence("alpha", alpha=a))
    for a in (-1.5, 0.3, 0.5, 0.8, 2.0, 3.0)
]  # fmt: skip
IDS = [m[0] for m in MEMBERS]
RECORDS = [m[2] for m in MEMBERS] + [dv.get_f_divergence("gan")]

entry = st.one_of(
    st.just(0.0),
    st.floats(1e-300, 1e-12),
    st.floats(1e-4, 1.0),
    st.floats(1e-4, 1.0),
)


def simplex(k: int):
    return (
        st.lists(entry, min_size=k, max_size=k)
        .filter(lambda xs: sum(xs) > 0)
        .map(lambda xs: np.asarray(xs) / math.fsum(xs))
    )


@st.composite
def dists(draw, n: int = 2, kmin: int = 1):
    k = draw(st.integers(kmin, 20))
    return [draw(simplex(k)) for _ in range(n)]


def rel_le(a: float, b: float, tol: float = 1e-9) -> bool:
    """a <= b up to rounding, with inf handled."""
    if math.isinf(b):
        return True
    return a <= b + tol * (1.0 + abs(b))


@pytest.mark.parametrize(("label", "fn", "rec"), MEMBERS, ids=IDS)
@settings(max_examples=40)
@given(pq=dists())
def test_nonnegative_zero_on_diagonal_and_positive_off_it(label, fn, rec, pq):
    p, q = pq
    d = fn(p, q)
    assert not math.isnan(d) and d >= 0.0
    assert fn(p, p) == 0.0 and fn(q, q) == 0.0
    if rec.strictly_convex and dv.tv(p, q) > 1e-6:
        assert d > 0.0


@pytest.mark.parametrize(("label", "fn", "rec"), MEMBERS, ids=IDS)
@settings(max_examples=40)
@given(pq=dists())
def test_generic_f_form_equals_direct_formula(label, fn, rec, pq):
    p, q = pq
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        direct, generic = fn(p, q), dv.f_divergence(p, q, rec)
    assert not math.isnan(generic)
    if math.isinf(direct):
        assert math.isinf(generic)
    elif math.isinf(generic):
        # f(p/q) overflowed although the sum fits: never silently
        assert any("overflowed to inf" in str(w.message) for w in caught)
    else:
        assert generic == pytest.approx(direct, rel=1e-8, abs=1e-12)


@pytest.mark.parametrize(("label", "fn", "rec"), MEMBERS, ids=IDS)
@settings(max_examples=40)
@given(pq=dists(), data=st.data())
def test_data_processing_inequality(label, fn, rec, pq, data):
    p, q = pq
    k = len(p)
    m = data.draw(st.integers(1, 8))
    w = data.draw(arrays(np.float64, (k, m), elements=st.floats(0.0, 1.0)))
    assume(bool((w.sum(1) > 1e-3).all()))
    w = w / w.sum(1, keepdims=True)  # a random stochastic matrix (Markov kernel K -> m)
    pw, qw = p @ w, q @ w
    # the law is about exact arithmetic: skip kernels whose float64 products underflow to a
    # zero where the exact push-forward has mass (1e-288 · 8e-299), which changes supports
    for a, aw in ((p, pw), (q, qw)):
        assume(bool(((aw > 0) == ((a > 0).astype(float) @ (w > 0).astype(float) > 0)).all()))
    pw, qw = pw / math.fsum(pw), qw / math.fsum(qw)
    assert rel_le(fn(pw, qw), fn(p, q))


@pytest.mark.parametrize(("label", "fn", "rec"), MEMBERS, ids=IDS)
@settings(max_examples=40)
@given(pq=dists(n=4), lam=st.floats(1e-3, 1 - 1e-3))
def test_joint_convexity(label, fn, rec, pq, lam):
    p1, q1, p2, q2 = pq
    pm = lam * p1 + (1 - lam) * p2
    qm = lam * q1 + (1 - lam) * q2
    lhs = fn(pm / math.fsum(pm), qm / math.fsum(qm))
    d1, d2 = fn(p1, q1), fn(p2, q2)
    rhs = (lam * d1 if lam > 0 else 0.0) + ((1 - lam) * d2 if lam < 1 else 0.0)
    assert rel_le(lhs, rhs)


@pytest.mark.parametrize("rec", RECORDS, ids=[*IDS, "gan"])
@settings(max_examples=60)
@given(
    u=st.floats(0.0, 1e4, allow_subnormal=False),
    v=st.floats(0.0, 1e4, allow_subnormal=False),
    lam=st.floats(0.0, 1.0),
)
def test_generator_convex_with_f1_fixed(rec, u, v, lam):
    f = rec.f
    x = torch.tensor([u, v, lam * u + (1 - lam) * v, 1.0], dtype=torch.float64)
    fu, fv, fm, f1 = f(x).tolist()
    assert f1 == pytest.approx(rec.f_at_1, abs=1e-15)
    chord = lam * fu + (1 - lam) * fv if math.isfinite(fu) and math.isfinite(fv) else math.inf
    assert rel_le(fm, chord, 1e-10)


# --- laws of particular members -----------------------------------------------------------------


@settings(max_examples=150)
@given(pq=dists())
def test_js_symmetric_bounded_and_gan_relation(pq):
    p, q = pq
    j = dv.js(p, q)
    assert j == pytest.approx(dv.js(q, p), rel=1e-12, abs=1e-300)
    assert 0.0 <= j <= LOG2 * (1 + 1e-12)
    assert dv.f_divergence(p, q, "gan") == pytest.approx(2 * j - math.log(4), abs=1e-12)


@settings(max_examples=150)
@given(pqr=dists(n=3))
def test_sqrt_js_triangle_inequality(pqr):
    p, q, r = pqr
    assert math.sqrt(dv.js(p, r)) <= math.sqrt(dv.js(p, q)) + math.sqrt(dv.js(q, r)) + 1e-9


def test_js_itself_violates_the_triangle_inequality():
    p, q, r = [1.0, 0.0], [0.5, 0.5], [0.0, 1.0]
    assert dv.js(p, r) == pytest.approx(LOG2)
    assert dv.js(p, q) + dv.js(q, r) < dv.js(p, r) - 0.2  # 0.4315 < 0.6931


@settings(max_examples=150)
@given(pq=dists())
def test_tv_pinsker_and_le_cam(pq):
    p, q = pq
    t, h2, k = dv.tv(p, q), dv.hellinger2(p, q), dv.kl(p, q)
    assert 0.0 <= t <= 1.0 and 0.0 <= h2 <= 1.0 + 1e-15
    assert dv.triangular(p, q) <= 2.0 + 1e-12
    assert rel_le(t, math.sqrt(k / 2)) if math.isfinite(k) else True  # Pinsker
    # Le Cam: H² ≤ TV ≤ √(H²(2 − H²)) with H² = 1 − Σ√(pq)
    assert h2 <= t + 1e-12
    assert t <= math.sqrt(h2 * (2 - h2)) + 1e-9


def test_kl_is_asymmetric_on_a_shown_pair():
    p, q = [0.9, 0.1], [0.5, 0.5]
    assert dv.kl(p, q) == pytest.approx(0.9 * math.log(1.8) + 0.1 * math.log(0.2))  # 0.3681
    assert dv.kl(q, p) == pytest.approx(0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(5))  # 0.5108
    assert abs(dv.kl(p, q) - dv.kl(q, p)) > 0.1


@settings(max_examples=100)
@given(pq=dists(), a=st.floats(-3.0, 4.0))
def test_alpha_duality_and_limits(pq, a):
    p, q = pq
    assume(a != 0.0 and a != 1.0)
    d = dv.alpha_divergence(p, q, alpha=a)
    assert not math.isnan(d) and d >= 0.0
    dual = dv.alpha_divergence(q, p, alpha=1.0 - a)
    if math.isinf(d) or math.isinf(dual):
        assert math.isinf(d) and math.isinf(dual)
    else:
        assert d == pytest.approx(dual, rel=1e-9, abs=1e-15)
