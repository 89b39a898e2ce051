"""Reading ``.npz`` statistics files: no pickles, no leaked handle, one clear error.

``np.load`` of a truncated archive raises ``zipfile.BadZipFile`` and leaves its file open,
and of a file that is no archive at all suggests loading it with pickles; :func:`read_npz`
turns every such failure into one ``ValueError`` that names the file and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ["read_npz"]


def read_npz(
    path: str | os.PathLike,
    keys: Sequence[str],
    *,
    required: Sequence[str] = (),
    what: str = "statistics file",
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (those present) of the ``.npz`` at ``path``, read into memory.

    Raises:
        ValueError: the file cannot be opened, is not an ``.npz`` archive, is truncated or
            corrupt (the message names the file, never suggests pickles), or lacks one of
            ``required`` (the message names the missing keys and those found).

    Example:
        >>> import tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "s.npz")
        >>> np.savez(p, mu=np.zeros(2))
        >>> read_npz(p, ("mu", "sigma"), required=("mu", "sigma"))
        Traceback (most recent call last):
        ...
        ValueError: .../s.npz: statistics file must hold arrays ... missing ['sigma'], ...
    """
    p = os.fspath(path)
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise ValueError(f"{p}: {what} could not be opened ({exc.strerror or exc})") from None
    with fh:  # np.load leaves a file it opened itself open when the archive is broken
        try:
            with np.load(fh, allow_pickle=False) as f:
                found = sorted(f.files)
                missing = [k for k in required if k not in found]
                arrays = {} if missing else {k: f[k] for k in keys if k in found}
        except Exception as exc:  # zipfile, zlib, header and pickle errors of a broken file
            raise ValueError(_broken(p, what, exc)) from None
    if missing:
        names = " and ".join(repr(k) for k in required)
        raise ValueError(
            f"{p}: {what} must hold arrays {names} (pytorch-fid layout); missing {missing}, "
            f"found {found}"
        )
    return arrays


def _broken(p: str, what: str, exc: Exception) -> str:
    if isinstance(exc, ValueError) and "Object arrays" in str(exc):
        return f"{p}: {what} holds Python objects, which are never loaded (code could run)"
    if isinstance(exc, ValueError) and "pickle" in str(exc):  # numpy: not an archive at all
        return f"{p}: {what} is not an .npz archive"
    return f"{p}: {what} is truncated or corrupt ({type(exc).__name__})"
