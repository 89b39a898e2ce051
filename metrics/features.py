"""Feature extractors: anything mapping a batch ``(N, ...)`` to features ``(N, D)``.

An extractor is any callable or ``torch.nn.Module``. Built in:

- :func:`identity` — flattens each sample (low-dimensional data, precomputed features);
- :func:`torchscript` — a TorchScript file the user provides, e.g. the Inception-v3 FID network
  used by the StyleGAN2-ADA metrics and clean-fid (nothing is ever downloaded);
- :func:`digits_features` / :func:`digits_logits` — the project's small digits CNN (weights
  shipped in the package, reproducible by ``scripts/train_digits_net.py``; 98.4 % test accuracy).

:func:`extract` runs an extractor over arrays, tensors or an iterable of batches, in batches, on
the GPU when one is present, with an optional progress bar.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from divergences._validation import check_positive_int
from metrics._digits import DigitsFeatures, DigitsNet, load_digits_net

__all__ = [
    "DigitsNet",
    "Extractor",
    "digits_features",
    "digits_logits",
    "extract",
    "identity",
    "iter_features",
    "provenance",
    "resolve_extractor",
    "torchscript",
]

Extractor = Callable[[torch.Tensor], torch.Tensor]
"""The extractor protocol: a batch tensor ``(N, ...)`` → features ``(N, D)``."""


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def identity() -> Extractor:
    """The identity extractor: each sample flattened, ``(N, ...) → (N, prod(...))``.

    Example:
        >>> identity()(torch.zeros(5, 2, 3)).shape
        torch.Size([5, 6])
    """
    return _flatten


def default_device() -> torch.device:
    """``cuda`` when available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def torchscript(path: str | os.PathLike, *, device: str | torch.device | None = None):
    """Load a TorchScript feature network from a local file, in eval mode.

    Only load files you trust (TorchScript runs the code it contains). The standard FID network
    is the Inception-v3 TorchScript file used by the StyleGAN2-ADA metrics and clean-fid
    (``inception-2015-12-05.pt``): it takes uint8-range images ``(N, 3, H, W)`` and returns
    2048-d pool features when called with ``return_features=True`` — wrap it in a lambda, e.g.
    ``lambda x: net(x, return_features=True)``.

    Args:
        path: path of the ``.pt`` file.
        device: where to load it (default: CUDA when present, else CPU).

    Raises:
        ValueError: the path does not exist, or the file is not a TorchScript network.

    Example:
        >>> torchscript("/nonexistent/inception.pt")
        Traceback (most recent call last):
        ...
        ValueError: features: TorchScript feature network not found: /nonexistent/inception.pt
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"features: TorchScript feature network not found: {p}")
    dev = default_device() if device is None else torch.device(device)
    with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; the FID net is one
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return torch.jit.load(str(p), map_location=dev).eval()
        except RuntimeError as exc:  # not a TorchScript archive (truncated, a weights file...)
            detail = " ".join(str(exc).split())[:200]
            raise ValueError(f"features: {p} is not a TorchScript network ({detail})") from None


def digits_features(*, device: str | torch.device | None = None) -> torch.nn.Module:
    """The digits CNN's 64-d penultimate features (post-ReLU), in eval mode.

    Input: images in ``[0, 1]`` (sklearn digits divided by 16), shaped ``(N, 64)``,
    ``(N, 8, 8)`` or ``(N, 1, 8, 8)``. Output: ``(N, 64)``.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x = torch.tensor(load_digits().data[:4] / 16.0, dtype=torch.float32)
        >>> digits_features()(x).shape
        torch.Size([4, 64])
    """
    net = load_digits_net()
    return DigitsFeatures(net).to(default_device() if device is None else device).eval()


def digits_logits(*, device: str | torch.device | None = None) -> torch.nn.Module:
    """The digits CNN as a classifier: images in ``[0, 1]`` → logits ``(N, 10)`` (for IS).

    Example:
        >>> from sklearn.datasets import load_digits
        >>> d = load_digits()
        >>> x = torch.tensor(d.data[:8] / 16.0, dtype=torch.float32)
        >>> digits_logits()(x).argmax(1).tolist() == d.target[:8].tolist()
        True
    """
    return load_digits_net().to(default_device() if device is None else device)


def resolve_extractor(spec: Any, *, device: str | torch.device | None = None) -> Extractor:
    """An extractor from a spec: ``"identity"``, ``"digits"``, a TorchScript path or a callable."""
    if callable(spec):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        if s == "identity":
            return identity()
        if s == "digits":
            return digits_features(device=device)
        if s.endswith((".pt", ".pth", ".ts")) or os.sep in s:
            return torchscript(s, device=device)
    raise ValueError(
        f"features must be 'identity', 'digits', a TorchScript file path or a callable; "
        f"got {spec!r}"
    )


def _batches(data: Any, batch_size: int) -> tuple[Iterable[torch.Tensor], int | None]:
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        if data.ndim == 0:
            raise ValueError("data must have a batch axis, got a scalar")
        return data.split(batch_size), -(-data.shape[0] // batch_size)
    if isinstance(data, Iterable):

        def first(b: Any) -> torch.Tensor:
            b = b[0] if isinstance(b, (tuple, list)) else b
            return torch.from_numpy(b) if isinstance(b, np.ndarray) else b

        total = len(data) if hasattr(data, "__len__") else None
        return (first(b) for b in data), total
    raise TypeError(
        f"data must be an array, a tensor or an iterable of batches, got {type(data).__name__}"
    )


def iter_features(
    extractor: Any,
    data: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = False,
    out_device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> Iterator[torch.Tensor]:
    """Like :func:`extract`, but yield the features of each batch ``(B, D)`` as they come
    (memory bounded by one batch; :func:`extract` concatenates them)."""
    batch_size = check_positive_int(batch_size, "batch_size")
    fn = resolve_extractor(extractor, device=device)
    dev = default_device() if device is None else torch.device(device)
    if isinstance(fn, torch.nn.Module) and not isinstance(fn, torch.jit.ScriptModule):
        fn = fn.to(dev)
    batches, total = _batches(data, batch_size)
    with torch.inference_mode():
        for b in tqdm(batches, total=total, disable=not progress, desc="features", unit="batch"):
            if not isinstance(b, torch.Tensor):
                raise TypeError(f"each batch must be a tensor or array, got {type(b).__name__}")
            if dtype is not None:
                b = b.to(dtype)
            elif not b.is_floating_point():
                b = b.to(torch.float32)
            f = fn(b.to(dev, non_blocking=True))
            if not isinstance(f, torch.Tensor) or f.ndim != 2 or f.shape[0] != b.shape[0]:
                shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
                raise ValueError(
                    f"the extractor must map a batch of {b.shape[0]} to "
                    f"({b.shape[0]}, D) features, got {shape}"
                )
            yield f.to(out_device)


def extract(
    extractor: Any,
    data: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = False,
    out_device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Run an extractor over data in batches; return the features ``(N, D)``.

    Args:
        extractor: a callable / module or a spec accepted by :func:`resolve_extractor`.
        data: an array or tensor ``(N, ...)``, or an iterable of batches (e.g. a DataLoader;
            of a tuple batch the first element is used).
        batch_size: samples per forward pass (arrays and tensors only).
        device: where the extractor runs (default: CUDA when present, else CPU). A module
            extractor is moved there.
        progress: show a tqdm progress bar.
        out_device: where the returned features live.
        dtype: cast each batch to this dtype first (default: float32 for integer inputs, else
            unchanged).

    Returns:
        Features ``(N, D)`` (the extractor's output dtype).

    Example:
        >>> extract("identity", np.ones((10, 2, 2)), batch_size=3).shape
        torch.Size([10, 4])
    """
    outs = list(
        iter_features(
            extractor,
            data,
            batch_size=batch_size,
            device=device,
            progress=progress,
            out_device=out_device,
            dtype=dtype,
        )
    )
    if not outs:
        raise ValueError("data is empty: no batches to extract features from")
    return torch.cat(outs)


def _sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(spec: Any, extractor: Any = None) -> dict[str, Any] | None:
    """What identifies an extractor: its ``provenance`` attribute (a dict, e.g. with the network
    file's ``sha256``) if it has one, else derived from the spec; None when unknown (a plain
    callable: results are then never cached).

    Example:
        >>> provenance("identity")
        {'network': 'identity'}
    """
    own = getattr(extractor, "provenance", None) or getattr(spec, "provenance", None)
    if isinstance(own, dict):
        return dict(own)
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        if s == "identity":
            return {"network": "identity"}
        if s == "digits":
            from metrics._digits import WEIGHTS

            return {"network": "digits", "sha256": _sha256(WEIGHTS)}
        if os.path.isfile(s):
            return {"network": "torchscript", "file": os.path.basename(s), "sha256": _sha256(s)}
    return None
