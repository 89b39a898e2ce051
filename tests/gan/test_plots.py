"""PNG plots of a run: small-multiple curves, image grids, the conditional grid (gan.plots)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gan.plots import (
    _eval_metrics,
    final_branch,
    grid_path,
    plot_class_grid,
    plot_curves,
    plot_image_grid,
)


def _log(path, evals):
    with open(path, "w") as fh:
        for s in range(10, 210, 10):
            fh.write(json.dumps({"kind": "train", "step": s, "loss_d": 1.0 / s, "loss_g": 0.5,
                                 "d_real": 0.6, "d_fake": 0.4, "lr_d": 1e-3,
                                 "lr_g": 1e-3}) + "\n")  # fmt: skip
        for r in evals:
            fh.write(json.dumps({"kind": "eval", **r}) + "\n")


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def test_eval_metrics_grouping():
    evals = [{"step": 1, "fid": 3.0, "fid_stderr": 0.1, "drs_fid": 2.0, "intra_fid_3": 5.0,
              "n_modes": 8, "final": True, "drs_acceptance_rate": 0.4, "flag": True}]  # fmt: skip
    assert _eval_metrics(evals) == ["fid", "drs_acceptance_rate"]


@pytest.mark.parametrize("n_evals", [0, 1, 4])
def test_curves_are_written_for_any_number_of_evaluations(tmp_path, n_evals):
    evals = [
        {
            "step": 50 * (i + 1),
            "fid": 100.0 / (i + 1),
            "kid": 0.1 / (i + 1),
            "js": 0.3,
            "js_stderr": 0.01,
            "drs_fid": 80.0 / (i + 1),
        }
        for i in range(n_evals)
    ]
    _log(tmp_path / "log.jsonl", evals)
    plot_curves(tmp_path / "log.jsonl", tmp_path / "curves.png")
    img = _png(tmp_path / "curves.png")
    assert img.shape[0] > 200 and img.std() > 10  # a drawn figure, not a blank canvas
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_curves_give_each_metric_its_own_panel(tmp_path):
    # 3 training panels + fid, kid, js (3 evaluations each) = 6 panels on a 4-column grid:
    # the figure is two rows of panels high; with one evaluation the metrics share a text panel
    evals = [{"step": s, "fid": 9.0 - s / 100, "kid": 0.01, "js": 0.2} for s in (100, 150, 200)]
    _log(tmp_path / "a.jsonl", evals)
    _log(tmp_path / "b.jsonl", evals[-1:])
    plot_curves(tmp_path / "a.jsonl", tmp_path / "a.png")
    plot_curves(tmp_path / "b.jsonl", tmp_path / "b.png")
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png")
    assert a.shape[0] > 1.6 * b.shape[0]  # 2 rows against 1 (3 training panels + 1 text panel)


def test_image_grid_and_class_grid(tmp_path):
    x = torch.linspace(-1, 1, 20)[:, None, None, None].expand(20, 1, 8, 8)
    path = grid_path(tmp_path, 500)
    assert path == tmp_path / "grids" / "samples_step500.png"
    plot_image_grid(x, path, title="step 500")
    img = _png(path)
    assert img.min() < 30 and img.max() > 225  # the black and the white images are there
    y = torch.arange(20) % 4
    plot_class_grid(x, y, ("a", "b", "c", "d"), tmp_path / "classes.png")
    assert _png(tmp_path / "classes.png").std() > 10
    with pytest.raises(ValueError, match="one label each"):
        plot_class_grid(x, y[:3], ("a",), tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        plot_image_grid(torch.zeros(3, 8), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_a_rollback_leaves_one_rising_trajectory_and_the_undone_steps_apart(tmp_path):
    # as the trainer logs it: steps 1-6, eval at 3 (best) and 6 (bad), rollback to 3, then 4-6
    recs = [{"kind": "train", "step": s, "loss_d": 1.0} for s in (1, 2, 3)]
    recs += [{"kind": "eval", "step": 3, "fid": 5.0}]
    recs += [{"kind": "train", "step": s, "loss_d": 9.0} for s in (4, 5, 6)]
    recs += [{"kind": "eval", "step": 6, "fid": 4e7}]
    recs += [{"kind": "watchdog", "step": 6, "action": "rollback", "best_step": 3}]
    recs += [{"kind": "train", "step": s, "loss_d": 1.0} for s in (4, 5, 6)]
    recs += [{"kind": "eval", "step": 6, "fid": 4.5}]
    kept, gone, rollbacks = final_branch(recs)
    steps = [r["step"] for r in kept if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6] and all(r["loss_d"] == 1.0 for r in kept if "loss_d" in r)
    assert [(r["kind"], r["step"]) for r in gone] == [("train", 4), ("train", 5), ("train", 6),
                                                      ("eval", 6)]  # fmt: skip
    assert [r["fid"] for r in kept if r["kind"] == "eval"] == [5.0, 4.5]
    assert rollbacks == [(6, 3)]
    assert final_branch(recs[:4]) == (recs[:4], [], [])  # no rollback: the log as it is
    with open(tmp_path / "log.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in recs)
    plot_curves(tmp_path / "log.jsonl", tmp_path / "curves.png")
    assert _png(tmp_path / "curves.png").std() > 10
