"""The one writer of files: atomic, honouring the umask, leaving no temporaries behind.

Every file the project writes goes through this module. The data goes to a temporary file
``.<name>.<pid>-<host>.<random>.tmp`` in the target's folder, is flushed to disk, then renamed
over the target (``os.replace``) or, when the target must not be clobbered, linked to it
(``os.link`` fails if the name exists, so no race can overwrite a file created meanwhile).
A reader sees the old file or the new one, never half of one.

The new file gets mode ``0o666 & ~umask``, as ``open(path, "w")`` would give it (a temporary
from ``mkstemp`` alone is ``0o600``: nobody else could read the results). Before writing,
the temporaries of the same target that a killed writer left are removed
(:func:`stale_temporaries` says which are orphans). :func:`append_text` appends to logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "append_text",
    "atomic_open",
    "check_writable",
    "file_mode",
    "remove_stale_temporaries",
    "stale_temporaries",
    "write_atomic",
]

# the writer's host in temporary names: a pid can only be checked on the host that owns it
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
FOREIGN_TEMP_AGE_S = 24 * 3600.0
"""Age (since the last write) after which another host's temporary counts as an orphan."""


def _umask() -> int:
    """The process's umask, read without changing it where ``/proc`` tells it."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: reading the umask means setting it, briefly
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets: ``0o666 & ~umask`` (``0o644`` under umask ``022``)."""
    return 0o666 & ~_umask()


def check_writable(path: str | os.PathLike, *, overwrite: bool, what: str = "output") -> Path:
    """Check that ``path`` can be written, and remove the orphan temporaries of ``path``.

    Commands call this before any work, so a killed earlier run's temporaries go at the
    next start (see :func:`remove_stale_temporaries`).

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
    remove_stale_temporaries(path)
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
    The file gets mode ``0o666 & ~umask`` (:func:`file_mode`).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "a.txt")
        >>> with atomic_open(p, overwrite=False) as fh:
        ...     _ = fh.write(b"hello")
        >>> open(p).read()
        'hello'
    """
    path = check_writable(path, overwrite=overwrite, what=what)
    prefix = f".{path.name}.{os.getpid()}-{_HOST}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            with contextlib.suppress(OSError):  # file systems without modes refuse chmod
                os.chmod(tmp, file_mode())
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


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append ``text`` to ``path`` (created with mode ``0o666 & ~umask`` by the system).

    Not atomic: a reader of a log must drop a last line cut short by a kill
    (:func:`gan.rundir.truncate_log` does).
    """
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    alt = "|".join(re.escape(n) for n in names)
    tag = r"(?:\.(?P<pid>\d+)-(?P<host>[0-9a-f]{8}))?"
    return re.compile(rf"^\.(?:{alt}){tag}(?:\.[a-z0-9_]+)?\.tmp$")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _orphan(path: Path, match: re.Match[str]) -> bool:
    # A temporary names its writer: on this host it is an orphan once that pid is gone (a
    # concurrent writer's is never touched; a reused pid only keeps an orphan longer); another
    # host's pids cannot be checked from here, so its temporary must sit untouched for a day;
    # one without a name tag comes from a writer older than the tags, none of which is running.
    pid, host = match.group("pid"), match.group("host")
    if pid is None:
        return True
    if host == _HOST and os.name == "posix":
        return not _alive(int(pid))
    try:
        return time.time() - path.stat().st_mtime > FOREIGN_TEMP_AGE_S
    except OSError:
        return False


def stale_temporaries(folder: str | os.PathLike, names: tuple[str, ...]) -> list[Path]:
    """The orphan temporaries of :func:`atomic_open` for the files ``names`` in ``folder``.

    Only files named ``.<name>[.<pid>-<host>][.<random>].tmp`` match, so nothing else a user
    keeps there is ever listed; of those, only the ones whose writer is gone (its pid is not
    running on this host; for another host's, untouched for :data:`FOREIGN_TEMP_AGE_S`).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / ".ref.npz.k3x9ab12.tmp").write_bytes(b"half")  # a killed writer's
        >>> _ = (d / f".ref.npz.{os.getpid()}-{_HOST}.z9y8x7w6.tmp").write_bytes(b"")  # live
        >>> [p.name for p in stale_temporaries(d, ("ref.npz",))]
        ['.ref.npz.k3x9ab12.tmp']
    """
    folder = Path(folder)
    if not folder.is_dir() or not names:
        return []
    pattern = _pattern(names)
    out = []
    for p in folder.iterdir():
        m = pattern.match(p.name)
        if m and p.is_file() and not p.is_symlink() and _orphan(p, m):
            out.append(p)
    return sorted(out)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the orphan temporaries of the one target ``path``; return what was removed."""
    path = Path(path)
    gone = stale_temporaries(path.parent if str(path.parent) else Path("."), (path.name,))
    for p in gone:
        p.unlink(missing_ok=True)
    return gone
