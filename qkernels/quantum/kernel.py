"""``QuantumKernel``: fidelities and Fubini–Study distances of operator states, estimated by circuits.

The states (rows of A and B, e.g. ``qkernels.state(spectrum)``) are amplitude-encoded on
q = ⌈log₂ N⌉ qubits (:mod:`~qkernels.quantum.encoding`) and compared by the swap test or by
compute-uncompute (:mod:`~qkernels.quantum.circuits`), run by the engine
(:mod:`~qkernels.quantum.engine`) on a PennyLane device, analytically (``shots=None``) or with
S shots per entry. Estimates, intervals and the bias flag follow :mod:`~qkernels.quantum.estimation`;
how many shots a target accuracy needs is :func:`~qkernels.quantum.planner.plan_shots`.

Inputs are NumPy arrays or torch tensors; ``matrix`` and ``fs_distance`` hand back the kind they
were given. Bad input raises :class:`~qkernels.core.errors.InputError` before any circuit runs.

Example:
    >>> import numpy as np
    >>> a, b = np.array([1.0, 0.0]), np.array([0.6, 0.8])
    >>> k = QuantumKernel("compute_uncompute")
    >>> round(k.fidelity(a, b), 12)
    0.36
    >>> noisy = QuantumKernel("swap", shots=1000, seed=7)
    >>> est = noisy.fs_distance(a, b, confidence=0.95)
    >>> bool(est.lower <= np.arccos(0.6) <= est.upper)
    True
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from qkernels.core.arrays import ArrayLike, restore
from qkernels.core.checks import check_seed
from qkernels.core.errors import InputError
from qkernels.quantum.encoding import check_state_matrix, pad_states, resolve_qubits
from qkernels.quantum.engine import Engine, thread_limit
from qkernels.quantum.estimation import FSEstimate, KernelEstimate, check_confidence, fidelity_from_probability
from qkernels.quantum.memory import MEMORY_FRACTION

#: bytes per input entry that validation may copy (float64 conversion, NaN mask, float64 copy, padding)
_VALIDATION_BYTES = 25


def _rows_length(X: ArrayLike) -> tuple[int, int] | None:
    """(rows, length) of a 1-D or 2-D array or tensor from its shape alone (None: not known cheaply)."""
    shape = getattr(X, "shape", None)
    if not isinstance(X, (np.ndarray, torch.Tensor)) or shape is None or len(shape) not in (1, 2):
        return None
    if any(int(d) == 0 for d in shape):
        return None  # refused as empty by the validation
    return (1, int(shape[0])) if len(shape) == 1 else (int(shape[0]), int(shape[1]))


class QuantumKernel:
    """Quantum-kernel estimates of F = |⟨a|b⟩|² and d_FS = arccos √F between states.

    Args:
        method: "swap" (swap test, 2q + 1 wires, P(0) = (1 + F)/2) or "compute_uncompute"
            (q wires, P(0…0) = F).
        device: "default.qubit", "lightning.qubit", "default.mixed" (required for noise),
            "lightning.gpu" or "lightning.kokkos" (when their plug-ins are installed).
        shots: shots per kernel entry; None is analytic (exact circuit probabilities).
        noise: None, a depolarizing probability p (after every gate), ``(p, "gates"|"measure")``,
            ``{"p": p, "where": ...}`` or :class:`~qkernels.quantum.noise.Noise`.
        seed: seeds the device samplers and the statevector mode's draws; the same seed and the
            same sequence of calls give the same estimates.
        mode: "auto" (statevector when noise-free on a state-vector device, else rows), "plain"
            (one circuit per entry), "rows" (broadcast real circuits) or "statevector".
        n_qubits: register size per state (default ⌈log₂ N⌉); larger values pad with zeros.
        threads: BLAS/OpenMP threads while simulating ("auto": 1 for circuits up to 20 wires).
        memory_fraction: share of the available memory a job may use (checked before running).

    Raises:
        InputError: unknown method, device or mode; a device whose plug-in is missing; shots
            that are not a positive integer; p outside [0, 1]; noise on a device other than
            default.mixed; a negative or non-integer seed.
    """

    def __init__(self, method: str = "swap", device: str = "default.qubit", shots: int | None = None,
                 noise: Any = None, seed: int | None = None, *, mode: str = "auto", n_qubits: int | None = None,
                 threads: int | str | None = "auto", memory_fraction: float = MEMORY_FRACTION):
        if seed is not None:
            seed = check_seed(seed)
        if n_qubits is not None:
            resolve_qubits(1, n_qubits)
        self._engine = Engine(method, device, shots, noise, mode, np.random.default_rng(seed), threads,
                              memory_fraction)
        self.seed = seed
        self.n_qubits = n_qubits

    # ---- configuration ---------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self._engine.method

    @property
    def device(self) -> str:
        return self._engine.spec.name

    @property
    def shots(self) -> int | None:
        return self._engine.shots

    @property
    def noise(self):
        return self._engine.noise

    @property
    def mode(self) -> str:
        return self._engine.mode

    def __repr__(self) -> str:
        return (f"QuantumKernel(method={self.method!r}, device={self.device!r}, shots={self.shots!r}, "
                f"noise={self.noise!r}, seed={self.seed!r}, mode={self.mode!r})")

    # ---- jobs -------------------------------------------------------------------------------
    def _precheck(self, A: ArrayLike, B: ArrayLike | None, pairs: bool) -> None:
        """Refuse a job that cannot fit from the input shapes alone, before any copy is made."""
        ra = _rows_length(A)
        rb = _rows_length(B) if B is not None else None
        if ra is None or (B is not None and rb is None):
            return  # lists and odd shapes: validated (and measured) the ordinary way
        length = max(ra[1], rb[1] if rb is not None else 0)
        q = resolve_qubits(length, self.n_qubits)
        n_b = rb[0] if rb is not None else ra[0]
        if pairs and rb is not None and ra[0] != rb[0]:
            return  # refused with its own message by _prepare
        entries = ra[0] * ra[1] + (rb[0] * rb[1] if rb is not None else 0)
        self._engine.check_memory(q, ra[0], n_b, pairs=pairs, extra=_VALIDATION_BYTES * entries)

    def _prepare(self, A: ArrayLike, B: ArrayLike | None, pairs: bool):
        self._precheck(A, B, pairs)
        threads = self._engine.threads
        with thread_limit(1 if threads == "auto" else threads):  # small checks: threads cost more than they save
            ia = check_state_matrix(A, "A")
            ib = check_state_matrix(B, "B") if B is not None else None
        length = max(ia.length, ib.length if ib is not None else 0)
        q = resolve_qubits(length, self.n_qubits)
        if pairs and ib is not None and ia.rows != ib.rows:
            raise InputError(f"A and B: pairs need the same number of states, got {ia.rows} and {ib.rows}")
        n_b = ib.rows if ib is not None else ia.rows
        self._engine.check_memory(q, ia.rows, n_b, pairs=pairs)  # before padding
        ea = pad_states(ia, q)
        eb = pad_states(ib, q) if ib is not None else None
        return ea, eb, q

    def _estimate(self, P: np.ndarray, K: np.ndarray | None, q: int, seconds: float, kind: str) -> KernelEstimate:
        return KernelEstimate(fidelity_from_probability(P, self.method), K, self.shots, self.method, self.mode,
                              self.device, str(self.noise) if self.noise else "", q, seconds, {"kind": kind})

    def estimate(self, A: ArrayLike, B: ArrayLike | None = None) -> KernelEstimate:
        """Run the kernel for all pairs (A_i, B_j) (B None: A against itself) and keep the counts.

        Example:
            >>> import numpy as np
            >>> est = QuantumKernel("compute_uncompute", shots=100, seed=1).estimate(np.eye(2))
            >>> est.counts.tolist(), est.fidelity.tolist()
            ([[100, 0], [0, 100]], [[1.0, 0.0], [0.0, 1.0]])
        """
        ea, eb, q = self._prepare(A, B, pairs=False)
        t0 = time.perf_counter()
        P, K = self._engine.matrix(ea.states, None if eb is None else eb.states, q)
        return self._estimate(P, K, q, time.perf_counter() - t0, ea.kind)

    def estimate_pairs(self, A: ArrayLike, B: ArrayLike) -> KernelEstimate:
        """Run the kernel for the row-aligned pairs (A_k, B_k) only (one estimate per row)."""
        ea, eb, q = self._prepare(A, B, pairs=True)
        t0 = time.perf_counter()
        P, K = self._engine.pairs(ea.states, eb.states, q)  # type: ignore[union-attr]
        return self._estimate(P, K, q, time.perf_counter() - t0, ea.kind)

    def matrix(self, A: ArrayLike, B: ArrayLike | None = None) -> Any:
        """Estimated fidelities F̂_ij = |⟨a_i|b_j⟩|² (unbiased; the swap test's may leave [0, 1] by shot noise).

        Example:
            >>> import numpy as np
            >>> QuantumKernel("swap").matrix(np.array([[1.0, 0.0], [0.6, 0.8]])).round(6).tolist()
            [[1.0, 0.36], [0.36, 1.0]]
        """
        est = self.estimate(A, B)
        return restore(est.fidelity, est.meta["kind"])

    def fidelity(self, a: ArrayLike, b: ArrayLike) -> float:
        """Estimated fidelity of one pair of states (1-D)."""
        self._precheck(a, b, False)
        ia = check_state_matrix(a, "a")
        ib = check_state_matrix(b, "b")
        if not (ia.vector and ib.vector):
            raise InputError("fidelity(a, b) takes two single states (1-D); use matrix(A, B) for many")
        return float(self.estimate(a, b).fidelity[0, 0])

    def fs_distance(self, a: ArrayLike, b: ArrayLike | None = None, *, confidence: float | None = None,
                    interval: str = "clopper-pearson") -> Any:
        """Estimated d_FS = arccos √clip(F̂, 0, 1): of one pair (1-D a and b) or a matrix (2-D A, B or None).

        With ``confidence`` (e.g. 0.95) an :class:`~qkernels.quantum.estimation.FSEstimate` with
        the estimate, the interval at that level and the bias flag S(1 − F̂) < 10 is returned.
        """
        if confidence is not None:
            check_confidence(confidence)
        self._precheck(a, b, False)
        ia = check_state_matrix(a, "a")
        if ia.vector:
            if b is None or not check_state_matrix(b, "b").vector:
                raise InputError("fs_distance: a single state a needs a single state b; pass 2-D arrays for a matrix")
        est = self.estimate(a, b)
        if confidence is None:
            d = est.fs_distance()
            return float(d[0, 0]) if ia.vector else restore(d, est.meta["kind"])
        fs = est.fs(confidence, interval)
        if ia.vector:
            return FSEstimate(float(fs.estimate[0, 0]), float(fs.lower[0, 0]), float(fs.upper[0, 0]),  # type: ignore[index]
                              fs.confidence, bool(fs.bias_warning[0, 0]))  # type: ignore[index]
        return fs


__all__ = ["QuantumKernel"]
