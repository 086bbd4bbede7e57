"""Quantum-kernel estimation of operator fidelities and Fubini–Study distances with PennyLane.

Modules: :mod:`.encoding` (amplitude encoding, reflections), :mod:`.circuits` (QNodes),
:mod:`.noise` (depolarizing noise models), :mod:`.devices` (which devices are usable),
:mod:`.memory` (memory limits), :mod:`.engine` (kernel matrices: plain, rows, statevector),
:mod:`.estimation` (counts to estimates, intervals, bias), :mod:`.planner` (shots for a target
error), :mod:`.kernel` (:class:`QuantumKernel`), :mod:`.speed` (speed goals). PennyLane is
imported only when a circuit is built, so importing this package stays cheap.

Example:
    >>> import numpy as np
    >>> from qkernels.quantum import QuantumKernel, plan_shots
    >>> round(QuantumKernel("compute_uncompute").fidelity(np.array([1.0, 0.0]), np.array([0.6, 0.8])), 9)
    0.36
    >>> plan_shots(0.1, 0.05, "compute_uncompute").shots
    369
"""

from __future__ import annotations

from qkernels.quantum.devices import QUANTUM_DEVICES, quantum_devices
from qkernels.quantum.encoding import encode_states, exact_fidelity, qubits_for, reflection
from qkernels.quantum.engine import MODES
from qkernels.quantum.estimation import (
    BIAS_THRESHOLD,
    METHODS,
    FSEstimate,
    KernelEstimate,
    bias_warning,
    fidelity_from_counts,
    fidelity_interval,
    fidelity_std,
    fs_bias,
    fs_from_fidelity,
    fs_interval,
    proportion_interval,
)
from qkernels.quantum.kernel import QuantumKernel
from qkernels.quantum.noise import Noise
from qkernels.quantum.planner import ShotPlan, failure_probability, plan_shots

__all__ = ["QuantumKernel", "KernelEstimate", "FSEstimate", "Noise", "ShotPlan", "plan_shots", "failure_probability",
           "fidelity_from_counts", "fidelity_interval", "fs_interval", "fs_from_fidelity", "fidelity_std",
           "proportion_interval", "bias_warning", "fs_bias", "BIAS_THRESHOLD", "METHODS", "MODES", "QUANTUM_DEVICES",
           "quantum_devices", "encode_states", "exact_fidelity", "qubits_for", "reflection"]
