"""Class-conditional generation and its per-class evaluation.

* :func:`proportional_labels` — ``n`` labels with the classes in proportion to the data;
* :func:`generate` — samples of a generator, conditional (``g(z, y)``) or not;
* :func:`intra_fid` — per-class FID (intra-FID, Miyato & Koyama 2018): the FID of each
  class's generated features against that class's real features, and their mean;
* :func:`digits_class_accuracy` — how often the shipped digits classifier
  (:func:`metrics.networks.features.digits_logits`) labels a generated digit with its class;
  :func:`class_accuracy` the same with any classifier (the Fashion-MNIST one for
  ``fashion-mnist``);
* :func:`evaluate_conditional` — both, for a generator and its :class:`gan.data.Data`;
* :class:`MarginalGenerator` — a conditional generator seen as an unconditional one (labels
  drawn in proportion to the data), for the run's unconditional metrics (FID, JS, ...).

Labels are int64 class indices ``0 … K−1`` into ``Data.class_names``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from gan.data import Data, proportional_counts

__all__ = [
    "MarginalGenerator",
    "class_accuracy",
    "digits_class_accuracy",
    "evaluate_conditional",
    "generate",
    "intra_fid",
    "n_classes_of",
    "proportional_labels",
]


def n_classes_of(g: nn.Module) -> int:
    """The number of classes a model is conditioned on (0 when unconditional)."""
    return int(getattr(g, "n_classes", 0) or 0)


def proportional_labels(
    n: int, counts: torch.Tensor | list[int], generator: torch.Generator
) -> torch.Tensor:
    """``n`` labels ``(n,)`` whose class frequencies follow ``counts``, in a random order.

    The class counts are :func:`gan.data.proportional_counts`; the order is a permutation
    drawn from ``generator`` (on its device).

    Example:
        >>> y = proportional_labels(10, [1, 1, 3], torch.Generator().manual_seed(0))
        >>> torch.bincount(y).tolist()
        [2, 2, 6]
    """
    k = proportional_counts(n, counts)
    y = torch.repeat_interleave(torch.arange(len(k)), k).to(generator.device)
    return y[torch.randperm(n, generator=generator, device=generator.device)]


@torch.no_grad()
def generate(
    g: nn.Module, n: int, z_dim: int, generator: torch.Generator, *,
    labels: torch.Tensor | None = None, batch: int = 4096,
) -> torch.Tensor:  # fmt: skip
    """``n`` samples ``(n, *shape)`` of ``g`` in batches, float32, on the generator's device.

    ``labels`` (int64 ``(n,)``) are required for a conditional ``g`` and refused otherwise.
    """
    k = n_classes_of(g)
    if k and labels is None:
        raise ValueError(f"the generator is conditional on {k} classes: give labels")
    if not k and labels is not None:
        raise ValueError("labels given, but the generator is unconditional")
    if labels is not None:
        labels = torch.as_tensor(labels, device=generator.device)
        if labels.shape != (n,) or labels.dtype != torch.int64:
            raise ValueError(f"labels must be an int64 tensor of shape ({n},), got "
                             f"{labels.dtype} {tuple(labels.shape)}")  # fmt: skip
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= k:
            raise ValueError(f"labels must lie in [0, {k - 1}], got values in [{lo}, {hi}]")
    out = []
    for i in range(0, n, batch):
        m = min(batch, n - i)
        z = torch.randn(m, z_dim, generator=generator, device=generator.device)
        out.append((g(z) if labels is None else g(z, labels[i : i + m])).float())
    return torch.cat(out)


class MarginalGenerator(nn.Module):
    """``z (B, z_dim) → g(z, y)`` with ``y`` drawn by :func:`proportional_labels` per call.

    The generator of the data's marginal distribution: the unconditional evaluation
    (:func:`gan.evaluation.evaluate_generator`) takes it in place of ``g``. Labels come from
    its own seeded generator on the counts' device, so calls are reproducible.

    Example:
        >>> class G(nn.Module):
        ...     n_classes = 2
        ...     def forward(self, z, y):
        ...         return y[:, None].float()
        >>> m = MarginalGenerator(G(), torch.tensor([1, 3]))
        >>> m(torch.zeros(8, 4)).sum().item()
        6.0
    """

    def __init__(self, g: nn.Module, counts: torch.Tensor, *, seed: int = 0):
        super().__init__()
        if len(counts) != n_classes_of(g):
            raise ValueError(f"counts has {len(counts)} classes, the generator {n_classes_of(g)}")
        self.g, self.z_dim = g, getattr(g, "z_dim", None)
        self.register_buffer("counts", torch.as_tensor(counts).clone())
        self._gen = torch.Generator(self.counts.device).manual_seed(seed)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Samples for noise ``z``, with labels drawn in proportion to the data."""
        if self._gen.device != z.device:
            self._gen = torch.Generator(z.device).manual_seed(self._gen.initial_seed())
        return self.g(z, proportional_labels(len(z), self.counts, self._gen))


