"""The classifier two-sample test with an exact permutation p-value (private).

The core's cross-fitted classifier (:func:`divergences.classifier_two_sample_test`) is fitted
with ``n_folds`` folds; only the first fold's held-out predictions are tested: its model never
saw those points, so under H0 their labels are exchangeable given the model and permuting
them within the fold gives an exact test (Lopez-Paz & Oquab 2017 use one train/test split
too). Pooling the held-out predictions of all folds would not be exact (each fold's points
train the other folds' models), which is why the core's version uses a normal approximation.
The statistic is the held-out balanced accuracy of the rule ``log p/q > 0``; with
``classifier="auto"`` the largest over the candidate classifiers, recomputed for every
relabelling, so that choosing the better model costs no level.
"""

from __future__ import annotations

from typing import Any

import torch

from divergences.estimators.classifier import _candidates, _cross_fit

Tensor = torch.Tensor

__all__ = ["fit_c2st"]


def fit_c2st(
    x: Tensor,
    y: Tensor,
    *,
    classifier: Any,
    n_folds: int,
    clip: float,
    seed: int,
    device: Any,
) -> tuple[Tensor, Any, dict[str, Any]]:
    """Fit the classifiers; return the test fold's labels, the statistic and the details.

    Returns ``(obs, table, details)``: ``obs`` ``(N_test,)`` bool (True for points of ``x``),
    ``table(labels (C, N_test)) -> (C,)`` balanced accuracies (max over candidates).
    """
    names = _candidates(classifier, x.shape[1])
    preds, used = [], []
    fold_x = fold_y = None
    for spec in names:
        fit = _cross_fit(
            x, y, classifier=spec, n_folds=n_folds, clip=clip, seed=seed, device=device
        )
        fold_x, fold_y = fit["fold_x"], fit["fold_y"]
        sx = torch.as_tensor(fit["log_ratio_x"][fold_x == 0])
        sy = torch.as_tensor(fit["log_ratio_y"][fold_y == 0])
        preds.append(torch.cat([sx, sy]) > 0)
        used.append(fit["classifier"])
    assert fold_x is not None and fold_y is not None
    n_t, m_t = int((fold_x == 0).sum()), int((fold_y == 0).sum())
    obs = torch.cat([torch.ones(n_t, dtype=torch.bool), torch.zeros(m_t, dtype=torch.bool)])
    pred = torch.stack(preds).to(torch.float64)  # (k, N_test)

    def table(labels: Tensor) -> Tensor:
        lab = labels.cpu().to(torch.float64)  # (C, N_test)
        tpr = lab @ pred.T / n_t
        tnr = (1.0 - lab) @ (1.0 - pred.T) / m_t
        return (0.5 * (tpr + tnr)).amax(1)

    details = {"classifiers": used, "n_test_x": n_t, "n_test_y": m_t, "n_folds": n_folds}
    return obs, table, details
