"""What the DINOv2 and CLIP image networks share: pre-norm transformer blocks, precisions, inputs.

A block is ``x + attn(LN₁(x))`` then ``x + mlp(LN₂(x))`` (Vaswani et al. 2017; the pre-norm
ViT of Dosovitskiy et al. 2021), attention by ``F.scaled_dot_product_attention`` on one fused
``qkv`` projection. DINOv2's LayerScale (Touvron et al. 2021) is folded into the output
projections at load time (``γ ⊙ (W h + b) = (γ ⊙ W) h + γ ⊙ b``, in float64). Only the class
token leaves the networks, so the last block computes its query, attention and MLP for that
token alone (every token still serves as a key and value); the result is the same as running
the whole block and keeping the class token.

Weights are loaded with ``torch.load(..., weights_only=True)`` or from ``.safetensors``
(:mod:`metrics.networks._safetensors`), checked by SHA-256 against the published digests
(:mod:`metrics.networks.weights`).
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metrics.networks import weights as _weights
from metrics.networks._safetensors import read_safetensors
from metrics.networks.inception import cuda_fp32_math
from metrics.networks.preprocess import check_pixels

__all__ = ["PRECISIONS", "Blocks", "as_rgb", "load_state", "precision_context"]

PRECISIONS = ("float32", "tf32", "bf16")
BLOCK_KEYS = ("n1w", "n1b", "qkv_w", "qkv_b", "proj_w", "proj_b", "n2w", "n2b",
              "fc1_w", "fc1_b", "fc2_w", "fc2_b")  # fmt: skip


class Blocks(nn.Module):
    """A stack of pre-norm transformer blocks on tokens ``(B, N, C)``; weights are buffers.

    Args:
        blocks: one dict per block with the float tensors of :data:`BLOCK_KEYS`
            (``qkv_w`` ``(3C, C)`` in query, key, value order; LayerScale already folded).
        heads: attention heads (``C`` divisible by it).
        eps: the layer norms' epsilon.
        mlp: ``"gelu"`` (erf), ``"quick_gelu"`` (``x σ(1.702 x)``, OpenAI CLIP) or
            ``"swiglu"`` (``fc1`` gives ``[a, b]``, hidden ``silu(a) ⊙ b``).
    """

    def __init__(self, blocks: list[dict[str, torch.Tensor]], *, heads: int, eps: float,
                 mlp: str) -> None:  # fmt: skip
        super().__init__()
        self.heads, self.eps, self.mlp, self.depth = heads, eps, mlp, len(blocks)
        for i, blk in enumerate(blocks):
            for key in BLOCK_KEYS:
                self.register_buffer(f"b{i}_{key}", blk[key].float().contiguous().clone())

    def _w(self, i: int, key: str) -> torch.Tensor:
        return getattr(self, f"b{i}_{key}")

    def _mlp(self, i: int, h: torch.Tensor) -> torch.Tensor:
        h = F.linear(h, self._w(i, "fc1_w"), self._w(i, "fc1_b"))
        if self.mlp == "gelu":
            h = F.gelu(h)
        elif self.mlp == "quick_gelu":
            h = h * torch.sigmoid(1.702 * h)
        else:
            a, b = h.chunk(2, dim=-1)
            h = F.silu(a) * b
        return F.linear(h, self._w(i, "fc2_w"), self._w(i, "fc2_b"))

    def block(self, i: int, x: torch.Tensor, *, cls_only: bool = False) -> torch.Tensor:
        """Block ``i`` on ``x`` ``(B, N, C)``; ``cls_only`` returns token 0 only, ``(B, 1, C)``."""
        b, n, c = x.shape
        dh = c // self.heads
        h = F.layer_norm(x, (c,), self._w(i, "n1w"), self._w(i, "n1b"), self.eps)
        w, bias = self._w(i, "qkv_w"), self._w(i, "qkv_b")
        if cls_only:
            q = F.linear(h[:, :1], w[:c], bias[:c]).view(b, 1, self.heads, dh).transpose(1, 2)
            kv = F.linear(h, w[c:], bias[c:]).view(b, n, 2, self.heads, dh).permute(2, 0, 3, 1, 4)
            k, v = kv.unbind(0)
            x = x[:, :1]
        else:
            qkv = F.linear(h, w, bias).view(b, n, 3, self.heads, dh).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
        a = F.scaled_dot_product_attention(q, k, v)
        a = a.transpose(1, 2).reshape(b, x.shape[1], c)
        x = x + F.linear(a, self._w(i, "proj_w"), self._w(i, "proj_b"))
        h = F.layer_norm(x, (c,), self._w(i, "n2w"), self._w(i, "n2b"), self.eps)
        return x + self._mlp(i, h)

    def forward(self, x: torch.Tensor, *, cls_only: bool = True) -> torch.Tensor:
        """All blocks; with ``cls_only`` the result is the class token ``(B, C)``, else ``x``."""
        for i in range(self.depth):
            x = self.block(i, x, cls_only=cls_only and i == self.depth - 1)
        return x[:, 0] if cls_only else x


def fold_layerscale(w: torch.Tensor, b: torch.Tensor, gamma: torch.Tensor) -> tuple[Any, Any]:
    """``(γ ⊙ W, γ ⊙ b)`` computed in float64, returned in float32."""
    g = gamma.double()
    return (w.double() * g[:, None]).float(), (b.double() * g).float()


@contextmanager
def precision_context(device: torch.device, precision: str) -> Iterator[None]:
    """The arithmetic of ``precision`` on ``device``.

    ``float32``: IEEE float32 (TF32 off on CUDA); ``tf32``: CUDA tensor cores round matmul
    inputs to TF32; ``bf16``: bfloat16 autocast (layer norms and softmax stay float32).
    """
    if precision == "tf32" and device.type != "cuda":
        raise ValueError(
            f"precision='tf32' needs the network on a CUDA device, but it is on {device}; "
            "use 'float32' or 'bf16'"
        )
    with ExitStack() as stack:
        if device.type == "cuda":
            stack.enter_context(cuda_fp32_math(tf32=precision == "tf32"))
        if precision == "bf16":
            stack.enter_context(torch.autocast(device.type, dtype=torch.bfloat16))
        yield


def check_precision(precision: Any) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a ValueError."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def as_rgb(images: Any, *, network: str) -> torch.Tensor:
    """Checked images ``(N, C, H, W)`` with 3 channels: grey repeated, alpha dropped (warned).

    uint8 images are ``[0, 255]``, floating images ``[0, 1]``.

    Raises:
        TypeError: not a tensor, or neither uint8 nor floating.
        ValueError: a wrong shape or floats outside ``[0, 1]``.
    """

    def ok(s: tuple[int, ...]) -> bool:
        return len(s) == 4 and s[1] in (1, 3, 4) and min(s[2:]) >= 1

    check_pixels(images, ok, "(N, 3, H, W) (1 or 4 channels are converted)")
    c = images.shape[1]
    if c == 1:
        warnings.warn(f"{network}: grey images (1 channel) converted to RGB by repeating the "
                      "channel", stacklevel=3)  # fmt: skip
        return images.expand(-1, 3, -1, -1)
    if c == 4:
        warnings.warn(f"{network}: RGBA images: the alpha channel is dropped", stacklevel=3)
        return images[:, :3]
    return images


def warn_small(images: torch.Tensor, patch: int, size: int, network: str) -> None:
    """Warn when images are smaller than one patch (they are upsampled to ``size``)."""
    h, w = images.shape[-2:]
    if min(h, w) < patch:
        warnings.warn(
            f"{network}: images of {h}x{w} px are smaller than one {patch}-px patch; they are "
            f"upsampled to {size} px and their features carry little information",
            stacklevel=3,
        )


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of an in-memory state dict (sorted names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key]
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            h.update(f"{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_state(
    weights: Any, *, entry: str | None, what: str, check_hash: bool,
    keep: Callable[[str], bool] | None = None,
) -> tuple[Mapping[str, torch.Tensor], str, Path | None]:  # fmt: skip
    """Read a weights file (``.safetensors`` or a ``weights_only`` torch file) or take a dict.

    Args:
        weights: a path, a state dict, or ``None`` for the cached file of ``entry``.
        entry: the :data:`metrics.networks.weights.REGISTRY` name whose published SHA-256 a
            file must have (``None``: no published digest is known for these weights).
        what: the network's name in messages.
        check_hash: refuse a file whose SHA-256 is not the published one.
        keep: which tensors of a ``.safetensors`` file to read (default: all).

    Returns:
        ``(state, digest, path)``: the digest is the file's SHA-256, or ``"state:"`` and a
        digest of the tensors for an in-memory state dict (so cached statistics of different
        in-memory weights never mix).
    """
    if weights is None:
        if entry is None:
            raise ValueError(f"weights: {what} has no published weights file; pass a path")
        weights = _weights.find(entry)
    if isinstance(weights, Mapping):
        return weights, "state:" + state_digest(weights), None
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            f"weights must be a path, a state dict or None, got {type(weights).__name__}"
        )
    path = Path(weights)
    if not path.is_file():
        how = f" (`divergences weights fetch {entry}`)" if entry else ""
        raise FileNotFoundError(f"weights: no file {path}{how}")
    digest = _weights.sha256_file(path)
    published = _weights.REGISTRY[entry].sha256 if entry else None
    if check_hash and digest != published:
        known = (
            f"not the published {published} of {_weights.REGISTRY[entry].filename}"
            if published
            else f"and no published SHA-256 of {what} weights is confirmed here"
        )
        raise ValueError(
            f"weights: {path} has SHA-256 {digest}, {known}; pass check_hash=False "
            "(command line: --no-check-hash) to load it anyway"
        )
    return _read(path, what, keep), digest, path


def _is_torchscript(path: Path) -> bool:
    """A zip archive with TorchScript's ``code/`` or ``constants.pkl`` members."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def _read(path: Path, what: str, keep: Any = None) -> Mapping[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return read_safetensors(path, keep)
    if _is_torchscript(path):  # torch.load would hand such a file to torch.jit.load
        raise ValueError(
            f"weights: {path} is a TorchScript archive (it runs code when loaded) and is never "
            "read here; save the model's state_dict() with torch.save, or use the safetensors "
            "file"
        )
    try:
        try:  # memory-mapped: only the tensors the network keeps are read from disk
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own message advises weights_only=False, which must never be followed here
        raise ValueError(
            f"weights: cannot read {path} as a {what} state dict (truncated, or not a PyTorch "
            f"weights file: {type(exc).__name__})"
        ) from None
    if not isinstance(state, Mapping):
        raise ValueError(f"weights: {path} holds a {type(state).__name__}, not a state dict")
    return state


def random_tensors(shapes: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded float32 tensors of these shapes (test and benchmark weights, not a model).

    Drawn with ``numpy.random.default_rng(seed).random`` in float64, key by key in order:
    matrices uniform with variance ``1 / fan_in``, norm scales in ``[0.5, 1.5]``, LayerScale
    (``*.gamma``) in ``[0.05, 0.5]``, vectors (biases, tokens, positions) in ``[−0.5, 0.5]``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for key, shape in shapes.items():
        u = 2 * rng.random(shape) - 1
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "gamma":
            v = 0.275 + 0.225 * u
        elif leaf == "weight" and len(shape) == 1:  # a layer norm's scale
            v = 1 + 0.5 * u
        elif (leaf == "weight" and len(shape) >= 2) or key.endswith("proj"):
            fan_in = shape[0] if key.endswith("proj") else int(np.prod(shape[1:]))
            v = u * (3 / fan_in) ** 0.5
        else:
            v = 0.5 * u
        out[key] = torch.from_numpy(v).float()
    return out
