"""metrics: evaluation of generators (FID, KID, IS, precision/recall, density/coverage, modes).

Streaming and mergeable, in bounded memory; built on :mod:`divergences`.
"""

from __future__ import annotations

__all__: list[str] = []
