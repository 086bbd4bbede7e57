"""Confidence intervals, per-cell paired comparisons with Holm, per-example cells, on synthetic CSV rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qkernels.suite.sections import get_section
from qkernels.suite.stats import compare_methods, pack_correct, summarize, t_interval, unpack_correct


def test_t_interval_against_scipy():
    v = np.array([0.81, 0.84, 0.79, 0.86])
    mean, half, n = t_interval(v)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert n == 4 and mean == pytest.approx(v.mean()) and half == pytest.approx((hi - lo) / 2)
    assert t_interval([1.0, 2.0, 3.0])[1] == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert math.isnan(t_interval([0.5])[1]) and t_interval([])[2] == 0
    assert t_interval([1.0, float("nan"), 3.0])[2] == 2


def rows(effects: dict[str, dict[float, float]], seeds=3, noise=0.002, model="m", stage="oneshot"):
    """Synthetic pruning.csv rows: method -> sparsity -> mean accuracy; seed effects shared by methods."""
    rng = np.random.default_rng(0)
    seed_shift = rng.normal(0, 0.05, seeds)
    out = []
    for meth, by in effects.items():
        for sp, acc in by.items():
            for s in range(seeds):
                out.append({"model": model, "stage": stage, "method": meth, "sparsity": sp, "replicate": s,
                            "accuracy": acc + seed_shift[s] + rng.normal(0, noise)})
    return pd.DataFrame(out)


HIGH = (0.5, 0.7, 0.9)


def test_summarize_means_and_bands():
    df = rows({"a": {0.5: 0.6}, "b": {0.5: 0.4}})
    s = summarize(df, ["method", "sparsity"])
    assert list(s.method) == ["a", "b"] and (s.n == 3).all()
    assert (s.lo < s["mean"]).all() and (s["mean"] < s.hi).all()


def test_paired_comparison_sees_small_consistent_gains():
    # a beats b by 0.01 with seed effects of 0.05: unpaired intervals overlap, paired ones do not
    df = rows({"a": {sp: 0.51 for sp in HIGH}, "b": {sp: 0.50 for sp in HIGH}, "c": {0.3: 0.9}}, noise=0.001)
    c = compare_methods(df, "a", ["b"])
    assert list(c.sparsity) == list(HIGH) and (c.outcome == "better").all()
    assert c["diff"].to_numpy() == pytest.approx(0.01, abs=0.003)


def test_per_cell_p_values_against_scipy_and_holm():
    df = rows({"a": {sp: 0.52 for sp in HIGH}, "b": {sp: 0.50 for sp in HIGH}}, seeds=5, noise=0.01)
    c = compare_methods(df, "a", ["b"])
    for r in c.itertuples():
        g = df[np.isclose(df.sparsity, r.sparsity)].pivot(index="replicate", columns="method", values="accuracy")
        assert r.p == pytest.approx(stats.ttest_rel(g["a"], g["b"]).pvalue)
    p = np.sort(c.p.to_numpy())
    assert np.sort(c.p_holm.to_numpy())[0] == pytest.approx(min(1, 3 * p[0]))
    # an outcome needs the Holm-adjusted p below 0.05, not the raw one
    assert ((c.outcome != "tie") == (c.p_holm < 0.05)).all()


def test_a_raw_win_that_does_not_survive_holm_is_a_tie():
    # paired differences 0.01..0.04 over 4 seeds: t = 3.87, df = 3, p = 0.031 in each of 10 cells
    out = []
    for sp in np.round(np.linspace(0.5, 0.95, 10), 3):
        for s, d in enumerate((0.01, 0.02, 0.03, 0.04)):
            out += [{"model": "m", "stage": "oneshot", "method": "a", "sparsity": sp, "replicate": s,
                     "accuracy": 0.5 + d}, {"model": "m", "stage": "oneshot", "method": "b", "sparsity": sp,
                                            "replicate": s, "accuracy": 0.5}]
    c = compare_methods(pd.DataFrame(out), "a", ["b"])
    assert c.p.to_numpy() == pytest.approx(0.0305, abs=5e-4)
    assert c.p_holm.to_numpy() == pytest.approx(np.minimum(1, 10 * c.p.min()), rel=1e-6)
    assert (c.outcome == "tie").all()
    one = compare_methods(pd.DataFrame(out)[lambda d: d.sparsity == 0.5], "a", ["b"])
    assert one.outcome.tolist() == ["better"]


def test_low_sparsities_and_other_stages_are_left_out():
    df = pd.concat([rows({"q": {0.1: 0.9, 0.7: 0.5}, "l1": {0.1: 0.8, 0.7: 0.5}}),
                    rows({"q": {0.7: 0.9}, "l1": {0.7: 0.1}}, stage="finetuned")])
    c = compare_methods(df, "q", ["l1"])
    assert list(c.sparsity) == [0.7] and c.outcome.tolist() == ["tie"]
    assert compare_methods(df, "q", ["l1"], stage="finetuned").outcome.tolist() == ["better"]


def test_missing_method_or_baseline():
    df = rows({"l1": {0.7: 0.5}})
    assert compare_methods(df, "q", ["l1"]).empty
    assert compare_methods(pd.DataFrame(), "q", ["l1"]).empty


def test_pack_correct_round_trips():
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 8, 9, 6000):
        c = rng.random(n) < 0.5
        assert (unpack_correct(pack_correct(c)) == c).all()
    assert unpack_correct(None) is None and unpack_correct("x") is None and unpack_correct("9:AA==") is None
    assert unpack_correct("3:!!") is None


def test_section_claim_waits_for_qmfrg_then_uses_the_primary_endpoint():
    sec = get_section("pruning")

    def qmfrg_claim(df):
        by_id = {c.claim_id: c for c in sec.claims(df)}
        assert set(by_id) == {"qmfrg", "functional"}  # the functional claim: not measured without its criteria
        assert by_id["functional"].verdict == "not measured"
        return by_id["qmfrg"]

    base = rows({"l1": {s: 0.5 for s in HIGH}, "l2": {s: 0.5 for s in HIGH}, "random": {s: 0.3 for s in HIGH}},
                seeds=10)
    claim = qmfrg_claim(base)
    assert claim.claim_id == "qmfrg" and claim.verdict == "not measured" and "l1" in claim.evidence
    better = pd.concat([base, rows({"qmfrg": {s: 0.6 for s in HIGH}}, seeds=10)])
    claim = qmfrg_claim(better)
    assert claim.verdict == "supported" and "qmfrg − random" in claim.evidence and claim.headline
    # the variant qmfrg-aligned is a secondary analysis: it never changes the claim's verdict
    worse = pd.concat([base, rows({"qmfrg": {s: 0.4 for s in HIGH}}, seeds=10),
                       rows({"qmfrg-aligned": {s: 0.7 for s in HIGH}}, seeds=10)])
    claim = qmfrg_claim(worse)
    assert claim.verdict == "refuted" and claim.headline.startswith("qmfrg − l")


def test_fixed_network_gets_the_test_sets_uncertainty_not_a_zero_width_interval():
    """A pretrained network pruned by a deterministic criterion scores the same on every seed: the paired
    differences over seeds have no spread, and only the finite test set says how sure the difference is."""
    from qkernels.suite.stats import pack_correct

    n = 1000
    ca, cb = np.zeros(n, bool), np.zeros(n, bool)
    ca[:12], cb[100:108] = True, True  # a is right on 12 examples, b on 8 others: +0.4 points
    rows = [{"model": "m", "stage": "oneshot", "method": meth, "sparsity": 0.5, "replicate": r,
             "accuracy": float(c.mean()), "correct": pack_correct(c)}
            for meth, c in (("a", ca), ("b", cb)) for r in range(10)]
    df = pd.DataFrame(rows)
    with_test = compare_methods(df, "a", ["b"]).iloc[0]
    seeds_only = compare_methods(df.drop(columns="correct"), "a", ["b"]).iloc[0]
    assert seeds_only.lo == pytest.approx(0.004) and seeds_only.hi == pytest.approx(0.004)
    assert seeds_only.outcome == "better"
    # 20 discordant examples: SE = sqrt(var(e) / n) ≈ 0.0045, so the difference is not shown
    assert with_test.lo < 0 < with_test.hi and with_test.outcome == "tie"
    assert with_test.hi - with_test.lo == pytest.approx(2 * 1.96 * np.sqrt(np.var(ca.astype(int) - cb, ddof=1) / n),
                                                        rel=0.05)
