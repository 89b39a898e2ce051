"""On-disk cache of reference statistics, and reading/writing statistics files with groups.

The cache root is ``$DIVERGENCES_CACHE``, else ``$XDG_CACHE_HOME/divergences``, else
``~/.cache/divergences`` (the root of the network weights too); statistics live under
``stats/``, one ``.npz`` per key. The key is the SHA-256 of the folder's fingerprint (sorted
names, sizes, modification times), the extractor's provenance (network identity and file
hash), the preprocessing (image size, channels, resize mode), the sample count and the
number of groups: change any of them and the statistics are recomputed.

Files hold pytorch-fid's ``mu`` and ``sigma`` plus the count ``n`` and, for error bars, the
``K`` group statistics ``group_n`` ``(K,)``, ``group_mu`` ``(K, D)`` and ``group_sigma``
``(K, D, D)`` (``K·D²·8`` bytes: 335 MB for K = 10 Inception groups).

Computing statistics from data is :mod:`metrics.reference` (``divergences stats``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from metrics._atomic import atomic_open
from metrics.stats import FeatureStats

__all__ = [
    "cache_root",
    "load_stats_file",
    "save_stats_file",
    "stats_key",
    "stats_path",
]


def cache_root() -> Path:
    """The cache root directory.

    The cache root: ``$DIVERGENCES_CACHE``, else ``$XDG_CACHE_HOME/divergences``, else
    ``~/.cache/divergences``.
    """
    if os.environ.get("DIVERGENCES_CACHE"):
        return Path(os.environ["DIVERGENCES_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "divergences"


def stats_key(**parts: Any) -> str:
    """SHA-256 of the JSON of ``parts`` (sorted keys): the cache key of one set of statistics."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def stats_path(key: str) -> Path:
    """Where the statistics of ``key`` are cached."""
    return cache_root() / "stats" / f"{key}.npz"


def save_stats_file(
    path: str | os.PathLike,
    total: FeatureStats,
    groups: list[FeatureStats] | None = None,
    *,
    overwrite: bool = False,
    meta: dict | None = None,
) -> None:
    """Write ``mu``, ``sigma``, ``n`` (and the groups, and ``meta`` as JSON) atomically.

    Raises:
        ValueError: ``path`` exists and ``overwrite`` is False, or its folder is missing.
    """
    arrays: dict[str, Any] = {"mu": total.mean.cpu().numpy(), "sigma": total.cov().cpu().numpy()}
    if total.n is not None:
        arrays["n"] = np.int64(total.n)
    if groups:
        arrays["group_n"] = np.array([g.n for g in groups], dtype=np.int64)
        arrays["group_mu"] = np.stack([g.mean.cpu().numpy() for g in groups])
        # filled in place: K covariances of 2048² float64 are 34 MB each
        sigma = np.empty((len(groups), *arrays["sigma"].shape))
        for i, g in enumerate(groups):
            sigma[i] = g.cov().cpu().numpy()
        arrays["group_sigma"] = sigma
    if meta:
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True, default=str))
    # streamed into the temporary file: no in-memory copy of the archive
    with atomic_open(path, overwrite=overwrite, what="statistics file") as fh:
        np.savez(fh, **arrays)


def load_stats_file(
    path: str | os.PathLike, *, dim: int | None = None
) -> tuple[FeatureStats, list[FeatureStats], dict]:
    """Read statistics written by :func:`save_stats_file` or pytorch-fid (``mu``, ``sigma``).

    Returns:
        ``(total, groups, meta)``: groups is empty for files without them.

    Raises:
        ValueError: the file is unreadable, lacks ``mu``/``sigma``, is inconsistent, or its
            dimension differs from ``dim``.
    """
    p = os.fspath(path)
    try:
        f = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p} could not be read as an .npz of statistics ({exc})") from None
    with f:
        missing = [k for k in ("mu", "sigma") if k not in f.files]
        if missing:
            raise ValueError(
                f"{p} must hold arrays 'mu' and 'sigma' (pytorch-fid layout); missing "
                f"{missing}, found {sorted(f.files)}"
            )
        mu, sigma = f["mu"], f["sigma"]
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
            raise ValueError(
                f"{p}: mu must be (D,) and sigma (D, D); got {mu.shape} and {sigma.shape}"
            )
        if dim is not None and mu.shape[0] != dim:
            raise ValueError(
                f"{p} holds statistics of {mu.shape[0]}-d features, but the extractor gives "
                f"{dim}-d features (statistics of another network or preprocessing?)"
            )
        n = int(f["n"]) if "n" in f.files else None
        total = FeatureStats.from_moments(mu, sigma, n=n)
        groups = []
        if "group_n" in f.files:
            gn, gmu, gsig = f["group_n"], f["group_mu"], f["group_sigma"]
            if gmu.shape != (gn.shape[0], mu.shape[0]) or gsig.shape[1:] != sigma.shape:
                raise ValueError(f"{p}: group statistics do not match mu/sigma in shape")
            groups = [FeatureStats.from_moments(a, b, n=int(c)) for a, b, c in zip(gmu, gsig, gn)]
        meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
    return total, groups, meta
