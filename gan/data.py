"""Training data: embedded data sets (nothing is downloaded) and user arrays or image folders.

Embedded sets:

* ``ring8`` — 8 Gaussians on the unit circle at angles 2πi/8, std 0.01.
* ``grid25`` — 25 Gaussians at {−4, −2, 0, 2, 4}², std 0.05.
* ``swissroll`` — scikit-learn's 2-D Swiss roll (x and z coordinates) scaled by 1/5, noise 0.25/5.
* ``digits`` — scikit-learn's bundled 8 × 8 digits (1797 images) in [−1, 1], split 1437 / 360.
* ``fashion-mnist``, ``mnist`` — the 28 × 28 grey images of the original IDX files (60,000
  training, 10,000 test), read by :mod:`metrics.io.datasets` from ``data_root``,
  ``$DIVERGENCES_DATA``, torchvision's layout or Debian's folder (nothing is downloaded:
  ``divergences data fetch NAME`` does that when asked); pixel values v map to v / 127.5 − 1.

The mixtures are sampled afresh on the device at every step (an infinite data set); the other
sets are resident on the device and indexed with a seeded generator.

Class labels (``load_data(..., conditional=True)``) come from the data itself: the digits'
labels (0–9), the IDX label files, an image folder's subfolders (one class per subfolder,
sorted by name), or an ``.npz`` holding arrays ``x`` and ``y`` (integer labels; the classes
are the sorted distinct values of ``y``). Images are in [−1, 1] as ``(C, H, W)``; the
digits are ``(1, 8, 8)``, the scikit-learn pixel values v ∈ [0, 16] mapped to v / 8 − 1.
``image_size`` resizes folder images (PIL bilinear), arrays and IDX images (bilinear with
antialiasing) to a square side. Image folders are read by :func:`metrics.io.read_images`, the
reader evaluation uses: the same suffixes, images of another size resized to the first one's,
unreadable files skipped with a warning.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from metrics.io import IMAGE_SUFFIXES, image_files, load_array, read_images

__all__ = ["DATASETS", "LABEL_SOURCES", "Data", "load_array", "load_data",
           "proportional_counts", "resize_images", "standardization"]  # fmt: skip

DATASETS = ("ring8", "grid25", "swissroll", "digits", "fashion-mnist", "mnist")
IDX_SETS = ("fashion-mnist", "mnist")
IMAGE_SIZES = (8, 16, 28, 32, 48, 64, 128)
#: Where class labels can come from (named in the error for data without labels).
LABEL_SOURCES = ("digits, fashion-mnist, mnist",
                 "an image folder with one subfolder per class",
                 "an .npz holding arrays x and y")  # fmt: skip


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
    labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self._by_class: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if self.labels is not None:
            # Per-class index tables: class k's samples are order[start[k] : start[k] + count[k]].
            order = torch.argsort(self.labels, stable=True)
            count = torch.bincount(self.labels, minlength=self.n_classes)
            start = torch.cumsum(count, 0) - count
            self._by_class = (order, start, count)

    @property
    def is_image(self) -> bool:
        """True for ``(C, H, W)`` samples."""
        return len(self.shape) == 3

    @property
    def n_classes(self) -> int:
        """The number of classes (0 when the data carries no labels)."""
        return 0 if self.class_names is None else len(self.class_names)

    def class_counts(self) -> torch.Tensor:
        """Training samples per class ``(n_classes,)`` (int64, on the data's device)."""
        if self._by_class is None:
            raise ValueError(f"data from {self.name} has no class labels")
        return self._by_class[2]

    def to(self, device: torch.device) -> Data:
        """Move every tensor to ``device`` (data resident there for training)."""
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        tensors = ("train", "test", "centers", "labels", "test_labels")
        return dataclasses.replace(self, **{k: mv(getattr(self, k)) for k in tensors})

    def sample(
        self, n: int, generator: torch.Generator, *, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Draw ``n`` samples ``(n, *shape)`` on the generator's device (no host sync).

        With ``labels`` (an int64 tensor ``(n,)`` of class indices, on that device) sample
        ``i`` is drawn uniformly from the training samples of class ``labels[i]``.
        """
        device = generator.device
        if labels is not None:
            if self._by_class is None:
                raise ValueError(f"labels given, but data from {self.name} has no class labels")
            order, start, count = self._by_class
            u = torch.rand(n, generator=generator, device=device)
            pick = start[labels] + (u * count[labels]).long().clamp_max(count[labels] - 1)
            return self.train[order[pick]]
        if self.centers is not None:
            k = torch.randint(len(self.centers), (n,), generator=generator, device=device)
            noise = torch.randn(n, self.shape[0], generator=generator, device=device)
            return self.centers[k] + self.std * noise
        if self.name == "swissroll":
            return _swissroll(n, generator)
        assert self.train is not None
        idx = torch.randint(len(self.train), (n,), generator=generator, device=device)
        return self.train[idx]

    def sample_labelled(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A labelled batch ``(x (n, *shape), y (n,))`` drawn uniformly from the training set.

        Classes appear in proportion to the data (no host sync).
        """
        if self.labels is None or self.train is None:
            raise ValueError(f"data from {self.name} has no class labels")
        idx = torch.randint(len(self.train), (n,), generator=generator, device=generator.device)
        return self.train[idx], self.labels[idx]


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


def load_data(
    name: str, *, image_size: int = 0, conditional: bool = False, data_root: str | None = None
) -> Data:
    """Load an embedded data set by name, or user data from a file or an image folder.

    Args:
        name: one of :data:`DATASETS`, a ``.npy``/``.npz``/``.pt`` file holding one array
            ``(N, D)``, ``(N, H, W)`` or ``(N, C, H, W)``, or a folder of images.
        image_size: resize images (folders, arrays, IDX data) to this square side (0 keeps
            their size).
        conditional: also load class labels (see the module docstring for their sources);
            without it ``labels`` and ``class_names`` are None.
        data_root: where ``fashion-mnist`` and ``mnist`` look first for their IDX files
            (see :mod:`metrics.io.datasets`).

    Returns:
        A :class:`Data` on the CPU (move it with :meth:`Data.to`).

    Raises:
        ValueError: unknown data, bad arrays; with ``conditional``, data without labels (the
            message lists :data:`LABEL_SOURCES`), a class folder without images (named), or
            labels that are not integers, one per sample.

    Example:
        >>> d = load_data("grid25")
        >>> d.shape, tuple(d.centers.shape), d.std
        ((2,), (25, 2), 0.05)
    """
    if not isinstance(name, str):
        raise TypeError(f"data must be a string, got {type(name).__name__}")
    if not isinstance(conditional, bool):
        raise TypeError(f"conditional must be a bool, got {conditional!r}")
    if name in IDX_SETS:
        return _idx_data(name, image_size, conditional, data_root)
    if conditional:
        return _load_labelled(name, image_size)
    if name in ("ring8", "grid25"):
        c, std = _mixture_centers(name)
        return Data(name, (2,), centers=c, std=std)
    if name == "swissroll":
        return Data(name, (2,))
    if name == "digits":
        return _digits(labelled=False)
    path = Path(name)
    if path.is_dir():
        x = read_images(path, image_size=image_size or None, channels=3, name=name) * 2 - 1
    elif path.suffix in (".npy", ".npz", ".pt") and path.is_file():
        x = load_array(path).float()
    else:
        raise ValueError(
            f"unknown data set {name!r}: use one of {', '.join(DATASETS)}, an existing "
            ".npy/.npz/.pt file or an image folder"
        )
    return _as_data(str(path), x, image_size)


def is_image_source(name: str) -> bool:
    """Whether ``name`` names image data (an image data set, a folder, an array of images).

    An array file holds images when its samples are ``(H, W)`` or ``(C, H, W)`` (an ``.npy``
    is read by its header only). Unreadable files give False (loading them reports what is
    wrong).

    Example:
        >>> is_image_source("fashion-mnist"), is_image_source("ring8")
        (True, False)
    """
    if name in IDX_SETS:
        return True
    if name in DATASETS:
        return name == "digits"
    path = Path(name)
    try:
        if path.is_dir():
            return True
        if path.suffix == ".npy" and path.is_file():
            return np.load(path, mmap_mode="r", allow_pickle=False).ndim >= 3
        if path.suffix in (".npz", ".pt") and path.is_file():
            return load_array(path).ndim >= 3
    except (ValueError, OSError):
        return False
    return False


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images ``(N, C, H, W)`` resized to ``(N, C, size, size)`` (bilinear, antialiased).

    Example:
        >>> resize_images(torch.ones(2, 1, 28, 28), 32).shape
        torch.Size([2, 1, 32, 32])
    """
    if tuple(x.shape[2:]) == (size, size):
        return x
    import torch.nn.functional as F

    parts = [F.interpolate(x[i : i + 4096].float(), size=(size, size), mode="bilinear",
                           antialias=True, align_corners=False)
             for i in range(0, len(x), 4096)]  # fmt: skip
    return torch.cat(parts)


def _idx_data(name: str, image_size: int, labelled: bool, data_root: str | None) -> Data:
    from metrics.io.datasets import DATASETS as IDX
    from metrics.io.datasets import load_split

    xs, ys = zip(*(load_split(name, s, data_root=data_root or None) for s in ("train", "test")))
    x_tr, x_te = ((x.unsqueeze(1).float() / 127.5 - 1.0) for x in xs)  # uint8 → [−1, 1]
    if image_size:
        x_tr, x_te = resize_images(x_tr, image_size), resize_images(x_te, image_size)
    d = _as_data(name, x_tr)
    if not labelled:
        return dataclasses.replace(d, test=x_te)
    return dataclasses.replace(d, test=x_te, labels=ys[0], test_labels=ys[1],
                               class_names=IDX[name].classes)  # fmt: skip


def _as_data(name: str, x: torch.Tensor, image_size: int = 0) -> Data:
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim == 4 and image_size:
        x = resize_images(x, image_size)
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
                + ("" if image_size else " (image_size resizes them)")
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6:
            if lo < 0.0:
                raise ValueError(f"images from {name} must lie in [-1, 1] or [0, 255]")
            x = x / (255.0 if hi > 1.0 else 1.0) * 2 - 1  # [0, 255] → [−1, 1]
    return Data(name, tuple(x.shape[1:]), train=x)


def _digits(*, labelled: bool) -> Data:
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.from_numpy(raw.images.astype(np.float32))  # (1797, 8, 8) in [0, 16]
    x = (x / 8.0 - 1.0).unsqueeze(1)
    y = torch.from_numpy(raw.target.astype(np.int64))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[: int(0.8 * len(x))], perm[int(0.8 * len(x)) :]
    if not labelled:
        return Data("digits", (1, 8, 8), train=x[tr], test=x[te])
    return Data("digits", (1, 8, 8), train=x[tr], test=x[te], labels=y[tr], test_labels=y[te],
                class_names=tuple(str(k) for k in range(10)))  # fmt: skip


def _no_labels(name: str, why: str) -> ValueError:
    return ValueError(
        f"conditional training needs class labels, but {name} {why}; labels come from "
        f"{', '.join(LABEL_SOURCES[:-1])} or {LABEL_SOURCES[-1]}"
    )


def _load_labelled(name: str, image_size: int) -> Data:
    if name == "digits":
        return _digits(labelled=True)
    if name in DATASETS:
        raise _no_labels(f"the {name} data set", "has none")
    path = Path(name)
    if path.is_dir():
        x, y, names = _class_folders(path, image_size)
        x = x * 2 - 1
    elif path.suffix == ".npz" and path.is_file():
        x, y, names = _npz_labelled(path)
    elif path.suffix in (".npy", ".pt") and path.is_file():
        raise _no_labels(str(path), f"is a {path.suffix} file holding one array")
    else:
        load_data(name)  # the unlabelled loader names what is wrong with the path
        raise AssertionError("unreachable")  # pragma: no cover
    base = _as_data(str(path), x, image_size if not path.is_dir() else 0)
    return dataclasses.replace(base, labels=y, class_names=names)


def _class_folders(path: Path, image_size: int):
    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not subdirs:
        raise _no_labels(f"image folder {str(path)!r}", "has no class subfolders")
    if loose:
        raise ValueError(
            f"image folder {str(path)!r} has class subfolders and also {len(loose)} images "
            f"outside them (e.g. {loose[0].name!r}): put every image in its class's subfolder"
        )
    xs, ys = [], []
    for k, sub in enumerate(subdirs):
        if not image_files(sub):
            raise ValueError(
                f"class folder {str(sub)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                "remove it or add its images"
            )
        xs.append(read_images(sub, image_size=image_size or None, channels=3, name=str(sub)))
        ys.append(torch.full((len(xs[-1]),), k, dtype=torch.int64))
    shapes = {tuple(x.shape[1:]) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"{path}: class folders hold images of different sizes "
                         f"{sorted(shapes)[:3]}; set an image size")  # fmt: skip
    return torch.cat(xs), torch.cat(ys), tuple(p.name for p in subdirs)


def _npz_labelled(path: Path):
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f.files or "y" not in f.files:
                raise _no_labels(str(path), f"holds arrays {sorted(f.files)}, not x and y")
            x, y = f["x"], f["y"]
    except ValueError as exc:
        if "pickle" in str(exc):  # numpy's message would suggest unsafe loading
            raise ValueError(f"{path} holds Python objects; such files are never loaded") from None
        raise
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{path}: x must hold numbers, got dtype {x.dtype}")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
        raise ValueError(f"{path}: y must hold integer class labels, got dtype {y.dtype}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{path}: y must be one label per sample, shape ({len(x)},); got "
                         f"{y.shape}")  # fmt: skip
    values, inverse = np.unique(y, return_inverse=True)
    if len(values) < 2:
        raise ValueError(f"{path}: y holds a single class ({values.tolist()}); need >= 2")
    labels = torch.from_numpy(inverse.astype(np.int64).reshape(-1))
    return torch.from_numpy(np.array(x, copy=True)).float(), labels, tuple(map(str, values))


def proportional_counts(n: int, counts: torch.Tensor | list[int]) -> torch.Tensor:
    """Draws per class (int64 ``(K,)``, CPU) among ``n`` for class frequencies ``counts``.

    Class k gets ⌊n·p_k⌋ plus one for the largest remainders (Hamilton's method), so the
    frequencies are as close to p_k = counts_k / Σ counts as n allows; ties go to the lower
    class.

    Example:
        >>> proportional_counts(10, [1, 1, 3]).tolist()
        [2, 2, 6]
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    c = torch.as_tensor(counts, dtype=torch.float64).cpu()
    if c.ndim != 1 or len(c) < 1 or bool((c < 0).any()) or float(c.sum()) <= 0:
        raise ValueError(f"counts must be non-negative class counts with a positive sum, got {c}")
    share = n * c / c.sum()
    k = share.floor().long()
    rest = n - int(k.sum())
    if rest:
        k[torch.argsort(share - k, descending=True, stable=True)[:rest]] += 1
    return k