def _per_class(labels: torch.Tensor | np.ndarray, n_classes: int, name: str) -> list[np.ndarray]:
    y = np.asarray(torch.as_tensor(labels).cpu())
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer class labels, got {y.dtype} "
                         f"{y.shape}")  # fmt: skip
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes - 1}]")
    return [np.flatnonzero(y == k) for k in range(n_classes)]


def intra_fid(
    real_features: Any, real_labels: Any, fake_features: Any, fake_labels: Any, n_classes: int
) -> tuple[float, list[float]]:
    """Per-class FID and its mean: ``(mean_k FID_k, [FID_0, …, FID_{K−1}])``.

    FID_k = FID(real features of class k, generated features of class k), computed by
    :func:`metrics.fid.fid` in float64 (unbiased covariances).

    Args:
        real_features: ``(N, D)`` features of real samples.
        real_labels: ``(N,)`` their classes in ``[0, n_classes)``.
        fake_features: ``(M, D)`` features of generated samples.
        fake_labels: ``(M,)`` the classes they were generated for.
        n_classes: K.

    Raises:
        ValueError: a class with fewer than 2 real or 2 generated samples (named), or labels
            that do not match the features.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> f, y = rng.normal(size=(400, 3)), np.repeat([0, 1], 200)
        >>> mean, per = intra_fid(f, y, f, y, 2)
        >>> round(mean, 9), [round(v, 9) for v in per]
        (0.0, [0.0, 0.0])
    """
    from metrics.fid import fid

    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    fr = np.asarray(torch.as_tensor(real_features).detach().cpu(), dtype=np.float64)
    ff = np.asarray(torch.as_tensor(fake_features).detach().cpu(), dtype=np.float64)
    idx_r = _per_class(real_labels, n_classes, "real_labels")
    idx_f = _per_class(fake_labels, n_classes, "fake_labels")
    for name, f, y in (("real", fr, real_labels), ("fake", ff, fake_labels)):
        if f.ndim != 2 or len(f) != len(torch.as_tensor(y)):
            raise ValueError(f"{name}_features must be (N, D) with one label each, got "
                             f"{f.shape} and {len(torch.as_tensor(y))} labels")  # fmt: skip
    per = []
    for k in range(n_classes):
        if len(idx_r[k]) < 2 or len(idx_f[k]) < 2:
            raise ValueError(f"class {k} has {len(idx_r[k])} real and {len(idx_f[k])} generated "
                             "samples; intra-FID needs at least 2 of each")  # fmt: skip
        per.append(float(fid(fr[idx_r[k]], ff[idx_f[k]])))
    return float(np.mean(per)), per


@torch.no_grad()
def class_accuracy(
    classifier: Callable[[torch.Tensor], torch.Tensor], samples: torch.Tensor,
    labels: torch.Tensor, n_classes: int,
) -> tuple[float, list[float]]:  # fmt: skip
    """``(overall, per_class)`` share of ``samples`` that ``classifier`` labels with ``labels``.

    ``classifier`` maps a batch to logits ``(B, n_classes)``; ``per_class[k]`` is the share
    within class k (NaN for a class with no samples).

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
        >>> clf = lambda b: torch.cat([1 - b, b], 1)  # logits: class 1 when x = 1
        >>> class_accuracy(clf, x, torch.tensor([0, 1, 0, 0]), 2)
        (0.75, [0.6666666666666666, 1.0])
    """
    y = torch.as_tensor(labels).to(samples.device)
    if len(samples) != len(y) or len(samples) == 0:
        raise ValueError(f"samples and labels must be non-empty and of one length, got "
                         f"{len(samples)} and {len(y)}")  # fmt: skip
    pred = torch.cat([classifier(samples[i : i + 4096]).argmax(1)
                      for i in range(0, len(samples), 4096)])  # fmt: skip
    hit = (pred == y).double().cpu()
    y = y.cpu()
    per = [float(hit[y == k].mean()) if bool((y == k).any()) else float("nan")
           for k in range(n_classes)]  # fmt: skip
    return float(hit.mean()), per


@torch.no_grad()
def digits_class_accuracy(samples: torch.Tensor, labels: torch.Tensor) -> tuple[float, list[float]]:
    """``(overall, per_class)`` accuracy of the digits classifier on generated digits.

    ``samples`` are digits in the data's units (:mod:`gan.data`: ``(N, 1, 8, 8)`` or
    ``(N, 64)`` in [−1, 1]); they are mapped to the classifier's [0, 1] by (x + 1) / 2.
    ``overall`` is the share of all samples labelled with their class; ``per_class[k]`` the
    share within class k (NaN for a class with no samples).
    """
    from metrics.networks.features import digits_logits

    x = torch.as_tensor(samples).float()
    y = torch.as_tensor(labels).to(x.device)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"samples and labels must be non-empty and of one length, got "
                         f"{len(x)} and {len(y)}")  # fmt: skip
    net = digits_logits(device=x.device).eval()
    return class_accuracy(lambda b: net((b + 1.0) / 2.0), x, y, 10)


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return torch.cat([fn(x[i : i + 4096]) for i in range(0, len(x), 4096)])


