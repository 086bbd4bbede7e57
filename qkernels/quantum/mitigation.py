"""Depolarizing rescaling: a simple mitigation of noisy fidelity estimates, calibrated on F = 1.

**Model** (docs/quantum.md#mitigation derives it). Under a *global* depolarizing channel of
strength λ on the measured register, ρ → (1 − λ)ρ + λ·I/D, the counted outcome's probability
moves towards its value for the fully mixed state, and so does the fidelity read from it:

    F_noisy = (1 − λ)·F + λ·c,    c = 0 (swap test: the ancilla reads 0 with probability 1/2)
                                  c = 2^−q (compute-uncompute: all q wires read 0 with 1/2^q).

**Calibration.** λ is not known. A circuit of the same estimator on a pair a = a has F = 1 by
construction, whatever a is (no exact answer is used), so its measured fidelity C gives
λ̂ = (1 − C)/(1 − c). The qkernels section runs one such circuit for each state of a pair, on the
same register and with the same noise and shots, and pools their counts (2S shots of F = 1).

**Mitigated estimate.** F̃ = (F̂ − λ̂c)/(1 − λ̂) = c + (F̂ − c)(1 − c)/(C − c), then
d̃ = arccos √clip(F̃, 0, 1). The map is increasing in F̂ and, where F̂ > c, decreasing in C.

**Interval.** Clopper–Pearson intervals for the pair's counts and for the calibration counts,
each at level 1 − δ/2, are mapped through the rescaling at their worst-case corners (lower end:
smallest F̂ with the C that makes it smallest; upper end the other way). If the model holds, the
interval covers the exact F with probability ≥ 1 − δ (Bonferroni). Where the calibration cannot
be told from the fully mixed value (C ≤ c) the interval is [0, 1].

Local (per-qubit) depolarizing noise, as :mod:`~qkernels.quantum.noise` inserts it, is not
exactly global: the remaining bias is what the ``quantum`` section measures.

Example:
    >>> round(float(mitigate_fidelity(0.45, 0.9, "swap", 3)), 6)           # F̂ / C for the swap test
    0.5
    >>> round(float(depolarizing_strength(0.9, "compute_uncompute", 1)), 6)  # (1 − 0.9) / (1 − 1/2)
    0.2
    >>> lo, hi = mitigated_interval(450, 1000, 1800, 2000, "compute_uncompute", 3)
    >>> bool(lo < 0.5 < hi)
    True
"""

from __future__ import annotations

import numpy as np

from qkernels.quantum.estimation import (
    check_confidence,
    check_method,
    fidelity_from_counts,
    fidelity_from_probability,
    proportion_interval,
)


def mixed_fidelity(method: str, qubits: int) -> float:
    """c: the fidelity read from the fully mixed state (0 for the swap test, 2^−q for compute-uncompute)."""
    return 0.0 if check_method(method) == "swap" else 2.0 ** -int(qubits)


def depolarizing_strength(F_cal: np.ndarray | float, method: str, qubits: int) -> np.ndarray:
    """λ̂ = (1 − C)/(1 − c) from the measured fidelity C of an F = 1 calibration circuit."""
    c = mixed_fidelity(method, qubits)
    return (1.0 - np.asarray(F_cal, dtype=np.float64)) / (1.0 - c)


def mitigate_fidelity(F_hat: np.ndarray | float, F_cal: np.ndarray | float, method: str,
                      qubits: int) -> np.ndarray:
    """F̃ = c + (F̂ − c)(1 − c)/(C − c): the estimate with the calibrated depolarizing rescaling undone
    (unclipped; NaN where C ≤ c, i.e. the calibration cannot be told from the fully mixed state)."""
    c = mixed_fidelity(method, qubits)
    F_hat = np.asarray(F_hat, dtype=np.float64)
    den = np.asarray(F_cal, dtype=np.float64) - c
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c + (F_hat - c) * (1.0 - c) / den
    return np.where(den > 0, out, np.nan)


def mitigated_counts_fidelity(k: np.ndarray, shots: int, k_cal: np.ndarray, cal_shots: int, method: str,
                              qubits: int) -> np.ndarray:
    """:func:`mitigate_fidelity` from counts: k of ``shots`` for the pair, k_cal of ``cal_shots`` (F = 1)."""
    return mitigate_fidelity(fidelity_from_counts(k, shots, method), fidelity_from_counts(k_cal, cal_shots, method),
                             method, qubits)


def mitigated_interval(k: np.ndarray, shots: int, k_cal: np.ndarray, cal_shots: int, method: str, qubits: int,
                       confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Interval for the exact F after rescaling (the module docstring), clipped to [0, 1]."""
    conf = check_confidence(confidence)
    half = 1.0 - (1.0 - conf) / 2.0
    plo, phi = proportion_interval(k, shots, half)
    clo, chi = proportion_interval(k_cal, cal_shots, half)
    Flo, Fhi = fidelity_from_probability(plo, method), fidelity_from_probability(phi, method)
    Clo, Chi = fidelity_from_probability(clo, method), fidelity_from_probability(chi, method)
    c = mixed_fidelity(method, qubits)
    lo = np.where(Flo >= c, mitigate_fidelity(Flo, Chi, method, qubits), mitigate_fidelity(Flo, Clo, method, qubits))
    hi = np.where(Fhi >= c, mitigate_fidelity(Fhi, Clo, method, qubits), mitigate_fidelity(Fhi, Chi, method, qubits))
    bad = ~(Clo > c)
    lo = np.where(bad | ~np.isfinite(lo), 0.0, lo)
    hi = np.where(bad | ~np.isfinite(hi), 1.0, hi)
    return np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)


__all__ = ["mixed_fidelity", "depolarizing_strength", "mitigate_fidelity", "mitigated_counts_fidelity",
           "mitigated_interval"]
