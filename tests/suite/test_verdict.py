"""The verdict engine against independent references (scipy, brute force) and its properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from qkernels.suite.verdict import (
    ALPHA,
    Comparison,
    decide,
    holm,
    mcnemar_exact,
    paired_comparison,
    testset_variance,
    verdict_of,
    worst,
)


def holm_reference(p):
    """Holm by its definition: reject H_(i) iff p_(j) <= alpha / (k - j + 1) for all j <= i; the adjusted
    p-value is the smallest alpha at which H_i is rejected (searched on a fine grid of candidates)."""
    k = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(k)
    for rank, i in enumerate(order):
        adj[i] = min(1.0, max((k - j) * p[order[j]] for j in range(rank + 1)))
    return adj


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_matches_its_definition(p):
    p = np.array(p)
    assert holm(p) == pytest.approx(holm_reference(p))
    # the rejections at 0.05 are those of the step-down procedure
    k, rejected, order = len(p), set(), np.argsort(p, kind="stable")
    for j, i in enumerate(order):
        if p[i] <= 0.05 / (k - j):
            rejected.add(i)
        else:
            break
    assert {i for i in range(k) if holm(p)[i] <= 0.05} == rejected


def test_holm_keeps_nan():
    out = holm([0.01, math.nan, 0.02])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (10, 2), (3, 9), (25, 25), (40, 12)])
def test_mcnemar_is_the_exact_binomial_test(b, c):
    ref = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(ref)


def test_paired_comparison_against_scipy():
    d = np.array([0.01, 0.03, 0.02, 0.05, -0.01])
    c = paired_comparison("x", d)
    t = stats.ttest_1samp(d, 0.0, alternative="greater")
    assert c.df == 4 and c.n == 5
    assert stats.t.sf(c.estimate / c.se, c.df) == pytest.approx(t.pvalue)
    # the finite test set adds its variance
    assert paired_comparison("x", d, test_var=1e-4).se == pytest.approx(math.sqrt(c.se ** 2 + 1e-4))
    one = paired_comparison("x", [0.02], test_var=1e-4)
    assert one.df == math.inf and one.se == pytest.approx(0.01)
    assert not paired_comparison("x", [0.02]).usable() and not paired_comparison("x", []).usable()


def test_testset_variance_against_brute_force():
    rng = np.random.default_rng(0)
    D = rng.integers(-1, 2, size=(3, 200))
    e = D.mean(axis=0)
    assert testset_variance(D) == pytest.approx(np.var(e, ddof=1) / 200)


def test_verdict_vocabulary():
    sup = decide([Comparison("a", 0.05, 0.01, 9, 10), Comparison("b", 0.03, 0.01, 9, 10)], margin=0.01)
    assert sup.verdict == "supported" and (sup.family.p_positive_holm < ALPHA).all()
    worse = decide([Comparison("a", 0.05, 0.01, 9, 10), Comparison("b", -0.03, 0.01, 9, 10)], margin=0.01)
    assert worse.verdict == "refuted" and worse.headline.startswith("b:")
    # equivalent within the margin: refuted (the claimed effect is excluded), not "inconclusive"
    eq = decide([Comparison("a", 0.0, 0.001, 9, 10)], margin=0.01)
    assert eq.verdict == "refuted" and eq.family.hi.iloc[0] < 0.01
    # a wide interval: neither
    wide = decide([Comparison("a", 0.0, 0.05, 9, 10)], margin=0.01)
    assert wide.verdict == "inconclusive"
    none = decide([Comparison("a", math.nan, math.nan, math.nan, 0, "no data")], margin=0.01)
    assert none.verdict == "not measured" and "no data" in none.evidence


def test_intervals_are_bonferroni_over_the_family():
    fam = [Comparison(x, 0.02, 0.01, 9, 10) for x in "abc"]
    t = decide(fam, margin=0.01).family
    assert (t.hi - t.estimate).to_numpy() == pytest.approx(stats.t.ppf(1 - ALPHA / 3, 9) * 0.01)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.2, 0.2), st.floats(0.001, 0.1), st.sampled_from([1, 4, 9, 29, math.inf])),
                min_size=1, max_size=5), st.floats(0.0, 0.05))
def test_fast_verdict_equals_decide_and_is_monotone(items, margin):
    fam = [Comparison(f"c{i}", e, s, df, 10) for i, (e, s, df) in enumerate(items)]
    arr = [np.array(x) for x in zip(*items)]
    v = decide(fam, margin=margin).verdict
    assert verdict_of(*arr, margin) == v
    # raising every estimate never turns a verdict against the claim
    up = verdict_of(arr[0] + 0.05, arr[1], arr[2], margin)
    rank = {"supported": 0, "inconclusive": 1, "refuted": 2}
    assert rank[up] <= rank[v]


def test_error_rates_of_one_comparison_by_simulation():
    rng = np.random.default_rng(1)
    n, sims, margin = 10, 4000, 0.01
    counts = {}
    for effect in (0.0, margin):
        d = rng.normal(effect, 0.02, size=(sims, n))
        est, se = d.mean(axis=1), d.std(axis=1, ddof=1) / math.sqrt(n)
        counts[effect] = [verdict_of(np.array([e]), np.array([s]), np.array([n - 1]), margin) for e, s in zip(est, se)]
    false_sup = counts[0.0].count("supported") / sims
    false_ref = counts[margin].count("refuted") / sims
    assert false_sup == pytest.approx(ALPHA, abs=0.01) and false_ref == pytest.approx(ALPHA, abs=0.01)


def test_worst():
    assert worst(["supported", "supported"]) == "supported"
    for a, b in itertools.product(["supported", "inconclusive", "refuted"], repeat=2):
        w = worst([a, b, "not measured"])
        assert w == ("refuted" if "refuted" in (a, b) else "supported" if a == b == "supported" else "inconclusive")
