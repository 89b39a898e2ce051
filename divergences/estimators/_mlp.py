"""A small torch MLP and its trainer (private).

A small torch MLP and its trainer (early stopping), shared by the classifier and the
variational estimators (private).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from torch import nn

__all__ = ["MLPClassifier", "fit_two_sample", "make_mlp"]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


class _Standardize(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    mean: torch.Tensor
    std: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def make_mlp(
    data: torch.Tensor, hidden: Sequence[int], generator: torch.Generator
) -> nn.Sequential:
    """``standardize → (Linear → SiLU)* → Linear(·, 1)`` in float32, seeded from ``generator``."""
    mean = data.mean(0).float()
    std = data.std(0).float().clamp_min(1e-12)
    layers: list[nn.Module] = [_Standardize(mean, std)]
    width = data.shape[1]
    for h in hidden:
        layers += [nn.Linear(width, h), nn.SiLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for mod in net:
            if isinstance(mod, nn.Linear):
                bound = 1.0 / math.sqrt(mod.in_features)
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=generator) * 2 - 1)
                mod.weight.mul_(bound)
                mod.bias.zero_()
    return net


def fit_two_sample(
    net: nn.Module,
    loss_fn: LossFn,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    generator: torch.Generator,
    batch_size: int = 256,
    lr: float = 1e-3,
    max_epochs: int = 200,
    patience: int = 10,
    weight_decay: float = 1e-4,
) -> dict[str, float]:
    """Minimise ``loss_fn(net, xp, xq)`` with Adam on proportional minibatches of both samples.

    Keeps the parameters with the lowest validation loss; stops after ``patience`` epochs
    without improvement. Warns (``ConvergenceWarning``) if the best epoch is the last one.
    Returns ``{"epochs", "best_epoch", "best_val_loss"}``.
    """
    xp, xq = train
    vp, vq = val
    n_p, n_q = xp.shape[0], xq.shape[0]
    bp = max(1, round(batch_size * n_p / (n_p + n_q)))
    bq = max(1, round(batch_size * n_q / (n_p + n_q)))
    steps = max(1, math.ceil(max(n_p / bp, n_q / bq)))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    best = (math.inf, 0, copy.deepcopy(net.state_dict()))
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        net.train()
        perm_p = torch.randperm(n_p, generator=generator).to(xp.device)
        perm_q = torch.randperm(n_q, generator=generator).to(xq.device)
        for s in range(steps):
            ip = perm_p[(s * bp) % n_p : (s * bp) % n_p + bp]
            iq = perm_q[(s * bq) % n_q : (s * bq) % n_q + bq]
            loss = loss_fn(net, xp[ip], xq[iq])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            v = float(loss_fn(net, vp, vq))
        if not math.isfinite(v):
            raise FloatingPointError(
                f"the critic's validation loss is {v} at epoch {epoch}; lower lr or check the "
                "divergence's activation/conjugate"
            )
        if v < best[0] - 1e-7:
            best = (v, epoch, copy.deepcopy(net.state_dict()))
        elif epoch - best[1] >= patience:
            break
    net.load_state_dict(best[2])
    net.eval()
    if best[1] == epoch:
        warnings.warn(
            f"the MLP was still improving at max_epochs={max_epochs} (validation loss "
            f"{best[0]:.4g}); raise max_epochs for a tighter estimate",
            ConvergenceWarning,
            stacklevel=3,
        )
    return {"epochs": float(epoch), "best_epoch": float(best[1]), "best_val_loss": best[0]}


def _bce(net: nn.Module, xp: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
    # Pooled (not class-balanced) logistic loss: P labelled 1, Q labelled 0.
    sp = nn.functional.softplus(-net(xp)).sum()
    sq = nn.functional.softplus(net(xq)).sum()
    return (sp + sq) / (xp.shape[0] + xq.shape[0])


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A torch MLP binary classifier with the scikit-learn ``fit``/``decision_function`` API.

    Trained with the pooled logistic loss, early stopping on a 10 % validation split; runs on
    ``device`` (CUDA when present by default). ``decision_function`` returns the logit.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (128, 128),
        *,
        max_epochs: int = 200,
        patience: int = 10,
        lr: float = 1e-3,
        batch_size: int = 256,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.hidden = tuple(hidden)
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPClassifier:
        gen = torch.Generator().manual_seed(self.seed)
        dev = torch.device(self.device)
        self.classes_ = np.array([0, 1])
        data = torch.as_tensor(X, dtype=torch.float32)
        labels = torch.as_tensor(y)
        xp, xq = data[labels == 1], data[labels == 0]
        parts = []
        for t in (xp, xq):
            perm = torch.randperm(t.shape[0], generator=gen)
            n_val = max(1, t.shape[0] // 10)
            parts.append((t[perm[n_val:]].to(dev), t[perm[:n_val]].to(dev)))
        (tp, vp), (tq, vq) = parts
        self.net_ = make_mlp(torch.cat([tp, tq]).cpu(), self.hidden, gen).to(dev)
        self.info_ = fit_two_sample(
            self.net_,
            _bce,
            (tp, tq),
            (vp, vq),
            generator=gen,
            batch_size=self.batch_size,
            lr=self.lr,
            max_epochs=self.max_epochs,
            patience=self.patience,
        )
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        dev = next(self.net_.parameters()).device
        data = torch.as_tensor(X, dtype=torch.float32, device=dev)
        with torch.no_grad():
            out = torch.cat([self.net_(chunk) for chunk in data.split(65536)])
        return out.reshape(-1).double().cpu().numpy()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p1 = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.stack([1.0 - p1, p1], axis=1)
