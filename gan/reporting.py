"""Cheap scalar reporting: accumulate on the device, read with one sync at log intervals.

Named ``reporting`` so as not to shadow the standard ``logging`` module.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from metrics.io.atomic import append_text

__all__ = ["JSONLWriter", "ScalarAccumulator", "read_jsonl"]


class ScalarAccumulator:
    """Running sums of scalar tensors kept on the device (no host synchronisation).

    Example:
        >>> acc = ScalarAccumulator()
        >>> acc.add(loss=torch.tensor(1.0)); acc.add(loss=torch.tensor(3.0))
        >>> acc.means()
        {'loss': 2.0}
    """

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0

    def add(self, **values: torch.Tensor) -> None:
        """Add one step's scalars (detached; stays on the device)."""
        for k, v in values.items():
            v = v.detach().float()
            self._sums[k] = self._sums[k] + v if k in self._sums else v.clone()
        self._count += 1

    def means(self, reduce=None) -> dict[str, float]:
        """The means since the last call, then reset. ONE host sync for all values.

        Args:
            reduce: optional in-place reduction of the stacked means across processes (e.g.
                an all-reduce mean), applied on the device before the sync.
        """
        if not self._sums:
            return {}
        keys = list(self._sums)
        stacked = torch.stack([self._sums[k] for k in keys]) / self._count
        if reduce is not None:
            stacked = reduce(stacked)
        values = stacked.tolist()
        self._sums, self._count = {}, 0
        return dict(zip(keys, values))


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf; keep them visible as strings
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


class JSONLWriter:
    """Appends one JSON object per line (and mirrors scalars to TensorBoard if asked).

    Args:
        path: the ``.jsonl`` file (appended to, so a resumed run continues its log).
        tensorboard_dir: folder for TensorBoard events, or None.
    """

    def __init__(self, path: str | Path, tensorboard_dir: str | Path | None = None):
        self.path = Path(path)
        self._tb = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ValueError(
                    "tensorboard=True needs the tensorboard package (pip install tensorboard)"
                ) from exc
            self._tb = SummaryWriter(str(tensorboard_dir))

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` (must hold a ``step``)."""
        append_text(self.path, json.dumps(_clean(record), sort_keys=False) + "\n")
        if self._tb is not None:
            step = int(record.get("step", 0))
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "step":
                    self._tb.add_scalar(f"{record.get('kind', 'train')}/{k}", v, step)

    def close(self) -> None:
        """Flush TensorBoard."""
        if self._tb is not None:
            self._tb.close()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All records of a JSONL log (an empty list if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]
