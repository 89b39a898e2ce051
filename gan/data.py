"""Training data: embedded data sets (nothing is downloaded) and user arrays or image folders.

Embedded sets:

* ``ring8`` — 8 Gaussians on the unit circle at angles 2πi/8, std 0.01.
* ``grid25`` — 25 Gaussians at {−4, −2, 0, 2, 4}², std 0.05.
* ``swissroll`` — scikit-learn's 2-D Swiss roll (x and z coordinates) scaled by 1/5, noise 0.25/5.
* ``digits`` — scikit-learn's bundled 8 × 8 digits (1797 images) in [−1, 1], split 1437 / 360.

The mixtures are sampled afresh on the device at every step (an infinite data set); the other
sets are resident on the device and indexed with a seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from metrics.loading import load_array, load_image_folder

__all__ = ["DATASETS", "Data", "load_array", "load_data", "standardization"]

DATASETS = ("ring8", "grid25", "swissroll", "digits")
IMAGE_SIZES = (8, 16, 28, 32, 64)


@dataclass
class Data:
    """A training distribution that can be sampled on a device without host synchronisation.

    Attributes:
        name: the data set's name (or the file it came from).
        shape: the shape of one sample, ``(D,)`` for vectors or ``(C, H, W)`` for images.
        train: resident training samples ``(N, *shape)`` (None for the mixtures: sampled fresh).
        test: held-out samples for evaluation (None when there is no split).
        centers: the mixture centres ``(K, D)`` (mixtures only).
        std: the mixture's per-coordinate standard deviation (mixtures only).
    """

    name: str
    shape: tuple[int, ...]
    train: torch.Tensor | None = None
    test: torch.Tensor | None = None
    centers: torch.Tensor | None = None
    std: float = 0.0

    @property
    def is_image(self) -> bool:
        """True for ``(C, H, W)`` samples."""
        return len(self.shape) == 3

    def to(self, device: torch.device) -> Data:
        """Move every tensor to ``device`` (data resident there for training)."""
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Data(self.name, self.shape, mv(self.train), mv(self.test), mv(self.centers),
                    self.std)  # fmt: skip

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` samples ``(n, *shape)`` on the generator's device (no host sync)."""
        device = generator.device
        if self.centers is not None:
            k = torch.randint(len(self.centers), (n,), generator=generator, device=device)
            noise = torch.randn(n, self.shape[0], generator=generator, device=device)
            return self.centers[k] + self.std * noise
        if self.name == "swissroll":
            return _swissroll(n, generator)
        assert self.train is not None
        idx = torch.randint(len(self.train), (n,), generator=generator, device=device)
        return self.train[idx]


def standardization(data: Data) -> tuple[torch.Tensor, float]:
    """A fixed affine standardisation ``u = (x − loc) / scale`` of a training distribution.

    ``loc`` is the per-feature mean ``(*shape)`` and ``scale`` one isotropic factor, the root
    mean per-feature variance, so distances keep their geometry:
    scale = sqrt(mean_j Var[x_j]). Mixtures use the exact moments (centres uniform, isotropic
    std σ: Var = Var_k[c_k] + σ²); resident data its sample moments; ``swissroll`` the moments
    of 100,000 samples drawn with seed 0. Computed on the CPU, deterministic.

    Example:
        >>> loc, scale = standardization(load_data("grid25"))
        >>> [round(v, 4) for v in loc.tolist()], round(scale, 4)
        ([0.0, 0.0], 2.8289)
    """
    if data.centers is not None:
        c = data.centers.double().cpu()
        loc = c.mean(0)
        var = c.var(0, unbiased=False).mean() + data.std**2
    else:
        if data.train is not None:
            x = data.train.double().cpu()
        else:
            x = data.sample(100_000, torch.Generator().manual_seed(0)).double()
        loc = x.mean(0)
        var = x.var(0, unbiased=False).mean()
    scale = float(var.sqrt())
    if not math.isfinite(scale) or scale <= 0.0:
        raise ValueError(f"data from {data.name} has zero variance: cannot standardise it")
    return loc.float(), scale


def _mixture_centers(name: str) -> tuple[torch.Tensor, float]:
    if name == "ring8":
        a = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
        return torch.stack([torch.cos(a), torch.sin(a)], 1).float(), 0.01
    v = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(v, v), 0.05


def _swissroll(n: int, generator: torch.Generator) -> torch.Tensor:
    # Same law as sklearn.datasets.make_swiss_roll (x and z coordinates), scaled by 1/5.
    device = generator.device
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, device=device))
    pts = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1)
    return (pts + 0.25 * torch.randn(n, 2, generator=generator, device=device)) / 5


def load_data(name: str, *, image_size: int = 0) -> Data:
    """Load an embedded data set by name, or user data from a file or an image folder.

    Args:
        name: one of :data:`DATASETS`, a ``.npy``/``.npz``/``.pt`` file holding one array
            ``(N, D)``, ``(N, H, W)`` or ``(N, C, H, W)``, or a folder of images.
        image_size: resize folder images to this square size (0 keeps their size).

    Returns:
        A :class:`Data` on the CPU (move it with :meth:`Data.to`).

    Example:
        >>> d = load_data("grid25")
        >>> d.shape, tuple(d.centers.shape), d.std
        ((2,), (25, 2), 0.05)
    """
    if not isinstance(name, str):
        raise TypeError(f"data must be a string, got {type(name).__name__}")
    if name in ("ring8", "grid25"):
        c, std = _mixture_centers(name)
        return Data(name, (2,), centers=c, std=std)
    if name == "swissroll":
        return Data(name, (2,))
    if name == "digits":
        from sklearn.datasets import load_digits

        x = torch.from_numpy(load_digits().images.astype(np.float32))  # (1797, 8, 8) in [0, 16]
        x = (x / 8.0 - 1.0).unsqueeze(1)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        n_train = int(0.8 * len(x))
        return Data(name, (1, 8, 8), train=x[perm[:n_train]], test=x[perm[n_train:]])
    path = Path(name)
    if path.is_dir():
        x = load_image_folder(path, image_size=image_size or None, rgb=True) * 2 - 1
    elif path.suffix in (".npy", ".npz", ".pt") and path.is_file():
        x = load_array(path).float()
    else:
        raise ValueError(
            f"unknown data set {name!r}: use one of {', '.join(DATASETS)}, an existing "
            ".npy/.npz/.pt file or an image folder"
        )
    return _as_data(str(path), x)


def _as_data(name: str, x: torch.Tensor) -> Data:
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim not in (2, 4) or x.shape[0] < 2:
        raise ValueError(
            f"data from {name} must have shape (N, D), (N, H, W) or (N, C, H, W) with N >= 2, "
            f"got {tuple(x.shape)}"
        )
    n_bad = int((~torch.isfinite(x)).sum())
    if n_bad:
        raise ValueError(f"data from {name} holds {n_bad} NaN or inf values")
    if x.ndim == 4:
        c, h, w = x.shape[1:]
        if h != w or h not in IMAGE_SIZES or c not in (1, 3):
            raise ValueError(
                f"images from {name} must be square with 1 or 3 channels and a side in "
                f"{IMAGE_SIZES}, got (C, H, W) = {(c, h, w)}"
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6:
            if lo < 0.0:
                raise ValueError(f"images from {name} must lie in [-1, 1] or [0, 255]")
            x = x / (255.0 if hi > 1.0 else 1.0) * 2 - 1  # [0, 255] → [−1, 1]
    return Data(name, tuple(x.shape[1:]), train=x)
