"""Feature extractors: anything mapping a batch ``(N, ...)`` to features ``(N, D)``.

An extractor is any callable or ``torch.nn.Module``. Built in:

- :func:`identity` — flattens each sample (low-dimensional data, precomputed features);
- :func:`torchscript` — a TorchScript file the user provides, e.g. the Inception-v3 FID network
  used by the StyleGAN2-ADA metrics and clean-fid (nothing is ever downloaded);
- :func:`digits_features` / :func:`digits_logits` (:mod:`metrics.networks.shipped`) — the
  project's small digits CNN (weights shipped in the package, reproducible by
  ``scripts/train_digits_net.py``; 98.4 % test accuracy);
- :func:`fashion_features` / :func:`fashion_logits` (``"fashion"``) — the project's 28-px CNN
  trained on Fashion-MNIST (weights shipped and SHA-256 checked, reproducible by
  ``scripts/train_fashion_net.py``; 93.4 % test accuracy), for MNIST-sized grey images;
- ``"inception"`` — the Inception-v3 FID network (:func:`metrics.inception`) on pytorch-fid's
  weights file, from the cache folder (``divergences weights fetch inception``), or
  ``"inception:PATH"`` for a file elsewhere;
- ``"dinov2"`` — DINOv2 ViT-L/14 class tokens (:func:`metrics.dinov2`, FD_DINOv2's features;
  ``divergences weights fetch dinov2-vitl14``), ``"dinov2:PATH"``, or another variant as
  ``"dinov2-vitb14:PATH"``;
- ``"clip"`` — CLIP ViT-L/14@336 image embeddings (:func:`metrics.clip_image`, CMMD's;
  ``divergences weights fetch clip-vitl14-336``), ``"clip:PATH"`` (a ``.safetensors`` file in
  Hugging Face's layout or a ``torch.save``-d state dict in OpenAI's), or ``"clip-vitb16:PATH"``.

:func:`extract` runs an extractor over arrays, tensors or an iterable of batches, in batches, on
the GPU when one is present, with an optional progress bar.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from divergences._validation import check_positive_int
from metrics._types import from_numpy
from metrics.networks._digits import DigitsNet
from metrics.networks.shipped import (
    digits_features,
    digits_logits,
    fashion_features,
    fashion_logits,
)
from metrics.networks.weights import sha256_file

__all__ = [
    "DigitsNet",
    "Extractor",
    "digits_features",
    "digits_logits",
    "extract",
    "fashion_features",
    "fashion_logits",
    "identity",
    "is_inception",
    "iter_features",
    "network_of",
    "preprocessing",
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


INCEPTION_RESIZES = ("pytorch-fid", "clean")
"""``resize`` values that choose the Inception network's preprocessing."""
NETWORK_RESIZES = {"inception": INCEPTION_RESIZES, "dinov2": ("torch", "pil", "clean"),
                   "clip": ("openai", "cmmd")}  # fmt: skip
"""Per built-in network, the ``resize`` values that choose its preprocessing (first: default)."""


def is_inception(spec: Any) -> bool:
    """Whether ``spec`` names the Inception network: ``"inception"`` or ``"inception:PATH"``."""
    return network_of(spec) == "inception"


def network_of(spec: Any) -> str | None:
    """``"inception"``, ``"dinov2"`` or ``"clip"`` for a spec naming that network, else None.

    A network spec is ``NAME``, ``NAME:PATH``, ``NAME-VARIANT`` or ``NAME-VARIANT:PATH``.

    Example:
        >>> network_of("dinov2-vitb14:/w/b.pth"), network_of("clip"), network_of("identity")
        ('dinov2', 'clip', None)
    """
    if not isinstance(spec, str):
        return None
    head = spec.partition(":")[0]
    for name in NETWORK_RESIZES:
        rest = head[len(name) + 1 :]
        if head == name or (name != "inception" and head.startswith(name + "-")
                            and rest.replace("-", "").isalnum()):  # fmt: skip
            return name
    return None


def preprocessing(spec: Any, resize: str | None) -> tuple[str | None, str]:
    """Split ``resize`` into (the network's preprocessing, the folder reader's PIL filter).

    With the Inception network ``resize`` is ``"pytorch-fid"`` (default) or ``"clean"``: the
    network brings every image to 299 px itself; folder images of another size than the first
    are first brought to its size with PIL bilinear (pytorch-fid) or bicubic (clean). With any
    other extractor ``resize`` is the folder reader's PIL filter (default ``"bilinear"``).

    Raises:
        ValueError: a network mode without the Inception network, or a PIL filter with it.

    Example:
        >>> preprocessing("inception", "clean"), preprocessing("identity", None)
        (('clean', 'bicubic'), (None, 'bilinear'))
    """
    net = network_of(spec)
    if net is not None:
        modes = NETWORK_RESIZES[net]
        mode = resize or modes[0]
        if mode not in modes:
            raise ValueError(
                f"resize {mode!r}: with features {net!r} resize must be one of "
                f"{', '.join(modes)} (the network's preprocessing)"
            )
        return mode, "bilinear" if mode == "pytorch-fid" else "bicubic"
    owners = [n for n, modes in NETWORK_RESIZES.items() if resize in modes]
    if owners:
        raise ValueError(
            f"resize {resize!r} chooses a network's preprocessing: it needs features "
            f"{' or '.join(repr(o) for o in owners)} (other extractors take a PIL filter: "
            "bilinear, bicubic, ...)"
        )
    return None, resize or "bilinear"


