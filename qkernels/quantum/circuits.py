"""The kernel circuits as PennyLane QNodes: swap test, compute-uncompute, state preparation.

Wires are numbered from 0, wire 0 the most significant (PennyLane's convention).

* Swap test on 2q + 1 wires: ONE ``StatePrep`` writes |0⟩ ⊗ |a⟩ ⊗ |b⟩ (ancilla, register a on
  wires 1..q, register b on wires q+1..2q), then H on the ancilla, CSWAP(0, 1+k, 1+q+k) for
  k < q, H, and the ancilla's probabilities: P(0) = (1 + F)/2. A single StatePrep as the first
  operation is written into the simulator's state directly; two StatePreps would make the second
  one decompose into gates (24x slower at 8 qubits).
* Compute-uncompute, textbook form (the reference): ``StatePrep(a)``, ``adjoint(StatePrep(b))``,
  probabilities of all q wires: P(0…0) = |⟨b|a⟩|² = F. The adjoint preparation decomposes into
  Möttönen rotations, so its cost grows like 2^q gates.
* Compute-uncompute, reflection form (the fast path): ``StatePrep(b)`` then the Householder
  reflection U_a of :mod:`~qkernels.quantum.encoding` as one ``QubitUnitary``:
  P(0…0) = |⟨0|U_a|b⟩|² = |⟨a|b⟩|² = F. Both inputs broadcast: a batch of states b with one U_a
  (a matrix row) or a batch of (b, U_a) pairs.
* State preparation: ``StatePrep(x)`` and ``qml.state()`` (the statevector mode).

Every QNode is built with ``diff_method=None`` (nothing here is differentiated, and resolving a
gradient method costs milliseconds per call on lightning devices).

Example:
    >>> import numpy as np
    >>> x = swap_inputs(np.array([[1.0, 0.0]]), np.array([[0.6, 0.8]]))
    >>> x.shape, x[0, :4].tolist()
    ((1, 8), [0.6, 0.8, 0.0, 0.0])
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from qkernels.quantum.noise import Noise, noise_model

Circuit = Literal["swap", "cu_adjoint", "cu_reflection", "state"]


def swap_wires(q: int) -> int:
    """Wires of the swap test for q-qubit states: 2q + 1."""
    return 2 * q + 1


def swap_inputs(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Amplitudes of |0⟩ ⊗ |a_k⟩ ⊗ |b_k⟩ for row-aligned A, B of shape (n, 2^q): (n, 2^(2q+1))."""
    n, d = A.shape
    out = np.zeros((n, 2 * d * d), dtype=np.float64)
    out[:, : d * d] = (A[:, :, None] * B[:, None, :]).reshape(n, d * d)
    return out


def build_qnode(circuit: Circuit, device: Any, q: int, noise: Noise | None = None, shots: int | None = None) -> Any:
    """A QNode of ``circuit`` for q-qubit states on ``device`` (with noise and shots when given).

    Call signatures: swap(state), cu_adjoint(a, b), cu_reflection(b, U), state(x); each returns
    probabilities (swap: of the ancilla; compute-uncompute: of all q wires) or the state.
    """
    import pennylane as qml

    if circuit == "swap":
        w = swap_wires(q)

        def fn(state):
            qml.StatePrep(state, wires=range(w))
            qml.Hadamard(0)
            for k in range(q):
                qml.CSWAP(wires=[0, 1 + k, 1 + q + k])
            qml.Hadamard(0)
            return qml.probs(wires=[0])
    elif circuit == "cu_adjoint":

        def fn(a, b):
            qml.StatePrep(a, wires=range(q))
            qml.adjoint(qml.StatePrep(b, wires=range(q)))
            return qml.probs(wires=range(q))
    elif circuit == "cu_reflection":

        def fn(b, U):
            qml.StatePrep(b, wires=range(q))
            qml.QubitUnitary(U, wires=range(q))
            return qml.probs(wires=range(q))
    elif circuit == "state":

        def fn(x):
            qml.StatePrep(x, wires=range(q))
            return qml.state()
    else:
        raise ValueError(f"unknown circuit {circuit!r}")
    node = qml.QNode(fn, device, diff_method=None)
    if noise is not None:
        node = qml.add_noise(node, noise_model(noise))
    if shots is not None:
        node = qml.set_shots(node, shots=shots)
    return node


def outcome_zero(probs: Any) -> np.ndarray:
    """P(0) (swap test) or P(0…0) (compute-uncompute) from a QNode's probabilities, batched."""
    P = np.asarray(probs, dtype=np.float64)
    return P[..., 0].reshape(-1)


__all__ = ["swap_wires", "swap_inputs", "build_qnode", "outcome_zero", "Circuit"]
