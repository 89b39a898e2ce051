"""Feature networks with verified weights: the Inception-v3 FID network and its resizes.

:mod:`~metrics.networks.inception` builds the FID network on pytorch-fid's weights file
(checked by SHA-256), :mod:`~metrics.networks.resize` holds clean-fid's and pytorch-fid's
resizes, and :mod:`~metrics.networks.weights` finds and, only when asked, fetches weights files
into the cache folder. The functions are exported as ``metrics.inception`` and
``metrics.resize``; the submodules keep their names here.
"""

from __future__ import annotations

from metrics.networks import inception, resize, weights

__all__ = ["inception", "resize", "weights"]
