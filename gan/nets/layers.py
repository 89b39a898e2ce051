"""Layers of the image networks: spectral norm, conditional batch norm, projection, attention.

Shapes: feature maps ``(B, C, H, W)``, labels ``(B,)`` integer, class embeddings ``(B, E)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations

__all__ = [
    "ConditionalBatchNorm2d", "ProjectionHead", "SelfAttention2d", "init_layer",
    "with_spectral_norm",
]  # fmt: skip

INITS = ("xavier", "orthogonal")


def _check_count(name: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_init(init: str) -> str:
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return init


def init_layer(layer: nn.Module, init: str = "xavier", *, gain: float = 1.0) -> nn.Module:
    """Initialise a Conv/Linear/Embedding weight in place (biases to 0) and return the layer.

    ``"xavier"``: Glorot uniform with ``gain`` (the SNGAN Chainer code: gain √2 inside the
    residual branches, 1 elsewhere); ``"orthogonal"``: orthogonal (BigGAN, Brock et al. 2019),
    ``gain`` ignored.

    Example:
        >>> lin = init_layer(nn.Linear(4, 3), "orthogonal")
        >>> torch.allclose(lin.weight @ lin.weight.T, torch.eye(3), atol=1e-5)
        True
    """
    _check_init(init)
    if init == "xavier":
        nn.init.xavier_uniform_(layer.weight, gain=gain)
    else:
        nn.init.orthogonal_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return layer


def with_spectral_norm(module: nn.Module, enabled: bool = True) -> nn.Module:
    """``module`` with its ``weight`` divided by its largest singular value (Miyato et al. 2018).

    One power iteration per training-mode forward, as in the paper; the normalised weight is
    ``module.weight`` and the trained one ``module.parametrizations.weight.original``. A no-op
    when ``enabled`` is false.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> lin = with_spectral_norm(nn.Linear(8, 8))
        >>> for _ in range(50):
        ...     _ = lin(torch.zeros(1, 8))
        >>> round(float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2)), 3)
        1.0
    """
    return parametrizations.spectral_norm(module) if enabled else module


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without affine, then a per-sample scale and shift chosen by the class.

    ``out = BN(x) · γ(c) + β(c)``. With ``n_classes`` (de Vries et al. 2017; Miyato & Koyama
    2018), ``c`` is the label ``(B,)`` and γ, β are per-class tables initialised to 1 and 0.
    With ``embed_dim`` (BigGAN's shared class embedding, Brock et al. 2019), ``c`` is a class
    embedding ``(B, E)`` and γ = 1 + W_γ c + b_γ, β = W_β c + b_β.

    Args:
        num_features: channels ``C``.
        n_classes: number of classes (label mode); exactly one of ``n_classes``/``embed_dim``.
        embed_dim: size of the shared embedding (embedding mode).
        spectral_norm: spectral norm on W_γ, W_β (embedding mode; BigGAN's G uses it).
        init: ``"xavier"`` or ``"orthogonal"`` for W_γ, W_β.

    Example:
        >>> cbn = ConditionalBatchNorm2d(4, n_classes=3)
        >>> tuple(cbn(torch.randn(5, 4, 2, 2), torch.tensor([0, 1, 2, 0, 1])).shape)
        (5, 4, 2, 2)
    """

    def __init__(
        self, num_features: int, *, n_classes: int = 0, embed_dim: int = 0,
        spectral_norm: bool = False, init: str = "xavier",
    ):  # fmt: skip
        super().__init__()
        _check_count("num_features", num_features, minimum=1)
        _check_count("n_classes", n_classes, minimum=0)
        _check_count("embed_dim", embed_dim, minimum=0)
        _check_init(init)
        if (n_classes > 0) == (embed_dim > 0):
            raise ValueError(
                f"give exactly one of n_classes and embed_dim; got {n_classes}, {embed_dim}"
            )
        self.n_classes, self.embed_dim = n_classes, embed_dim
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        if n_classes:
            self.gain = nn.Embedding(n_classes, num_features)
            self.shift = nn.Embedding(n_classes, num_features)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.shift.weight)
        else:
            # γ = 1 + W_γ c (BigGAN's ccbn), so the layer starts close to plain batch norm.
            self.gain = with_spectral_norm(
                init_layer(nn.Linear(embed_dim, num_features), init), spectral_norm
            )
            self.shift = with_spectral_norm(
                init_layer(nn.Linear(embed_dim, num_features), init), spectral_norm
            )

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Batch-normalised ``x`` with a gain and shift computed from the condition ``c``."""
        gamma, beta = self.gain(c), self.shift(c)
        if self.embed_dim:
            gamma = gamma + 1
        h = self.bn(x)
        # under autocast h is bf16: float32 tables would promote the output and cast it back at
        # the next convolution, four copies of the largest activation per step
        gamma, beta = gamma.to(h.dtype), beta.to(h.dtype)
        return torch.addcmul(beta[:, :, None, None], h, gamma[:, :, None, None])


class ProjectionHead(nn.Module):
    """The projection discriminator's output (Miyato & Koyama 2018).

    ``logit(φ, y) = ψ(φ) + ⟨e(y), φ⟩`` with ψ a linear map to one logit (no bias, as in the
    official ``sngan_projection`` code) and ``e`` a class embedding; both spectrally normalised.
    ``φ`` are the discriminator's pooled features ``(B, C)``; without classes only ψ is used.

    Example:
        >>> head = ProjectionHead(6, n_classes=4)
        >>> tuple(head(torch.randn(3, 6), torch.tensor([0, 3, 1])).shape)
        (3,)
    """

    def __init__(
        self, in_features: int, n_classes: int = 0, *, spectral_norm: bool = True,
        init: str = "xavier",
    ):  # fmt: skip
        super().__init__()
        _check_count("in_features", in_features, minimum=1)
        _check_count("n_classes", n_classes, minimum=0)
        self.n_classes = n_classes
        self.psi = with_spectral_norm(
            init_layer(nn.Linear(in_features, 1, bias=False), init), spectral_norm
        )
        self.embed = None
        if n_classes:
            self.embed = with_spectral_norm(
                init_layer(nn.Embedding(n_classes, in_features), init), spectral_norm
            )

    def forward(self, phi: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits ``(B,)`` from features ``phi``, plus the projection term for labels ``y``."""
        if self.embed is None:
            return self.psi(phi).squeeze(-1)
        # one product with [ψ; e(0..K-1)] and a gather: ⟨e(y), φ⟩ as a matrix product (bf16
        # under autocast), not a float32 (B, C) elementwise product, its casts and its sum
        scores = F.linear(phi, torch.cat([self.psi.weight, self.embed.weight]))
        return scores[:, 0] + scores[:, 1:].gather(1, y[:, None]).squeeze(1)


