"""Counts to estimates, intervals and bias, against scipy.stats and exact binomial sums.

Statistical checks use fixed seeds (deterministic) and tolerances whose false-failure probability
for a correct implementation is stated next to them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qkernels.core.errors import InputError
from qkernels.quantum.estimation import (
    BIAS_THRESHOLD,
    KernelEstimate,
    bias_warning,
    check_confidence,
    check_method,
    check_shots,
    fidelity_from_counts,
    fidelity_interval,
    fidelity_std,
    fs_bias,
    fs_from_fidelity,
    fs_interval,
    proportion_interval,
    success_probability,
)

METHODS = ("swap", "compute_uncompute")


@pytest.mark.parametrize("method", METHODS)
def test_probability_and_fidelity_maps_invert(method):
    F = np.linspace(0, 1, 11)
    p = success_probability(F, method)
    if method == "swap":
        np.testing.assert_allclose(p, (1 + F) / 2)
    else:
        np.testing.assert_allclose(p, F)
    k = np.rint(p * 1000)
    np.testing.assert_allclose(fidelity_from_counts(k, 1000, method), F, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("F", [0.0, 0.3, 0.9, 0.999])
def test_fidelity_std_is_the_binomial_variance_mapped(method, F):
    S = 500
    p = float(success_probability(F, method))
    beta = 2.0 if method == "swap" else 1.0
    ref = beta * math.sqrt(stats.binom.var(S, p)) / S
    assert float(fidelity_std(F, S, method)) == pytest.approx(ref, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("interval, scipy_method", [("clopper-pearson", "exact"), ("wilson", "wilson")])
@pytest.mark.parametrize("n", [1, 10, 100, 1000])
def test_proportion_interval_matches_scipy(interval, scipy_method, n):
    k = np.unique(np.linspace(0, n, 12).round().astype(int))
    lo, hi = proportion_interval(k, n, 0.9, interval)
    for i, kk in enumerate(k):
        ci = stats.binomtest(int(kk), n).proportion_ci(confidence_level=0.9, method=scipy_method)
        assert lo[i] == pytest.approx(ci.low, abs=1e-12) and hi[i] == pytest.approx(ci.high, abs=1e-12)


@pytest.mark.parametrize("n", [20, 200])
def test_clopper_pearson_coverage_is_at_least_nominal_for_every_p(n):
    """Exact coverage (sum over the binomial) on a fine grid of p: never below 1 − δ."""
    conf = 0.95
    k = np.arange(n + 1)
    lo, hi = proportion_interval(k, n, conf)
    for p in np.linspace(0.001, 0.999, 499):
        pmf = stats.binom.pmf(k, n, p)
        cover = float(pmf[(lo <= p) & (p <= hi)].sum())
        assert cover >= conf - 1e-12, (p, cover)


@pytest.mark.parametrize("method", METHODS)
def test_fs_interval_is_the_mapped_proportion_interval(method):
    S = 400
    k = np.array([0, 1, 37, 200, 333, 399, 400])
    plo, phi = proportion_interval(k, S, 0.95)
    Flo, Fhi = fidelity_interval(k, S, method, 0.95)
    dlo, dhi = fs_interval(k, S, method, 0.95)
    beta, alpha = (2.0, -1.0) if method == "swap" else (1.0, 0.0)
    np.testing.assert_allclose(Flo, np.clip(beta * plo + alpha, 0, 1), atol=1e-15)
    np.testing.assert_allclose(Fhi, np.clip(beta * phi + alpha, 0, 1), atol=1e-15)
    np.testing.assert_allclose(dlo, np.arccos(np.sqrt(Fhi)), atol=1e-7)  # arccos itself is inexact near F = 1
    np.testing.assert_allclose(dhi, np.arccos(np.sqrt(Flo)), atol=1e-7)
    assert (dlo <= dhi).all() and (dlo >= 0).all() and (dhi <= np.pi / 2 + 1e-15).all()
    est = fs_from_fidelity(fidelity_from_counts(k, S, method))
    assert ((dlo <= est + 1e-12) & (est <= dhi + 1e-12)).all()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("S, F", [(100, 0.99), (1000, 0.999), (1000, 0.5), (200, 0.05)])
def test_fs_bias_matches_simulation(method, S, F):
    """Exact bias against 200,000 seeded binomial draws; 5 standard errors (false failure < 1e-6)."""
    rng = np.random.default_rng(11)
    p = float(success_probability(F, method))
    d_hat = fs_from_fidelity(fidelity_from_counts(rng.binomial(S, p, size=200_000), S, method))
    mc = d_hat.mean() - float(fs_from_fidelity(F))
    se = d_hat.std() / math.sqrt(d_hat.size)
    assert abs(float(fs_bias(F, S, method)) - mc) <= 5 * se + 1e-12


def test_bias_facts_of_the_design_notes():
    """At S(1 − F) = 1 the bias is −38% (swap) / −23% (compute-uncompute); at 10 it is within 3%."""
    S = 1000
    for method, expected in (("swap", -0.38), ("compute_uncompute", -0.23)):
        F = 1 - 1 / S
        rel = float(fs_bias(F, S, method) / fs_from_fidelity(F))
        assert rel == pytest.approx(expected, abs=0.01)
        F10 = 1 - BIAS_THRESHOLD / S
        assert abs(float(fs_bias(F10, S, method) / fs_from_fidelity(F10))) <= 0.03
    np.testing.assert_array_equal(fs_bias(np.array([[0.5, 0.9]]), 50, "swap").shape, (1, 2))


def test_bias_warning_flags_small_budgets():
    F = np.array([1.0, 0.999, 0.99, 0.5, 1.2])
    np.testing.assert_array_equal(bias_warning(F, 1000), [True, True, False, False, True])
    np.testing.assert_array_equal(bias_warning(F, None), [False] * 5)


@pytest.mark.parametrize("bad", [0, -5, 1.5, 100.0, True, "100", np.float64(10.0)])
def test_bad_shots_are_refused(bad):
    with pytest.raises(InputError, match="shots"):
        check_shots(bad)


def test_good_shots_and_other_checks():
    assert check_shots(None) is None and check_shots(np.int64(7)) == 7
    with pytest.raises(InputError, match="shots"):
        check_shots(None, allow_none=False)
    with pytest.raises(InputError, match="method"):
        check_method("hadamard")
    for bad in (0, 1, 1.5, -0.1, True, "0.9"):
        with pytest.raises(InputError, match="confidence"):
            check_confidence(bad)
    with pytest.raises(InputError, match="interval"):
        proportion_interval(np.array([1]), 10, 0.9, "jeffreys")


def test_kernel_estimate_helpers():
    k = np.array([[100, 80], [80, 100]])
    est = KernelEstimate(fidelity_from_counts(k, 100, "compute_uncompute"), k, 100, "compute_uncompute")
    assert est.entries == 4
    np.testing.assert_allclose(est.fs_distance(), fs_from_fidelity(k / 100))
    lo, hi = est.fs_interval(0.9)
    np.testing.assert_allclose(lo, fs_interval(k, 100, "compute_uncompute", 0.9)[0])
    assert est.bias_warning().tolist() == [[True, False], [False, True]]
    fs = est.fs(0.9)
    assert fs.confidence == 0.9 and fs.bias_warning.shape == (2, 2)
    exact = KernelEstimate(np.array([0.25, 1.0000000001]), None, None, "swap")
    lo, hi = exact.fidelity_interval()
    np.testing.assert_array_equal(lo, hi)
    assert hi[1] == 1.0 and not exact.bias_warning().any()
