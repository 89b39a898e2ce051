"""On-disk cache of reference statistics, and reading/writing statistics files with groups.

The cache root is ``$DIVERGENCES_CACHE``, else ``$XDG_CACHE_HOME/divergences``, else
``~/.cache/divergences`` (the root of the network weights too); statistics live under
``stats/``, one ``.npz`` per key. The key is the SHA-256 of the folder's fingerprint (sorted
names, sizes, modification times), the extractor's provenance (network identity and file
hash), the preprocessing (image size, channels, resize mode), the sample count and the
number of groups: change any of them and the statistics are recomputed.

Files hold pytorch-fid's ``mu`` and ``sigma`` plus the count ``n`` and, for error bars, the
``K`` group statistics ``group_n`` ``(K,)``, ``group_mu`` ``(K, D)`` and ``group_sigma``
``(K, D, D)`` (``K·D²·8`` bytes: 335 MB for K = 10 Inception groups), and their provenance,
``meta`` (JSON): the features spec, the extractor (network, its file's SHA-256, the
Inception network's resize mode and precision), the folder reader's options and the source
(the size the images were read at). pytorch-fid reads only ``mu`` and ``sigma``. A file
whose extractor differs from a run's is refused (:func:`check_provenance`); one without
provenance is used with a warning saying what went unchecked. An unreadable cache entry is
reported and recomputed (:func:`read_cached`).

Computing statistics from data is :mod:`metrics.io.reference` (``divergences stats``).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from metrics.io._npz import read_npz
from metrics.io.atomic import atomic_open, remove_stale_temporaries
from metrics.stats import FeatureStats

__all__ = [
    "cache_root",
    "check_provenance",
    "load_stats_file",
    "read_cached",
    "save_stats_file",
    "stats_key",
    "stats_path",
    "stats_provenance",
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
        ValueError: the file is unreadable, truncated or corrupt, lacks ``mu``/``sigma`` (or
            one of the group arrays), is inconsistent, or its dimension differs from ``dim``;
            the message names the file.
    """
    p = os.fspath(path)
    f = read_npz(p, _KEYS, required=("mu", "sigma"))
    mu, sigma = f["mu"], f["sigma"]
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{p}: mu must be (D,) and sigma (D, D); got {mu.shape} and {sigma.shape}")
    if dim is not None and mu.shape[0] != dim:
        raise ValueError(
            f"{p} holds statistics of {mu.shape[0]}-d features, but the extractor gives "
            f"{dim}-d features (statistics of another network or preprocessing?)"
        )
    group_keys = [k for k in _KEYS if k.startswith("group_")]
    have = [k for k in group_keys if k in f]
    if have and len(have) != len(group_keys):
        missing = [k for k in group_keys if k not in f]
        raise ValueError(f"{p}: group statistics are incomplete: missing {missing}")
    try:
        total = FeatureStats.from_moments(mu, sigma, n=f["n"].item() if "n" in f else None)
        groups = []
        if have:
            gn, gmu, gsig = f["group_n"], f["group_mu"], f["group_sigma"]
            if (
                gn.ndim != 1
                or gmu.shape != (gn.shape[0], mu.shape[0])
                or gsig.shape != (gn.shape[0], *sigma.shape)
            ):
                raise ValueError("group statistics do not match mu/sigma in shape")
            groups = [FeatureStats.from_moments(a, b, n=c.item()) for a, b, c in zip(gmu, gsig, gn)]
        meta = json.loads(str(f["meta"])) if "meta" in f else {}
    except (TypeError, ValueError) as exc:  # json's errors are ValueErrors too
        raise ValueError(f"{p}: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{p}: meta must be a JSON object, got {type(meta).__name__}")
    return total, groups, meta


_KEYS = ("mu", "sigma", "n", "group_n", "group_mu", "group_sigma", "meta")


