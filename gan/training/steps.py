"""One training step: improve D (``n_critic`` updates), then move G through the updated D.

A step reads nothing back to the host (ADA's adjustment aside: one sync every 4 calls); its
scalars stay on the device until the next sync point.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gan import _dist
from gan.losses import gradient_penalty, r1_penalty
from gan.training.state import Nets, Run, State

__all__ = ["improve_d", "move_g"]


def _call(net: Callable, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """``net(x)``, or ``net(x, y)`` for a conditional network."""
    return net(x) if y is None else net(x, y)


def _clear(params: list) -> None:
    """``zero_grad(set_to_none=True)`` without the optimiser's per-call profiler scope."""
    for p in params:
        p.grad = None


def _batch(run: Run, nets: Nets, state: State):
    """``(real, y_real, y_fake)``: a real batch, its labels and fake labels (None if unconditional).

    Fake labels are those of uniformly drawn training samples: classes in proportion to the data.
    With ``class_weights`` both sides draw their classes from ``nets.class_p`` (real samples
    uniformly within their class), so D sees each class as often real as generated.
    """
    b, data = run.cfg.batch_size, run.data
    if not nets.n_classes:
        return data.sample(b, state.rng), None, None
    if nets.class_p is not None:
        y = torch.multinomial(nets.class_p, 2 * b, replacement=True, generator=state.rng)
        return data.sample(b, state.rng, labels=y[:b]), y[:b], y[b:]
    real, y_r = data.sample_labelled(b, state.rng)
    pick = torch.randint(len(data.labels), (b,), generator=state.rng, device=run.device)
    return real, y_r, data.labels[pick]


def improve_d(run: Run, nets: Nets, state: State):
    """``n_critic`` D steps; returns the last one's ``(fake_g, y_fake, logit_r, logit_f, loss_d)``.

    The last fake batch keeps G's graph, which :func:`move_g` reuses (as the DCGAN reference
    loop does). With augmentation D sees ``aug(real)`` and ``aug(fake)``, fresh draws for each;
    R1 and ADA use D's logits on the augmented reals (as stylegan2-ada does), the gradient
    penalty the plain images.
    """
    cfg, b, aug = run.cfg, run.cfg.batch_size, nets.aug
    for i in range(cfg.n_critic):
        real, y_r, y_f = _batch(run, nets, state)
        z = torch.randn(b, cfg.z_dim, generator=state.rng, device=run.device)
        with torch.set_grad_enabled(i == cfg.n_critic - 1), nets.amp:
            fake_g = _call(nets.g_fwd, z, y_f)
        fake = fake_g.detach()
        # lazy R1 (Karras et al. 2020): on every r1_every-th D update, weighted by r1_every
        r1 = cfg.r1 > 0 and (state.step * cfg.n_critic + i) % cfg.r1_every == 0
        if r1:
            real.requires_grad_(True)
        real_d, fake_d = (real, fake) if aug is None else (aug(real), aug(fake))
        with nets.amp:
            # R1's double backward would run over the fake rows too: real alone on its steps
            if nets.joint_d and not r1:
                y_rf = None if y_r is None else torch.cat([y_r, y_f])
                logit_r, logit_f = _call(nets.d_fwd, torch.cat([real_d, fake_d]), y_rf).float()\
                    .chunk(2)  # fmt: skip
            else:
                logit_r = _call(nets.d_fwd, real_d, y_r).float()
                logit_f = _call(nets.d_fwd, fake_d, y_f).float()
            loss_d = run.loss.d_loss(logit_r, logit_f)
            if r1:  # in standardised coordinates: ∇_u = scale · ∇_x
                w = 0.5 * cfg.r1 * cfg.r1_every * nets.r1_scale
                loss_d = loss_d + w * r1_penalty(logit_r, real)
            if nets.gp_weight > 0:
                d_gp = nets.d_fwd if y_r is None else (lambda x: nets.d_fwd(x, y_r))  # noqa: B023
                gp = gradient_penalty(d_gp, real, fake, generator=state.rng, pac=cfg.pac)
                loss_d = loss_d + nets.gp_weight * gp
        _clear(nets.d_params)
        loss_d.backward()
        _dist.all_reduce_grads(nets.d)
        nets.opt_d.step()
        if nets.ada is not None:  # one host sync per ADA adjustment (every 4 calls)
            aug.p = nets.ada.update(_dist.all_gather_cat(logit_r.detach()) if run.world > 1
                                    else logit_r.detach())  # fmt: skip
    return fake_g, y_f, logit_r.detach(), logit_f.detach(), loss_d.detach()


def move_g(run: Run, nets: Nets, fake_g: torch.Tensor, y_fake) -> torch.Tensor:
    """One G step through the updated D (on ``aug(fake)``), then the EMA update; G's loss."""
    x = fake_g if nets.aug is None else nets.aug(fake_g)
    with nets.amp:
        loss_g = run.loss.g_loss(_call(nets.d_fwd, x, y_fake).float())
    _clear(nets.g_params)
    # only G's gradients: autograd then skips D's weight gradients, with no flags to toggle
    loss_g.backward(inputs=nets.g_params)
    _dist.all_reduce_grads(nets.g)
    nets.opt_g.step()
    if nets.ema is not None:
        nets.ema.update(nets.g)
    return loss_g.detach()
