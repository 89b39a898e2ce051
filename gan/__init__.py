"""gan: a GAN trainer whose losses are the f-divergences of :mod:`divergences` and whose
evaluation is :mod:`metrics`; the ``divergences`` command-line tool."""

from __future__ import annotations

__all__: list[str] = []
