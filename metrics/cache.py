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

:func:`cli_stats` is ``divergences stats FOLDER -o ref.npz``; :func:`compute_stats` its
function form.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from divergences._checks import check_positive_int
from metrics._atomic import check_writable, write_atomic
from metrics.stats import FeatureStats

__all__ = [
    "cache_root",
    "cli_stats",
    "compute_stats",
    "load_stats_file",
    "save_stats_file",
    "stats_key",
    "stats_path",
]


def cache_root() -> Path:
    """The cache root: ``$DIVERGENCES_CACHE``, else ``$XDG_CACHE_HOME/divergences``, else
    ``~/.cache/divergences``."""
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
        arrays["group_sigma"] = np.stack([g.cov().cpu().numpy() for g in groups])
    if meta:
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True, default=str))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(path, buf.getvalue(), overwrite=overwrite, what="statistics file")


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


def compute_stats(
    source: Any,
    *,
    features: Any = "identity",
    groups: int = 10,
    num_samples: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    image_size: int | None = None,
    resize: str = "bilinear",
    channels: int | None = None,
    num_workers: int | None = None,
) -> tuple[Any, list, dict[str, Any]]:
    """Stream ``source`` (a folder, array or file) through ``features`` into statistics.

    Returns:
        ``(total, groups, provenance)``: the :class:`~metrics.FeatureStats` of all samples,
        the ``groups`` group statistics (sample ``i`` in group ``i mod groups``; none when
        ``groups < 2`` or there are fewer than ``2 groups`` samples) and a provenance dict.
    """
    from metrics.evaluate import _version
    from metrics.features import provenance, resolve_extractor
    from metrics.loading import collect_side, planned_count

    extractor = resolve_extractor(features, device=device)
    n = planned_count(source, num_samples)
    k = min(groups, n // 2) if n is not None else groups
    opts = {"image_size": image_size, "resize": resize, "channels": channels}
    side = collect_side(
        source,
        name="folder",
        spec=features,
        extractor=extractor,
        keep_features=False,
        want_stats=True,
        groups=k if k >= 2 else 0,
        num_samples=num_samples,
        batch_size=batch_size,
        device=device,
        progress=progress,
        folder_options={**opts, "num_workers": num_workers},
        cache=False,
    )
    if side.kind == "stats":
        raise ValueError(f"{source} already holds statistics")
    prov = {
        "package_version": _version(),
        "extractor": provenance(features, extractor),
        "preprocessing": opts,
        "source": side.summary(),
    }
    return side.total, side.groups, prov


def cli_stats(argv: Sequence[str] | None = None) -> int:
    """``divergences stats FOLDER -o ref.npz [--features F] [--groups 10] ...``.

    Writes the reference statistics of ``FOLDER`` (or of a ``.npy``/``.npz``/``.pt`` array) in
    pytorch-fid's ``.npz`` layout (``mu``, ``sigma``) plus the count ``n``, the group
    statistics for FID error bars and the provenance (JSON in ``meta``); atomically, refusing
    to replace a file unless ``--overwrite``. Use it as the REAL side of ``divergences
    evaluate ref.npz FAKE --metrics fid``. Returns the exit status; errors raise
    ``ValueError`` (the CLI prints one line and exits 2).
    """
    from metrics.evaluate import _add_folder_arguments, check_device

    ap = argparse.ArgumentParser(
        prog="divergences stats", description="Write reference statistics (mu, sigma) of data."
    )
    ap.add_argument("source", help="image folder (or .npy/.npz/.pt array)")
    ap.add_argument("-o", "--output", required=True, help="the new .npz file")
    ap.add_argument(
        "--features", default=None, help="identity (default), digits, or a TorchScript file path"
    )
    ap.add_argument("--groups", type=int, default=10, help="groups for error bars (0: none)")
    ap.add_argument("--num-samples", type=int, default=None, help="use at most this many")
    ap.add_argument("--batch-size", type=int, default=256, help="feature batch size (256)")
    _add_folder_arguments(ap)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output")
    args = ap.parse_args(argv)
    if not args.output.endswith(".npz"):
        raise ValueError(f"-o {args.output!r}: the statistics file must end in .npz")
    check_writable(args.output, overwrite=args.overwrite, what="-o")
    if args.groups < 0:
        raise ValueError(f"--groups must be >= 0, got {args.groups}")
    if args.num_samples is not None:
        check_positive_int(args.num_samples, "--num-samples")
    check_positive_int(args.batch_size, "--batch-size")
    if args.device is not None:
        check_device(args.device)
    total, groups, prov = compute_stats(
        args.source,
        features=args.features or "identity",
        groups=args.groups,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        device=args.device,
        progress=args.progress,
        image_size=args.image_size,
        resize=args.resize or "bilinear",
        num_workers=args.workers,
    )
    save_stats_file(args.output, total, groups, overwrite=args.overwrite, meta=prov)
    print(f"wrote {args.output}: n={total.n}, D={total.dim}, {len(groups)} groups")
    return 0
