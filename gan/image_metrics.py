"""The image evaluation's networks: features and classifiers for the data sets that have them.

* :func:`feature_network` — the features FID, KID and precision/recall are computed in: the
  shipped digits network for ``digits``, the shipped Fashion-MNIST network for grey
  28 × 28 images (Fashion-MNIST, MNIST, such folders and arrays); none for other data;
* :func:`reference_side` / :func:`reference_features` — the real side's features (a subset
  sized to the evaluation) and the yardstick's (disjoint training subsets of the generated
  sample count, :func:`train_subsets`), cached on the data;
* :func:`classifier` — the shipped classifier of the data set (``digits``, ``fashion-mnist``
  at 28 px), for the per-class accuracy of conditional samples.

Samples are in the data's units ([−1, 1]); the networks take [0, 1]: x ↦ (x + 1) / 2.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gan.data import Data, proportional_counts

__all__ = [
    "YARDSTICK_SUBSETS",
    "classifier",
    "feature_network",
    "reference_features",
    "reference_side",
    "train_subsets",
]


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return torch.cat([fn(x[i : i + 1024]) for i in range(0, len(x), 1024)])


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
    from metrics.networks import features

    name = "digits" if data.name == "digits" else "fashion" if data.shape == (1, 28, 28) else ""
    if not name:
        return None
    key = f"{name}:{device}"
    if key not in _NETS:
        make = features.digits_features if name == "digits" else features.fashion_features
        _NETS[key] = make(device=device).eval()
    return _OnSamples(_NETS[key], key, clamp=name == "fashion")


def _subset(size: int, m: int) -> torch.Tensor:
    """A fixed subset (seed 0) of ``m`` of ``size`` indices; all, in order, when m >= size."""
    if m >= size:
        return torch.arange(size)
    return torch.randperm(size, generator=torch.Generator().manual_seed(0))[:m]


def reference_side(
    data: Data, net: Callable, n: int, *, test: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features (float64, CPU) and labels of the real samples ``n`` generated ones meet.

    The test split (``test=True`` and the data has one), else the training set: a fixed
    subset (seed 0) of min(size, max(2n, 2000)) samples, so a short evaluation reads few
    images and a long one the whole 10,000-image test split of Fashion-MNIST. Labels are
    None for unlabelled data. Cached on ``data`` when ``net`` has a ``key``.

    Example:
        >>> from gan.data import load_data
        >>> d = load_data("digits", conditional=True)
        >>> f, y = reference_side(d, feature_network(d, torch.device("cpu")), 100)
        >>> tuple(f.shape), tuple(y.shape)
        ((360, 64), (360,))
    """
    use_test = test and data.test is not None
    x, y = (data.test, data.test_labels) if use_test else (data.train, data.labels)
    m = min(len(x), max(2 * n, 2000))
    cache = data.__dict__.setdefault("_feature_cache", {})
    key = ("reference", getattr(net, "key", None), use_test, m)
    if key[1] is None or key not in cache:
        keep = _subset(len(x), m)
        with torch.no_grad():
            f = _batched(net, x[keep.to(x.device)].float()).double().cpu()
        cache[key] = (f, None if y is None else y[keep.to(y.device)])
    return cache[key]


#: Most disjoint training subsets whose FIDs against the reference average into the yardstick.
YARDSTICK_SUBSETS = 8


def train_subsets(
    size: int, n: int, labels: torch.Tensor | None = None, *, most: int = YARDSTICK_SUBSETS
) -> list[torch.Tensor]:
    """Disjoint subsets of ``n`` of ``size`` training indices (seed 0): as many as fit, ≤ ``most``.

    With ``labels`` ``(size,)`` each subset holds every label in its exact proportion
    (:func:`gan.data.proportional_counts`), as a conditional generator's samples do.
    One subset of all indices, in order, when ``n >= size``.

    Example:
        >>> [len(s) for s in train_subsets(10, 4)]
        [4, 4]
        >>> y = torch.tensor([0] * 6 + [1] * 3)
        >>> [torch.bincount(y[s]).tolist() for s in train_subsets(9, 3, y)]
        [[2, 1], [2, 1], [2, 1]]
    """
    if n >= size:
        return [torch.arange(size)]
    g = torch.Generator().manual_seed(0)
    if labels is None:
        perm = torch.randperm(size, generator=g)
        return list(perm[: min(most, size // n) * n].split(n))
    labels = labels.cpu()
    counts = torch.bincount(labels)
    per = proportional_counts(n, counts)
    fits = min([most] + [int(counts[k]) // int(per[k]) for k in range(len(per)) if per[k]])
    members = [torch.nonzero(labels == k).flatten() for k in range(len(counts))]
    members = [m[torch.randperm(len(m), generator=g)] for m in members]
    return [torch.cat([m[j * int(p) : (j + 1) * int(p)] for m, p in zip(members, per)])
            for j in range(fits)]  # fmt: skip


def reference_features(
    data: Data, net: _OnSamples, n: int
) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """``(reference, train)`` features (float64, CPU) for FID of ``n`` samples against ``data``.

    The reference is :func:`reference_side` (the test split, or the training set without
    one); ``train`` is the yardstick's: :func:`train_subsets` of ``n`` training samples (in
    the labels' proportions when the data has labels, as its generated samples are), None
    without a test split. Cached on ``data`` per feature map and ``n``.

    Example:
        >>> from gan.data import load_data
        >>> d = load_data("digits")
        >>> ref, train = reference_features(d, feature_network(d, torch.device("cpu")), 100)
        >>> tuple(ref.shape), [tuple(t.shape) for t in train][:2], len(train), ref.dtype
        ((360, 64), [(100, 64), (100, 64)], 8, torch.float64)
    """
    ref = reference_side(data, net, n)[0]
    if data.test is None:
        return ref, None
    cache = data.__dict__.setdefault("_feature_cache", {})
    key = ("train", net.key, n, data.labels is not None)
    if key not in cache:
        subsets = train_subsets(len(data.train), n, data.labels)
        with torch.no_grad():
            cache[key] = [_batched(net, data.train[s.to(data.train.device)].float()).double().cpu()
                          for s in subsets]  # fmt: skip
    return ref, cache[key]


_NETS: dict[str, nn.Module] = {}


def classifier(data: Data, device: torch.device) -> Callable | None:
    """Logits of the data set's shipped classifier on samples in the data's units, or None.

    Example:
        >>> from gan.data import load_data
        >>> clf = classifier(load_data("digits"), torch.device("cpu"))
        >>> tuple(clf(torch.zeros(3, 1, 8, 8)).shape)
        (3, 10)
    """
    from metrics.networks import features

    if data.name == "digits":
        net = features.digits_logits(device=device).eval()
        return lambda x: net((x + 1.0) / 2.0)
    if data.name == "fashion-mnist" and data.shape == (1, 28, 28):
        net = features.fashion_logits(device=device).eval()
        return lambda x: net(((x + 1.0) / 2.0).clamp(0.0, 1.0))
    return None