def _inception(
    spec: str, *, device: Any, resize: str | None, check_hash: bool, precision: str
) -> torch.nn.Module:
    from metrics.networks import weights
    from metrics.networks.inception import inception

    mode, _ = preprocessing(spec, resize)
    path = weights.find("inception") if spec == "inception" else Path(spec[len("inception:") :])
    if not path.is_file():
        raise FileNotFoundError(
            f"features {spec!r}: no file {path}; get pytorch-fid's weights with "
            "`divergences weights fetch inception`"
        )
    net = inception(path, check_hash=check_hash, resize=mode, device=device, precision=precision)
    weights.warn_unpublished(spec, path, "inception", net.weights_sha256,
                             "pytorch-fid's published weights file", "FID values")  # fmt: skip
    return net


def resolve_extractor(
    spec: Any,
    *,
    device: str | torch.device | None = None,
    resize: str | None = None,
    check_hash: bool = True,
    precision: str | None = None,
) -> Extractor:
    """An extractor from a spec.

    Args:
        spec: ``"identity"``, ``"digits"``, ``"fashion"``, ``"inception"`` (pytorch-fid's
            weights from the cache folder, see :func:`metrics.networks.weights.find`),
            ``"inception:PATH"`` (that weights file), ``"dinov2"``, ``"clip"`` (and their
            ``:PATH`` and ``-VARIANT`` forms, see the module docstring), a TorchScript path or a
            callable
            (returned as it is).
        device: where a built-in network runs (default: CUDA when present).
        resize: a network's preprocessing (:data:`NETWORK_RESIZES`: Inception
            ``"pytorch-fid"``/``"clean"``, DINOv2 ``"torch"``/``"pil"``/``"clean"``, CLIP
            ``"openai"``/``"cmmd"``; see :func:`preprocessing`); ignored by the other specs.
        check_hash: refuse a network weights file whose SHA-256 is not the published one.
            ``False`` loads it with a warning (e.g. a test file of random weights).
        precision: a network's arithmetic, ``"float32"`` (default), ``"tf32"`` (CUDA) or
            ``"bf16"`` (see :func:`metrics.inception`); the other specs refuse it.

    Returns:
        The extractor. The Inception network carries ``provenance = {"network":
        "inception-v3-fid", "sha256": ..., "resize": ..., "precision": ...}`` for reports
        and the stats cache.

    Raises:
        FileNotFoundError: the Inception weights are not fetched (the message says how).
        ValueError: an unknown spec, a wrong-hash or unreadable weights file.
    """
    if precision is not None and network_of(spec) is None:
        raise ValueError(
            f"precision {precision!r} applies to features 'inception', 'dinov2' and 'clip' "
            f"only, not {spec!r}"
        )
    if callable(spec):
        return spec
    if is_inception(spec):
        return _inception(spec, device=device, resize=resize, check_hash=check_hash,
                          precision=precision or "float32")  # fmt: skip
    if network_of(spec) is not None:
        from metrics.networks.specs import vit_from_spec

        mode, _ = preprocessing(spec, resize)
        return vit_from_spec(spec, network_of(spec), device=device, resize=mode,
                             check_hash=check_hash, precision=precision or "float32")  # fmt: skip
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        if s == "identity":
            return identity()
        if s == "digits":
            return digits_features(device=device)
        if s == "fashion":
            return fashion_features(device=device)
        if s.endswith((".pt", ".pth", ".ts")) or os.sep in s:
            return torchscript(s, device=device)
    raise ValueError(
        "features must be 'identity', 'digits', 'fashion', 'inception', 'inception:PATH', "
        "'dinov2', 'dinov2:PATH', 'clip', 'clip:PATH', a TorchScript file path or a callable; "
        f"got {spec!r}"
    )


def _batches(data: Any, batch_size: int) -> tuple[Iterable[torch.Tensor], int | None]:
    if isinstance(data, np.ndarray):
        data = from_numpy(data)
    if isinstance(data, torch.Tensor):
        if data.ndim == 0:
            raise ValueError("data must have a batch axis, got a scalar")
        return data.split(batch_size), -(-data.shape[0] // batch_size)
    if isinstance(data, Iterable):

        def first(b: Any) -> torch.Tensor:
            b = b[0] if isinstance(b, (tuple, list)) else b
            return from_numpy(b) if isinstance(b, np.ndarray) else b

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
    """Like :func:`extract`, but yield the features of each batch ``(B, D)`` as they come.

    Memory is bounded by one batch; :func:`extract` concatenates them.
    """
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


def provenance(spec: Any, extractor: Any = None) -> dict[str, Any] | None:
    """What identifies an extractor, or None when unknown.

    Its ``provenance`` attribute (a dict, e.g. with the network file's ``sha256``) if it has one,
    else derived from the spec; None for a plain callable (its results are never cached).

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
            from metrics.networks._digits import WEIGHTS

            return {"network": "digits", "sha256": sha256_file(WEIGHTS)}
        if s == "fashion":
            from metrics.networks._fashion import SHA256

            return {"network": "fashion", "sha256": SHA256}
        if os.path.isfile(s):
            return {"network": "torchscript", "file": os.path.basename(s), "sha256": sha256_file(s)}
    return None
