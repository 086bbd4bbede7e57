"""``QuantumKernel``: the public API, input kinds, intervals, and every refusal of bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qkernels as qk
from qkernels.core.errors import InputError
from qkernels.quantum import devices as devices_mod
from qkernels.quantum.noise import Noise, as_noise

HYP = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_public_api_is_exported():
    for name in ("QuantumKernel", "plan_shots", "ShotPlan", "Noise", "KernelEstimate", "FSEstimate",
                 "quantum_devices"):
        assert name in qk.__all__ and hasattr(qk, name)


@pytest.mark.parametrize("method", ["swap", "compute_uncompute"])
@pytest.mark.parametrize("mode", ["auto", "plain", "rows", "statevector"])
def test_analytic_values_of_operator_states(method, mode):
    """Real operator states of different lengths (zero-padded): F and d_FS equal the exact metrics."""
    g = torch.Generator().manual_seed(0)
    psi = [qk.state(qk.spectrum(qk.augmented(torch.randn(m, n, generator=g, dtype=torch.float64))))
           for m, n in ((5, 3), (7, 4), (4, 4))]
    k = qk.QuantumKernel(method, mode=mode)
    for i in range(3):
        for j in range(3):
            F = k.fidelity(psi[i], psi[j])
            n = max(len(psi[i]), len(psi[j]))
            a, b = (torch.nn.functional.pad(p, (0, n - len(p))) for p in (psi[i], psi[j]))
            assert F == pytest.approx(float(a @ b) ** 2, abs=1e-12)
            assert k.fs_distance(psi[i], psi[j]) == pytest.approx(float(qk.fs_distance(psi[i], psi[j])), abs=2e-7)


def test_outputs_follow_the_input_kind():
    X = unit(np.random.default_rng(0).standard_normal((3, 5)))
    k = qk.QuantumKernel("compute_uncompute")
    M = k.matrix(X)
    assert isinstance(M, np.ndarray) and M.shape == (3, 3)
    Mt = k.matrix(torch.tensor(X))
    assert isinstance(Mt, torch.Tensor) and Mt.dtype == torch.float64
    np.testing.assert_allclose(Mt.numpy(), M, atol=1e-15)
    D = k.fs_distance(torch.tensor(X), torch.tensor(X[:2]))
    assert isinstance(D, torch.Tensor) and D.shape == (3, 2)
    np.testing.assert_allclose(D.numpy(), qk.pairwise_fs(X, X[:2]), atol=1e-7)
    assert isinstance(k.fidelity(X[0], X[1]), float)


@HYP
@given(st.integers(1, 20), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_any_lengths_give_the_exact_fidelity(n_a, n_b, seed):
    rng = np.random.default_rng(seed)
    a, b = unit(rng.standard_normal(n_a)), unit(rng.standard_normal(n_b))
    n = max(n_a, n_b)
    ref = float(np.pad(a, (0, n - n_a)) @ np.pad(b, (0, n - n_b))) ** 2
    for method in ("swap", "compute_uncompute"):
        assert qk.QuantumKernel(method, mode="rows").fidelity(a, b) == pytest.approx(ref, abs=1e-12)


def test_shots_intervals_and_bias_flag():
    X = unit(np.abs(np.random.default_rng(1).standard_normal((4, 8))))
    k = qk.QuantumKernel("swap", shots=1000, seed=5)
    est = k.estimate(X)
    assert est.shots == 1000 and est.counts.shape == (4, 4) and est.mode == "statevector" and est.qubits == 3
    fs = k.fs_distance(X, confidence=0.9)
    assert isinstance(fs, qk.FSEstimate) and fs.lower.shape == (4, 4) and fs.confidence == 0.9
    assert (fs.lower <= fs.estimate + 1e-12).all() and (fs.estimate <= fs.upper + 1e-12).all()
    assert fs.bias_warning.diagonal().all()  # F̂ = 1 exactly on the diagonal
    one = k.fs_distance(X[0], X[1], confidence=0.95, interval="wilson")
    assert isinstance(one.estimate, float) and isinstance(one.bias_warning, bool)
    assert one.lower <= one.estimate <= one.upper
    pairs = k.estimate_pairs(X, X[::-1])
    assert pairs.fidelity.shape == (4,) and pairs.counts.shape == (4,)


def test_same_seed_same_estimates_and_repr():
    X = unit(np.random.default_rng(2).standard_normal((3, 4)))
    a = qk.QuantumKernel("compute_uncompute", shots=64, seed=9, mode="rows").matrix(X)
    b = qk.QuantumKernel("compute_uncompute", shots=64, seed=9, mode="rows").matrix(X)
    np.testing.assert_array_equal(a, b)
    k = qk.QuantumKernel("swap", "default.mixed", shots=10, noise=0.01, seed=1)
    assert k.mode == "rows" and k.noise == Noise(0.01, "gates") and "default.mixed" in repr(k)


def test_noise_forms():
    assert as_noise(None) is None
    assert as_noise(0.1) == Noise(0.1, "gates")
    assert as_noise((0.2, "measure")) == Noise(0.2, "measure")
    assert as_noise({"p": 1, "where": "gates"}) == Noise(1.0)
    assert str(Noise(0.01)) == "depolarizing p=0.01 after every gate"


@pytest.mark.parametrize("noise, match", [
    (-0.1, r"\[0, 1\]"), (1.5, r"\[0, 1\]"), (float("nan"), "real number"), (True, "expected None"),
    ("0.1", "expected None"), ({"p": 0.1, "kind": "x"}, "keys"), ((0.1, "middle"), "where"),
    ({"where": "gates"}, "keys"),
])
def test_bad_noise_is_refused(noise, match):
    with pytest.raises(InputError, match=match):
        qk.QuantumKernel("swap", "default.mixed", noise=noise)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "hadamard"}, "method"),
    ({"shots": 0}, "shots"), ({"shots": -10}, "shots"), ({"shots": 100.0}, "shots"), ({"shots": 2.5}, "shots"),
    ({"shots": True}, "shots"),
    ({"noise": 0.01}, "default.mixed"),
    ({"device": "qiskit.aer"}, "unknown quantum device"), ({"device": 3}, "unknown quantum device"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
    ({"mode": "gpu"}, "mode"), ({"n_qubits": 0}, "n_qubits"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        qk.QuantumKernel(**kwargs)


def test_missing_plugin_is_refused_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(devices_mod, "is_installed", lambda name: name != "lightning.gpu")
    with pytest.raises(InputError, match=r"lightning.gpu.*not installed.*qkernels\[gpu\]"):
        qk.QuantumKernel(device="lightning.gpu")
    rec = {d["name"]: d for d in qk.quantum_devices()}
    assert rec["default.qubit"]["usable"] and set(rec) >= {"lightning.qubit", "default.mixed", "lightning.kokkos"}


@pytest.mark.parametrize("A, B, match", [
    (np.array([0.6, 0.9]), None, "unit vectors"),
    (np.array([[np.nan, 1.0]]), None, "non-finite"),
    (np.array([[0.6, 0.8j]]), None, "complex"),
    (np.ones((2, 2, 2)) / math.sqrt(2), None, "one state"),
    (np.eye(2), np.array([[0.6, 0.7]]), "unit vectors"),
])
def test_bad_states_are_refused_before_any_circuit(A, B, match):
    with pytest.raises(InputError, match=match):
        qk.QuantumKernel("compute_uncompute").matrix(A, B)


def test_api_shape_refusals():
    k = qk.QuantumKernel("compute_uncompute")
    with pytest.raises(InputError, match="two single states"):
        k.fidelity(np.eye(2), np.eye(2))
    with pytest.raises(InputError, match="single state b"):
        k.fs_distance(np.array([1.0, 0.0]))
    with pytest.raises(InputError, match="same number"):
        k.estimate_pairs(np.eye(2), np.eye(3)[:1])
    with pytest.raises(InputError, match="confidence"):
        k.fs_distance(np.eye(2), confidence=95)
    with pytest.raises(InputError, match="at least 2"):
        qk.QuantumKernel(n_qubits=1).matrix(np.eye(3))
