"""Amplitude encoding and the Householder reflection, against NumPy and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.quantum.encoding import (
    check_state_matrix,
    encode_states,
    exact_fidelity,
    fs_from_overlap,
    qubits_for,
    reflection,
    reflections,
    resolve_qubits,
)

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unit_vectors(min_len=1, max_len=40):
    return st.integers(min_len, max_len).flatmap(lambda n: st.lists(
        st.floats(-10, 10, allow_nan=False, allow_infinity=False), min_size=n, max_size=n)).filter(
        lambda v: np.linalg.norm(v) > 1e-3).map(lambda v: np.asarray(v) / np.linalg.norm(v))


@pytest.mark.parametrize("n, q", [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (64, 6), (65, 7), (513, 10), (1024, 10)])
def test_qubits_for_is_ceil_log2_at_least_one(n, q):
    assert qubits_for(n) == q
    assert 2 ** q >= n and (q == 1 or 2 ** (q - 1) < n)


def test_encoding_pads_and_keeps_inner_products():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 11))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    enc = encode_states(X)
    assert enc.qubits == 4 and enc.states.shape == (5, 16) and enc.kind == "numpy" and not enc.vector
    np.testing.assert_array_equal(enc.states[:, 11:], 0)
    np.testing.assert_allclose(enc.states @ enc.states.T, X @ X.T, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(enc.states, axis=1), 1, atol=1e-15)
    big = encode_states(X, n_qubits=6)
    assert big.states.shape == (5, 64)
    t = encode_states(torch.tensor(X[0]))
    assert t.kind == "torch" and t.vector and t.states.shape == (1, 16)


def test_nearly_unit_states_are_renormalized_exactly():
    v = np.array([0.6, 0.8]) * (1 + 5e-7)  # within the 1e-6 tolerance of check_states
    enc = encode_states(v)
    assert abs(np.linalg.norm(enc.states[0]) - 1) < 1e-15


@pytest.mark.parametrize("bad, match", [
    (np.array([0.6, 0.9]), "unit vectors"),
    (np.array([np.nan, 1.0]), "non-finite"),
    (np.array([np.inf, 0.0]), "non-finite"),
    (np.array([0.6, 0.8j]), "complex"),
    (np.ones((2, 2, 2)) / np.sqrt(2), "one state"),
    (np.zeros((0, 3)), "empty"),
])
def test_bad_states_are_refused_naming_the_argument(bad, match):
    with pytest.raises(InputError, match=match) as info:
        check_state_matrix(bad, "Psi")
    assert "Psi" in str(info.value)


@pytest.mark.parametrize("n_qubits, match", [(2, "at least 3"), (0, "at least"), (2.5, "positive integer"),
                                             (True, "positive integer")])
def test_bad_qubit_counts_are_refused(n_qubits, match):
    with pytest.raises(InputError, match=match):
        resolve_qubits(5, n_qubits)


@HYP
@given(unit_vectors(1, 33), st.integers(0, 2**32 - 1))
def test_reflection_prepares_the_state_and_inverts_itself(b, seed):
    d = 1 << qubits_for(len(b))
    b = np.pad(b, (0, d - len(b)))
    U = reflection(b)
    np.testing.assert_allclose(U, U.T, atol=1e-15)
    np.testing.assert_allclose(U @ U, np.eye(d), atol=1e-13)
    assert abs(abs(U[:, 0] @ b) - 1) < 1e-13  # U|0> = ±|b>
    a = np.random.default_rng(seed).standard_normal(d)
    a /= np.linalg.norm(a)
    # compute-uncompute: |<0|U_a|b>|² = |<a|b>|²
    assert abs((U @ a)[0] ** 2 - (a @ b) ** 2) < 1e-13


def test_reflection_edge_cases_and_batches():
    e0 = np.array([1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(reflection(e0) @ e0, -e0)
    np.testing.assert_allclose(reflection(-e0) @ e0, -e0)  # s = -1: U|0> = +|b> = -e0
    near = np.array([1 - 1e-17, 1e-9, 0, 0])
    U = reflection(near / np.linalg.norm(near))
    np.testing.assert_allclose(U @ U, np.eye(4), atol=1e-15)
    B = np.random.default_rng(1).standard_normal((3, 8))
    B /= np.linalg.norm(B, axis=1, keepdims=True)
    for k, Uk in enumerate(reflections(B)):
        np.testing.assert_allclose(Uk, reflection(B[k]), atol=0)


def test_exact_fidelity_and_fs_from_overlap():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 6))
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    F = exact_fidelity(A)
    ref = np.array([[np.dot(a, b) ** 2 for b in A] for a in A])
    np.testing.assert_allclose(F, ref, atol=1e-15)
    theta = np.array([0.0, 0.3, 1.0, np.pi / 2])
    np.testing.assert_allclose(fs_from_overlap(np.cos(theta) ** 2), theta, rtol=1e-12, atol=1e-16)
    x = 2.0 ** -np.arange(20, 50, 5)  # F = 1 − x exactly representable: d = arcsin √x, full precision
    np.testing.assert_allclose(fs_from_overlap(1 - x), np.arcsin(np.sqrt(x)), rtol=1e-14)
    assert fs_from_overlap(1.5) == 0.0 and fs_from_overlap(-0.2) == pytest.approx(np.pi / 2)
