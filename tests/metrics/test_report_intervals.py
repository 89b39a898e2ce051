"""No printed interval excludes its printed value, and the table and the JSON say the same."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

import metrics
from metrics.report import Entry

_ROW = re.compile(
    r"^(?P<name>\S+)\s+(?P<value>\S+)"
    r"(?:\s+± (?P<unc>\S+) \((?P<kind>\w+)\))?"
    r"(?:\s+(?P<level>[\d.]+)% interval \[(?P<lo>\S+), (?P<hi>\S+)\])?$"
)


@settings(max_examples=25)
@given(
    n=st.integers(20, 60),
    m=st.integers(20, 60),
    d=st.integers(1, 3),
    shift=st.sampled_from([0.0, 0.05, 0.5, 3.0, "same"]),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
    groups=st.integers(2, 5),
    confidence=st.sampled_from([0.5, 0.9, 0.95, 0.99]),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_interval_excludes_its_value_and_table_equals_json(
    n, m, d, shift, scale, groups, confidence, seed
):
    """Random Gaussian features (identical sets and same-distribution sets included, where
    the bias-corrected FID is at or below 0): every entry with an interval contains its value
    in the Report, in the table (4 decimals) and in the JSON; the FID interval is the
    jackknife's ``t_{K-1} se`` on each side, cut at 0 only."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * scale
    y = x[rng.permutation(n)] if shift == "same" else (rng.normal(size=(m, d)) + shift) * scale
    bars = {"groups": groups, "confidence": confidence}
    r = metrics.evaluate(
        x,
        y,
        metrics=["fid", "precision_recall", "density_coverage"],
        options={"fid": bars, "precision_recall": bars, "density_coverage": bars},
    )
    with_interval = [k for k, e in r.items() if e.interval is not None]
    assert sorted(with_interval) == ["coverage", "density", "fid_bias_corrected", "precision",
                                     "recall"]  # fmt: skip
    fid, bc = r["fid"], r["fid_bias_corrected"]
    assert fid.interval is None and bc.uncertainty == fid.uncertainty and bc.kind == "stderr"
    lo, hi = bc.interval
    k = r.meta["options"]["fid"]["groups"]
    half = student_t.ppf(0.5 + confidence / 2, k - 1) * bc.uncertainty
    if bc.value > 0:  # F_J itself: the interval is F_J -/+ half, cut at 0
        assert hi == pytest.approx(bc.value + half, rel=1e-9)
        assert lo == pytest.approx(max(0.0, bc.value - half), rel=1e-9, abs=1e-12 * hi)
    else:  # F_J <= 0 is shown as 0 with the positive part of its interval
        assert lo == 0.0 and hi <= half * (1 + 1e-9)
    parsed = json.loads(r.to_json())["metrics"]
    rows = {m.group("name"): m for m in map(_ROW.match, r.table().splitlines()[1:])}
    assert set(rows) == set(parsed) == set(r)
    for name, e in r.items():
        js, row = parsed[name], rows[name]
        assert js["value"] == e.value and js.get("interval") == (
            list(e.interval) if e.interval else None
        )
        assert row.group("value") == f"{js['value']:.4f}"
        if e.uncertainty is not None:
            assert row.group("unc") == f"{js['uncertainty']:.4f}" and row.group("kind") == e.kind
        if e.interval is None:
            assert row.group("lo") is None and "level" not in js
            continue
        assert e.interval[0] <= e.value <= e.interval[1] and js["level"] == confidence
        printed = [float(row.group(g)) for g in ("lo", "value", "hi")]
        assert printed == sorted(printed)  # the printed centre is inside the printed interval
        assert row.group("lo") == f"{js['interval'][0]:.4f}"
        assert float(row.group("level")) == pytest.approx(100 * confidence)


def test_an_entry_refuses_an_interval_that_excludes_its_value():
    with pytest.raises(ValueError, match="must contain its value"):
        Entry(7.1299, 0.3149, "stderr", (0.8070, 2.2318))
    with pytest.raises(ValueError, match="must contain its value"):
        Entry(float("nan"), 0.1, "stderr", (0.0, 1.0))
    assert Entry(0.0, 0.0, "stderr", (0.0, 0.0), 0.95).interval == (0.0, 0.0)
