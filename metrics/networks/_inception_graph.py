"""The Inception-v3 FID graph: its units and blocks, the weights' keys and shapes, the forward.

Private to :mod:`metrics.networks.inception` (see there for the network and its provenance);
``ex`` in the graph functions is anything with ``unit(name, x)`` and ``heads(...)``: the folded
network, or the calibrator of :func:`~metrics.networks.inception.random_state_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from metrics.networks._state import check_shapes, list_names

__all__: list[str] = []

FEATURE_DIM = 2048
NUM_CLASSES = 1008
IMAGE_SIZE = 299
BN_EPS = 1e-3
RESIZE_MODES = ("pytorch-fid", "clean")
PRECISIONS = ("float32", "tf32", "bf16")

# (name, in, out, kernel, stride, padding) of every convolution + batch norm + ReLU unit.
_STEM = [
    ("Conv2d_1a_3x3", 3, 32, (3, 3), 2, (0, 0)),
    ("Conv2d_2a_3x3", 32, 32, (3, 3), 1, (0, 0)),
    ("Conv2d_2b_3x3", 32, 64, (3, 3), 1, (1, 1)),
    ("Conv2d_3b_1x1", 64, 80, (1, 1), 1, (0, 0)),
    ("Conv2d_4a_3x3", 80, 192, (3, 3), 1, (0, 0)),
]
# (name, kind, in channels, pool features / 7x7 channels / branch-pool kind)
_BLOCKS: list[tuple[str, str, int, Any]] = [
    ("Mixed_5b", "A", 192, 32),
    ("Mixed_5c", "A", 256, 64),
    ("Mixed_5d", "A", 288, 64),
    ("Mixed_6a", "B", 288, None),
    ("Mixed_6b", "C", 768, 128),
    ("Mixed_6c", "C", 768, 160),
    ("Mixed_6d", "C", 768, 160),
    ("Mixed_6e", "C", 768, 192),
    ("Mixed_7a", "D", 768, None),
    ("Mixed_7b", "E", 1280, "avg"),
    ("Mixed_7c", "E", 2048, "max"),
]
# The 1 x 1 convolutions of each block kind that read the block input, and its pooled branch.
_HEADS = {
    "A": (("branch1x1", "branch5x5_1", "branch3x3dbl_1"), "avg"),
    "B": (("branch3x3dbl_1",), None),
    "C": (("branch1x1", "branch7x7_1", "branch7x7dbl_1"), "avg"),
    "D": (("branch3x3_1", "branch7x7x3_1"), None),
}
_P0, _P1 = (0, 0), (1, 1)
_H, _V = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))  # 1x7 and 7x1: kernel, stride, padding


def _block_units(kind: str, cin: int, arg: Any) -> list[tuple[str, int, int, Any, int, Any]]:
    if kind == "A":
        return [
            ("branch1x1", cin, 64, (1, 1), 1, _P0),
            ("branch5x5_1", cin, 48, (1, 1), 1, _P0),
            ("branch5x5_2", 48, 64, (5, 5), 1, (2, 2)),
            ("branch3x3dbl_1", cin, 64, (1, 1), 1, _P0),
            ("branch3x3dbl_2", 64, 96, (3, 3), 1, _P1),
            ("branch3x3dbl_3", 96, 96, (3, 3), 1, _P1),
            ("branch_pool", cin, arg, (1, 1), 1, _P0),
        ]
    if kind == "B":
        return [
            ("branch3x3", cin, 384, (3, 3), 2, _P0),
            ("branch3x3dbl_1", cin, 64, (1, 1), 1, _P0),
            ("branch3x3dbl_2", 64, 96, (3, 3), 1, _P1),
            ("branch3x3dbl_3", 96, 96, (3, 3), 2, _P0),
        ]
    if kind == "C":
        c = arg
        return [
            ("branch1x1", cin, 192, (1, 1), 1, _P0),
            ("branch7x7_1", cin, c, (1, 1), 1, _P0),
            ("branch7x7_2", c, c, *_H),
            ("branch7x7_3", c, 192, *_V),
            ("branch7x7dbl_1", cin, c, (1, 1), 1, _P0),
            ("branch7x7dbl_2", c, c, *_V),
            ("branch7x7dbl_3", c, c, *_H),
            ("branch7x7dbl_4", c, c, *_V),
            ("branch7x7dbl_5", c, 192, *_H),
            ("branch_pool", cin, 192, (1, 1), 1, _P0),
        ]
    if kind == "D":
        return [
            ("branch3x3_1", cin, 192, (1, 1), 1, _P0),
            ("branch3x3_2", 192, 320, (3, 3), 2, _P0),
            ("branch7x7x3_1", cin, 192, (1, 1), 1, _P0),
            ("branch7x7x3_2", 192, 192, *_H),
            ("branch7x7x3_3", 192, 192, *_V),
            ("branch7x7x3_4", 192, 192, (3, 3), 2, _P0),
        ]
    return [  # E
        ("branch1x1", cin, 320, (1, 1), 1, _P0),
        ("branch3x3_1", cin, 384, (1, 1), 1, _P0),
        ("branch3x3_2a", 384, 384, (1, 3), 1, (0, 1)),
        ("branch3x3_2b", 384, 384, (3, 1), 1, (1, 0)),
        ("branch3x3dbl_1", cin, 448, (1, 1), 1, _P0),
        ("branch3x3dbl_2", 448, 384, (3, 3), 1, _P1),
        ("branch3x3dbl_3a", 384, 384, (1, 3), 1, (0, 1)),
        ("branch3x3dbl_3b", 384, 384, (3, 1), 1, (1, 0)),
        ("branch_pool", cin, 192, (1, 1), 1, _P0),
    ]


def _units() -> dict[str, tuple[int, int, tuple[int, int], int, tuple[int, int]]]:
    out = {name: spec for name, *spec in _STEM}
    for block, kind, cin, arg in _BLOCKS:
        for name, *spec in _block_units(kind, cin, arg):
            out[f"{block}.{name}"] = tuple(spec)
    return out


UNITS = _units()


def _heads(kind: str, arg: Any) -> tuple[tuple[str, ...], str | None]:
    if kind == "E":
        return ("branch1x1", "branch3x3_1", "branch3x3dbl_1"), arg
    return _HEADS[kind]


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Key → shape of every tensor in pytorch-fid's state dict (``num_batches_tracked`` aside)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, (cin, cout, k, _, _) in UNITS.items():
        shapes[f"{name}.conv.weight"] = (cout, cin, *k)
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{leaf}"] = (cout,)
    shapes["fc.weight"] = (NUM_CLASSES, FEATURE_DIM)
    shapes["fc.bias"] = (NUM_CLASSES,)
    return shapes


def check_state_dict(state: Any) -> dict[str, torch.Tensor]:
    """Check a state dict against pytorch-fid's key names and shapes; return its float tensors.

    ``*.bn.num_batches_tracked`` entries are optional and ignored (they do not enter the
    network). Raises a ``ValueError`` naming the missing keys, the unexpected keys and the
    tensors of the wrong shape, and one naming any non-finite tensor or negative variance.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"weights: expected a state dict (a mapping), got {type(state).__name__}")
    shapes = expected_shapes()
    what = "pytorch-fid's Inception-v3 state dict"
    check_shapes(state, shapes, what=what, ignore=(".bn.num_batches_tracked",))
    bad = [k for k in shapes if k.endswith("running_var") and bool((state[k] < 0).any())]
    if bad:
        raise ValueError(f"weights: negative variances in {list_names(bad)}")
    return {k: state[k] for k in shapes}