class SelfAttention2d(nn.Module):
    """Self-attention over positions (SAGAN, Zhang et al. 2019; BigGAN's form), residual.

    ``θ = W_θ x`` (C/8 channels), ``φ = maxpool(W_φ x)`` (C/8), ``g = maxpool(W_g x)`` (C/2);
    ``β = softmax_j(θ_iᵀ φ_j)``; ``out = x + γ · W_o (g βᵀ)`` with γ a scalar starting at 0, so
    the block starts as the identity. 1×1 convolutions without bias, spectrally normalised.
    The 2×2 max-pool of keys/values is skipped on maps smaller than 2×2.

    Example:
        >>> att = SelfAttention2d(16)
        >>> x = torch.randn(2, 16, 4, 4)
        >>> torch.equal(att(x), x)          # γ = 0 at initialisation
        True
    """

    def __init__(self, channels: int, *, spectral_norm: bool = True, init: str = "xavier"):
        super().__init__()
        _check_count("channels", channels, minimum=8)
        c8, c2 = channels // 8, channels // 2
        conv = lambda a, b: with_spectral_norm(  # noqa: E731
            init_layer(nn.Conv2d(a, b, 1, bias=False), init), spectral_norm
        )
        self.theta, self.phi, self.g, self.o = conv(channels, c8), conv(channels, c8), \
            conv(channels, c2), conv(c2, channels)  # fmt: skip
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` plus its gated self-attention output, same shape."""
        b, c, h, w = x.shape
        theta = self.theta(x).flatten(2)  # (B, C/8, HW)
        phi, g = self.phi(x), self.g(x)
        if h >= 2 and w >= 2:
            phi, g = F.max_pool2d(phi, 2), F.max_pool2d(g, 2)
        beta = torch.softmax(theta.transpose(1, 2) @ phi.flatten(2), dim=-1)  # (B, HW, HW')
        o = (g.flatten(2) @ beta.transpose(1, 2)).view(b, c // 2, h, w)
        return x + self.gamma * self.o(o)
