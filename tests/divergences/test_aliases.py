"""Renamed public functions keep their old names for one release, with the old signatures."""

from __future__ import annotations

import numpy as np
import pytest

import divergences as dv


def test_old_names_are_the_new_functions():
    assert dv.get is dv.get_f_divergence and dv.names is dv.f_divergence_names
    assert dv.variational_bound is dv.variational_divergence


def test_alpha_keeps_its_positional_order():
    p, q = np.array([0.2, 0.8]), np.array([0.5, 0.5])
    for a in (-1.0, 0.3, 2.0):
        assert dv.alpha(p, q, a) == pytest.approx(dv.alpha_divergence(p, q, alpha=a), rel=1e-15)
    with pytest.raises(TypeError):
        dv.alpha_divergence(p, q, 0.3)  # the new order is keyword-only


def test_family_records_are_keyword_only():
    rec = dv.get_f_divergence("kl")
    with pytest.raises(TypeError):
        type(rec)("kl", rec.f)
