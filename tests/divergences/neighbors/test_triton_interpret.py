"""The Triton k-NN kernel run on CPU by Triton's interpreter (TRITON_INTERPRET=1).

Skipped when triton is not installed. Sizes are small: the interpreter runs the kernel in
NumPy, one program at a time.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from divergences.neighbors import knn

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed", allow_module_level=True)
if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
    # triton reads the switch when it is first imported
    pytest.skip("triton was imported before TRITON_INTERPRET=1 was set", allow_module_level=True)
os.environ["TRITON_INTERPRET"] = "1"  # before the first import of triton in this process


@pytest.fixture(scope="module")
def kern():
    """The kernel module, imported with the interpreter on; knn may use it on CPU tensors."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("divergences.neighbors.engine._TRITON_ON_CPU", True)
        yield importlib.import_module("divergences.neighbors._triton_kernel")


def true_topk(x, y, k, exclude_self=False):
    C = cdist(x.double().numpy(), y.double().numpy())
    if exclude_self:
        np.fill_diagonal(C, np.inf)
    return C, np.sort(C, 1)[:, :k]


@pytest.mark.parametrize("dim", [1, 3, 8, 20, 70])
@pytest.mark.parametrize("k", [1, 3])
def test_candidates_contain_true_neighbours(kern, dim, k):
    g = torch.Generator().manual_seed(dim * 10 + k)
    x = torch.randn(2, 70, dim, generator=g)
    y = torch.randn(2, 80, dim, generator=g)
    x_len, y_len = [70, 45], [80, 9]
    cand = kern.triton_knn_candidates(x, y, k, False, x_len, y_len)
    assert cand.dtype == torch.int64 and cand.shape[:2] == (2, 70) and cand.shape[2] >= k
    for b in range(2):
        n, m = x_len[b], y_len[b]
        C, ref = true_topk(x[b, :n], y[b, :m], k)
        c = cand[b, :n].numpy()
        assert c.min() >= 0 and c.max() < m
        best = np.sort(np.take_along_axis(C, c, 1), 1)[:, :k]
        np.testing.assert_allclose(best, ref, rtol=1e-6)
        assert (cand[b, n:] == -1).all()


def test_exclude_self_with_duplicates(kern):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 50, 4, generator=g)
    x[0, 10:15] = x[0, 0]
    cand = kern.triton_knn_candidates(x, x, 2, True, [50], [50])[0]
    assert not (cand == torch.arange(50).view(-1, 1)).any()
    C, ref = true_topk(x[0], x[0], 2, exclude_self=True)
    best = np.sort(np.take_along_axis(C, cand.numpy(), 1), 1)[:, :2]
    np.testing.assert_allclose(best, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dim", [3, 33])
def test_knn_engine_triton_matches_brute(kern, dim):
    g = torch.Generator().manual_seed(dim)
    x = 50.0 + torch.randn(65, dim, generator=g)  # offset: centring must work
    y = 50.0 + torch.randn(70, dim, generator=g)
    d, i = knn(x, y, 3, engine="triton")
    d2, i2 = knn(x, y, 3, engine="brute")
    torch.testing.assert_close(d, d2)
    assert torch.equal(i, i2)


def test_uncertified_rows_are_searched_again(kern):
    g = torch.Generator().manual_seed(5)
    B, N, M, D, k = 1, 20, 30, 70, 2
    x, y = torch.randn(B, N, D, generator=g), torch.randn(B, M, D, generator=g)
    yn = y.square().sum(-1)
    lens = (torch.tensor([N], dtype=torch.int32), torch.tensor([M], dtype=torch.int32))
    s, idx = kern._launch(x, y, yn, *lens, k + 4, False, "ieee")
    wrong = torch.zeros_like(idx)  # a bad candidate list with scores that cannot certify it
    fixed = kern._certify_or_redo(x, y, yn, *lens, s - 1e9, wrong, k, False, [N])
    assert torch.equal(fixed, idx)
    kept = kern._certify_or_redo(x, y, yn, *lens, s, idx, k, False, [N])
    assert torch.equal(kept, idx)  # exact scores certify themselves
