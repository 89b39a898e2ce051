"""The f-divergence family as data: frozen records looked up by name.

``D_f(P‖Q) = E_Q[f(p/q)] = Σ_i q_i f(p_i / q_i)`` for a convex generator ``f`` with ``f(1) = 0``,
with the conventions ``0·f(0/0) = 0`` and ``q = 0 < p`` giving ``p · lim_{u→∞} f(u)/u``. All
divergences are in nats.

Each :class:`FDivergence` carries the generator ``f``, its convex conjugate
``f*(t) = sup_{u ≥ 0} (u t − f(u))`` (exact on ``u ≥ 0``; where Nowozin et al. extend ``f`` to
``u < 0`` their ``f*`` is larger, so ours gives a tighter variational bound), the closure of
``dom f*``, the f-GAN output activation ``g_f: R → dom f*`` and the constants ``f'(1)``,
``f(0)``, ``lim f(u)/u``. Variational bound: ``D_f(P‖Q) ≥ E_P[g_f(V)] − E_Q[f*(g_f(V))]`` for any
critic ``V``, with equality at ``g_f(V) = f'(p/q)``.

Our scalings (nats): ``js`` is the Jensen–Shannon divergence (≤ log 2; Nowozin's table lists
2·JS), ``hellinger2 = 1 − Σ√(pq)`` (Nowozin lists twice this), ``tv = ½‖p − q‖₁``, and ``gan``
is ``2·JS − log 4`` (its ``f(1) = −log 4``, recorded in ``f_at_1``). Rescaled conjugates follow
``(c·f)*(t) = c·f*(t/c)``.

Reference: Nowozin, Cseke, Tomioka, "f-GAN: Training Generative Neural Samplers using
Variational Divergence Minimization", NeurIPS 2016, Table 2 (conjugates and activations).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from divergences.fdiv import _closed as _c
from divergences.fdiv._numeric import infer_properties, numeric_conjugate

__all__ = [
    "FDivergence",
    "f_divergence_names",
    "from_generator",
    "get_f_divergence",
]

_LOG2 = math.log(2.0)
_INF = math.inf


@dataclass(frozen=True, kw_only=True)
class FDivergence:
    """One member of the f-divergence family (a frozen record).

    Attributes:
        name: registry name (e.g. ``"js"``, ``"alpha"``).
        f: generator ``f(u)`` for ``u ≥ 0``, elementwise, convex; ``f(0)`` is the limit.
        conjugate: ``f*(t) = sup_{u≥0}(u t − f(u))`` elementwise, ``+inf`` outside ``domain``.
        domain: closure of ``dom f*`` as ``(lo, hi)``; always ``(-inf, slope_at_inf)``.
        activation: f-GAN output activation ``g_f: R → dom f*``.
        f_prime_at_1: ``f'(1)`` (0 for ``tv``, the midpoint of its subdifferential).
        f_at_0: ``lim_{u→0+} f(u)`` (may be ``inf``); gives the ``p = 0 < q`` term ``q·f(0)``.
        slope_at_inf: ``lim_{u→∞} f(u)/u`` (may be ``inf``); gives the ``q = 0 < p`` term.
        strictly_convex: whether ``f`` is strictly convex (then ``D = 0`` only for ``P = Q``).
        symmetric: whether ``D(P‖Q) = D(Q‖P)``.
        description: one line for humans.
        aliases: other registry names.
        params: parameters, e.g. ``(("alpha", 0.5),)``.
        f_at_1: ``f(1)``, i.e. ``D(P‖P)``; 0 except for ``gan`` (``−log 4``).
        conj_act: optional stable closed form of ``v ↦ f*(g_f(v))`` (composing the two loses
            precision where ``g_f`` saturates at an open end of ``dom f*``); use
            :meth:`conjugate_of_activation`, which falls back to the composition.

    Example:
        >>> import torch
        >>> js = get_f_divergence("js")
        >>> round(float(js.f(torch.tensor(0.0))), 4)  # f(0) = ½ log 2
        0.3466
        >>> js.domain[1] == js.slope_at_inf
        True
    """

    name: str
    f: Callable[[Tensor], Tensor] = field(repr=False)
    conjugate: Callable[[Tensor], Tensor] = field(repr=False)
    domain: tuple[float, float]
    activation: Callable[[Tensor], Tensor] = field(repr=False)
    f_prime_at_1: float
    f_at_0: float
    slope_at_inf: float
    strictly_convex: bool
    symmetric: bool
    description: str = ""
    aliases: tuple[str, ...] = ()
    params: tuple[tuple[str, float], ...] = ()
    f_at_1: float = 0.0
    conj_act: Callable[[Tensor], Tensor] | None = field(default=None, repr=False)

    def conjugate_of_activation(self, v: Tensor) -> Tensor:
        """``f*(g_f(v))`` elementwise, finite for every finite ``v`` (stable form if known).

        Example:
            >>> import torch
            >>> js = get_f_divergence("js")
            >>> bool(torch.isfinite(js.conjugate_of_activation(torch.tensor(50.0))))
            True
        """
        if self.conj_act is not None:
            return self.conj_act(v)
        return self.conjugate(self.activation(v))

    def variational_bound(self, v_p: Tensor, v_q: Tensor) -> Tensor:
        """f-GAN lower bound ``mean g_f(v_p) − mean f*(g_f(v_q))`` from raw critic outputs.

        Args:
            v_p: critic outputs on samples of P, shape (N,).
            v_q: critic outputs on samples of Q, shape (M,).

        Returns:
            0-d tensor, a lower bound on ``D_f(P‖Q)`` in expectation (Nowozin et al. 2016, eq. 6).

        Example:
            >>> import torch
            >>> b = get_f_divergence("kl").variational_bound(torch.zeros(4), torch.zeros(4))
            >>> round(float(b), 4)  # T = 0: 0 − e^{−1}
            -0.3679
        """
        return self.activation(v_p).mean() - self.conjugate_of_activation(v_q).mean()


@functools.lru_cache(maxsize=64)
def _alpha_record(alpha: float) -> FDivergence:
    slope = _INF if alpha > 1 else 1.0 / (1.0 - alpha)
    return FDivergence(
        name="alpha",
        f=functools.partial(_c.alpha_f, alpha=alpha),
        conjugate=functools.partial(_c.alpha_conj, alpha=alpha),
        domain=(-_INF, slope),
        activation=functools.partial(_c.alpha_act, alpha=alpha),
        f_prime_at_1=0.0,
        f_at_0=1.0 / alpha if alpha > 0 else _INF,
        slope_at_inf=slope,
        strictly_convex=True,
        symmetric=alpha == 0.5,
        description=f"alpha-divergence (Amari), alpha = {alpha:g}",
        params=(("alpha", alpha),),
        conj_act=None if alpha > 1 else functools.partial(_c.alpha_conj_act, alpha=alpha),
    )


def _member(*, slope_at_inf: float, **fields: Any) -> FDivergence:
    """A built-in member; ``dom f*`` is always ``(-inf, lim f(u)/u)``."""
    return FDivergence(domain=(-_INF, slope_at_inf), slope_at_inf=slope_at_inf, **fields)


_HALF_LOG2 = 0.5 * _LOG2
_BUILTIN: dict[str, FDivergence] = {
    r.name: r
    for r in (
        _member(
            name="kl",
            f=_c.kl_f,
            conjugate=_c.kl_conj,
            activation=_c.identity,
            f_prime_at_1=1.0,
            f_at_0=0.0,
            slope_at_inf=_INF,
            strictly_convex=True,
            symmetric=False,
            description="Kullback-Leibler KL(P||Q), f = u log u",
            aliases=("kullback_leibler",),
        ),
        _member(
            name="reverse_kl",
            f=_c.rkl_f,
            conjugate=_c.rkl_conj,
            activation=_c.rkl_act,
            f_prime_at_1=-1.0,
            f_at_0=_INF,
            slope_at_inf=0.0,
            strictly_convex=True,
            symmetric=False,
            description="reverse KL, KL(Q||P), f = -log u",
            conj_act=_c.rkl_conj_act,
        ),
        _member(
            name="js",
            f=_c.js_f,
            conjugate=_c.js_conj,
            activation=_c.js_act,
            f_prime_at_1=0.0,
            f_at_0=_HALF_LOG2,
            slope_at_inf=_HALF_LOG2,
            strictly_convex=True,
            symmetric=True,
            description="Jensen-Shannon divergence (<= log 2)",
            aliases=("jensen_shannon",),
            conj_act=_c.js_conj_act,
        ),
        _member(
            name="gan",
            f=_c.gan_f,
            conjugate=_c.gan_conj,
            activation=F.logsigmoid,
            f_prime_at_1=-_LOG2,
            f_at_0=0.0,
            slope_at_inf=0.0,
            strictly_convex=True,
            symmetric=True,
            description="GAN divergence 2 JS - log 4 (Goodfellow et al. 2014)",
            aliases=(),
            f_at_1=-2.0 * _LOG2,
            conj_act=_c.softplus,
        ),
        _member(
            name="tv",
            f=_c.tv_f,
            conjugate=_c.tv_conj,
            activation=_c.tv_act,
            f_prime_at_1=0.0,
            f_at_0=0.5,
            slope_at_inf=0.5,
            strictly_convex=False,
            symmetric=True,
            description="total variation 1/2 ||p - q||_1 (<= 1)",
            aliases=("total_variation",),
        ),
        _member(
            name="pearson",
            f=_c.pearson_f,
            conjugate=_c.pearson_conj,
            activation=_c.identity,
            f_prime_at_1=0.0,
            f_at_0=1.0,
            slope_at_inf=_INF,
            strictly_convex=True,
            symmetric=False,
            description="Pearson chi^2, sum (p - q)^2 / q",
            aliases=("chi2", "pearson_chi2"),
        ),
        _member(
            name="neyman",
            f=_c.neyman_f,
            conjugate=_c.neyman_conj,
            activation=_c.one_minus_exp,
            f_prime_at_1=0.0,
            f_at_0=_INF,
            slope_at_inf=1.0,
            strictly_convex=True,
            symmetric=False,
            description="Neyman chi^2, sum (p - q)^2 / p",
            aliases=("neyman_chi2",),
            conj_act=_c.neyman_conj_act,
        ),
        _member(
            name="hellinger2",
            f=_c.hellinger2_f,
            conjugate=_c.hellinger2_conj,
            activation=_c.hellinger2_act,
            f_prime_at_1=0.0,
            f_at_0=0.5,
            slope_at_inf=0.5,
            strictly_convex=True,
            symmetric=True,
            description="squared Hellinger 1 - sum sqrt(pq) (<= 1)",
            aliases=("squared_hellinger",),
            conj_act=_c.hellinger2_conj_act,
        ),
        _member(
            name="jeffreys",
            f=_c.jeffreys_f,
            conjugate=_c.jeffreys_conj,
            activation=_c.identity,
            f_prime_at_1=0.0,
            f_at_0=_INF,
            slope_at_inf=_INF,
            strictly_convex=True,
            symmetric=True,
            description="Jeffreys KL(P||Q) + KL(Q||P)",
        ),
        _member(
            name="triangular",
            f=_c.triangular_f,
            conjugate=_c.triangular_conj,
            activation=_c.triangular_act,
            f_prime_at_1=0.0,
            f_at_0=1.0,
            slope_at_inf=1.0,
            strictly_convex=True,
            symmetric=True,
            description="triangular discrimination sum (p - q)^2 / (p + q) (<= 2)",
        ),
    )
}
_ALIASES = {a: r.name for r in _BUILTIN.values() for a in r.aliases}


def f_divergence_names() -> tuple[str, ...]:
    """Registry names accepted by :func:`get_f_divergence` (aliases not included).

    Example:
        >>> "js" in f_divergence_names() and "alpha" in f_divergence_names()
        True
    """
    return (*_BUILTIN, "alpha")


def get_f_divergence(name: str | FDivergence, **params: float) -> FDivergence:
    """Look up a member of the family by name.

    ``get_f_divergence("alpha", alpha=a)`` takes any finite real ``a``; ``a = 1`` returns the
    ``kl`` record and ``a = 0`` the ``reverse_kl`` record (its limits, equal as divergences
    between probability vectors). A record passed in is returned unchanged.

    Args:
        name: a registry name (see :func:`names`) or alias, or an :class:`FDivergence`.
        **params: parameters of the member (only ``alpha`` for ``"alpha"``).

    Returns:
        The :class:`FDivergence` record.

    Raises:
        ValueError: unknown name (the message lists the valid ones), a missing or bad
            parameter.

    Example:
        >>> get_f_divergence("js").name, get_f_divergence("alpha", alpha=1.0).name
        ('js', 'kl')
    """
    if isinstance(name, FDivergence):
        if params:
            raise ValueError(f"parameters {sorted(params)} given with a record; build it instead")
        return name
    if not isinstance(name, str):
        raise TypeError(f"name must be a string or FDivergence, got {type(name).__name__}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key == "alpha":
        if set(params) != {"alpha"}:
            raise ValueError(f"'alpha' takes exactly one parameter alpha=..., got {sorted(params)}")
        a = check_alpha(params["alpha"])
        if a == 1.0:
            return _BUILTIN["kl"]
        if a == 0.0:
            return _BUILTIN["reverse_kl"]
        return _alpha_record(a)
    if key not in _BUILTIN:
        raise ValueError(
            f"unknown f-divergence {name!r}; valid names: {', '.join(f_divergence_names())}"
        )
    if params:
        raise ValueError(f"{key!r} takes no parameters, got {sorted(params)}")
    return _BUILTIN[key]


def check_alpha(alpha: object, name: str = "alpha") -> float:
    """Return ``alpha`` as a float if it is a finite real number, else raise."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(alpha).__name__}")
    a = float(alpha)
    if not math.isfinite(a):
        raise ValueError(f"{name} must be finite, got {a}")
    return a


