"""Array-like in, the same kind out: the public types agree with what the functions return.

mypy checks this file (``make lint``/``make test``): each ``assert_type`` is the static type
of a call; pytest runs it and checks the run-time kind of the same call.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from typing_extensions import assert_type

import divergences as dv
from divergences._typing import NumpyResult

P, Q = [0.5, 0.5], [0.25, 0.75]


def test_discrete_divergences_answer_in_kind() -> None:
    t, u = torch.tensor(P), torch.tensor(Q)
    a = assert_type(dv.kl(t, u), torch.Tensor)
    b = assert_type(dv.kl(P, Q), NumpyResult)
    c = assert_type(dv.js(np.array(P), u, normalize=True), torch.Tensor)
    d = assert_type(dv.f_divergence(P, Q, "kl"), NumpyResult)
    e = assert_type(dv.alpha_divergence(t, Q, alpha=0.5), torch.Tensor)
    assert isinstance(a, torch.Tensor) and isinstance(c, torch.Tensor)
    assert isinstance(e, torch.Tensor)
    assert isinstance(b, float) and isinstance(d, float) and b == d
    pp: npt.NDArray[np.float64] = np.array([P, Q])
    qq: npt.NDArray[np.float64] = np.array([Q, Q])
    rows = assert_type(dv.tv(pp, qq), NumpyResult)
    assert isinstance(rows, np.ndarray) and rows.shape == (2,)


def test_gaussians_and_sets_answer_in_kind() -> None:
    mu, cov = np.zeros(2), np.eye(2)
    g = assert_type(dv.gaussian_kl(mu, cov, mu + 1, cov), NumpyResult)
    h = assert_type(dv.frechet_distance(torch.zeros(2), torch.eye(2), mu, cov), torch.Tensor)
    r = assert_type(dv.gaussian_renyi(mu, cov, mu, 2 * cov, 0.5), NumpyResult)
    assert isinstance(g, float) and isinstance(r, float) and isinstance(h, torch.Tensor)
    x = np.random.default_rng(0).normal(size=(5, 2))
    c = assert_type(dv.chamfer(x, x + 1), NumpyResult)
    m = assert_type(dv.mmd2(torch.from_numpy(x), torch.from_numpy(x + 1)), torch.Tensor)
    w = assert_type(dv.wasserstein(x, x + 1), NumpyResult)
    assert isinstance(c, float) and isinstance(w, float) and isinstance(m, torch.Tensor)
    hx = assert_type(dv.hausdorff(x, torch.from_numpy(x + 1)), torch.Tensor)  # a mix: torch out
    assert isinstance(hx, torch.Tensor) and float(hx) == dv.hausdorff(x, x + 1)


def test_transport_answers_in_kind() -> None:
    x = np.random.default_rng(0).normal(size=(5, 2))
    s = assert_type(dv.unbalanced_sinkhorn_divergence(x, x + 1, rho=1.0, eps=0.5), NumpyResult)
    u = assert_type(
        dv.unbalanced_sinkhorn_divergence(torch.from_numpy(x), x, rho=1.0), torch.Tensor
    )
    t = assert_type(dv.transport(x, x + 1), dv.Transport)
    assert isinstance(s, float) and isinstance(u, torch.Tensor) and isinstance(t.cost, float)
