"""Standard image data sets in their original IDX files: MNIST and Fashion-MNIST.

Nothing is downloaded unless asked: :func:`fetch` (``divergences data fetch fashion-mnist``)
is the only code here that touches the network, and it checks every file against its
published MD5 (the data sets publish no other digest) before it is kept. :func:`load_split`
reads the four files, gzipped or not, from the first folder that holds them, in this order:

1. ``data_root`` (``--data-root DIR``): ``DIR`` itself, ``DIR/<name>/`` and torchvision's
   ``DIR/<TorchvisionName>/raw/`` (``FashionMNIST``, ``MNIST``);
2. :func:`data_home` — ``$DIVERGENCES_DATA``, else ``$DIVERGENCES_CACHE/data`` (the weights
   cache folder's ``data/``, see :func:`metrics.networks.weights.cache_dir`): ``<name>/``
   (where :func:`fetch` writes) and ``<TorchvisionName>/raw/``;
3. the system folder of Debian's package (``apt-get install dataset-fashion-mnist``:
   ``/usr/share/datasets/fashion-mnist/``; ``/usr/share/datasets/mnist/`` is looked at too,
   though Debian has no MNIST package).

Images are uint8 ``(N, 28, 28)``, labels int64 ``(N,)`` in ``[0, 10)``; the ``train`` split
has 60,000 samples and ``test`` 10,000 (any count is accepted, the shapes are checked).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from metrics.io.atomic import atomic_open
from metrics.io.idx import read_idx

__all__ = [
    "DATASETS",
    "SPLITS",
    "IDXDataset",
    "data_home",
    "fetch",
    "find_split",
    "load_split",
    "named_images",
    "parse_spec",
    "search_folders",
]

SPLITS = ("train", "test")
_PREFIX = {"train": "train", "test": "t10k"}


@dataclass(frozen=True)
class IDXDataset:
    """A data set published as four IDX files: where to look for them and how to check them.

    Attributes:
        name: our name (``"fashion-mnist"``), also the folder :func:`fetch` writes.
        torchvision: torchvision's class name, the folder of its ``<root>/<name>/raw/`` layout.
        classes: the class names, label ``k`` → ``classes[k]``.
        md5: file name → the published MD5 of the gzipped file.
        mirrors: base URLs to download from, tried in order.
        system: the folder a system package installs the files into.
    """

    name: str
    torchvision: str
    classes: tuple[str, ...]
    md5: Mapping[str, str]
    mirrors: tuple[str, ...]
    system: str

    def filename(self, split: str, kind: str) -> str:
        """The file name (without ``.gz``) of ``kind`` (``images``/``labels``) of ``split``."""
        return f"{_PREFIX[split]}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"


_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot")  # fmt: skip
# The MD5 digests published by the data sets' authors (Fashion-MNIST's README; for MNIST,
# the values torchvision's datasets/mnist.py checks, for the same files).
DATASETS = {
    "fashion-mnist": IDXDataset(
        name="fashion-mnist",
        torchvision="FashionMNIST",
        classes=_FASHION_CLASSES,
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system="/usr/share/datasets/fashion-mnist",
    ),
    "mnist": IDXDataset(
        name="mnist",
        torchvision="MNIST",
        classes=tuple(str(k) for k in range(10)),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        system="/usr/share/datasets/mnist",
    ),
}
_SPEC = re.compile(rf"^({'|'.join(map(re.escape, DATASETS))})(?::({'|'.join(SPLITS)}))?$")


def _entry(name: str) -> IDXDataset:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def parse_spec(source: object) -> tuple[str, str] | None:
    """``(name, split)`` for a string naming a data set split, else None.

    ``"fashion-mnist"`` and ``"fashion-mnist:test"`` name the test split (the one to evaluate
    against), ``"fashion-mnist:train"`` the training split; the same for ``mnist``.

    Example:
        >>> parse_spec("fashion-mnist"), parse_spec("mnist:train"), parse_spec("x.npy")
        (('fashion-mnist', 'test'), ('mnist', 'train'), None)
    """
    if not isinstance(source, str):
        return None
    m = _SPEC.match(source)
    return None if m is None else (m.group(1), m.group(2) or "test")


def data_home() -> Path:
    """Where :func:`fetch` writes by default (not created).

    ``$DIVERGENCES_DATA``, else the ``data`` folder of the weights cache
    (:func:`metrics.networks.weights.cache_dir`).
    """
    if os.environ.get("DIVERGENCES_DATA"):
        return Path(os.environ["DIVERGENCES_DATA"]).expanduser()
    from metrics.networks.weights import cache_dir

    return cache_dir() / "data"


def search_folders(name: str, data_root: str | os.PathLike | None = None) -> list[Path]:
    """The folders :func:`load_split` looks in for data set ``name``, in order (see above)."""
    ds = _entry(name)
    out: list[Path] = []
    if data_root:
        root = Path(data_root).expanduser()
        out += [root, root / ds.name, root / ds.torchvision / "raw"]
    home = data_home()
    out += [home / ds.name, home / ds.torchvision / "raw", Path(ds.system)]
    return list(dict.fromkeys(out))


def _existing(folder: Path, filename: str) -> Path | None:
    for cand in (folder / filename, folder / f"{filename}.gz"):
        if cand.is_file():
            return cand
    return None


def find_split(
    name: str, split: str, *, data_root: str | os.PathLike | None = None
) -> tuple[Path, Path]:
    """``(images file, labels file)`` of a split, from the first folder holding both.

    Raises:
        ValueError: an unknown data set or split.
        FileNotFoundError: no folder holds them; one line naming where it looked and how
            to get the files.
    """
    ds = _entry(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    files = (ds.filename(split, "images"), ds.filename(split, "labels"))
    folders = search_folders(name, data_root)
    for folder in folders:
        found = [_existing(folder, f) for f in files]
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
    how = f"`divergences data fetch {name}` downloads them (checked against published MD5s)"
    if name == "fashion-mnist":
        how += " or `apt-get install dataset-fashion-mnist` installs them"
    raise FileNotFoundError(
        f"{name}: {files[0]}[.gz] and {files[1]}[.gz] not found in "
        f"{', '.join(map(str, folders))}; {how}, or --data-root DIR names your copy"
    )


def load_split(
    name: str, split: str, *, data_root: str | os.PathLike | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 ``(N, 28, 28)`` and labels int64 ``(N,)`` of a split (see the module doc).

    Raises:
        FileNotFoundError: the files are not found (the message says where it looked).
        ValueError: a corrupt or truncated file, images that are not 28 × 28 uint8, labels
            that are not uint8, out of range or not one per image; the message names the file.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())  # two test images of MNIST, written by hand
        >>> head = lambda *dims: bytes([0, 0, 8, len(dims)]) + b"".join(
        ...     d.to_bytes(4, "big") for d in dims)
        >>> _ = (root / "t10k-images-idx3-ubyte").write_bytes(head(2, 28, 28) + bytes(2 * 784))
        >>> _ = (root / "t10k-labels-idx1-ubyte").write_bytes(head(2) + bytes([3, 9]))
        >>> x, y = load_split("mnist", "test", data_root=root)
        >>> tuple(x.shape), x.dtype, y.tolist()
        ((2, 28, 28), torch.uint8, [3, 9])
    """
    ds = _entry(name)
    img_path, lab_path = find_split(name, split, data_root=data_root)
    x, y = read_idx(img_path), read_idx(lab_path)
    if x.dtype != "uint8" or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"{img_path}: {name} images must be uint8 of shape (N, 28, 28), got "
                         f"{x.dtype} {x.shape}")  # fmt: skip
    if y.dtype != "uint8" or y.ndim != 1:
        raise ValueError(f"{lab_path}: labels must be uint8 of shape (N,), got {y.dtype} {y.shape}")
    if len(y) != len(x):
        raise ValueError(f"{lab_path}: {len(y)} labels for the {len(x)} images of {img_path}")
    if len(y) and int(y.max()) >= len(ds.classes):
        bad = int((y >= len(ds.classes)).sum())
        raise ValueError(f"{lab_path}: {bad} labels out of range (max {int(y.max())}; "
                         f"{name} has classes 0..{len(ds.classes) - 1})")  # fmt: skip
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype("int64"))