def evaluate_conditional(
    g: nn.Module, data: Data, *, n: int, z_dim: int, generator: torch.Generator,
    features: Callable[[torch.Tensor], torch.Tensor] | None = None, split: str = "test",
) -> dict[str, float]:  # fmt: skip
    """Per-class metrics of a conditional generator: intra-FID and a classifier's accuracy.

    ``n // K`` samples are generated per class (so every class has the same weight) and
    compared with that class's real samples of ``split`` (``"test"`` when the data has a
    held-out split, else the training set). ``features`` maps samples in the data's units
    to ``(N, D)``; the default is :func:`gan.image_metrics.feature_network` (the digits network
    for ``digits``, the Fashion-MNIST network for grey 28 × 28 images, none otherwise: then
    only the accuracy, if any, is reported). The accuracy is that of the shipped classifier
    of the data set (``digits``; ``fashion-mnist`` at 28 px).

    Returns:
        ``intra_fid`` (the mean), ``intra_fid_<k>`` per class, ``intra_fid_train_test`` (as
        many training samples per class as generated, against the held-out ones, class by
        class: the yardstick, since few samples per class bias FID upwards); with a
        classifier ``class_accuracy``, ``class_accuracy_min``, ``class_accuracy_<k>``, and
        on a test split the classifier's own accuracy there, ``class_accuracy_test``, and
        ``class_accuracy_ratio_min``, the smallest per-class ratio of the generated
        samples' accuracy to the test images'.
    """
    k = data.n_classes
    if not k:
        raise ValueError(f"data from {data.name} has no class labels")
    if n_classes_of(g) != k:
        raise ValueError(f"the generator has {n_classes_of(g)} classes, the data {k}")
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    per = n // k
    if per < 2:
        raise ValueError(f"n must be >= 2 per class ({2 * k}), got {n}")
    y_fake = torch.arange(k, device=generator.device).repeat_interleave(per)
    fake = generate(g, len(y_fake), z_dim, generator, labels=y_fake)
    out: dict[str, float] = {}
    if features is None:
        from gan.image_metrics import feature_network

        features = feature_network(data, fake.device)
    if features is not None:
        from gan.image_metrics import reference_side

        use_test = split == "test" and data.test is not None and data.test_labels is not None
        fr, y_real = reference_side(data, features, per * k, test=use_test)
        cache = data.__dict__.setdefault("_feature_cache", {})
        key = ("intra_train", getattr(features, "key", None), per)
        train_side = cache.get(key) if use_test and key[1] is not None else None
        if use_test and train_side is None:  # the yardstick: as many per class as generated
            idx = _per_class_subset(data.labels, k, per)
            with torch.no_grad():
                train_side = (_batched(features, data.train[idx].float()), data.labels[idx])
            cache[key] = train_side
        with torch.no_grad():
            ff = _batched(features, fake)
        mean, per_fid = intra_fid(fr, y_real, ff, y_fake, k)
        out["intra_fid"] = mean
        if train_side is not None:
            out["intra_fid_train_test"] = intra_fid(fr, y_real, *train_side, k)[0]
        out.update({f"intra_fid_{c}": v for c, v in enumerate(per_fid)})
    from gan.image_metrics import classifier

    clf = classifier(data, fake.device)
    if clf is not None:
        acc, per_acc = class_accuracy(clf, fake, y_fake, k)
        out["class_accuracy"], out["class_accuracy_min"] = acc, min(per_acc)
        if data.test is not None and data.test_labels is not None:
            cache = data.__dict__.setdefault("_feature_cache", {})
            if "accuracy_test" not in cache:
                cache["accuracy_test"] = class_accuracy(clf, data.test.float(), data.test_labels, k)
            acc_t, per_t = cache["accuracy_test"]
            out["class_accuracy_test"] = acc_t
            ratios = [a / t for a, t in zip(per_acc, per_t) if t > 0]
            out["class_accuracy_ratio_min"] = min(ratios) if ratios else float("nan")
        out.update({f"class_accuracy_{c}": v for c, v in enumerate(per_acc)})
    return out


def _per_class_subset(labels: torch.Tensor, k: int, per: int) -> torch.Tensor:
    """Indices of ``per`` samples of each class (all when fewer): a fixed draw, seed 0."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    y = labels.cpu()[order]
    keep = [order[y == c][:per] for c in range(k)]
    return torch.cat(keep).to(labels.device)
