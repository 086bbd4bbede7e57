"""Confidence intervals and the generic method-vs-baselines verdict, on synthetic CSV rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qkernels.suite.sections import get_section
from qkernels.suite.stats import compare_methods, comparison_verdict, summarize, t_interval


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
    assert comparison_verdict(c)[0] == "supported"


@pytest.mark.parametrize("effects,verdict", [
    ({"q": {s: 0.6 for s in HIGH}, "l1": {s: 0.5 for s in HIGH}, "random": {s: 0.3 for s in HIGH}}, "supported"),
    ({"q": {s: 0.4 for s in HIGH}, "l1": {s: 0.5 for s in HIGH}, "random": {s: 0.3 for s in HIGH}}, "refuted"),
    ({"q": {0.5: 0.6, 0.7: 0.5, 0.9: 0.5}, "l1": {s: 0.5 for s in HIGH}}, "inconclusive"),
    ({"q": {0.5: 0.6, 0.7: 0.4, 0.9: 0.5}, "l1": {s: 0.5 for s in HIGH}}, "inconclusive"),
    ({"q": {0.5: 0.5, 0.7: 0.4, 0.9: 0.5}, "l1": {s: 0.5 for s in HIGH}}, "refuted"),
])
def test_verdicts(effects, verdict):
    df = rows(effects)
    c = compare_methods(df, "q", ["l1", "random"])
    v, evidence = comparison_verdict(c)
    assert v == verdict, evidence
    assert "vs l1" in evidence


def test_low_sparsities_and_other_stages_are_left_out():
    df = pd.concat([rows({"q": {0.1: 0.9, 0.7: 0.5}, "l1": {0.1: 0.8, 0.7: 0.5}}),
                    rows({"q": {0.7: 0.9}, "l1": {0.7: 0.1}}, stage="finetuned")])
    c = compare_methods(df, "q", ["l1"])
    assert list(c.sparsity) == [0.7] and c.outcome.tolist() == ["tie"]
    assert compare_methods(df, "q", ["l1"], stage="finetuned").outcome.tolist() == ["better"]


def test_missing_method_or_baseline():
    df = rows({"l1": {0.7: 0.5}})
    assert compare_methods(df, "q", ["l1"]).empty
    assert comparison_verdict(compare_methods(df, "q", ["l1"]))[0] == "inconclusive"
    assert compare_methods(pd.DataFrame(), "q", ["l1"]).empty


def test_section_claim_waits_for_qmfrg_then_uses_the_generic_comparison():
    sec = get_section("pruning")
    base = rows({"l1": {s: 0.5 for s in HIGH}, "l2": {s: 0.5 for s in HIGH}, "random": {s: 0.3 for s in HIGH}})
    (claim,) = sec.claims(base)
    assert claim.claim_id == "qmfrg" and claim.verdict == "not measured" and "l1" in claim.evidence
    better = pd.concat([base, rows({"qmfrg": {s: 0.6 for s in HIGH}})])
    (claim,) = sec.claims(better)
    assert claim.verdict == "supported" and "vs random" in claim.evidence
    worse = pd.concat([base, rows({"qmfrg": {s: 0.4 for s in HIGH}}), rows({"qmfrg-aligned": {s: 0.7 for s in HIGH}})])
    verdicts = {c.evidence.split(",")[0]: c.verdict for c in sec.claims(worse)}
    assert verdicts == {"qmfrg": "refuted", "qmfrg-aligned": "supported"}
