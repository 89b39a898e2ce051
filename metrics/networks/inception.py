"""The Inception-v3 FID network in eager PyTorch, on pytorch-fid's weights file.

The network is the TensorFlow Inception-v3 graph of 2015-12-05 (Szegedy et al. 2016, "Rethinking
the Inception Architecture for Computer Vision") as used for FID (Heusel et al. 2017) and ported
by pytorch-fid: its FID variants of the Inception blocks (average pools that do not count the
padding, a max pool in the branch pool of the last block), batch norm with ``eps = 0.001``, the
2048-d pool3 features and 1008 logits. Input preprocessing is pytorch-fid's (bilinear resize to
299 × 299, ``align_corners=False``, then ``2x − 1``) or clean-fid's (Parmar et al. 2022: PIL
bicubic in float32 per channel, then ``(x − 128) / 128`` as in clean-fid's network wrapper).

For speed each batch norm is folded into its convolution (in float64, once at load time), the
1 × 1 convolutions that read the same block input run as one convolution, and an average-pooled
1 × 1 branch is computed as conv-then-pool (the two commute exactly: the pool's weights sum to 1
at every position because the padding is not counted), on channels-last tensors.

``precision`` chooses the arithmetic: ``"float32"`` (default) is full IEEE float32 on every
device (TF32 convolutions, which PyTorch allows on CUDA by default, are turned off during the
forward pass); ``"tf32"`` lets CUDA tensor cores round the convolution and matmul inputs to
TF32; ``"bf16"`` runs the network under bfloat16 autocast and returns float32 features. The
choice is part of :attr:`FIDInceptionV3.provenance`, so cached statistics of one precision are
never reused for another.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metrics.networks import weights as _weights
from metrics.networks._state import check_shapes, list_names
from metrics.networks.resize import _clean_resize_float

__all__ = ["FIDInceptionV3", "check_state_dict", "inception", "random_state_dict"]

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


class FIDInceptionV3(nn.Module):
    """Inception-v3 FID network: images ``(N, 3, H, W)`` → pool3 features ``(N, 2048)``.

    Build it with :func:`inception`. ``forward`` and :meth:`logits` take floats in ``[0, 1]`` or
    uint8 in ``[0, 255]``, any ``H, W`` (resized to 299), on any device (the result comes back
    on the input's device); the network itself runs in float32 with no gradient buffers.

    Attributes:
        resize: ``"pytorch-fid"`` or ``"clean"``.
        precision: ``"float32"``, ``"tf32"`` (CUDA only) or ``"bf16"``.
        weights_sha256: SHA-256 of the weights file (``None`` for an in-memory state dict).
        provenance: ``{"network": "inception-v3-fid", "sha256": ..., "resize": ...,
            "precision": ...}``, what reports and the statistics cache key record.
    """

    def __init__(
        self,
        state: Mapping[str, torch.Tensor],
        *,
        resize: str = "pytorch-fid",
        weights_sha256: str | None = None,
        precision: str = "float32",
    ) -> None:
        super().__init__()
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        state = check_state_dict(state)
        self.resize = resize
        self.precision = precision
        self.weights_sha256 = weights_sha256
        self._units: dict[str, tuple[str, str, int, tuple[int, int]]] = {}
        self._groups: dict[str, tuple[str, str, list[int], str | None]] = {}
        grouped = set()  # units computed inside a block's merged 1 x 1 convolution
        for block, kind, _, arg in _BLOCKS:
            names, pool = _heads(kind, arg)
            grouped |= {f"{block}.{n}" for n in names}
            if pool == "avg":
                grouped.add(f"{block}.branch_pool")
        for name, (_, _, _, stride, pad) in UNITS.items():
            if name not in grouped:
                self._add(name, *_fold(state, name), stride, pad)
        for block, kind, _, arg in _BLOCKS:
            names, pool = _heads(kind, arg)
            folded = [_fold(state, f"{block}.{n}") for n in names]
            if pool == "avg":  # the pooled branch's conv joins the group; its bias comes after
                w, b = _fold(state, f"{block}.branch_pool")
                folded.append((w, torch.zeros_like(b)))
                self._buffer(f"{block}.pool_bias", b)
            wkey = self._buffer(f"{block}.heads_w", torch.cat([w for w, _ in folded]))
            bkey = self._buffer(f"{block}.heads_b", torch.cat([b for _, b in folded]))
            self._groups[block + "."] = (wkey, bkey, [w.shape[0] for w, _ in folded], pool)
        self._buffer("fc_w", state["fc.weight"])
        self._buffer("fc_b", state["fc.bias"])
        self.eval()

    @property
    def provenance(self) -> dict[str, Any]:
        """What identifies this network's features: weights digest and preprocessing."""
        return {"network": "inception-v3-fid", "sha256": self.weights_sha256,
                "resize": self.resize, "precision": self.precision}  # fmt: skip

    def _buffer(self, name: str, value: torch.Tensor) -> str:
        key = name.replace(".", "__")
        value = value.float()
        if value.ndim == 4:  # channels-last weights pick the fast convolution kernels
            value = value.contiguous(memory_format=torch.channels_last)
        self.register_buffer(key, value)
        return key

    def _add(self, name: str, w: torch.Tensor, b: torch.Tensor, stride: int, pad: Any) -> None:
        self._units[name] = (
            self._buffer(name + ".w", w),
            self._buffer(name + ".b", b),
            stride,
            pad,
        )

    def unit(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Convolution + (folded) batch norm + ReLU of the named unit."""
        wkey, bkey, stride, pad = self._units[name]
        return F.relu_(F.conv2d(x, getattr(self, wkey), getattr(self, bkey), stride, pad))

    def heads(self, prefix: str, kind: str, arg: Any, x: torch.Tensor) -> list[torch.Tensor]:
        """The block's 1 × 1 convolutions on its input as one, split; then its pooled branch."""
        wkey, bkey, sizes, pool = self._groups[prefix]
        y = F.conv2d(x, getattr(self, wkey), getattr(self, bkey))
        parts = list(torch.split(y, sizes, 1))
        if pool == "avg":
            bias = getattr(self, prefix.replace(".", "__") + "pool_bias")
            parts[-1] = F.relu_(_pool("avg", parts[-1]) + bias[:, None, None])
            parts[:-1] = [F.relu_(t) for t in parts[:-1]]
            return parts
        parts = [F.relu_(t) for t in parts]
        if pool == "max":
            parts.append(self.unit(prefix + "branch_pool", _pool("max", x)))
        return parts

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Validated images → the normalised float32 299-px batch on the network's device."""
        x = _check_images(images)
        device = self.fc_w.device
        if self.resize == "clean":
            scaled = x.cpu().float() if x.dtype == torch.uint8 else x.cpu().float() * 255
            x = (_clean_resize_float(scaled, IMAGE_SIZE).to(device) - 128) / 128
        else:
            x = x.to(device).float()
            if images.dtype == torch.uint8:
                x = x / 255
            if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
                x = F.interpolate(x, (IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
            x = 2 * x - 1
        return x.contiguous(memory_format=torch.channels_last)

    def _run(
        self, images: torch.Tensor, with_logits: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Float32 features (and logits) on the network's device, in the chosen precision."""
        x = self._prepare(images)
        if self.precision == "tf32" and x.device.type != "cuda":
            raise ValueError(
                f"precision='tf32' needs the network on a CUDA device, but it is on {x.device}; "
                "use 'float32' or 'bf16'"
            )
        on_cuda = x.device.type == "cuda"
        with cuda_fp32_math(tf32=self.precision == "tf32") if on_cuda else nullcontext():
            if self.precision == "bf16":
                with torch.autocast(x.device.type, dtype=torch.bfloat16):
                    f = _trunk(self, x).float()
            else:
                f = _trunk(self, x)
            logits = F.linear(f, self.fc_w, self.fc_b) if with_logits else None  # float32 fc
        return f, logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pool3 features ``(N, 2048)`` of images ``(N, 3, H, W)`` (float in [0, 1] or uint8)."""
        return self._run(images, False)[0].to(images.device)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The 1008 class logits ``(N, 1008)`` (for the Inception Score): ``fc(features)``."""
        return self.features_and_logits(images)[1]

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``(N, 2048)`` and logits ``(N, 1008)`` from one pass."""
        f, logits = self._run(images, True)
        assert logits is not None
        return f.to(images.device), logits.to(images.device)


@contextmanager
def cuda_fp32_math(*, tf32: bool) -> Iterator[None]:
    """Run cuDNN convolutions and cuBLAS matmuls in TF32 (``tf32``) or IEEE float32, then restore.

    Uses torch's ``fp32_precision`` settings where they exist (mixing them with the legacy
    ``allow_tf32`` flags is an error in recent torch), else the legacy flags.
    """
    conv, mm = getattr(torch.backends.cudnn, "conv", None), torch.backends.cuda.matmul
    if conv is not None and hasattr(conv, "fp32_precision") and hasattr(mm, "fp32_precision"):
        saved = conv.fp32_precision, mm.fp32_precision
        conv.fp32_precision = mm.fp32_precision = "tf32" if tf32 else "ieee"
        try:
            yield
        finally:
            conv.fp32_precision, mm.fp32_precision = saved
    else:
        legacy = torch.backends.cudnn.allow_tf32, mm.allow_tf32
        torch.backends.cudnn.allow_tf32 = mm.allow_tf32 = tf32
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, mm.allow_tf32 = legacy


def _check_images(images: Any) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"images must be a torch.Tensor (N, 3, H, W), got {type(images).__name__} "
            "(use torch.from_numpy for arrays)"
        )
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(
            f"images must be uint8 in [0, 255] or floating in [0, 1], got {images.dtype}"
        )
    if images.numel() and not bool(((images >= 0) & (images <= 1)).all()):
        lo, hi = float(images.min()), float(images.max())
        raise ValueError(
            f"images: floating values must lie in [0, 1] (got min {lo:g}, max {hi:g}); "
            "pass uint8 for [0, 255] images"
        )
    return images


def inception(
    weights: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
    *,
    check_hash: bool = True,
    resize: str = "pytorch-fid",
    device: str | torch.device | None = None,
    precision: str = "float32",
) -> FIDInceptionV3:
    """The Inception-v3 FID network on pytorch-fid's weights, in eval mode.

    Features ``f(x) ∈ R^2048`` are the pool3 activations of Inception-v3 (Szegedy et al. 2016),
    the features of FID (Heusel et al. 2017); logits are ``fc(f(x))`` with 1008 classes.
    ``resize="pytorch-fid"`` matches pytorch-fid's ``InceptionV3([3])``: bilinear resize to 299
    (``align_corners=False``), ``2x − 1``. ``resize="clean"`` matches clean-fid (Parmar et al.
    2022): :func:`metrics.resize` ``mode="clean"`` (PIL bicubic per channel in float32,
    clipped, not re-quantised), then ``(x − 128) / 128`` as clean-fid's network does.

    Args:
        weights: the path of ``pt_inception-2015-12-05-6726825d.pth``, a state dict with its key
            names, or ``None`` for the copy fetched by ``divergences weights fetch inception``.
        check_hash: refuse a file whose SHA-256 is not the published one.
        resize: ``"pytorch-fid"`` or ``"clean"``.
        device: where the network runs (default: CUDA when available, else CPU).
        precision: ``"float32"`` (default: IEEE float32, TF32 off), ``"tf32"`` (CUDA tensor
            cores) or ``"bf16"`` (bfloat16 autocast, float32 features); faster on GPUs, and the
            features differ from float32 by rounding (benchmarks/bench_inception.py measures
            how much).

    Returns:
        A :class:`FIDInceptionV3` in eval mode.

    Raises:
        FileNotFoundError: no such file (or nothing fetched, with ``weights=None``).
        ValueError: a wrong SHA-256, an unreadable file, or a state dict with missing,
            unexpected or wrongly shaped tensors (all named).

    Example:
        >>> net = inception()  # fetched by `divergences weights fetch inception`  # doctest: +SKIP
        >>> net(torch.zeros(2, 3, 64, 64, dtype=torch.uint8)).shape  # doctest: +SKIP
        torch.Size([2, 2048])
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    digest = None
    if weights is None:
        weights = _weights.find("inception")
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"weights: no file {path}; get pytorch-fid's file with "
                "`divergences weights fetch inception`"
            )
        expected = _weights.REGISTRY["inception"].sha256
        digest = _weights.sha256_file(path)
        if check_hash and digest != expected:
            raise ValueError(
                f"weights: {path} has SHA-256 {digest}, not the published {expected} of "
                f"{_weights.REGISTRY['inception'].filename}; pass check_hash=False "
                "(command line: --no-check-hash) to load it anyway"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            # torch's own message advises weights_only=False, which must never be followed here
            raise ValueError(
                f"weights: cannot read {path} as a state dict (truncated, or not a PyTorch "
                f"weights file: {type(exc).__name__})"
            ) from exc
    elif isinstance(weights, Mapping):
        state = weights
    else:
        raise TypeError(
            f"weights must be a path, a state dict or None, got {type(weights).__name__}"
        )
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision == "tf32" and torch.device(device).type != "cuda":
        raise ValueError(f"precision='tf32' needs a CUDA device, got device={str(device)!r}")
    net = FIDInceptionV3(state, resize=resize, weights_sha256=digest, precision=precision)
    return net.to(device)


class _Calibrator:
    """Runs the network with batch statistics, storing them as the running statistics."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.s = state

    def unit(self, name: str, x: torch.Tensor) -> torch.Tensor:
        _, _, _, stride, pad = UNITS[name]
        y = F.conv2d(x, self.s[f"{name}.conv.weight"], None, stride, pad)
        mean, var = y.mean((0, 2, 3)), y.var((0, 2, 3), correction=0)
        self.s[f"{name}.bn.running_mean"], self.s[f"{name}.bn.running_var"] = mean, var
        g, b = self.s[f"{name}.bn.weight"], self.s[f"{name}.bn.bias"]
        y = (y - mean[:, None, None]) / torch.sqrt(var[:, None, None] + BN_EPS)
        return torch.relu(y * g[:, None, None] + b[:, None, None])

    def heads(self, prefix: str, kind: str, arg: Any, x: torch.Tensor) -> list[torch.Tensor]:
        names, pool = _heads(kind, arg)
        out = [self.unit(prefix + n, x) for n in names]
        if pool is not None:
            out.append(self.unit(prefix + "branch_pool", _pool(pool, x)))
        return out


def random_state_dict(
    seed: int = 0, *, running_stats: Mapping[str, Any] | None = None
) -> dict[str, torch.Tensor]:
    """A seeded state dict in pytorch-fid's format, batch norm calibrated on random images.

    For tests and benchmarks without the real weights. Weights are drawn with NumPy's
    ``default_rng(seed).random`` (stable across versions) in float64, in the key order of
    :func:`expected_shapes`, and cast to float32: convolutions He-uniform, batch-norm scales in
    ``[0.9, 1.1]`` and shifts in ``[0.5, 1.5]`` (mostly active ReLUs: a random batch-norm
    network with shifts near 0 is chaotic, amplifying float32 rounding 30-fold), ``fc`` uniform
    with variance ``1/2048``. The
    running statistics are then the batch statistics, layer by layer, of three calibration
    images (two 48-px and one 299-px uniform-noise images from the same generator, the first two
    resized as pytorch-fid does): with the default statistics the features would barely depend
    on the input. The calibration is a float32 forward pass, so its last bits depend on the
    CPU; pass ``running_stats`` (e.g. saved from an earlier call) to rebuild a state dict
    exactly.

    Args:
        seed: the seed of the NumPy generator.
        running_stats: the ``*.bn.running_mean`` and ``*.bn.running_var`` tensors to use
            instead of calibrating.

    Returns:
        ``dict`` of float32 tensors (and int64 ``num_batches_tracked``), pytorch-fid's keys.
    """
    rng = np.random.default_rng(seed)

    def uniform(shape: tuple[int, ...], half_width: float, center: float = 0.0) -> torch.Tensor:
        return torch.from_numpy(center + half_width * (2 * rng.random(shape) - 1)).float()

    state: dict[str, torch.Tensor] = {}
    for key, shape in expected_shapes().items():
        if key.endswith("conv.weight"):
            state[key] = uniform(shape, math.sqrt(6 / math.prod(shape[1:])))
        elif key.endswith("bn.weight"):
            state[key] = uniform(shape, 0.1, 1.0)
        elif key.endswith("bn.bias"):
            state[key] = uniform(shape, 0.5, 1.0)
        elif key.endswith("running_mean"):
            state[key] = torch.zeros(shape)
        elif key.endswith("running_var"):
            state[key] = torch.ones(shape)
        else:  # fc
            state[key] = uniform(shape, math.sqrt(3 / FEATURE_DIM))
    if running_stats is None:
        small = torch.from_numpy(rng.random((2, 3, 48, 48))).float()
        large = torch.from_numpy(rng.random((1, 3, IMAGE_SIZE, IMAGE_SIZE))).float()
        size = (IMAGE_SIZE, IMAGE_SIZE)
        small = F.interpolate(small, size, mode="bilinear", align_corners=False)
        with torch.no_grad():
            _trunk(_Calibrator(state), 2 * torch.cat([small, large]) - 1)
    else:
        for key in state:
            if key.endswith(("running_mean", "running_var")):
                state[key] = torch.as_tensor(np.asarray(running_stats[key]), dtype=torch.float32)
    for name in UNITS:
        state[f"{name}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    return state
