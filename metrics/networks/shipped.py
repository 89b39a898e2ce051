"""The networks whose weights ship in the package: the small digits and Fashion-MNIST CNNs.

Named ``"digits"`` and ``"fashion"`` in :func:`metrics.evaluate` (``features=``/``logits=``);
their architectures and weights files are in ``metrics/networks/_digits.py`` and
``_fashion.py``, reproducible by ``scripts/train_digits_net.py`` and
``scripts/train_fashion_net.py``.
"""

from __future__ import annotations

import torch

from metrics.networks._digits import DigitsFeatures, load_digits_net
from metrics.networks._fashion import FashionFeatures, load_fashion_net

__all__ = ["digits_features", "digits_logits", "fashion_features", "fashion_logits"]


def _device(device: str | torch.device | None) -> torch.device:
    """``device``, or ``cuda`` when available, else ``cpu``."""
    return torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if device is None else device
    )


def digits_features(*, device: str | torch.device | None = None) -> torch.nn.Module:
    """The digits CNN's 64-d penultimate features (post-ReLU), in eval mode.

    Input: images in ``[0, 1]`` (sklearn digits divided by 16), shaped ``(N, 64)``,
    ``(N, 8, 8)`` or ``(N, 1, 8, 8)``. Output: ``(N, 64)``.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> x = torch.tensor(load_digits().data[:4] / 16.0, dtype=torch.float32)
        >>> digits_features()(x).shape
        torch.Size([4, 64])
    """
    net = load_digits_net()
    return DigitsFeatures(net).to(_device(device)).eval()


def digits_logits(*, device: str | torch.device | None = None) -> torch.nn.Module:
    """The digits CNN as a classifier: images in ``[0, 1]`` → logits ``(N, 10)`` (for IS).

    Example:
        >>> from sklearn.datasets import load_digits
        >>> d = load_digits()
        >>> x = torch.tensor(d.data[:8] / 16.0, dtype=torch.float32)
        >>> digits_logits()(x).argmax(1).tolist() == d.target[:8].tolist()
        True
    """
    return load_digits_net().to(_device(device))


def fashion_features(*, device: str | torch.device | None = None) -> torch.nn.Module:
    """The Fashion-MNIST CNN's 128-d penultimate features (post-ReLU), in eval mode.

    Input: grey 28 × 28 images, floats in ``[0, 1]`` or uint8, shaped ``(N, 1, 28, 28)``,
    ``(N, 28, 28)`` or ``(N, 784)``. Output: ``(N, 128)``. The weights file's SHA-256 is
    checked when it is loaded.

    Example:
        >>> fashion_features(device="cpu")(torch.zeros(3, 28, 28)).shape
        torch.Size([3, 128])
    """
    net = FashionFeatures(load_fashion_net())
    return net.to(_device(device)).eval()


def fashion_logits(*, device: str | torch.device | None = None) -> torch.nn.Module:
    """The Fashion-MNIST CNN as a classifier: images → logits ``(N, 10)`` (for IS, accuracy).

    Example:
        >>> fashion_logits(device="cpu")(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    return load_fashion_net().to(_device(device))
