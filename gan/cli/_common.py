"""What the commands share: the one-line parser, the error guard and argument checks."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from typing import Any

__all__ = [
    "OneLineParser",
    "check_device",
    "check_n",
    "device",
    "guarded",
    "load_pair",
    "print_path",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``prog: error: message (see prog -h)``, status 2."""

    def error(self, message: str):  # type: ignore[override]
        """Exit with status 2 and one line."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} -h)\n")


def guarded(command: str, fn: Callable[[Any], int], arg: Any) -> int:
    """Run ``fn(arg)``: a user's mistake is one line on stderr and status 2, never a traceback.

    Warnings are one line too (``divergences COMMAND: warning: ...``); Ctrl-C is status 130.
    """

    def one_line(message, category, filename, lineno, file=None, line=None) -> None:
        # a user reads "what and why", not our source line
        text = " ".join(str(message).split())
        print(f"divergences {command}: warning: {text}", file=sys.stderr if file is None else file)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            return fn(arg)
    except (ValueError, TypeError, OSError) as exc:  # bad input: one clear line, no traceback
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"divergences {command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"divergences {command}: interrupted", file=sys.stderr)
        return 130


def print_path(prog: str, action: Callable[[], Any]) -> int:
    """Print the path ``action()`` returns (0), or one error line (1: failed transfer, 2: else)."""
    try:
        path = action()
    except ConnectionError as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(path)
    return 0


def check_n(n: int, flag: str = "-n", minimum: int = 1) -> int:
    """``n`` if it is at least ``minimum``, else a ValueError naming ``flag``."""
    if n < minimum:
        raise ValueError(f"{flag} must be >= {minimum}, got {n}")
    return n


def check_device(name: str, flag: str = "--device") -> None:
    """Raise a ValueError naming ``flag`` unless ``name`` is a usable cpu or cuda device."""
    import torch

    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"{flag} {name!r} is not a device (use cpu or cuda)") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{flag} {name!r}: use cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{flag} {name!r}: CUDA is not available here; use cpu")


def device(name: str) -> str:
    """``name`` once :func:`check_device` accepts it."""
    check_device(name)
    return name


def load_pair(path_a: str, path_b: str):
    """Two sample files as float64 ``(N, D)`` tensors of one dimension, or a ValueError."""
    from metrics.io import load_array

    arrays = []
    for path in (path_a, path_b):
        x = load_array(path)
        if x.ndim == 0 or x.shape[0] == 0 or x.numel() == 0:
            raise ValueError(f"{path} holds no samples (shape {tuple(x.shape)})")
        x = x.double().reshape(len(x), -1)
        if not bool(x.isfinite().all()):
            raise ValueError(f"{path} holds NaN or inf values")
        arrays.append(x)
    a, b = arrays
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{path_a} and {path_b} have samples of different dimensions "
                         f"({a.shape[1]} and {b.shape[1]})")  # fmt: skip
    return a, b
