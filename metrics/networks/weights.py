"""Network weights: a cache folder, SHA-256 checks, and a fetch that only runs when asked.

Nothing in the package downloads on its own: :func:`fetch` (the command ``divergences weights
fetch inception``, or ``dinov2-vitl14``, ``clip-vitl14-336``, ...) is the only code that touches
the network. It downloads to a temporary file in the cache folder, checks the SHA-256 and moves
the file into place (:func:`metrics.io.atomic.atomic_open`: mode from the umask), so a wrong
digest or an interrupted transfer leaves nothing behind and a verified file already in the
cache is not downloaded again.

The cache folder is ``$DIVERGENCES_CACHE``, else ``$XDG_CACHE_HOME/divergences``, else
``~/.cache/divergences``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any

from metrics.io.atomic import atomic_open

__all__ = [
    "REGISTRY",
    "WeightsFile",
    "cache_dir",
    "fetch",
    "find",
    "sha256_file",
    "warn_unpublished",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file: its cache file name, download URL, SHA-256 and size.

    ``sha256`` is None where no published digest could be confirmed: :func:`fetch` then
    refuses the entry (a file the user gets elsewhere loads with ``check_hash=False``).
    """

    filename: str
    url: str
    sha256: str | None
    size: int | None


REGISTRY = {
    # pytorch-fid's port of the TF FID Inception graph; the same bytes torch-fidelity ships.
    "inception": WeightsFile(
        filename="pt_inception-2015-12-05-6726825d.pth",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth",
        sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        size=95_628_359,
    ),
    # The official DINOv2 checkpoints (facebookresearch/dinov2 hubconf). Digests: the Git LFS
    # SHA-256 of identical copies on several Hugging Face repositories (same byte size).
    "dinov2-vitl14": WeightsFile(
        filename="dinov2_vitl14_pretrain.pth",
        url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
        sha256="d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428",
        size=1_217_586_395,
    ),
    "dinov2-vits14": WeightsFile(
        filename="dinov2_vits14_pretrain.pth",
        url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth",
        sha256="b938bf1bc15cd2ec0feacfe3a1bb553fe8ea9ca46a7e1d8d00217f29aef60cd9",
        size=88_283_115,
    ),
    "dinov2-vitg14": WeightsFile(
        filename="dinov2_vitg14_pretrain.pth",
        url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitg14/dinov2_vitg14_pretrain.pth",
        sha256=None,
        size=None,
    ),
    # OpenAI CLIP ViT-L/14@336 in Hugging Face's layout (safetensors of openai/clip-vit-large-
    # patch14-336, revision refs/pr/8); the digest is the Hub's Git LFS SHA-256 of that file.
    "clip-vitl14-336": WeightsFile(
        filename="clip-vit-large-patch14-336.safetensors",
        url="https://huggingface.co/openai/clip-vit-large-patch14-336/resolve/refs%2Fpr%2F8/"
        "model.safetensors",
        sha256="f51cb7b04a2afb04828b1b8e0edc34bbf082080d098b9874f5756e7b7ba8c807",
        size=None,
    ),
}


def _entry(name: str) -> WeightsFile:
    if name not in REGISTRY:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def cache_dir() -> Path:
    """The cache folder (not created).

    ``$DIVERGENCES_CACHE``, else ``$XDG_CACHE_HOME/divergences``, else ``~/.cache/divergences``.
    """
    if os.environ.get("DIVERGENCES_CACHE"):
        return Path(os.environ["DIVERGENCES_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "divergences"
    return Path.home() / ".cache" / "divergences"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def warn_unpublished(
    spec: str, path: Any, name: str, sha256: str, what: str, scores: str = "scores",
    stacklevel: int = 4,
) -> None:  # fmt: skip
    """Warn that ``path`` (SHA-256 ``sha256``) is not the published ``name`` weights file."""
    published = REGISTRY[name].sha256 if name in REGISTRY else None
    if sha256 != published:  # only reachable with check_hash=False or one's own weights
        warnings.warn(
            f"features {spec!r}: {path} is not {what} (SHA-256 {sha256}); its {scores} are "
            "not comparable with published numbers",
            stacklevel=stacklevel,
        )


def find(name: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached file of ``name`` (e.g. ``"inception"``), or a one-line error saying how to get it.

    The digest is checked by whoever loads the file (e.g. :func:`metrics.inception`).

    Raises:
        ValueError: an unknown name.
        FileNotFoundError: not fetched yet.
    """
    entry = _entry(name)
    path = _folder(cache_dir) / entry.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} weights not found at {path}: run `divergences weights fetch {name}`"
        )
    return path


def _folder(cache: str | os.PathLike | None) -> Path:
    return Path(cache).expanduser() if cache is not None else cache_dir()


def fetch(
    name: str,
    *,
    url: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the weights ``name`` into the cache folder, verified, atomically.

    Args:
        name: a key of :data:`REGISTRY` (``"inception"``, ``"dinov2-vitl14"``,
            ``"clip-vitl14-336"``, ...).
        url: download from here instead (a mirror); the digest must still match.
        cache_dir: the folder (default: :func:`cache_dir`), created if missing.
        progress: show a progress bar on stderr.
        sha256: expected digest (default: the published one); for mirrors of other files.
        timeout: seconds without data before the transfer is abandoned.

    Returns:
        The path of the verified file.

    Raises:
        ValueError: an unknown name or URL scheme, an entry without a confirmed digest, a
            digest mismatch (nothing is kept), or a file already in the cache whose digest
            is wrong (it is left untouched).
        ConnectionError: the transfer failed or ended early (nothing is kept).
    """
    entry = _entry(name)
    url = url or entry.url
    if sha256 is None and entry.sha256 is None:
        raise ValueError(
            f"{name}: no published SHA-256 of {entry.filename} could be confirmed, so it is "
            f"not fetched; download it yourself ({entry.url}) and load it with "
            "check_hash=False (--no-check-hash)"
        )
    expected = (sha256 or entry.sha256 or "").lower()
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"url must be http(s):// or file://, got {url!r}")
    folder = _folder(cache_dir)
    target = folder / entry.filename
    if target.exists():
        actual = sha256_file(target)
        if actual == expected:
            return target
        raise ValueError(
            f"{target} exists with SHA-256 {actual}, not {expected}; it was left as it is: "
            "move it away to fetch again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    # a failed check raises inside the block: the temporary goes, nothing is kept
    with atomic_open(target, what=f"weights {name!r}") as out:
        actual, got, total = _download(url, out, timeout=timeout, progress=progress)
        if total is not None and got != total:
            raise ConnectionError(f"fetching {url}: transfer ended after {got} of {total} bytes")
        if actual != expected:
            raise ValueError(
                f"fetching {url}: SHA-256 {actual} ({got} bytes) is not the expected {expected}; "
                "nothing was kept"
            )
    return target


def _download(
    url: str, out, *, timeout: float, progress: bool, algorithm: str = "sha256"
) -> tuple[str, int, int | None]:
    """Stream ``url`` into ``out``; return (hex digest, bytes received, announced length)."""
    h = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")  # MD5: a published checksum
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, leave=False)
            try:
                while chunk := resp.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    got += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConnectionError(
            f"fetching {url} failed after {got} bytes ({reason}); nothing was kept"
        ) from exc
    return h.hexdigest(), got, total
