"""Calibration of the qmfrg verdict rule: its false-verdict rate and power on simulated sweeps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from qkernels.suite.sections.pruning.calibration import (
    _draw,
    _frame,
    calibrate,
    default_shape,
    fast_verdict,
    shape_from,
    simulate,
)
from qkernels.suite.sections.pruning.endpoint import PRIMARY, pruning_decision

#: the noise measured in the committed quick sample (per criterion and seed), rounded up
REAL_NOISE = 0.03


def test_fast_verdict_equals_the_csv_path():
    shape = replace(default_shape(6), noise_sd=0.02)
    rng = np.random.default_rng(0)
    for effect in (0.0, 0.01, 0.03, -0.02):
        for _ in range(15):
            acc = _draw(shape, effect, rng, PRIMARY)
            assert fast_verdict(shape, acc) == pruning_decision(_frame(shape, acc, PRIMARY)).verdict


def test_simulated_sweep_has_the_shape_and_the_effect():
    shape = default_shape(10)
    df = simulate(shape, 0.08, np.random.default_rng(0))
    assert len(df) == 6 * 10 * 4 and set(df.method) == {"qmfrg", "l1", "l2", "random"}
    m = df.groupby(["model", "sparsity", "method"]).accuracy.mean().unstack()
    assert (m.loc["mlp", "qmfrg"] - m.loc["mlp", "l1"]).mean() == pytest.approx(0.08, abs=0.02)
    assert abs((m.loc["resnet"].loc[0.9, "qmfrg"] - m.loc["resnet"].loc[0.9, "l1"])) < 0.03  # at chance: no effect


def test_shape_and_noise_are_estimated_from_a_real_csv():
    rng = np.random.default_rng(1)
    true = replace(default_shape(20), noise_sd=0.03, seed_sd=0.02)
    est = shape_from(simulate(true, 0.0, rng))
    assert est.replicates == 20 and est.n_classes == 10 and len(est.cell_means) == 6
    assert est.noise_sd == pytest.approx(0.03, rel=0.2)
    assert shape_from(pd.DataFrame()) is None


def test_the_deciding_profile_meets_the_goals():
    t = calibrate(replace(default_shape(10), noise_sd=REAL_NOISE), sims=600, seed=3).set_index("effect_points")
    assert t.loc[0.0, "false_verdict"] <= 0.05  # false "supported" under the null
    assert t.loc[1.0, "false_verdict"] <= 0.05  # false "refuted" at the margin
    assert t.loc[3.0, "supported"] >= 0.80  # power at +3 points
    assert t.loc[8.0, "supported"] >= 0.99 and t.loc[8.0, "refuted"] == 0


def test_three_seeds_lack_power():
    t = calibrate(replace(default_shape(3), noise_sd=REAL_NOISE), sims=400, seed=4).set_index("effect_points")
    assert t.loc[3.0, "supported"] < 0.8 and t.loc[0.0, "false_verdict"] <= 0.05
