"""Model constructors: shapes, and every argument validated with a named error."""

from __future__ import annotations

import pytest
import torch

from gan.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    Standardized,
)


def test_shapes():
    assert MLPGenerator(3, 2, hidden=8, layers=0)(torch.zeros(4, 3)).shape == (4, 2)
    assert MLPDiscriminator(2, hidden=8, layers=1, pac=2)(torch.zeros(6, 2)).shape == (3,)
    g = DCGANGenerator(4, (3, 16, 16), channels=4)
    assert g(torch.zeros(2, 4)).shape == (2, 3, 16, 16)
    d = DCGANDiscriminator([3, 16, 16], channels=4, pac=2)
    assert d(torch.zeros(4, 3, 16, 16)).shape == (2,)


@pytest.mark.parametrize(
    "make, err, match",
    [
        (lambda: MLPGenerator(0, 2), ValueError, "z_dim must be >= 1, got 0"),
        (lambda: MLPGenerator(2, -3), ValueError, "out_dim must be >= 1, got -3"),
        (lambda: MLPGenerator(2.0, 2), TypeError, "z_dim must be an integer, got float"),
        (lambda: MLPGenerator(2, 2, hidden=0), ValueError, "hidden must be >= 1"),
        (lambda: MLPGenerator(2, 2, layers=-1), ValueError, "layers must be >= 0"),
        (lambda: MLPGenerator(True, 2), TypeError, "z_dim must be an integer, got bool"),
        (lambda: MLPDiscriminator(-1), ValueError, "in_dim must be >= 1, got -1"),
        (lambda: MLPDiscriminator(2, pac=0), ValueError, "pac must be >= 1"),
        (lambda: MLPDiscriminator(2, hidden=None), TypeError, "hidden must be an int"),
        (lambda: MLPDiscriminator(2, spectral_norm=1), TypeError, "spectral_norm must be a bool"),
        (lambda: DCGANGenerator(0, (1, 8, 8)), ValueError, "z_dim must be >= 1"),
        (lambda: DCGANGenerator(4, (1, 8, 8), channels=0), ValueError, "channels must be >= 1"),
        (lambda: DCGANGenerator(4, (0, 8, 8)), ValueError, r"out_shape\[0\] must be >= 1"),
        (lambda: DCGANGenerator(4, (1, 8, 16)), ValueError, "out_shape must be square"),
        (lambda: DCGANGenerator(4, (8, 8)), ValueError, r"out_shape must be \(C, H, W\)"),
        (lambda: DCGANGenerator(4, (1, 12, 12)), ValueError, "image size must be one of"),
        (lambda: DCGANDiscriminator((3, 32, 32), pac=-2), ValueError, "pac must be >= 1"),
        (lambda: DCGANDiscriminator(32), ValueError, r"in_shape must be \(C, H, W\)"),
        (lambda: DCGANDiscriminator((3, 32.0, 32)), TypeError, r"in_shape\[1\] must be an int"),
        (
            lambda: Standardized(torch.nn.Identity(), torch.zeros(2), 0.0, "critic"),
            ValueError,
            "scale must be a positive finite number",
        ),
        (
            lambda: Standardized(torch.nn.Identity(), torch.tensor([float("nan")]), 1.0, "critic"),
            ValueError,
            "loc must be finite",
        ),
    ],
)
def test_constructor_errors_name_the_argument(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_pac_batch_must_divide():
    with pytest.raises(ValueError, match="multiple of pac=2"):
        MLPDiscriminator(2, hidden=4, layers=1, pac=2)(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="multiple of pac=3"):
        DCGANDiscriminator((1, 8, 8), channels=2, pac=3)(torch.zeros(4, 1, 8, 8))
