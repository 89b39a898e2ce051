"""The DINOv2 and CLIP networks from a feature spec: ``dinov2[-VARIANT][:PATH]``, ``clip[...]``.

``metrics.networks.features.resolve_extractor`` hands such specs here. Without a path the
weights come from the cache folder (``divergences weights fetch dinov2-vitl14`` /
``clip-vitl14-336``); the variant defaults to DINOv2 ViT-L/14 (FD_DINOv2) and CLIP
ViT-L/14@336 (CMMD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metrics.networks import weights

__all__ = ["CLIP_NAMES", "vit_from_spec"]

CLIP_NAMES = {"vitb32": "ViT-B/32", "vitb16": "ViT-B/16", "vitl14": "ViT-L/14",
              "vitl14-336": "ViT-L/14@336"}  # fmt: skip
"""Spec variant names of the CLIP towers (``clip-vitb16``) → ``metrics.clip_image`` names."""


def vit_from_spec(spec: str, net: str, *, device: Any, resize: str, check_hash: bool,
                  precision: str) -> Any:  # fmt: skip
    """The network ``net`` (``"dinov2"`` or ``"clip"``) that ``spec`` names, built.

    Warns when the file is not the variant's published one (only with ``check_hash=False``).

    Raises:
        ValueError: an unknown variant, or no published file for it and no path.
        FileNotFoundError: the weights file does not exist (or is not fetched).
    """
    from metrics.networks.clip import clip_image
    from metrics.networks.dinov2 import VARIANTS, dinov2

    head, _, path_part = spec.partition(":")
    variant = head[len(net) + 1 :] or ("vitl14" if net == "dinov2" else "vitl14-336")
    names = sorted(VARIANTS) if net == "dinov2" else sorted(CLIP_NAMES)
    if variant not in names:
        raise ValueError(f"features {spec!r}: unknown {net} variant {variant!r}; one of "
                         f"{', '.join(names)}")  # fmt: skip
    entry = f"{net}-{variant}"
    if path_part:
        path = Path(path_part)
    elif entry in weights.REGISTRY:
        path = weights.find(entry)
    else:
        raise ValueError(f"features {spec!r}: no published weights file for {entry}; "
                         f"pass {entry}:PATH")  # fmt: skip
    if not path.is_file():
        raise FileNotFoundError(f"features {spec!r}: no file {path}")
    kw = {"check_hash": check_hash, "resize": resize, "device": device, "precision": precision}
    if net == "dinov2":
        model: Any = dinov2(path, variant=variant, **kw)
    else:
        model = clip_image(path, variant=CLIP_NAMES[variant], **kw)
    weights.warn_unpublished(spec, path, entry, model.weights_sha256,
                             f"a published {entry} weights file", stacklevel=5)  # fmt: skip
    return model
