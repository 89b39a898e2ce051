"""The result of an evaluation: a mapping ``name → Entry`` with its provenance.

:func:`metrics.evaluate` returns a :class:`Report`; ``Report.to_json`` writes it atomically
and refuses to replace a file unless asked.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metrics.io.atomic import write_atomic

__all__ = ["Entry", "Report"]


@dataclass(frozen=True)
class Entry:
    """One reported number: ``value`` and its uncertainty.

    ``kind`` is ``"std"`` over subsets/splits, ``"stderr"``, or ``""`` when there is none,
    with an optional ``interval`` (low, high) at confidence ``level`` (e.g. the jackknife's
    95 % interval). An interval is always about its own entry's value: it contains it.

    Raises:
        ValueError: an interval that does not contain ``value`` (or a level outside (0, 1)).
    """

    value: float
    uncertainty: float | None = None
    kind: str = ""
    interval: tuple[float, float] | None = None
    level: float | None = None

    def __post_init__(self) -> None:
        if self.interval is not None:
            lo, hi = self.interval
            if not lo <= self.value <= hi:  # NaN fails too
                raise ValueError(
                    f"an interval must contain its value: {self.value!r} not in [{lo!r}, {hi!r}]"
                )
        if self.level is not None and not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1), got {self.level!r}")

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Report(Mapping):
    """Mapping ``name → Entry`` with a pretty :meth:`table` and :meth:`to_json`.

    Example:
        >>> r = Report({"fid": Entry(1.5, 0.2, "stderr"), "kid": Entry(0.01, 0.002, "std"),
        ...             "fid_bias_corrected": Entry(1.1, 0.2, "stderr", (0.7, 1.5), 0.95)})
        >>> float(r["fid"]), sorted(r)
        (1.5, ['fid', 'fid_bias_corrected', 'kid'])
        >>> print(r.table())
        metric                 value   ± uncertainty
        fid                   1.5000   ± 0.2000 (stderr)
        kid                   0.0100   ± 0.0020 (std)
        fid_bias_corrected    1.1000   ± 0.2000 (stderr)  95% interval [0.7000, 1.5000]
    """

    entries: dict[str, Entry]
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Entry:
        return self.entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def table(self) -> str:
        """A fixed-width text table, one metric per line."""
        w = max([len("metric"), *map(len, self.entries)]) + 2
        lines = [f"{'metric':<{w}}{'value':>8}   ± uncertainty"]
        for name, e in self.entries.items():
            unc = f"   ± {e.uncertainty:.4f} ({e.kind})" if e.uncertainty is not None else ""
            if e.interval is not None:
                level = f"{100 * e.level:g}% " if e.level is not None else ""
                unc += f"  {level}interval [{e.interval[0]:.4f}, {e.interval[1]:.4f}]"
            lines.append(f"{name:<{w}}{e.value:>8.4f}{unc}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics": {name: {"value", "uncertainty", "kind"[, "interval", "level"]}}, ...}``.

        The same numbers as :meth:`table` (which rounds them to 4 decimals), plus ``"meta"``.
        """
        optional = ("interval", "level")
        return {
            "metrics": {
                n: _jsonable(
                    {k: v for k, v in e.__dict__.items() if v is not None or k not in optional}
                )
                for n, e in self.entries.items()
            },
            "meta": _jsonable(self.meta),
        }

    def to_json(self, path: str | os.PathLike | None = None, *, overwrite: bool = False) -> str:
        """The report as JSON, also written to ``path`` if given, atomically.

        Non-finite numbers become the strings ``"inf"``/``"nan"``.

        Raises:
            ValueError: ``path`` exists and ``overwrite`` is False, or its folder is missing.
        """
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            write_atomic(path, text + "\n", overwrite=overwrite, what="JSON output")
        return text


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else str(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj
