"""``divergences train --help`` teaches: groups, one line per option, one spelling listed."""

from __future__ import annotations

import re

import pytest

from gan.cli import main
from gan.config import field_types
from gan.train_options import GROUPS, OPTIONS


def _help(capsys, flag: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(["train", flag])
    assert info.value.code == 0
    return capsys.readouterr().out


def test_every_field_has_a_group_and_help():
    assert set(OPTIONS) == set(field_types())
    for name, opt in OPTIONS.items():
        assert opt.group in GROUPS, name
        assert opt.help and "\n" not in opt.help, name


def test_help_lists_each_common_option_once_and_hides_the_advanced(capsys):
    text = _help(capsys, "--help")
    for group in GROUPS:
        assert f"{group} options:" in text
    for name, opt in OPTIONS.items():
        dashed = f"--{name.replace('_', '-')}"
        listed = re.search(rf"(^|[\s\[]){re.escape(dashed)}([\s,\]]|$)", text, re.M) is not None
        assert listed != opt.advanced, name
        if "_" in name:  # the underscore spelling is accepted but never listed
            assert f"--{name}" not in text, name
    assert "--lr-d X" in text and "Adam learning rate of D" in text


def test_help_all_shows_the_advanced_options(capsys):
    text = _help(capsys, "--help-all")
    for name in OPTIONS:
        assert f"--{name.replace('_', '-')}" in text, name
    assert "rejection-sampling calibration" in text


def test_both_spellings_parse(tmp_path, capsys):
    # an underscore option still reaches the config (a refused value shows it was read)
    code = main(["train", "--data", "ring8", "--lr_d", "-1", "--out", str(tmp_path / "r")])
    assert code == 2 and "lr_d" in capsys.readouterr().err
    code = main(["train", "--data", "ring8", "--eval-js-steps", "-1", "--out", str(tmp_path / "r")])
    assert code == 2 and "eval_js_steps" in capsys.readouterr().err
