"""The depolarizing rescaling (qkernels.quantum.mitigation): exact where the model is, a large error
reduction on real noisy circuits, and intervals that cover under the model."""

from __future__ import annotations

import numpy as np
import pytest

from qkernels.quantum import Noise, QuantumKernel
from qkernels.quantum.mitigation import (
    depolarizing_strength,
    mitigate_fidelity,
    mitigated_counts_fidelity,
    mitigated_interval,
    mixed_fidelity,
)
from qkernels.suite.sections.quantum.units import random_pairs


def test_model_inverted_exactly():
    F = np.linspace(0, 1, 11)
    for method, q in (("swap", 2), ("compute_uncompute", 2), ("compute_uncompute", 4)):
        c = mixed_fidelity(method, q)
        lam = 0.3
        noisy, cal = (1 - lam) * F + lam * c, (1 - lam) + lam * c
        np.testing.assert_allclose(depolarizing_strength(cal, method, q), lam)
        np.testing.assert_allclose(mitigate_fidelity(noisy, cal, method, q), F, atol=1e-12)
    assert np.isnan(mitigate_fidelity(0.5, 0.0, "swap", 1))  # calibration at the fully mixed value


def test_swap_measurement_noise_is_undone_exactly():
    ps = random_pairs(2, (0.1, 0.7, 1.3), seed=1)
    k = QuantumKernel("swap", "default.mixed", None, Noise(0.05, "measure"))
    F = k.estimate_pairs(ps.A, ps.B).fidelity
    C = (k.estimate_pairs(ps.A, ps.A).fidelity + k.estimate_pairs(ps.B, ps.B).fidelity) / 2
    np.testing.assert_allclose(mitigate_fidelity(F, C, "swap", ps.qubits), ps.f_exact, atol=1e-10)


def test_rescaling_reduces_the_gate_noise_error():
    """Compute-uncompute with depolarizing noise after every gate (local, not the global model):
    the rescaling, calibrated on the pair's own states, removes almost all of the bias."""
    ps = random_pairs(3, (0.05, 0.2, 0.7, 1.3), seed=3)
    k = QuantumKernel("compute_uncompute", "default.mixed", None, Noise(0.01, "gates"))
    F = k.estimate_pairs(ps.A, ps.B).fidelity
    C = (k.estimate_pairs(ps.A, ps.A).fidelity + k.estimate_pairs(ps.B, ps.B).fidelity) / 2
    raw = np.abs(F - ps.f_exact).max()
    mit = np.abs(mitigate_fidelity(F, C, "compute_uncompute", ps.qubits) - ps.f_exact).max()
    assert raw > 0.02 and mit < raw / 10


@pytest.mark.parametrize("method", ["swap", "compute_uncompute"])
def test_interval_covers_under_the_model(method):
    rng = np.random.default_rng(0)
    q, S, lam, runs = 3, 500, 0.2, 4000
    c = mixed_fidelity(method, q)
    for F in (0.05, 0.5, 0.95):
        f_noisy, f_cal = (1 - lam) * F + lam * c, (1 - lam) + lam * c
        p, pc = ((1 + f_noisy) / 2, (1 + f_cal) / 2) if method == "swap" else (f_noisy, f_cal)
        k, kc = rng.binomial(S, p, runs), rng.binomial(2 * S, pc, runs)
        lo, hi = mitigated_interval(k, S, kc, 2 * S, method, q, 0.95)
        assert np.mean((lo <= F) & (F <= hi)) >= 0.95
        est = mitigated_counts_fidelity(k, S, kc, 2 * S, method, q)
        assert abs(np.nanmean(est) - F) < 0.01  # nearly unbiased
