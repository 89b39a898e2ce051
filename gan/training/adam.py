"""Adam with a lean step: torch's fused Adam kernel, called without ``Optimizer.step``'s Python.

For the small networks of the 2-D presets, ``torch.optim.Adam(fused=True).step`` spends about
three times as long in Python (hooks, profiler scope, grouping tensors by device and dtype,
state checks) as in its one kernel. :class:`LeanAdam` is that optimiser — same state, same
``state_dict``, same kernel and arguments, so the same update bit for bit — whose ``step``
calls the kernel directly whenever torch's own step would do exactly that, and otherwise
(first step, a missing gradient, hooks, a closure, mixed devices or dtypes) is torch's step.
"""

from __future__ import annotations

import torch
from torch.optim import optimizer

__all__ = ["LeanAdam"]

_ONE = torch.ones(())


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` whose steady-state ``step`` skips the Python wrapper.

    Args:
        params, lr, betas: as for :class:`torch.optim.Adam`; always ``fused=True``, no
            weight decay, AMSGrad or ``maximize`` (the trainer's Adam).

    Example:
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = LeanAdam([w], lr=0.1, betas=(0.5, 0.9))
        >>> for _ in range(2):
        ...     w.grad = torch.ones(3)
        ...     opt.step()
        >>> [round(float(v), 4) for v in w.detach()]
        [0.8, 0.8, 0.8]
    """

    def __init__(self, params, lr: float, betas: tuple[float, float]) -> None:
        super().__init__(params, lr=lr, betas=betas, fused=True)

    def step(self, closure=None):  # type: ignore[override]
        """One Adam update; torch's own ``step`` unless the direct kernel call is equivalent."""
        lists = None if closure is not None else self._lean_lists()
        if lists is None:
            return super().step(closure)
        with torch.no_grad():
            for group, (params, grads, avgs, sqs, steps) in zip(self.param_groups, lists):
                if not params:
                    continue
                if steps[0].device.type == "cpu":  # scalar adds: half a CPU foreach's cost
                    for s in steps:
                        s.add_(_ONE)
                else:
                    torch._foreach_add_(steps, 1)
                torch._fused_adam_(
                    params, grads, avgs, sqs, [], steps, amsgrad=False, lr=group["lr"],
                    beta1=group["betas"][0], beta2=group["betas"][1], weight_decay=0.0,
                    eps=group["eps"], maximize=False, grad_scale=None, found_inf=None,
                )  # fmt: skip
        return None

    # torch wraps a subclass's step to call the hooks, then Adam.step calls them again: not here
    step.hooked = True  # type: ignore[attr-defined]

    def _lean_lists(self) -> list[tuple[list, list, list, list, list]] | None:
        """Per group ``(params, grads, exp_avgs, exp_avg_sqs, steps)``, or None.

        None where torch's step would do more than add 1 to each step count and call one
        ``_fused_adam_`` call.
        """
        if (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or getattr(optimizer, "_global_optimizer_pre_hooks", None)
                or getattr(optimizer, "_global_optimizer_post_hooks", None)
                or getattr(self, "grad_scale", None) is not None
                or getattr(self, "found_inf", None) is not None):  # fmt: skip
            return None  # hooks to call, or a GradScaler's unscaling: torch's own step
        out = []
        for group in self.param_groups:
            if (group["amsgrad"] or group["maximize"] or group["weight_decay"]
                    or group.get("decoupled_weight_decay") or group["capturable"]
                    or group["differentiable"] or not group["fused"]
                    or not isinstance(group["lr"], float)):  # fmt: skip
                return None
            params = group["params"]
            first = params[0] if params else None
            lists: tuple[list, list, list, list, list] = ([], [], [], [], [])
            for p in params:
                s = self.state.get(p)
                if (p.grad is None or p.grad.is_sparse or not s or p.device != first.device
                        or p.dtype != first.dtype or p.grad.dtype != p.dtype):  # fmt: skip
                    return None  # a first step, a frozen parameter, mixed tensors: torch's own
                for lst, t in zip(lists, (p, p.grad, s["exp_avg"], s["exp_avg_sq"], s["step"])):
                    lst.append(t)
            out.append(lists)
        return out
