"""The time budget: the plan's laws, the planner on a fake clock, and a whole run under it."""

from __future__ import annotations

import json
import types

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gan import rundir, train
from gan.config import TrainConfig
from gan.training import budget as budget_mod
from gan.training import loop as loop_mod
from gan.training.budget import Budget, _evals_between, apply_plan, plan_steps
from gan.training.schedule import extended_anchor, lr_factor


def _predicted(cfg, step, n, rate, ev, final):
    return (n - step) * rate + _evals_between(cfg, step, n) * ev + final


@settings(max_examples=300, deadline=None)
@given(
    step=st.integers(0, 5000),
    extra=st.integers(0, 50_000),
    log_every=st.sampled_from([1, 10, 100]),
    eval_every=st.sampled_from([0, 7, 500, 5000]),
    left=st.floats(0.0, 1e5),
    rate=st.floats(1e-4, 10.0),
    ev=st.floats(0.0, 100.0),
    final=st.floats(0.0, 500.0),
)
def test_plan_is_the_largest_count_that_fits(step, extra, log_every, eval_every, left, rate, ev,
                                             final):  # fmt: skip
    asked = step + extra + 1
    cfg = TrainConfig(steps=asked, log_every=log_every, eval_every=eval_every, eval_samples=10)
    n = plan_steps(cfg, asked=asked, step=step, left=left, sec_per_step=rate, sec_per_eval=ev,
                   final=final)  # fmt: skip
    assert step <= n <= asked
    if n > step:  # what it plans fits (to rounding of the float division)
        assert _predicted(cfg, step, n, rate, ev, final) <= left * (1 + 1e-9) + 1e-9
    if n < asked:  # and the next log step would not fit, or it is a multiple of log_every
        assert n == step or n % log_every == 0
        nxt = min(asked, n - n % log_every + log_every)
        if left > final:
            assert _predicted(cfg, step, nxt, rate, ev, final) > left * (1 - 1e-9) - rate


def test_plan_edges():
    cfg = TrainConfig(steps=1000, log_every=10)
    kw = dict(asked=1000, step=100, sec_per_step=0.1, sec_per_eval=0.0)
    assert plan_steps(cfg, left=5.0, final=6.0, **kw) == 100  # no room: stop now
    assert plan_steps(cfg, left=1e9, final=0.0, **kw) == 1000  # all of it fits
    assert plan_steps(cfg, left=50.0, final=0.0, **kw) == 600
    assert plan_steps(cfg, left=50.0, final=0.0, **{**kw, "sec_per_step": float("inf")}) == 1000


