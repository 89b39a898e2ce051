"""Cluster labels for self-conditioned training of an unconditional run.

A run with ``clusters = K`` (``--clusters K``) and no labels trains the class-conditional
networks on the labels of a k-means clustering of its training samples — PCA of the flattened
samples to at most 50 dimensions, then k-means — and generates the clusters in proportion to
their sizes. No label of the data is read: the model is unconditional, but G and D can
specialise per cluster, which is what conditioning buys (Sage et al. 2018, "Logo synthesis and
manipulation with clustered generative adversarial networks"; Liu et al. 2020, "Diverse image
generation via self-conditioned GANs", who recluster D's features during training; here the
clusters are fixed before training, in the data's own coordinates).

The labels are stored in the run's checkpoints, so a resumed run, ``sample`` and ``evaluate``
use the clusters it trained on, whatever a later clustering would give.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from gan.data import Data

__all__ = ["PCA_DIMS", "check_clusterable", "cluster_labels", "with_clusters"]

#: Most principal components kept before k-means.
PCA_DIMS = 50


def cluster_labels(x: torch.Tensor, k: int, *, seed: int = 0) -> torch.Tensor:
    """k-means labels ``(N,)`` (int64, CPU) of the samples ``x`` ``(N, ...)``.

    The samples are flattened and projected on their first ``min(50, D, N − 1)`` principal
    components; k-means (Lloyd's algorithm with k-means++ seeding, best of 3 starts) then
    assigns each one of ``k`` clusters. Clusters are numbered by decreasing size (ties by
    their smallest member's index), so the labels do not depend on the solver's numbering.

    Example:
        >>> x = torch.cat([torch.zeros(5, 2), torch.ones(3, 2) * 10])
        >>> cluster_labels(x, 2).tolist()
        [0, 0, 0, 0, 0, 1, 1, 1]

    Raises:
        TypeError: ``x`` not a tensor, or ``k`` not an integer.
        ValueError: ``k`` < 2, fewer samples than ``k`` distinct ones, or non-finite samples.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"clusters must be an integer, got {type(k).__name__}")
    if k < 2:
        raise ValueError(f"clusters must be >= 2, got {k}")
    if x.ndim < 1:
        raise ValueError("x must hold samples along its first dimension, got a scalar")
    if len(x) < k:
        raise ValueError(f"clusters={k} needs at least {k} training samples, got {len(x)}")
    a = x.detach().reshape(len(x), -1).to("cpu", torch.float64).numpy()
    if not np.isfinite(a).all():
        raise ValueError("the training samples must be finite to be clustered")
    dims = min(PCA_DIMS, a.shape[1], len(a) - 1)
    if 1 <= dims < a.shape[1]:
        a = PCA(dims, random_state=seed).fit_transform(a)
    with warnings.catch_warnings():  # fewer distinct samples than k: refused below instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        raw = KMeans(k, n_init=3, random_state=seed).fit_predict(a)
    size = np.bincount(raw, minlength=k)
    if (size == 0).any():
        raise ValueError(f"clusters={k} needs at least {k} distinct training samples; "
                         f"k-means found {int((size > 0).sum())}")  # fmt: skip
    first = np.full(k, len(raw))
    np.minimum.at(first, raw, np.arange(len(raw)))
    order = np.lexsort((first, -size))  # largest cluster first
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return torch.from_numpy(rank[raw])


def check_clusterable(data: Data) -> None:
    """Refuse data that cannot be clustered: sampled fresh (no stored samples) or labelled.

    Raises:
        ValueError: naming the data and what it lacks.
    """
    if data.train is None:
        raise ValueError(f"clusters needs stored training samples (digits, fashion-mnist, a "
                         f"file or a folder); {data.name} is sampled fresh")  # fmt: skip
    if data.labels is not None:
        raise ValueError("clusters is for unconditional runs; a conditional run uses the "
                         "data's own labels")  # fmt: skip


def with_clusters(data: Data, labels: torch.Tensor) -> Data:
    """``data`` whose training samples carry the cluster ``labels`` (named ``cluster i``).

    Raises:
        ValueError: the data has no stored training samples, already has class labels, or
            ``labels`` is not one integer in [0, K) per training sample with every cluster used.
    """
    check_clusterable(data)
    if labels.ndim != 1 or len(labels) != len(data.train) or labels.is_floating_point():
        raise ValueError(f"cluster labels must be {len(data.train)} integers, one per training "
                         f"sample, got shape {tuple(labels.shape)}")  # fmt: skip
    labels = labels.to(device=data.train.device, dtype=torch.int64)
    k = int(labels.max()) + 1 if len(labels) else 0
    if int(labels.min()) < 0 or k < 2 or int(torch.bincount(labels).min()) == 0:
        raise ValueError("cluster labels must number the clusters 0..K-1 (K >= 2), each used")
    return dataclasses.replace(data, labels=labels,
                               class_names=tuple(f"cluster {i}" for i in range(k)))  # fmt: skip
