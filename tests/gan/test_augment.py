"""DiffAugment against brute-force references and its laws; the ADA probability controller."""

from __future__ import annotations

import io
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gan.augment import AdaptiveProbability, DiffAugment, diff_augment


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _aug(x, policy, seed=0, **kw):
    return diff_augment(x, policy, generator=_gen(seed), **kw)


# ---------------------------------------------------------------- differentiability
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("p", [1.0, 0.5])
def test_gradcheck(policy, p):
    x = torch.randn(3, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: _aug(t, policy, p=p), (x,))


def test_gradients_reach_a_generator_through_the_augmentation():
    w = torch.randn(3 * 8 * 8, requires_grad=True)
    x = torch.tanh(w).view(1, 3, 8, 8).repeat(4, 1, 1, 1)
    _aug(x, "color,translation,cutout").square().sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


# ---------------------------------------------------------------- identity
def test_identity_at_zero_probability_and_empty_policy_without_drawing():
    x = torch.randn(4, 3, 8, 8)
    for kw in ({"policy": "", "p": 1.0}, {"policy": "color,translation,cutout", "p": 0.0}):
        g = _gen()
        before = g.get_state()
        assert torch.equal(diff_augment(x, kw["policy"], generator=g, p=kw["p"]), x)
        assert torch.equal(g.get_state(), before)


def test_empty_batch_passes_through():
    x = torch.empty(0, 3, 8, 8)
    assert _aug(x, "color,translation,cutout").shape == (0, 3, 8, 8)


# ---------------------------------------------------------------- same draws for real and fake
@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**31 - 1),
    b=st.integers(1, 4),
    c=st.integers(1, 3),
    h=st.integers(2, 9),
    w=st.integers(2, 9),
    p=st.sampled_from([1.0, 0.6]),
)
def test_same_generator_state_gives_the_same_affine_transform(seed, b, c, h, w, p):
    # Every transform is affine in x once the draws are fixed: T(a) + T(b) − T(0) = T(a + b).
    pol = "color,translation,cutout"
    a = torch.randn(b, c, h, w, dtype=torch.float64)
    f = torch.randn(b, c, h, w, dtype=torch.float64)
    zero = torch.zeros_like(a)
    ta, tf, t0 = (_aug(t, pol, seed, p=p) for t in (a, f, zero))
    assert torch.allclose(ta + tf - t0, _aug(a + f, pol, seed, p=p), atol=1e-10)
    assert torch.equal(_aug(a, pol, seed, p=p), ta)  # deterministic given the state


def test_module_draws_independently_per_call_and_resumes_from_its_state():
    aug = DiffAugment(seed=3)
    x = torch.randn(4, 3, 8, 8)
    first, second = aug(x), aug(x)
    assert not torch.allclose(first, second)  # independent draws for each batch
    buf = io.BytesIO()
    torch.save(aug.state_dict(), buf)
    nxt = aug(x)
    resumed = DiffAugment(seed=99)
    buf.seek(0)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(resumed(x), nxt)


# ---------------------------------------------------------------- each transform by brute force
def _shifted(x, dx, dy):
    """x moved by (dx, dy) pixels with zeros shifted in (out[i, j] = x[i + dx, j + dy])."""
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    for i, j in itertools.product(range(h), range(w)):
        if 0 <= i + dx < h and 0 <= j + dy < w:
            out[..., i, j] = x[..., i + dx, j + dy]
    return out


@pytest.mark.parametrize("h, w", [(8, 8), (16, 12), (5, 3)])
def test_translation_is_a_zero_filled_shift_within_the_ratio(h, w):
    x = torch.rand(6, 2, h, w) + 0.5  # no zeros inside, so the shift is identifiable
    out = _aug(x, "translation", seed=1)
    sh, sw = int(h / 8 + 0.5), int(w / 8 + 0.5)
    for k in range(6):
        matches = [
            (dx, dy)
            for dx in range(-sh, sh + 1)
            for dy in range(-sw, sw + 1)
            if torch.equal(out[k], _shifted(x[k], dx, dy))
        ]
        assert matches, f"sample {k} is not a shift within ±({sh}, {sw})"


@pytest.mark.parametrize("h, w", [(8, 8), (9, 6), (32, 32)])
def test_cutout_zeroes_one_clipped_rectangle_of_half_the_side(h, w):
    x = torch.rand(8, 3, h, w) + 0.5
    out = _aug(x, "cutout", seed=2)
    ch, cw = int(h / 2 + 0.5), int(w / 2 + 0.5)
    for k in range(8):
        hole = out[k] == 0
        assert torch.equal(hole, hole[:1].expand_as(hole))  # the same hole in every channel
        rows, cols = hole[0].nonzero(as_tuple=True)
        assert len(rows) > 0
        r0, r1, c0, c1 = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
        assert hole[0, r0 : r1 + 1, c0 : c1 + 1].all()  # a filled rectangle, nothing else
        assert int(hole[0].sum()) == (r1 - r0 + 1) * (c1 - c0 + 1)
        assert r1 - r0 + 1 <= ch and c1 - c0 + 1 <= cw
        # clipped only at the border: full size unless it touches an edge
        assert r1 - r0 + 1 == ch or r0 == 0 or r1 == h - 1
        assert c1 - c0 + 1 == cw or c0 == 0 or c1 == w - 1
        keep = ~hole
        assert torch.equal(out[k][keep], x[k][keep])


