"""Amplitude encoding of operator states on qubits, and the reflection that prepares a state.

A state ψ of length N (a unit vector: an operator's normalized singular values, or any real
unit vector) is written into the amplitudes of q = max(1, ⌈log₂ N⌉) qubits after zero padding
to 2^q entries. Zero padding changes no inner product, so the fidelity F = |⟨a|b⟩|² and
d_FS = arccos √F of the encoded states equal those of the original (padded) spectra. States of
different lengths are padded to a common length first (as :mod:`qkernels.geometry.distances` does).

Inputs are validated with :func:`qkernels.geometry.distances.check_states` (finite, real, unit within
1e-6 in float64 and 1e-4 in float32) and then renormalized exactly in float64, so the circuits
and the exact reference see the same unit vectors.

The compute-uncompute estimator needs a unitary U with U|0⟩ ∝ |a⟩. For a real unit vector a the
Householder reflection U_a = I − 2vvᵀ/(vᵀv) with v = a + s·e₀, s = sign(a₀) (+1 for a₀ = 0), is
one: U_a|0⟩ = −s|a⟩ (a global phase), U_a is real, symmetric and its own inverse, and the choice
of s avoids cancellation in v. Hence |⟨0|U_a|b⟩|² = |⟨a|b⟩|².

Example:
    >>> import numpy as np
    >>> enc = encode_states(np.array([[0.6, 0.8, 0.0]]), "A")
    >>> enc.qubits, enc.states.tolist()
    (2, [[0.6, 0.8, 0.0, 0.0]])
    >>> U = reflection(np.array([0.6, 0.8]))
    >>> np.allclose(np.abs(U[:, 0]), [0.6, 0.8]), np.allclose(U @ U, np.eye(2))
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qkernels.core.arrays import ArrayLike, Kind
from qkernels.core.errors import InputError
from qkernels.geometry.distances import check_states


def qubits_for(n: int) -> int:
    """Qubits needed to hold n amplitudes: max(1, ⌈log₂ n⌉).

    Example:
        >>> [qubits_for(n) for n in (1, 2, 3, 8, 9, 513)]
        [1, 1, 2, 3, 4, 10]
    """
    if n < 1:
        raise InputError(f"a state needs at least one amplitude, got length {n}")
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class StateInfo:
    """A validated state matrix before padding: rows, length, dtype kind, whether it was 1-D."""

    tensor: torch.Tensor
    kind: Kind
    vector: bool

    @property
    def rows(self) -> int:
        return int(self.tensor.shape[0])

    @property
    def length(self) -> int:
        return int(self.tensor.shape[1])


@dataclass(frozen=True)
class Encoded:
    """States padded to 2^qubits amplitudes (float64, exactly unit rows)."""

    states: np.ndarray
    qubits: int
    kind: Kind
    vector: bool


def check_state_matrix(X: ArrayLike, name: str) -> StateInfo:
    """Validate one state (1-D) or a matrix of states (2-D, one per row); no padding yet.

    Raises:
        InputError: NaN/Inf, complex, empty, more than 2 dimensions, or rows that are not unit
            vectors; the message names ``name``.
    """
    t, kind = check_states(X, name)
    if t.ndim > 2:
        raise InputError(f"{name}: expected one state (1-D) or one state per row (2-D), got shape {tuple(t.shape)}")
    vector = t.ndim == 1
    t = t.reshape(1, -1) if vector else t
    return StateInfo(t.detach().to("cpu", torch.float64), kind, vector)


def resolve_qubits(length: int, n_qubits: int | None) -> int:
    """The register size for states of ``length`` amplitudes (``n_qubits`` pads further)."""
    need = qubits_for(length)
    if n_qubits is None:
        return need
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)):
        raise InputError(f"n_qubits: expected a positive integer or None, got {n_qubits!r}")
    if n_qubits < need:
        raise InputError(f"n_qubits: states of length {length} need at least {need} qubits, got {n_qubits}")
    return int(n_qubits)


def pad_states(info: StateInfo, qubits: int) -> Encoded:
    """Zero-pad validated states to 2^qubits amplitudes and renormalize them exactly."""
    X = info.tensor.numpy()
    out = np.zeros((info.rows, 1 << qubits), dtype=np.float64)
    out[:, : info.length] = X / np.linalg.norm(X, axis=1, keepdims=True)
    return Encoded(out, qubits, info.kind, info.vector)


def encode_states(X: ArrayLike, name: str = "A", n_qubits: int | None = None) -> Encoded:
    """Validate and amplitude-encode states: rows padded to 2^q, q = max(1, ⌈log₂ N⌉) or n_qubits."""
    info = check_state_matrix(X, name)
    return pad_states(info, resolve_qubits(info.length, n_qubits))


def reflection(b: np.ndarray) -> np.ndarray:
    """The real Householder reflection U_b with U_b|0⟩ = ±|b⟩ (see the module docstring).

    Example:
        >>> import numpy as np
        >>> b = np.array([0.0, 0.6, 0.8, 0.0])
        >>> bool(np.allclose(reflection(b)[:, 0], -b))
        True
    """
    return reflections(np.asarray(b, dtype=np.float64)[None, :])[0]


def reflections(B: np.ndarray) -> np.ndarray:
    """Householder reflections of the rows of B (n, D): shape (n, D, D), float64."""
    B = np.asarray(B, dtype=np.float64)
    n, d = B.shape
    s = np.where(B[:, 0] >= 0, 1.0, -1.0)
    v = B.copy()
    v[:, 0] += s
    vv = np.einsum("ij,ij->i", v, v)  # = 2(1 + |b₀|) ≥ 2 for unit rows: never small
    U = -2.0 * (v[:, :, None] * v[:, None, :]) / vv[:, None, None]
    idx = np.arange(d)
    U[:, idx, idx] += 1.0
    return U


def exact_fidelity(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """The closed form |⟨a_i|b_j⟩|² for all rows (one GEMM): the reference for every estimator.

    Example:
        >>> import numpy as np
        >>> exact_fidelity(np.array([[1.0, 0.0]]), np.array([[0.6, 0.8]])).round(2).tolist()
        [[0.36]]
    """
    G = A @ (A if B is None else B).T
    return np.minimum(G * G, 1.0)


def fs_from_overlap(F: np.ndarray) -> np.ndarray:
    """d_FS = arccos √F computed as atan2(√(1−F), √F): accurate near F = 1 as well as near 0."""
    Fc = np.clip(np.asarray(F, dtype=np.float64), 0.0, 1.0)
    return np.arctan2(np.sqrt(1.0 - Fc), np.sqrt(Fc))


__all__ = ["qubits_for", "encode_states", "check_state_matrix", "resolve_qubits", "pad_states", "StateInfo",
           "Encoded", "reflection", "reflections", "exact_fidelity", "fs_from_overlap"]

