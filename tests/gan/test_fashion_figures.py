"""scripts/fashion_figures.py: the README's curves from a run's evaluations, written once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import scripts.fashion_figures as figures


def _run(tmp_path, fids):
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "log.jsonl", "w") as fh:
        fh.write(json.dumps({"kind": "train", "step": 10, "loss_d": 1.0}) + "\n")
        for i, fid in enumerate(fids):
            fh.write(json.dumps({"kind": "eval", "step": 1000 * (i + 1), "fid": fid,
                                 "fid_train_test": 7.7, "kid": fid * 2, "class_accuracy": 0.9,
                                 "class_accuracy_min": 0.7, "class_accuracy_test": 0.93})
                     + "\n")  # fmt: skip
    return run


@pytest.mark.parametrize("fids", [[84.0, 40.0, 23.8], [1500.0], [6.0, 7.0]])
def test_curves_writes_a_png_and_refuses_to_clobber(tmp_path, fids):
    run = _run(tmp_path, fids)
    out = tmp_path / "curves.png"
    figures.curves(run, out)
    img = np.asarray(Image.open(out))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 300
    assert img.std() > 0  # something was drawn
    before = out.read_bytes()
    with pytest.raises(ValueError, match="exists"):
        figures.curves(run, out)
    assert out.read_bytes() == before
    figures.curves(run, out, overwrite=True)
    assert out.is_file()
