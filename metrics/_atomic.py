"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The data goes to a temporary file ``.<name>.<random>.tmp`` in the target's folder, is
flushed to disk, then renamed over the target (``os.replace``) or, when the target must not
be clobbered, linked to it (``os.link`` fails if the name exists, so no race can overwrite a
file created meanwhile). :func:`stale_temporaries` finds the temporaries a killed writer
left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_open", "check_writable", "stale_temporaries", "write_atomic"]


def check_writable(path: str | os.PathLike, *, overwrite: bool, what: str = "output") -> Path:
    """Check that ``path`` can be written: its folder exists and it is not clobbered.

    Raises:
        ValueError: the folder does not exist, the path is a folder, or the file exists and
            ``overwrite`` is False. The message names ``what``.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{what}: folder {str(parent)!r} does not exist (create it first)")
    if path.is_dir():
        raise ValueError(f"{what}: {str(path)!r} is a folder, not a file name")
    if path.exists() and not overwrite:
        raise ValueError(f"{what}: {str(path)!r} exists; choose another name or pass --overwrite")
    return path


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, *, overwrite: bool = True, what: str = "output"
) -> Iterator[IO[bytes]]:
    """Open a binary file handle whose content replaces ``path`` only when the block ends.

    If the block raises, ``path`` is untouched and the temporary file is removed. With
    ``overwrite=False`` an existing ``path`` is refused (checked before and at the rename).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "a.txt")
        >>> with atomic_open(p, overwrite=False) as fh:
        ...     _ = fh.write(b"hello")
        >>> open(p).read()
        'hello'
    """
    path = check_writable(path, overwrite=overwrite, what=what)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the name appeared meanwhile
            except FileExistsError:
                raise ValueError(f"{what}: {str(path)!r} exists; choose another name") from None
            except OSError:  # file systems without hard links: check, then rename
                if path.exists():
                    raise ValueError(f"{what}: {str(path)!r} exists; choose another name") from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(
    path: str | os.PathLike, data: bytes | str, *, overwrite: bool = True, what: str = "output"
) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, overwrite=overwrite, what=what) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


def stale_temporaries(folder: str | os.PathLike, names: tuple[str, ...]) -> list[Path]:
    """Temporaries of :func:`atomic_open` for the files ``names`` left in ``folder``.

    Only files named ``.<name>.<anything>.tmp`` or ``.<name>.tmp`` match, so nothing else a
    user keeps there is ever listed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    alt = "|".join(re.escape(n) for n in names)
    pattern = re.compile(rf"^\.(?:{alt})(?:\.[^/]*)?\.tmp$")
    return sorted(p for p in folder.iterdir() if p.is_file() and pattern.match(p.name))
