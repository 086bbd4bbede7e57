"""The functional claim: the choice on the calibration split, the verdict against every baseline, the goal
table with simultaneous intervals, the claims row, and the rule's error rates on simulated sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qkernels.suite.sections.pruning.functional import (
    DEFAULT_CANDIDATE,
    choose_candidate,
    functional_decision,
    goal_summary,
    goal_table,
    selection_check,
    simulate_false_support,
)
from qkernels.suite.sections.pruning.report import claims, functional_claim

CANDS = {"qmfrg-span": 0.0, "qmfrg-act": 0.0, "qmfrg-act-ls-kept": 0.0}
BASES = {"l1": 0.0, "taylor": 0.0, "thinet-ls-kept": 0.0}


def sweep(effects=None, calib_bonus=None, seeds=10, noise=0.01, models=("a", "b"), stages=("oneshot",), rng=None):
    """Synthetic rows: every method at 0.6 plus its effect, a shared seed effect and noise; ``calib_bonus`` moves
    only the calibration-split metric of a method."""
    rng = rng or np.random.default_rng(0)
    eff = {**CANDS, **BASES, **(effects or {})}
    bonus = calib_bonus or {}
    rows = []
    for model in models:
        for sp in (0.5, 0.7):
            for stage in stages:
                for r in range(seeds):
                    shared = rng.normal(0, 0.02)
                    for meth, e in eff.items():
                        acc = 0.6 + e + shared + rng.normal(0, noise)
                        rows.append({"model": model, "method": meth, "stage": stage, "sparsity": sp, "replicate": r,
                                     "accuracy": acc, "n_classes": 10,
                                     "calib_accuracy": acc + bonus.get(meth, 0.0) + rng.normal(0, noise)})
    return pd.DataFrame(rows)


def test_the_candidate_is_chosen_on_the_calibration_split_not_the_test_split():
    # qmfrg-act is best on the test split, qmfrg-span on the calibration split: the choice follows calibration
    df = sweep(effects={"qmfrg-act": 0.05}, calib_bonus={"qmfrg-act": -0.2, "qmfrg-span": 0.2})
    chosen, table, how = choose_candidate(df)
    assert chosen == "qmfrg-span" and "calibration split" in how
    assert table.candidate.iloc[0] == "qmfrg-span" and len(table) == 3


def test_without_calibration_metric_the_predeclared_default_is_used():
    df = sweep().drop(columns="calib_accuracy")
    chosen, _, how = choose_candidate(df)
    assert chosen == DEFAULT_CANDIDATE and "pre-declared" in how


def test_supported_only_when_ahead_of_every_baseline():
    good = functional_decision(sweep(effects={"qmfrg-span": 0.05}, calib_bonus={"qmfrg-span": 0.05}))
    assert good.verdict == "supported"
    # ahead of l1 and taylor, level with the reconstructed baseline: not supported
    level = functional_decision(sweep(effects={"qmfrg-span": 0.05, "thinet-ls-kept": 0.05},
                                      calib_bonus={"qmfrg-span": 0.05}))
    assert level.verdict == "refuted"  # shown below the 1-point margin against thinet-ls-kept
    assert "thinet-ls-kept" in level.headline


def test_not_measured_without_candidates():
    df = sweep()
    df = df[~df.method.str.startswith("qmfrg")]
    assert functional_decision(df) is None
    c = functional_claim(df)
    assert c.claim_id == "functional" and c.verdict == "not measured"


def test_goal_table_uses_the_best_baseline_per_cell_and_simultaneous_intervals():
    df = sweep(effects={"qmfrg-span": 0.05, "taylor": 0.01}, calib_bonus={"qmfrg-span": 0.05})
    t = goal_table(df)
    assert set(t["best baseline"]) == {"taylor"}
    assert len(t) == 3 * 4  # candidates × (2 models × 2 sparsities)
    row = t[(t.candidate == "qmfrg-span") & (t.model == "a") & (t.p == 0.5)].iloc[0]
    lo, hi = (float(x) for x in row["simultaneous 95% (pts)"].strip("[]").split(","))
    assert lo < row["Δ (pts)"] < hi and row["Δ (pts)"] == pytest.approx(4.0, abs=1.0)
    # a per-row 95% interval would be narrower than the simultaneous one
    from scipy import stats
    half_single = stats.t.ppf(0.975, 9)
    half_simul = stats.t.ppf(1 - 0.05 / (2 * len(t)), 9)
    assert half_simul > half_single
    met, text = goal_summary(df, "qmfrg-span")
    assert met and "2 model(s)" in text
    met, text = goal_summary(sweep(effects={"qmfrg-span": 0.003}), "qmfrg-span")
    assert not met and "missed" in text


def test_the_claims_row_is_reported_with_the_goal():
    df = sweep(effects={"qmfrg-span": 0.05}, calib_bonus={"qmfrg-span": 0.05}, stages=("oneshot", "finetuned"))
    df = pd.concat([df, df[df.method == "l1"].assign(method="qmfrg")])  # the paper's criterion too
    rows = {c.claim_id: c for c in claims(df)}
    assert rows["functional"].verdict == "supported"
    assert "goal met (oneshot)" in rows["functional"].evidence and "goal met (finetuned)" in rows["functional"].evidence


def test_selection_check_compares_merged_candidates_with_reconstructed_baselines():
    t = selection_check(sweep(effects={"qmfrg-span": 0.02}))
    assert set(t.baseline) == {"thinet-ls-kept"} and set(t.candidate) == {"qmfrg-span", "qmfrg-act-ls-kept"}
    assert t.set_index("candidate").loc["qmfrg-span", "mean Δ (pts)"] == pytest.approx(2.0, abs=0.5)


def test_the_rule_with_the_choice_rarely_says_supported_under_the_null_and_finds_a_real_effect():
    null = simulate_false_support(sims=300, model_sd=0.03, seed=1)
    assert null["false_supported"] <= 0.025  # the one-sided level of the rule, selection included
    power = simulate_false_support(sims=100, model_sd=0.02, effect=0.03, seed=2)
    assert power["false_supported"] >= 0.8