def _trunk(ex: Any, x: torch.Tensor) -> torch.Tensor:
    """The network from the normalised 299-px input to the 2048-d pool3 features."""
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"):
        x = ex.unit(name, x)
    x = F.max_pool2d(x, 3, 2)
    x = ex.unit("Conv2d_4a_3x3", ex.unit("Conv2d_3b_1x1", x))
    x = F.max_pool2d(x, 3, 2)
    for block, kind, _, arg in _BLOCKS:
        x = _mixed(ex, block + ".", kind, arg, x)
    return x.mean((2, 3))


def _mixed(ex: Any, p: str, kind: str, arg: Any, x: torch.Tensor) -> torch.Tensor:
    u = ex.unit
    heads = ex.heads(p, kind, arg, x)
    if kind == "A":
        b1, b5, b3, bp = heads
        b3 = u(p + "branch3x3dbl_3", u(p + "branch3x3dbl_2", b3))
        return torch.cat([b1, u(p + "branch5x5_2", b5), b3, bp], 1)
    if kind == "B":
        (d,) = heads
        d = u(p + "branch3x3dbl_3", u(p + "branch3x3dbl_2", d))
        return torch.cat([u(p + "branch3x3", x), d, F.max_pool2d(x, 3, 2)], 1)
    if kind == "C":
        b1, b7, d, bp = heads
        b7 = u(p + "branch7x7_3", u(p + "branch7x7_2", b7))
        for i in (2, 3, 4, 5):
            d = u(p + f"branch7x7dbl_{i}", d)
        return torch.cat([b1, b7, d, bp], 1)
    if kind == "D":
        b3, b7 = heads
        for i in (2, 3, 4):
            b7 = u(p + f"branch7x7x3_{i}", b7)
        return torch.cat([u(p + "branch3x3_2", b3), b7, F.max_pool2d(x, 3, 2)], 1)
    b1, b3, d, bp = heads  # E
    d = u(p + "branch3x3dbl_2", d)
    b3 = torch.cat([u(p + "branch3x3_2a", b3), u(p + "branch3x3_2b", b3)], 1)
    d = torch.cat([u(p + "branch3x3dbl_3a", d), u(p + "branch3x3dbl_3b", d)], 1)
    return torch.cat([b1, b3, d, bp], 1)


def _pool(kind: str, x: torch.Tensor) -> torch.Tensor:
    if kind == "avg":
        return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return F.max_pool2d(x, 3, 1, 1)


def _fold(state: Mapping[str, torch.Tensor], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch norm folded into the convolution: ``(weight, bias)``, float32.

    The per-channel scale and the bias are computed in float64; the weights are scaled in
    float32 (one rounding per weight).
    """
    g = state[f"{name}.bn.weight"].double()
    scale = g / torch.sqrt(state[f"{name}.bn.running_var"].double() + BN_EPS)
    w = state[f"{name}.conv.weight"].float() * scale.float()[:, None, None, None]
    b = state[f"{name}.bn.bias"].double() - state[f"{name}.bn.running_mean"].double() * scale
    return w, b.float()