def read_cached(path: Path) -> tuple[FeatureStats, list[FeatureStats], dict] | None:
    """The cached statistics at ``path``; None when absent or unreadable (then recomputed).

    An unreadable entry (a truncated or corrupt file, a missing key) is reported in one
    warning. Orphan temporaries a killed writer of this entry left are removed first.
    """
    remove_stale_temporaries(path)
    if not path.is_file():
        return None
    try:
        return load_stats_file(path)
    except ValueError as exc:
        warnings.warn(f"{exc}; recomputing these cached statistics", stacklevel=3)
        return None


# --- provenance: what made the features, checked before two sets of statistics meet -----------
_FIELDS = {"network": "extractor", "sha256": "network hash", "resize": "network resize",
           "precision": "precision"}  # fmt: skip
_IGNORED = ("file",)  # a network file's name: the same network may be stored under any name


def stats_provenance(spec: Any, extractor: dict | None, preprocessing: dict) -> dict[str, Any]:
    """The provenance a statistics file records (its ``meta``, JSON).

    ``features`` is the spec as given, ``extractor`` the extractor's provenance
    (:func:`metrics.networks.features.provenance`: network, its file's SHA-256, the Inception
    network's resize mode and precision), ``preprocessing`` the folder reader's options.
    """
    prep = {k: v for k, v in preprocessing.items() if k != "num_workers"}
    name = os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else type(spec).__name__
    return {"features": name, "extractor": extractor, "preprocessing": prep}


def _show(v: Any) -> str:
    return repr(v[:16] + "…") if isinstance(v, str) and len(v) > 24 else repr(v)


def check_provenance(path: str | os.PathLike, meta: dict, extractor: dict | None) -> None:
    """Refuse statistics whose extractor differs from this run's; warn where none can tell.

    Compares the network, its file's SHA-256, the Inception network's resize mode and its
    precision (and any other key both provenances record) between the file's ``meta`` and
    ``extractor`` (this run's, :func:`metrics.networks.features.provenance`).

    Raises:
        ValueError: one of them differs; the message names each and both values.

    Warns:
        UserWarning: the file records none (pytorch-fid's files) or not all of them, or this
            run's extractor (a plain callable) has no provenance: what could not be checked.
    """
    recorded = meta.get("extractor")
    if not isinstance(recorded, dict):
        mine = ", ".join(f"{_FIELDS[k]} {_show(v)}" for k, v in (extractor or {}).items()
                         if k in _FIELDS and v is not None)  # fmt: skip
        warnings.warn(
            f"{os.fspath(path)} records no provenance (pytorch-fid's files carry none): its "
            "extractor, network hash, preprocessing and precision could not be checked against "
            f"this run's ({mine or 'unknown'}); make sure they are the same",
            stacklevel=3,
        )
        return
    if extractor is None:
        warnings.warn(
            f"this run's extractor has no provenance attribute: {os.fspath(path)}'s "
            f"(extractor {_show(recorded.get('network'))}) could not be checked against it",
            stacklevel=3,
        )
        return
    keys = list(_FIELDS) + [k for k in recorded if k in extractor and k not in _FIELDS]
    diffs, unchecked = [], []
    for k in keys:
        if k in _IGNORED:
            continue
        mine = extractor.get(k)
        if k not in recorded:
            if mine is not None:
                unchecked.append(_FIELDS.get(k, k))
        elif recorded[k] != mine:
            diffs.append(
                f"{_FIELDS.get(k, k)} {_show(recorded[k])} in the file, {_show(mine)} here"
            )
    if diffs:
        raise ValueError(
            f"{os.fspath(path)} holds statistics of other features than this run's: "
            f"{'; '.join(diffs)} (statistics are comparable only from the same extractor, "
            "preprocessing and precision: recompute them with divergences stats)"
        )
    if unchecked:
        warnings.warn(
            f"{os.fspath(path)} does not record its {', '.join(unchecked)}: not checked "
            "against this run's",
            stacklevel=3,
        )
