"""Feature networks with verified weights: Inception-v3 (FID), DINOv2 (FD_DINOv2), CLIP (CMMD).

:mod:`~metrics.networks.features` turns a name (``"inception"``, ``"dinov2:PATH"``,
``"digits"``, a TorchScript file, a callable) into an extractor and runs it over batches, with
the provenance the reports and statistics files record; :mod:`~metrics.networks.shipped` holds
the small digits and Fashion-MNIST networks whose weights ship in the package.
:mod:`~metrics.networks.inception` builds the FID network on pytorch-fid's weights file (checked
by SHA-256), :mod:`~metrics.networks.resize` holds clean-fid's and pytorch-fid's resizes;
:mod:`~metrics.networks.dinov2` and :mod:`~metrics.networks.clip` build the DINOv2 and CLIP
image networks (shared blocks in :mod:`~metrics.networks.vit`, their reference preprocessing in
:mod:`~metrics.networks.preprocess`); :mod:`~metrics.networks.weights` finds and, only when
asked, fetches weights files into the cache folder. The functions are exported as
``metrics.inception``, ``metrics.dinov2``, ``metrics.clip_image`` and ``metrics.resize``; the
submodules keep their names here.
"""

from __future__ import annotations

from metrics.networks import (
    clip,
    dinov2,
    features,
    inception,
    preprocess,
    resize,
    shipped,
    vit,
    weights,
)

__all__ = [
    "clip",
    "dinov2",
    "features",
    "inception",
    "preprocess",
    "resize",
    "shipped",
    "vit",
    "weights",
]
