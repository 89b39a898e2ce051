"""Any NumPy view an array argument accepts (flipped: negative strides; strided) gives what
its contiguous copy gives: torch has no negative strides, so such views are copied."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metrics
from metrics import FeatureStats
from metrics.io import load_samples

ENTRY_POINTS = {  # each takes a float array in [0, 1] of shape (N, 3, H, W) (maybe a view)
    "resize_clean": lambda a, u8: metrics.resize(u8, 9, mode="clean"),
    "resize_bilinear": lambda a, u8: metrics.resize(u8, 9, mode="bilinear"),
    "stats": lambda a, u8: FeatureStats().update(a.reshape(len(a), -1)).cov().numpy(),
    "stats_flat": lambda a, u8: FeatureStats().update(a[:, 0, 0, :]).mean.numpy(),
    "extract": lambda a, u8: metrics.extract(lambda x: x.flatten(1), a, batch_size=2).numpy(),
    "load_samples": lambda a, u8: load_samples(a).numpy(),
    "evaluate": lambda a, u8: metrics.evaluate(a, a + 0.5, metrics=["fid"])["fid"].value,
}


@settings(max_examples=20)
@given(
    st.sampled_from(sorted(ENTRY_POINTS)),
    st.lists(st.booleans(), min_size=4, max_size=4),
    st.integers(1, 2),
    st.integers(0, 2**32 - 1),
)
def test_flipped_and_strided_views_give_what_their_copy_gives(name, flips, step, seed):
    base = np.random.default_rng(seed).random((6, 3, 5, 4))
    index = tuple(
        slice(None, None, (-1 if f else 1) * (step if axis != 1 else 1))
        for axis, f in enumerate(flips)
    )
    views = base[index], (base * 255).astype(np.uint8)[index]
    assert any(s < 0 for s in views[0].strides + views[1].strides) == any(flips)
    run = ENTRY_POINTS[name]
    got, want = run(*views), run(*map(np.ascontiguousarray, views))
    np.testing.assert_array_equal(got, want)  # the same numbers in the same order: exact


def test_resize_accepts_a_flipped_view_without_copying_the_caller_array():
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    flipped = x[:, :, ::-1, ::-1]
    out = metrics.resize(flipped, 4, mode="bilinear")
    assert out.shape == (2, 3, 4, 4) and flipped.base is x
    with pytest.raises(TypeError, match="uint8"):
        metrics.resize(flipped.astype(np.float32), 4)