class _Clock:
    """A fake ``time`` module: perf_counter advances by ``tick`` seconds per reading."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now


def _on_fake_clock(monkeypatch, **cfg_kw):
    """``(clock, cfg, budget)``: a budget of ``TrainConfig(**cfg_kw)`` on a stopped fake clock."""
    clock = _Clock(0.0)
    monkeypatch.setattr(budget_mod, "time", clock)
    cfg = TrainConfig(**cfg_kw)
    return clock, cfg, Budget(cfg, t0=0.0, step=0)


def test_planner_on_a_fake_clock(monkeypatch):
    clock, cfg, b = _on_fake_clock(monkeypatch, steps=100_000, log_every=100, time_budget=10.0,
                                   lr_schedule="linear", lr_decay_start=0.5)  # fmt: skip
    assert b.active and b.seconds == 600.0
    clock.now = 5.0  # data loading and warm-up
    assert b.at_log(cfg, 100, 0) is None  # the first interval only marks the clock
    clock.now = 5.0 + 100 * 0.05  # 50 ms per step
    n = b.at_log(cfg, 200, 0)
    # 590 s left, 30 s for the final evaluation (5 %), no periodic evaluations
    assert n == 200 + int((600 - 10 - 30) / 0.05) // 100 * 100 - 0
    cfg = cfg.replace(steps=n)
    clock.now += 0.05 * 100
    assert b.at_log(cfg, 300, 0) is None  # same rate: the plan stands
    # past the decay's start: the same rate keeps the plan, a slower machine shortens it
    step = int(cfg.lr_decay_start * n) // 100 * 100
    clock.now = 5.0 + (step - 100) * 0.05
    assert b.at_log(cfg, step, 0) is None
    clock.now += 100 * 0.05 + 60.0  # a minute lost, and the mean step time up with it
    shorter = b.at_log(cfg, step + 100, 0)
    rate = (clock.now - 5.0) / step
    assert shorter == plan_steps(cfg, asked=100_000, step=step + 100, left=600 - clock.now,
                                 sec_per_step=rate, sec_per_eval=0.0, final=30.0)  # fmt: skip
    assert shorter < n - 1200  # at least the minute's steps at 50 ms
    cfg = cfg.replace(steps=shorter)
    # and a faster one lengthens it again: 20 s gained
    clock.now += 100 * 0.05 - 20.0
    longer = b.at_log(cfg, step + 200, 0)
    assert longer is not None and shorter < longer <= n
    clock.now = 600 - 29.0  # no room for the final evaluation: stop now
    assert b.at_log(cfg.replace(steps=longer), step + 300, 0) == step + 300


def test_without_evaluations_the_final_reserve_is_small(monkeypatch):
    clock, cfg, b = _on_fake_clock(monkeypatch, steps=100_000, log_every=100, time_budget=10.0,
                                   eval_samples=0)  # fmt: skip
    clock.now = 5.0
    b.at_log(cfg, 100, 0)
    clock.now = 10.0  # 50 ms per step
    # 590 s left, 6 s (1 %) for the final checkpoint and plots: no evaluation to wait for
    assert b.at_log(cfg, 200, 0) == 200 + int((600 - 10 - 6) / 0.05) // 100 * 100


def test_a_rollback_restarts_the_step_clock(monkeypatch):
    clock, cfg, b = _on_fake_clock(monkeypatch, steps=100_000, log_every=100, time_budget=10.0)
    b.at_log(cfg, 100, 0)
    clock.now = 100.0  # 900 steps in 100 s
    cfg = cfg.replace(steps=b.at_log(cfg, 1000, 0))
    clock.now = 200.0  # the watchdog went back to step 500: not a step rate
    assert b.at_log(cfg, 600, 0) is None and b.mark == (200.0, 0.0, 600)
    clock.now = 201.0  # 100 steps in 1 s from the new mark: the plan grows
    assert b.at_log(cfg, 700, 0) > cfg.steps


def test_no_budget_and_resumed_runs_are_not_planned(monkeypatch):
    monkeypatch.setattr(budget_mod, "time", _Clock(1.0))
    assert not Budget(TrainConfig(), t0=0.0, step=0).active
    b = Budget(TrainConfig(time_budget=1.0), t0=0.0, step=500)
    assert not b.active and b.at_log(TrainConfig(time_budget=1.0), 600, 0) is None


def test_evaluations_are_not_counted_as_step_time(monkeypatch):
    clock, cfg, b = _on_fake_clock(monkeypatch, steps=10_000, log_every=100, eval_every=1000,
                                   eval_samples=100, time_budget=1.0)  # fmt: skip
    b.at_log(cfg, 100, 0)
    clock.now = 10.0  # of which 8 s were one evaluation: 2 s for 100 steps
    b.evaluated(8.0)
    n = b.at_log(cfg, 200, 0)
    # 50 s left; final max(0.6 s, 3 x 8 s) = 24 s; 26 s at 20 ms per step and 8 s per evaluation
    assert n is not None
    assert _predicted(cfg, 200, n, 0.02, 8.0, 24.0) <= 50.0
    assert _predicted(cfg, 200, n + 100, 0.02, 8.0, 24.0) > 50.0


def test_a_timed_evaluation_replaces_the_share_kept_for_the_final_one(monkeypatch):
    clock, cfg, b = _on_fake_clock(monkeypatch, steps=100_000, log_every=100, eval_every=50_000,
                                   eval_samples=100, time_budget=10.0)  # fmt: skip
    assert b._final() == pytest.approx(30.0)  # nothing timed yet: 5 % of 600 s
    clock.now = 5.0
    b.at_log(cfg, 100, 0)
    clock.now = 14.0  # 100 steps in 5 s and a 4 s evaluation: 50 ms per step
    b.evaluated(4.0)
    n = b.at_log(cfg, 200, 0)
    # 586 s left, 3 x 4 s = 12 s for the final evaluation, one more periodic one at 50,000
    assert n == 200 + int((600 - 14 - 12 - 4) / 0.05) // 100 * 100
    b.evaluated(1.0)  # the slowest evaluation sets the reserve, never less than 1 %
    assert b._final() == pytest.approx(12.0)
    b.eval_times = [0.5]
    assert b._final() == pytest.approx(6.0)


def test_a_budgeted_run_ends_in_time_and_records_its_steps(tmp_path, monkeypatch):
    clock = _Clock(1.0)  # one fake second per reading of the clock: a machine-free run
    fake = types.SimpleNamespace(perf_counter=clock.perf_counter)
    monkeypatch.setattr(budget_mod, "time", fake)
    monkeypatch.setattr(loop_mod, "time", fake)
    out = tmp_path / "run"
    cfg = TrainConfig.from_preset(
        "ring8", steps=100_000, hidden=16, g_layers=1, d_layers=1, batch_size=32, log_every=5,
        eval_every=50, eval_samples=200, eval_js_steps=5, final_js_steps=5, rejection=False,
        plots=False, progress=False, time_budget=1.0, out=str(out))  # fmt: skip
    res = train(cfg)
    saved = json.loads((out / "config.json").read_text())
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    plans = [x for x in lines if x["kind"] == "budget"]
    assert plans and plans[0]["asked_steps"] == 100_000
    assert 0 < res.step < 100_000
    assert saved["steps"] == res.step == plans[-1]["steps"]
    assert saved["time_budget"] == 1.0
    assert all(x["elapsed_s"] <= 60.0 for x in plans)
    assert lines[-1]["kind"] == "eval" and lines[-1].get("final") and res.evaluation
    assert rundir.resume_config(out).steps == res.step  # a resume continues the plan


@settings(max_examples=200, deadline=None)
@given(
    steps=st.integers(2, 10_000),
    frac=st.floats(0.0, 1.0),
    new_frac=st.floats(0.0, 2.0),
    schedule=st.sampled_from(["linear", "cosine", "constant"]),
    start=st.floats(0.0, 0.9),  # a decay that starts before the end
)
@example(steps=2, frac=0.0, new_frac=1.0, schedule="linear", start=0.75)  # a decay under a step
@example(steps=2, frac=0.0, new_frac=0.0, schedule="linear", start=0.0)  # a stop mid-decay
def test_a_new_plan_never_moves_the_rate_at_its_step(steps, frac, new_frac, schedule, start):
    cfg = TrainConfig(steps=steps, lr_schedule=schedule, lr_decay_start=start, lr_final=0.1)
    step = 1 + int(frac * (steps - 1))  # a plan is made after a log step, never at 0
    new = max(step, int(new_frac * steps))
    run = types.SimpleNamespace(cfg=cfg, rank=1)  # rank 1 writes nothing
    state = types.SimpleNamespace(anchor=(0, 1.0))
    before = lr_factor(cfg, step)
    apply_plan(run, state, new, step, Budget(cfg, t0=0.0, step=0), None, None)
    assert run.cfg.steps == new
    assert lr_factor(run.cfg, step, state.anchor) == pytest.approx(before, abs=1e-12)
    if new > step:  # and the new schedule still ends at lr_final, never rising
        assert lr_factor(run.cfg, new, state.anchor) <= before + 1e-12
        if schedule != "constant":
            assert lr_factor(run.cfg, new, state.anchor) == pytest.approx(0.1)


def test_a_stopped_run_extended_decays_from_where_it_stopped():
    cfg = TrainConfig(steps=1000, lr_schedule="linear", lr_decay_start=0.5, lr_final=0.1)
    run, state = types.SimpleNamespace(cfg=cfg, rank=1), types.SimpleNamespace(anchor=(0, 1.0))
    before = lr_factor(cfg, 800)  # 0.64: the rate when the budget stops the run
    apply_plan(run, state, 800, 800, Budget(cfg, t0=0.0, step=0), None, None)
    assert state.anchor == (800, pytest.approx(before))
    longer = cfg.replace(steps=2000)  # --resume --steps 2000 from the stop's checkpoint
    anchor = extended_anchor({"steps": 800}, longer, 800, state.anchor)
    assert lr_factor(longer, 800, anchor) == pytest.approx(before)  # not lr_final
    assert lr_factor(longer, 1000, anchor) == pytest.approx(before)  # decay from 1000 = 0.5 · 2000
    assert lr_factor(longer, 2000, anchor) == pytest.approx(0.1)


def test_time_budget_is_validated():
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="time_budget"):
            TrainConfig(time_budget=bad)
