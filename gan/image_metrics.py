"""The image evaluation's networks: features and classifiers for the data sets that have them.

* :func:`feature_network` — the features FID, KID and precision/recall are computed in: the
  shipped digits network for ``digits``, the shipped Fashion-MNIST network for grey
  28 × 28 images (Fashion-MNIST, MNIST, such folders and arrays); none for other data;
* :func:`reference_features` — the real side's features, cached on the data;
* :func:`classifier` — the shipped classifier of the data set (``digits``, ``fashion-mnist``
  at 28 px), for the per-class accuracy of conditional samples.

Samples are in the data's units ([−1, 1]); the networks take [0, 1]: x ↦ (x + 1) / 2.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gan.data import Data

__all__ = ["classifier", "feature_network", "reference_features"]


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return torch.cat([fn(x[i : i + 2048]) for i in range(0, len(x), 2048)])


class _OnSamples:
    """A feature network applied to samples in the data's units: f((x + 1) / 2)."""

    def __init__(self, net: nn.Module, name: str, clamp: bool):
        self.net, self.key, self.clamp = net, name, clamp

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        u = (x + 1.0) / 2.0
        return self.net(u.clamp(0.0, 1.0) if self.clamp else u)


def feature_network(data: Data, device: torch.device) -> _OnSamples | None:
    """The feature map of the trainer's evaluation for ``data``, on samples in its units.

    The digits network for ``digits``; the shipped Fashion-MNIST network for grey 28 × 28
    images (samples in [−1, 1] mapped by (x + 1) / 2, clamped to [0, 1]); None otherwise.

    Example:
        >>> from gan.data import load_data
        >>> feature_network(load_data("ring8"), torch.device("cpu")) is None
        True
    """
    from metrics import features

    name = "digits" if data.name == "digits" else "fashion" if data.shape == (1, 28, 28) else ""
    if not name:
        return None
    key = f"{name}:{device}"
    if key not in _NETS:
        make = features.digits_features if name == "digits" else features.fashion_features
        _NETS[key] = make(device=device).eval()
    return _OnSamples(_NETS[key], key, clamp=name == "fashion")


def reference_features(
    data: Data, net: _OnSamples, n: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(reference, train)`` features (float64, CPU) for FID against ``data``.

    The reference is the test split (all of it), or without one max(n, 10,000) training
    samples (a fixed subset, seed 0: a fixed cost however large the set); ``train`` is the
    yardstick: ``n`` training samples (a fixed subset, seed 0; all when fewer), None without
    a test split. Cached on ``data`` per feature map and ``n``.

    Example:
        >>> from gan.data import load_data
        >>> d = load_data("digits")
        >>> ref, train = reference_features(d, feature_network(d, torch.device("cpu")), 100)
        >>> tuple(ref.shape), tuple(train.shape), ref.dtype
        ((360, 64), (100, 64), torch.float64)
    """
    cache = data.__dict__.setdefault("_feature_cache", {})
    key = (net.key, n)
    if key not in cache:
        keep = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))
        keep = keep.to(data.train.device)
        with torch.no_grad():
            if data.test is None:
                sub = data.train[keep[: max(n, 10_000)]]
                cache[key] = (_batched(net, sub.float()).double().cpu(), None)
            else:
                sub = data.train[keep[:n]]
                cache[key] = (_batched(net, data.test.float()).double().cpu(),
                              _batched(net, sub.float()).double().cpu())  # fmt: skip
    return cache[key]


_NETS: dict[str, nn.Module] = {}


def classifier(data: Data, device: torch.device) -> Callable | None:
    """Logits of the data set's shipped classifier on samples in the data's units, or None.

    Example:
        >>> from gan.data import load_data
        >>> clf = classifier(load_data("digits"), torch.device("cpu"))
        >>> tuple(clf(torch.zeros(3, 1, 8, 8)).shape)
        (3, 10)
    """
    from metrics import features

    if data.name == "digits":
        net = features.digits_logits(device=device).eval()
        return lambda x: net((x + 1.0) / 2.0)
    if data.name == "fashion-mnist" and data.shape == (1, 28, 28):
        net = features.fashion_logits(device=device).eval()
        return lambda x: net(((x + 1.0) / 2.0).clamp(0.0, 1.0))
    return None