def from_generator(
    name: str,
    f: Callable[[Tensor], Tensor],
    *,
    conjugate: Callable[[Tensor], Tensor] | None = None,
    activation: Callable[[Tensor], Tensor] | None = None,
    f_at_0: float | None = None,
    slope_at_inf: float | None = None,
    f_prime_at_1: float | None = None,
    strictly_convex: bool | None = None,
    symmetric: bool | None = None,
    description: str = "",
) -> FDivergence:
    """Define a member of the family from its generator ``f`` alone.

    ``f`` is checked numerically (``f(1) = 0``, convex on a log grid of ``u``, finite on
    ``(0, ∞)``, not NaN at 0). Constants not given are estimated: ``f(0)`` by evaluation,
    ``lim f(u)/u`` from ``u = 1e75, 1e100`` (still growing → ``inf``), ``f'(1)`` by central
    differences, strict convexity and symmetry (``f(u) − u f(1/u)`` linear) on a grid. Without
    ``conjugate``, ``f*(t) = sup_{u≥0}(u t − f(u))`` is computed by vectorised bisection on
    ``f'(u) = t`` over ``log u ∈ [−230, 230]`` (``f'`` by autograd; differentiable in ``t`` with
    gradient ``u*``; ``+inf`` for ``t ≥ lim f(u)/u``; warns if the maximiser lies outside).
    Without ``activation``, ``g_f(v) = v`` if ``dom f* = R``, else ``hi − softplus(−v)``
    (Nowozin et al. 2016, §2.4).

    Args:
        name: a name for the record.
        f: torch-elementwise generator, convex on ``[0, ∞)`` with ``f(1) = 0``.
        conjugate: closed-form ``f*`` (``+inf`` outside its domain), if known.
        activation: output activation ``R → dom f*``, if wanted.
        f_at_0: ``lim_{u→0+} f(u)`` if ``f(0)`` cannot be evaluated as the limit.
        slope_at_inf: ``lim_{u→∞} f(u)/u`` if known (overrides the estimate).
        f_prime_at_1: ``f'(1)`` if known.
        strictly_convex: override the grid estimate (checked on ``u ∈ [0.1, 10]``).
        symmetric: override the grid estimate.
        description: one line for humans.

    Returns:
        An :class:`FDivergence`.

    Example:
        >>> import torch
        >>> sq = from_generator("half_pearson", lambda u: 0.5 * (u - 1) ** 2)
        >>> round(float(sq.conjugate(torch.tensor(1.0))), 4)  # t + t²/2 at t = 1
        1.5
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name must be a non-empty string")
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    props = infer_properties(f, name)
    if f_at_0 is not None:
        props["f_at_0"] = float(f_at_0)
    if slope_at_inf is not None:
        props["slope_at_inf"] = float(slope_at_inf)
    if f_prime_at_1 is not None:
        props["f_prime_at_1"] = float(f_prime_at_1)
    if strictly_convex is not None:
        props["strictly_convex"] = bool(strictly_convex)
    if symmetric is not None:
        props["symmetric"] = bool(symmetric)
    slope = float(props["slope_at_inf"])
    f0 = float(props["f_at_0"])
    if conjugate is None:

        def conjugate(t: Tensor) -> Tensor:
            return numeric_conjugate(f, t, slope_at_inf=slope, f_at_0=f0)

    if activation is None:
        if math.isinf(slope):
            activation = _c.identity
        else:

            def activation(v: Tensor) -> Tensor:
                return slope - F.softplus(-v)

    return FDivergence(
        name=name,
        f=f,
        conjugate=conjugate,
        domain=(-_INF, slope),
        activation=activation,
        f_prime_at_1=float(props["f_prime_at_1"]),
        f_at_0=f0,
        slope_at_inf=slope,
        strictly_convex=bool(props["strictly_convex"]),
        symmetric=bool(props["symmetric"]),
        description=description or f"user-defined f-divergence {name!r}",
    )
