"""Differentiable augmentation for GAN training on small data sets.

:func:`diff_augment` is DiffAugment (Zhao et al. 2020; the authors' ``DiffAugment_pytorch.py``
in ``mit-han-lab/data-efficient-gans``): colour (brightness, saturation, contrast),
translation by up to 1/8 of the side with zero fill, and cutout of a square half the side,
each drawn independently per sample and differentiable in the images. With ``p < 1`` each
transform is applied to each sample with probability ``p`` (the ADA form, Karras et al. 2020);
:class:`AdaptiveProbability` adjusts ``p`` from the discriminator's outputs on real images.

How a trainer calls it (as the paper does): the same policy on every image D sees — real
images in D's step, generated images in both D's and G's steps — with fresh, independent draws
for each batch: ``D(aug(real))``, ``D(aug(G(z)))``, and G's loss on ``D(aug(G(z)))`` so
gradients flow through the augmentation into G. :class:`DiffAugment` holds its own seeded
generator, so successive calls draw independently and a run is reproducible.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["POLICIES", "AdaptiveProbability", "DiffAugment", "diff_augment"]

POLICIES = ("color", "translation", "cutout")


def _parse_policy(policy) -> tuple[str, ...]:
    if isinstance(policy, str):
        names = tuple(p.strip() for p in policy.split(",") if p.strip())
    elif isinstance(policy, (list, tuple)) and all(isinstance(p, str) for p in policy):
        names = tuple(policy)
    else:
        raise TypeError(f"policy must be a comma-separated string or a list of names, got "
                        f"{type(policy).__name__}")  # fmt: skip
    bad = [n for n in names if n not in POLICIES]
    if bad:
        raise ValueError(f"policy names must be among {POLICIES}; got {bad}")
    return names


def _check_probability(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be a number in [0, 1], got {p!r}")
    return float(p)


def _check_images(x) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point tensor of images (B, C, H, W)")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")


def _check_ratio(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def _rand(shape, x: Tensor, gen: torch.Generator) -> Tensor:
    # Draw on the generator's device so one CPU generator serves any device.
    return torch.rand(shape, generator=gen, device=gen.device, dtype=x.dtype).to(x.device)


def _randint(low: int, high: int, shape, x: Tensor, gen: torch.Generator) -> Tensor:
    return torch.randint(low, high, shape, generator=gen, device=gen.device).to(x.device)


def _gate(b: int, p: float, x: Tensor, gen: torch.Generator) -> Tensor | None:
    """Per-sample 0/1 mask (B,) with P(1) = p; None when every sample is augmented."""
    return None if p >= 1.0 else (_rand((b,), x, gen) < p).to(x.dtype)


def _color(x: Tensor, p: float, gen: torch.Generator) -> Tensor:
    b = x.shape[0]
    m = _gate(b, p, x, gen)
    shift = _rand((b, 1, 1, 1), x, gen) - 0.5  # brightness in [-0.5, 0.5)
    sat = _rand((b, 1, 1, 1), x, gen) * 2  # saturation in [0, 2)
    con = _rand((b, 1, 1, 1), x, gen) + 0.5  # contrast in [0.5, 1.5)
    if m is not None:
        m = m.view(b, 1, 1, 1)
        shift, sat, con = shift * m, 1 + m * (sat - 1), 1 + m * (con - 1)
    x = x + shift
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * sat + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * con + mean


def _translation(x: Tensor, p: float, ratio: float, gen: torch.Generator) -> Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    m = _gate(b, p, x, gen)
    tx = _randint(-sh, sh + 1, (b, 1, 1), x, gen)
    ty = _randint(-sw, sw + 1, (b, 1, 1), x, gen)
    if m is not None:
        keep = m.view(b, 1, 1).to(torch.long)
        tx, ty = tx * keep, ty * keep
    dev = x.device
    # Pixels shifted in from outside read the zero border of a 1-pixel padding.
    gx = (torch.arange(h, device=dev).view(1, h, 1) + tx + 1).clamp(0, h + 1)
    gy = (torch.arange(w, device=dev).view(1, 1, w) + ty + 1).clamp(0, w + 1)
    xp = torch.nn.functional.pad(x, [1, 1, 1, 1])
    bi = torch.arange(b, device=dev).view(b, 1, 1)
    return xp.permute(0, 2, 3, 1)[bi, gx, gy].permute(0, 3, 1, 2)


def _cutout(x: Tensor, p: float, ratio: float, gen: torch.Generator) -> Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    m = _gate(b, p, x, gen)
    ox = _randint(0, h + (1 - ch % 2), (b, 1, 1), x, gen)
    oy = _randint(0, w + (1 - cw % 2), (b, 1, 1), x, gen)
    dev = x.device
    rows = torch.arange(h, device=dev).view(1, h, 1) - (ox - ch // 2)
    cols = torch.arange(w, device=dev).view(1, 1, w) - (oy - cw // 2)
    hole = ((rows >= 0) & (rows < ch) & (cols >= 0) & (cols < cw)).to(x.dtype)
    if m is not None:
        hole = hole * m.view(b, 1, 1)
    return x * (1 - hole).unsqueeze(1)


def diff_augment(
    x: Tensor, policy="color,translation,cutout", *, generator: torch.Generator, p: float = 1.0,
    translation_ratio: float = 0.125, cutout_ratio: float = 0.5,
) -> Tensor:  # fmt: skip
    """DiffAugment ``T(x)``: random, differentiable transforms of images ``(B, C, H, W)``.

    In the order of ``policy``: ``"color"`` x ← x + b, b ~ U[−½, ½); saturation
    x ← (x − mean_C x)·s + mean_C x, s ~ U[0, 2); contrast x ← (x − mean x)·c + mean x,
    c ~ U[½, 3/2) — ``"translation"`` by uniform integers in [−⌊rH⌉, ⌊rH⌉] × [−⌊rW⌉, ⌊rW⌉]
    (r = ``translation_ratio``), zeros shifted in — ``"cutout"`` zeroes a ⌊cH⌉ × ⌊cW⌉
    rectangle (c = ``cutout_ratio``, clipped at the border) at a uniform centre. Draws are per
    sample, in a fixed order from ``generator``, so the same generator state gives the same
    transforms for any batch of the same size (T is then affine in x). Values are not clipped
    (colour moves them past [−1, 1], as in the authors' code). ``p`` < 1 applies each transform
    to each sample with probability ``p``; ``p = 0`` or ``policy=""`` returns ``x`` unchanged
    and draws nothing.

    Args:
        x: images ``(B, C, H, W)``, floating point (any range; channels first).
        policy: comma-separated names among ``"color"``, ``"translation"``, ``"cutout"``.
        generator: the source of randomness (any device; draws are moved to ``x``'s).
        p: probability in [0, 1] that each transform is applied to each sample.
        translation_ratio: largest shift as a fraction of the side (the paper: 1/8).
        cutout_ratio: side of the cut-out square as a fraction of the image side (1/2).

    Returns:
        ``(B, C, H, W)``, same dtype and device, differentiable in ``x``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.rand(4, 3, 8, 8) * 2 - 1
        >>> tuple(diff_augment(x, "color,translation,cutout", generator=g).shape)
        (4, 3, 8, 8)
        >>> torch.equal(diff_augment(x, "", generator=g), x)
        True
    """
    _check_images(x)
    names = _parse_policy(policy)
    p = _check_probability(p)
    t_ratio = _check_ratio("translation_ratio", translation_ratio)
    c_ratio = _check_ratio("cutout_ratio", cutout_ratio)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if p == 0.0 or x.shape[0] == 0:
        return x
    for name in names:
        if name == "color":
            x = _color(x, p, generator)
        elif name == "translation":
            x = _translation(x, p, t_ratio, generator)
        else:
            x = _cutout(x, p, c_ratio, generator)
    return x


class DiffAugment(nn.Module):
    """:func:`diff_augment` as a module with its own seeded generator and probability ``p``.

    Each call draws new transforms (independent across calls, reproducible from ``seed``).
    ``p`` may be changed between calls (e.g. by :class:`AdaptiveProbability`); the generator's
    state and ``p`` travel in ``state_dict()`` so a resumed run continues the same stream.

    Example:
        >>> aug = DiffAugment("translation,cutout", seed=0)
        >>> x = torch.zeros(2, 1, 8, 8)
        >>> torch.equal(aug(x), x)   # zeros stay zeros
        True
    """

    def __init__(
        self, policy="color,translation,cutout", *, p: float = 1.0, seed: int = 0,
        translation_ratio: float = 0.125, cutout_ratio: float = 0.5,
    ):  # fmt: skip
        super().__init__()
        self.policy = ",".join(_parse_policy(policy))
        self.p = _check_probability(p)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.translation_ratio = _check_ratio("translation_ratio", translation_ratio)
        self.cutout_ratio = _check_ratio("cutout_ratio", cutout_ratio)
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: Tensor) -> Tensor:
        """Augment a batch ``(B, C, H, W)`` with fresh draws from this module's generator."""
        return diff_augment(
            x, self.policy, generator=self.generator, p=self.p,
            translation_ratio=self.translation_ratio, cutout_ratio=self.cutout_ratio,
        )  # fmt: skip

    def extra_repr(self) -> str:
        """The policy and probability, for ``repr``."""
        return f"policy={self.policy!r}, p={self.p}"

    def get_extra_state(self) -> dict:
        """Probability and RNG state, saved in ``state_dict`` so a resume continues the stream."""
        return {"p": self.p, "rng": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        """Restore what :meth:`get_extra_state` saved."""
        self.p = _check_probability(state["p"])
        self.generator.set_state(state["rng"].cpu())  # a checkpoint may be mapped to a GPU


class AdaptiveProbability:
    """ADA's controller of the augmentation probability ``p`` (Karras et al. 2020).

    The overfitting heuristic r_t = E[sign(D(x_real))] is accumulated over ``interval``
    calls of :meth:`update`; then ``p ← clip(p + sign(r_t − target) · n / (ada_kimg · 1000),
    0, 1)`` with n the number of real images seen since the last adjustment, so ``p`` can
    go from 0 to 1 in ``ada_kimg`` thousand images (the paper: target 0.6, 500 kimg, every 4
    minibatches). Sums stay on the logits' device; one host sync per adjustment.

    Example:
        >>> ada = AdaptiveProbability(interval=1, ada_kimg=1)
        >>> ada.update(torch.ones(500))    # D is sure of every real image: r_t = 1 > 0.6
        0.5
        >>> ada.update(-torch.ones(500))   # r_t = -1 < 0.6
        0.0
    """

    def __init__(
        self, *, target: float = 0.6, ada_kimg: float = 500.0, interval: int = 4, p: float = 0.0,
    ):  # fmt: skip
        for name, v in (("target", target), ("ada_kimg", ada_kimg)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TypeError(f"{name} must be a finite number, got {v!r}")
        if not -1.0 <= target <= 1.0:
            raise ValueError(f"target must be in [-1, 1] (r_t is a mean of signs), got {target}")
        if ada_kimg <= 0:
            raise ValueError(f"ada_kimg must be > 0, got {ada_kimg}")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be an int >= 1, got {interval!r}")
        self.target, self.ada_kimg, self.interval = float(target), float(ada_kimg), interval
        self.p = _check_probability(p)
        self.r_t: float | None = None
        self._sum: Tensor | None = None
        self._n = 0
        self._calls = 0

    def update(self, real_logits: Tensor) -> float:
        """Accumulate sign(D(real)) of one minibatch; adjust ``p`` every ``interval`` calls.

        Args:
            real_logits: D's raw outputs on (augmented) real images, any shape.

        Returns:
            The current ``p``.
        """
        if not isinstance(real_logits, Tensor):
            raise TypeError("real_logits must be a tensor")
        if real_logits.numel() == 0:
            raise ValueError("real_logits is empty")
        t = real_logits.detach()
        # torch.sign(nan) is 0: keep NaN visible so a diverged D is reported, not averaged away.
        s = torch.where(torch.isnan(t), t, torch.sign(t)).sum().to(torch.float64)
        self._sum = s if self._sum is None else self._sum + s
        self._n += real_logits.numel()
        self._calls += 1
        if self._calls >= self.interval:
            r_t = float(self._sum) / self._n
            if not math.isfinite(r_t):
                raise ValueError("real_logits hold NaN: cannot adjust the probability")
            step = math.copysign(self._n / (self.ada_kimg * 1000.0), r_t - self.target)
            if r_t == self.target:
                step = 0.0
            self.p = min(1.0, max(0.0, self.p + step))
            self.r_t = r_t
            self._sum, self._n, self._calls = None, 0, 0
        return self.p

    def state_dict(self) -> dict:
        """Everything needed to resume (pending sums are folded in as a Python float)."""
        pending = 0.0 if self._sum is None else float(self._sum)
        return {"p": self.p, "r_t": self.r_t, "sum": pending, "n": self._n, "calls": self._calls}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.p = _check_probability(state["p"])
        self.r_t = state["r_t"]
        self._n, self._calls = int(state["n"]), int(state["calls"])
        self._sum = torch.tensor(float(state["sum"]), dtype=torch.float64) if self._n else None
