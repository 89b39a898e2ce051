"""The collapse watchdog's policy on scripted metric sequences (gan.watchdog)."""

from __future__ import annotations

import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gan.config import TrainConfig
from gan.watchdog import Watchdog

NAN, INF = float("nan"), float("inf")


def _run(w: Watchdog, metrics, finite=None):
    finite = finite or [True] * len(metrics)
    return [w.observe(10 * (i + 1), m, finite_losses=f) for i, (m, f) in
            enumerate(zip(metrics, finite))]  # fmt: skip


def test_best_is_tracked_and_small_regressions_are_tolerated():
    w = Watchdog(factor=2.0, patience=2, max_rollbacks=1)
    acts = [d.action for d in _run(w, [50.0, 20.0, 30.0, 39.9, 15.0, 29.0])]
    assert acts == ["best", "best", "continue", "continue", "best", "continue"]
    assert (w.best_step, w.best_value, w.rollbacks, w.lr_multiplier) == (50, 15.0, 0, 1.0)


def test_rollback_after_patience_bad_evaluations_in_a_row():
    w = Watchdog(factor=1.5, patience=3, max_rollbacks=2, lr_decay=0.5)
    ds = _run(w, [10.0, 16.0, 17.0, 12.0, 16.0, 16.0, 300.0])
    # 12 < 15 breaks the run of bad evaluations; the 3rd bad one in a row rolls back
    assert [d.action for d in ds] == ["best", "continue", "continue", "continue", "continue",
                                      "continue", "rollback"]  # fmt: skip
    last = ds[-1]
    assert last.lr_multiplier == 0.5 and last.best_step == 10 and last.best_value == 10.0
    assert "300" in last.reason and "1.5 x the best 10" in last.reason
    assert "3 evaluations" in last.reason


def test_stop_after_max_rollbacks_and_lr_compounds():
    w = Watchdog(factor=2.0, patience=1, max_rollbacks=2, lr_decay=0.25)
    ds = _run(w, [1.0, 5.0, 5.0, 5.0])
    assert [d.action for d in ds] == ["best", "rollback", "rollback", "stop"]
    assert [d.lr_multiplier for d in ds] == [1.0, 0.25, 0.0625, 0.0625]
    assert "2 rollbacks already (max 2)" in ds[-1].reason
    with pytest.raises(ValueError, match="already said stop"):
        w.observe(50, 1.0)


@pytest.mark.parametrize("metric, finite, why", [(1.0, False, "non-finite loss"),
                                                 (NAN, True, "non-finite metric"),
                                                 (INF, True, "non-finite metric")])  # fmt: skip
def test_non_finite_loss_or_metric_rolls_back_at_once(metric, finite, why):
    w = Watchdog(patience=5, max_rollbacks=1)
    w.observe(1, 3.0)
    d = w.observe(2, metric, finite_losses=finite)
    assert d.action == "rollback" and why in d.reason and d.best_step == 1
    assert w.observe(3, 2.0).action == "best"  # training goes on from the rollback


def test_divergence_before_any_good_evaluation_stops():
    d = Watchdog().observe(5, NAN)
    assert d.action == "stop" and "no good evaluation" in d.reason


def test_zero_best_needs_a_real_increase():
    # KID or JS can reach 0: 0 x factor is 0, so only a larger value counts as bad
    w = Watchdog(factor=2.0, patience=1, max_rollbacks=1)
    assert [d.action for d in _run(w, [0.0, 0.0, 0.1])] == ["best", "continue", "rollback"]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(1e-3, 1e6), min_size=1, max_size=30))
def test_best_is_the_running_minimum_until_a_rollback(values):
    w = Watchdog(factor=1e9, patience=1, max_rollbacks=0)
    for i, v in enumerate(values):
        assert w.observe(i, v).action in ("best", "continue")
    assert w.best_value == min(values) and values[w.best_step] == min(values)


def test_state_round_trips_through_a_weights_only_checkpoint():
    w = Watchdog(factor=1.5, patience=2, max_rollbacks=3, lr_decay=0.5)
    _run(w, [4.0, 7.0, 7.0, 7.0])
    buf = io.BytesIO()
    torch.save({"watchdog": w.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)["watchdog"]
    w2 = Watchdog()
    w2.load_state_dict(state)
    assert w2.state_dict() == w.state_dict()
    follow = [6.9, 7.0, 1.0]
    assert [d.action for d in _run(w2, follow)] == [d.action for d in _run(w, follow)]
    fresh = Watchdog()
    fresh.load_state_dict(Watchdog().state_dict())
    assert math.isinf(fresh.best_value) and fresh.best_step == -1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="factor"):
        Watchdog(factor=1.0)
    with pytest.raises(ValueError, match="patience"):
        Watchdog(patience=0)
    with pytest.raises(ValueError, match="lr_decay"):
        Watchdog(lr_decay=0.0)
    with pytest.raises(TypeError, match="max_rollbacks"):
        Watchdog(max_rollbacks=1.5)
    with pytest.raises(TypeError, match="metric"):
        Watchdog().observe(1, "3")
    with pytest.raises(ValueError, match="lacks"):
        Watchdog().load_state_dict({"factor": 2.0})


def test_from_config_and_config_validation():
    cfg = TrainConfig(watchdog=True, watchdog_factor=3.0, watchdog_patience=4,
                      watchdog_max_rollbacks=5, watchdog_lr_decay=0.1)  # fmt: skip
    w = Watchdog.from_config(cfg)
    assert (w.factor, w.patience, w.max_rollbacks, w.lr_decay) == (3.0, 4, 5, 0.1)
    with pytest.raises(ValueError, match="watchdog_factor"):
        TrainConfig(watchdog_factor=0.5)
    with pytest.raises(ValueError, match="watchdog_lr_decay"):
        TrainConfig(watchdog_lr_decay=2.0)