def named_images(
    source: object,
    *,
    data_root: str | os.PathLike | None = None,
    image_size: int | None = None,
    channels: int | None = None,
) -> object:
    """``source`` itself, or the images of the split it names as floats in [0, 1].

    A string such as ``"fashion-mnist:test"`` (see :func:`parse_spec`) that is not an
    existing path becomes a tensor ``(N, C, S, S)``: C = 1, or 3 with ``channels=3`` (the
    grey channel repeated, for the Inception network); S = 28, or ``image_size`` (bilinear,
    antialiased). Anything else is returned unchanged.

    Example:
        >>> named_images("samples.npy")
        'samples.npy'
    """
    spec = parse_spec(source)
    if spec is None or Path(str(source)).exists():
        return source
    x, _ = load_split(*spec, data_root=data_root)
    out = x.unsqueeze(1).float() / 255.0
    if image_size and image_size != 28:
        import torch.nn.functional as F

        out = F.interpolate(out, size=(image_size, image_size), mode="bilinear", antialias=True,
                            align_corners=False).clamp_(0.0, 1.0)  # fmt: skip
    if channels == 3:
        out = out.expand(-1, 3, -1, -1)
    elif channels not in (None, 1):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    return out


def _md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fetch(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    url: str | None = None,
    md5: Mapping[str, str] | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download the four files of ``name`` into ``root/<name>/``, each checked, atomically.

    Each file goes to a temporary file next to its target and is moved into place only when
    its MD5 is the published one: a wrong digest or an interrupted transfer leaves nothing
    behind. A file already there with the right digest is not downloaded again; one with
    another digest is left as it is (an error says so).

    Args:
        name: ``"fashion-mnist"`` or ``"mnist"``.
        root: the data folder (default :func:`data_home`), created if missing.
        url: a base URL to download from instead of the published mirrors (``url + file``).
        md5: expected digests by file name (default: the published ones).
        progress: progress bars on stderr.
        timeout: seconds without data before a transfer is abandoned.

    Returns:
        The folder holding the four verified files.

    Raises:
        ValueError: an unknown name, a digest mismatch, or a file in the way.
        ConnectionError: every mirror failed for a file (nothing of it is kept).
    """
    from metrics.networks.weights import _download

    ds = _entry(name)
    digests = dict(ds.md5 if md5 is None else md5)
    folder = (Path(root).expanduser() if root is not None else data_home()) / ds.name
    bases = (url,) if url else ds.mirrors
    for filename, expected in digests.items():
        target = folder / filename
        if target.exists():
            actual = _md5_file(target)
            if actual != expected:
                raise ValueError(f"{target} exists with MD5 {actual}, not the published "
                                 f"{expected}; it was left as it is: move it away to fetch "
                                 "again")  # fmt: skip
            continue
        folder.mkdir(parents=True, exist_ok=True)
        errors = []
        for base in bases:
            src = base.rstrip("/") + "/" + filename
            try:
                with atomic_open(target, overwrite=False, what=f"{name} file") as out:
                    actual, got, total = _download(src, out, timeout=timeout, progress=progress,
                                                   algorithm="md5")  # fmt: skip
                    if total is not None and got != total:
                        raise ConnectionError(f"fetching {src}: transfer ended after {got} of "
                                              f"{total} bytes; nothing was kept")  # fmt: skip
                    if actual != expected:
                        raise ValueError(f"fetching {src}: MD5 {actual} ({got} bytes) is not "
                                         f"the published {expected}; nothing was kept")  # fmt: skip
                break
            except ConnectionError as exc:
                errors.append(str(exc))
        else:
            raise ConnectionError("; ".join(errors))
    return folder
