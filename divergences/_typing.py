"""The types of the public signatures: array-like in, the same kind out.

Every numeric function of the core takes tensors, NumPy arrays, nested sequences or numbers
and answers in kind (see :mod:`divergences._validation`): any tensor input gives a tensor on
its device, and inputs that are all NumPy-side give a Python float for a 0-d result, else a
NumPy array. The decorators here state that rule to a type checker once, for each arity,
while the decorated function stays what it is at run time (its signature, docstring and
keyword arguments are the implementation's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeAlias, cast, overload

import numpy as np
import torch

__all__ = ["ArrayLike", "NumpyLike", "NumpyResult", "pair_typed", "quad_typed"]

#: What the public functions accept: a tensor, a NumPy array, nested sequences of numbers or
#: a number.
ArrayLike: TypeAlias = torch.Tensor | np.ndarray | Sequence[Any] | float
#: The NumPy side of :data:`ArrayLike` (no tensor).
NumpyLike: TypeAlias = np.ndarray | Sequence[Any] | float
#: What NumPy-side inputs give: a Python float for a 0-d result, else a NumPy array.
NumpyResult: TypeAlias = float | np.ndarray

P = ParamSpec("P")


class _Pair(Protocol[P]):
    """Two inputs: both NumPy-side give NumPy-side; a tensor among them gives a tensor."""

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, a: NumpyLike, b: NumpyLike, /, *args: P.args, **kwargs: P.kwargs
    ) -> NumpyResult: ...
    @overload
    def __call__(
        self, a: ArrayLike, b: ArrayLike, /, *args: P.args, **kwargs: P.kwargs
    ) -> torch.Tensor: ...


class _Quad(Protocol[P]):
    """Four inputs (two means, two covariances), the same rule."""

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self,
        a: NumpyLike,
        b: NumpyLike,
        c: NumpyLike,
        d: NumpyLike,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> NumpyResult: ...
    @overload
    def __call__(
        self,
        a: ArrayLike,
        b: ArrayLike,
        c: ArrayLike,
        d: ArrayLike,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> torch.Tensor: ...


def pair_typed(fn: Callable[Concatenate[Any, Any, P], Any]) -> _Pair[P]:
    """State the two-input rule for ``fn`` to a type checker; ``fn`` itself is returned."""
    return cast("_Pair[P]", fn)


def quad_typed(fn: Callable[Concatenate[Any, Any, Any, Any, P], Any]) -> _Quad[P]:
    """State the four-input rule for ``fn`` to a type checker; ``fn`` itself is returned."""
    return cast("_Quad[P]", fn)
