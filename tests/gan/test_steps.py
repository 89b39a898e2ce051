"""The G step: exactly G's gradients of its loss through D, and D's gradients left alone."""

from __future__ import annotations

import contextlib
import copy
import types

import torch

from gan.losses import get_loss
from gan.models import MLPDiscriminator, MLPGenerator
from gan.training.steps import move_g


def test_move_g_gives_gs_gradients_and_leaves_ds_alone():
    torch.manual_seed(0)
    g, d = MLPGenerator(3, 2, hidden=8, layers=2), MLPDiscriminator(2, hidden=8, layers=2)
    z = torch.randn(16, 3)
    g_ref, d_ref = copy.deepcopy(g), copy.deepcopy(d)
    loss = get_loss("ns")
    want = torch.autograd.grad(loss.g_loss(d_ref(g_ref(z))), list(g_ref.parameters()))
    marks = [torch.full_like(p, 7.0) for p in d.parameters()]  # D's step left these
    for p, m in zip(d.parameters(), marks, strict=True):
        p.grad = m.clone()
    nets = types.SimpleNamespace(
        g=g, d=d, g_params=list(g.parameters()), d_params=list(d.parameters()), d_fwd=d,
        aug=None, amp=contextlib.nullcontext(), ema=None,
        opt_g=torch.optim.SGD(g.parameters(), lr=0.0))  # fmt: skip
    run = types.SimpleNamespace(loss=loss, world=1)
    out = move_g(run, nets, g(z), None)
    assert float(out) == float(loss.g_loss(d_ref(g_ref(z))))
    for p, w in zip(g.parameters(), want, strict=True):
        torch.testing.assert_close(p.grad, w, rtol=1e-6, atol=1e-7)
    for p, m in zip(d.parameters(), marks, strict=True):
        assert torch.equal(p.grad, m) and p.requires_grad