def test_color_equals_the_paper_formulas_in_float64():
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    out = _aug(x, "color", seed=4)
    g = _gen(4)  # the documented draw order: brightness, saturation, contrast
    b = torch.rand((5, 1, 1, 1), generator=g, dtype=torch.float64) - 0.5
    s = torch.rand((5, 1, 1, 1), generator=g, dtype=torch.float64) * 2
    c = torch.rand((5, 1, 1, 1), generator=g, dtype=torch.float64) + 0.5
    ref = torch.empty_like(x)
    for k in range(5):
        y = x[k] + b[k]
        m = y.mean(dim=0, keepdim=True)
        y = (y - m) * s[k] + m
        ref[k] = (y - y.mean()) * c[k] + y.mean()
    assert torch.allclose(out, ref, atol=1e-12)
    assert ((b > -0.5) | (b == -0.5)).all() and (b < 0.5).all()


def test_output_shape_dtype_and_value_set():
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(4, 3, 8, 8, dtype=dtype) * 2 - 1
        out = _aug(x, "color,translation,cutout", p=0.7)
        assert out.shape == x.shape and out.dtype == dtype and torch.isfinite(out).all()
    # translation and cutout only move values or write zeros
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    out = _aug(x, "translation,cutout")
    allowed = torch.cat([x.flatten(), torch.zeros(1)])
    assert torch.isin(out.flatten(), allowed).all()


def test_probability_gates_each_sample():
    n = 4000
    x = torch.ones(n, 1, 4, 4)
    out = _aug(x, "cutout", seed=5, p=0.3)
    frac = float((out == 0).flatten(1).any(1).float().mean())
    sd = math.sqrt(0.3 * 0.7 / n)
    assert abs(frac - 0.3) < 5 * sd


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda x: _aug(x, "zoom"), ValueError, "policy names must be among"),
        (lambda x: _aug(x, 3), TypeError, "policy must be"),
        (lambda x: _aug(x, "color", p=1.5), ValueError, r"p must be a number in \[0, 1\]"),
        (lambda x: _aug(x[0], "color"), ValueError, r"x must have shape \(B, C, H, W\)"),
        (lambda x: _aug(x.long(), "color"), TypeError, "x must be a floating-point"),
        (lambda x: diff_augment(x, "color", generator=0), TypeError, "generator must be"),
        (lambda x: _aug(x, "cutout", cutout_ratio=2), ValueError, "cutout_ratio must be in"),
    ],
)
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call(torch.zeros(2, 3, 8, 8))


# ---------------------------------------------------------------- the ADA controller
def test_ada_moves_p_up_when_d_overfits_and_down_otherwise():
    ada = AdaptiveProbability(target=0.6, ada_kimg=1, interval=2)
    confident = torch.tensor([3.0, 1.0, 2.0, -1.0])  # r_t = 0.5 per batch...
    very = torch.ones(4)  # ...and 1.0
    assert ada.update(very) == 0.0  # no adjustment before `interval` batches
    p = ada.update(very)
    assert p == pytest.approx(8 / 1000) and ada.r_t == 1.0
    ada.update(confident)
    assert ada.update(confident) == pytest.approx(0.0)  # r_t = 0.5 < 0.6: back down
    assert ada.r_t == pytest.approx(0.5)
    assert ada.update(-very) == 0.0  # clipped at 0 (pending)
    assert ada.update(-very) == 0.0


def test_ada_is_clipped_to_one():
    ada = AdaptiveProbability(ada_kimg=0.001, interval=1, p=0.9)
    assert ada.update(torch.ones(10)) == 1.0


@settings(max_examples=30)
@given(
    st.lists(st.lists(st.floats(-3, 3), min_size=1, max_size=6), min_size=1, max_size=20),
    st.floats(-1, 1),
    st.integers(1, 3),
)
def test_ada_law_p_in_unit_interval_and_moves_with_the_sign(batches, target, interval):
    ada = AdaptiveProbability(target=target, ada_kimg=0.01, interval=interval, p=0.5)
    acc, n = 0.0, 0
    for i, batch in enumerate(batches):
        before = ada.p
        t = torch.tensor(batch, dtype=torch.float64)
        acc += float(torch.sign(t).sum())
        n += len(batch)
        after = ada.update(t)
        assert 0.0 <= after <= 1.0
        if (i + 1) % interval == 0:
            r_t = acc / n
            want = min(1.0, max(0.0, before + math.copysign(n / 10.0, r_t - target)))
            if r_t == target:
                want = before
            assert after == pytest.approx(want) and ada.r_t == pytest.approx(r_t)
            acc, n = 0.0, 0
        else:
            assert after == before


def test_ada_state_round_trip_and_errors():
    ada = AdaptiveProbability(interval=3, ada_kimg=0.01)
    ada.update(torch.ones(5))
    twin = AdaptiveProbability(interval=3, ada_kimg=0.01)
    twin.load_state_dict(ada.state_dict())
    for a in (ada, twin):
        a.update(torch.ones(5))
    assert ada.update(-torch.ones(5)) == twin.update(-torch.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        AdaptiveProbability(interval=1).update(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="target must be in"):
        AdaptiveProbability(target=2.0)
    with pytest.raises(ValueError, match="interval must be"):
        AdaptiveProbability(interval=0)
    with pytest.raises(ValueError, match="empty"):
        AdaptiveProbability().update(torch.empty(0))
