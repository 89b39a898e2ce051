"""LeanAdam against torch's fused Adam: the same updates and state, bit for bit."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.optimizer import register_optimizer_step_pre_hook

from gan.training.adam import LeanAdam

SHAPES = [(7, 3), (7,), (1, 7), (1,)]


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in SHAPES]


def _run(opt_cls, seed, lrs, betas, missing=(), **kw):
    """Params after one step per rate in ``lrs``; on step i the params in ``missing[i]`` get no
    gradient (a frozen parameter: Adam skips it)."""
    params = _params(seed)
    opt = opt_cls(params, lr=lrs[0], betas=betas, **kw)
    g = torch.Generator().manual_seed(seed + 1)
    for i, lr in enumerate(lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        for j, p in enumerate(params):
            skip = i < len(missing) and j in missing[i]
            p.grad = None if skip else torch.randn(p.shape, generator=g) * 10.0 ** (j - 2)
        opt.step()
    return params, opt


def _same(a, b) -> None:
    for p, q in zip(a, b):
        assert torch.equal(p, q)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**16),
    lrs=st.lists(st.floats(1e-5, 1.0), min_size=1, max_size=6),
    b1=st.sampled_from([0.0, 0.5, 0.9]),
    b2=st.sampled_from([0.9, 0.99, 0.999]),
)
def test_updates_equal_torch_fused_adam_bit_for_bit(seed, lrs, b1, b2):
    lean, opt_l = _run(LeanAdam, seed, lrs, (b1, b2))
    ref, opt_r = _run(torch.optim.Adam, seed, lrs, (b1, b2), fused=True)
    _same(lean, ref)
    for p, q in zip(lean, ref):
        s, r = opt_l.state[p], opt_r.state[q]
        assert set(s) == set(r)
        for k in s:
            assert torch.equal(s[k], r[k])


def test_the_lean_path_runs_after_the_first_step(monkeypatch):
    calls = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(
        torch.optim.Adam, "step", lambda self, c=None: calls.append(1) or step(self, c)
    )
    _run(LeanAdam, 0, [1e-3] * 5, (0.5, 0.9))
    assert len(calls) == 1  # the first step creates the state: torch's own
    calls.clear()
    # a parameter without a gradient on step 3: torch's step skips it, so torch's step runs
    _run(LeanAdam, 0, [1e-3] * 5, (0.5, 0.9), missing=[(), (), (), (1,)])
    assert len(calls) == 2


def test_missing_gradients_and_hooks_fall_back_to_torch_exactly():
    missing = [(), (2,), (), (0, 3)]
    lean, _ = _run(LeanAdam, 3, [1e-2] * 6, (0.0, 0.99), missing=missing)
    ref, _ = _run(torch.optim.Adam, 3, [1e-2] * 6, (0.0, 0.99), missing=missing, fused=True)
    _same(lean, ref)
    params = _params(5)
    opt = LeanAdam(params, lr=1e-3, betas=(0.5, 0.9))
    seen = []
    opt.register_step_post_hook(lambda o, a, k: seen.append(1))
    for _ in range(3):
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
    assert len(seen) == 3  # hooks are honoured: torch's own step calls them, once each
    handle = register_optimizer_step_pre_hook(lambda o, a, k: seen.append(2))
    try:
        opt.step()
    finally:
        handle.remove()
    assert seen[3:] == [2, 1]


def test_state_dicts_are_interchangeable_with_torch_adam():
    lean, opt_l = _run(LeanAdam, 7, [1e-3] * 3, (0.5, 0.9))
    params = [torch.nn.Parameter(p.detach().clone()) for p in lean]
    opt_r = torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.9), fused=True)
    opt_r.load_state_dict(copy.deepcopy(opt_l.state_dict()))  # as from a file: no shared tensors
    g = torch.Generator().manual_seed(11)
    for _ in range(3):
        grads = [torch.randn(p.shape, generator=g) for p in params]
        for p, q, gr in zip(lean, params, grads):
            p.grad, q.grad = gr.clone(), gr.clone()
        opt_l.step()
        opt_r.step()
    _same(lean, params)
    assert opt_l.state_dict()["state"][0]["step"] == opt_r.state_dict()["state"][0]["step"] == 6


def test_a_closure_is_called():
    params = _params(0)
    opt = LeanAdam(params, lr=1e-3, betas=(0.5, 0.9))

    def closure():
        for p in params:
            p.grad = torch.ones_like(p)
        return torch.tensor(2.0)

    assert float(opt.step(closure)) == 2.0
    assert float(opt.step(closure)) == 2.0


@pytest.mark.parametrize("bad", [{"weight_decay": 0.1}, {"amsgrad": True}, {"maximize": True}])
def test_other_settings_take_torch_step(bad):
    params = _params(1)
    opt = LeanAdam(params, lr=1e-3, betas=(0.5, 0.9))
    for group in opt.param_groups:
        group.update(bad)
    ref_params = _params(1)
    ref = torch.optim.Adam(ref_params, lr=1e-3, betas=(0.5, 0.9), fused=True, **bad)
    for _ in range(3):
        for p, q in zip(params, ref_params):
            p.grad = torch.full_like(p, 0.3)
            q.grad = torch.full_like(q, 0.3)
        opt.step()
        ref.step()
    _same(params, ref_params)


def test_on_each_device_and_with_an_empty_group(device):
    # on CUDA the step counts live on the device and take torch's one foreach add
    def run(cls, **kw):
        params = [p.to(device).detach().requires_grad_(True) for p in _params(4)]
        opt = cls([{"params": params}, {"params": []}], lr=1e-2, betas=(0.5, 0.9), **kw)
        g = torch.Generator().manual_seed(9)
        for _ in range(4):
            for p in params:
                p.grad = torch.randn(p.shape, generator=g).to(device)
            opt.step()
        return params

    _same(run(LeanAdam), run(torch.optim.Adam, fused=True))
