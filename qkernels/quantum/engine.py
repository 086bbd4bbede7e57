"""The kernel-matrix engine: runs the estimator circuits for a matrix or a list of pairs.

Modes (every one returns the same numbers analytically, to ~1e-15; the tests hold them to 1e-12):

* ``plain``: one QNode call per entry with the textbook circuit (swap test with one StatePrep;
  compute-uncompute with ``adjoint(StatePrep)``). This is what ``qml.kernels.square_kernel_matrix``
  does, and the reference the fast paths are tested against.
* ``rows``: real circuits, broadcast. For a matrix, one execution per row: the swap test gets the
  batch |0⟩|a_i⟩|b_j⟩ over j; compute-uncompute prepares the batch |b_j⟩ and applies the row's
  reflection U_{a_i} as one ``QubitUnitary``. For pairs, batches of (a_k, b_k). Batches are
  split to fit memory (and, on CPU simulators, kept near 16 MiB, where NumPy simulators run
  fastest). With shots every batch element is sampled independently, as separate circuits would be.
* ``statevector``: the device prepares every state once (broadcast ``StatePrep`` + ``qml.state()``),
  one matrix product gives all overlaps, and finite shots are drawn from the exact outcome
  distribution: k ~ Binomial(S, p(F)) with the estimator's p. Noise-free only.

Symmetric matrices (B omitted) run the pairs i < j once and mirror them (as
``square_kernel_matrix`` does); without noise the diagonal is set to its exact value F = 1
(k = S: the outcome is certain), with noise it is run like every other entry.

Example:
    >>> import numpy as np
    >>> eng = Engine("compute_uncompute", "default.qubit", shots=None, noise=None, mode="rows",
    ...              rng=np.random.default_rng(0))
    >>> A = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> P, K = eng.matrix(A, None, qubits=1)
    >>> P.round(6).tolist(), K
    ([[1.0, 0.36], [0.36, 1.0]], None)
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import numpy as np

from qkernels.core.errors import InputError
from qkernels.quantum.circuits import build_qnode, outcome_zero, swap_inputs, swap_wires
from qkernels.quantum.devices import DeviceSpec, check_device_name, make_device
from qkernels.quantum.encoding import reflection
from qkernels.quantum.estimation import check_method, check_shots, success_probability
from qkernels.quantum.memory import (
    MEMORY_FRACTION,
    WORKING_COPIES,
    available_memory,
    batch_size,
    check_fits,
    density_bytes,
    fmt_bytes,
    largest_fitting,
    statevector_bytes,
)
from qkernels.quantum.noise import Noise, as_noise

MODES: tuple[str, ...] = ("auto", "plain", "rows", "statevector")

#: batch size cap (bytes of simulator state) on CPU simulators: larger NumPy batches run slower
CPU_BATCH_BYTES = 16 << 20

#: circuits up to this many wires run with one BLAS/OpenMP thread when threads="auto"
SMALL_WIRES = 20


def resolve_mode(mode: object, spec: DeviceSpec, noise: Noise | None) -> str:
    """The mode a job runs in: ``auto`` is statevector when noise-free on a state-vector device, else rows."""
    if mode not in MODES:
        raise InputError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    if mode == "auto":
        return "statevector" if noise is None and spec.kind == "statevector" else "rows"
    if mode == "statevector" and (noise is not None or spec.kind != "statevector"):
        raise InputError("mode='statevector' needs a noise-free state-vector device (default.qubit, lightning.*); "
                         "use mode='rows' or 'plain' with noise on default.mixed")
    return str(mode)


_CONTROLLER: list = [None, -1]  # (threadpoolctl controller, len(sys.modules) when it was made)


def _controller():
    """A cached ``ThreadpoolController`` (scanning the loaded libraries costs ~1 ms; a cached one ~20 µs),
    rebuilt when new modules (and so possibly new native thread pools, e.g. lightning's) were imported."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return None
    if _CONTROLLER[0] is None or _CONTROLLER[1] != len(sys.modules):
        _CONTROLLER[0], _CONTROLLER[1] = ThreadpoolController(), len(sys.modules)
    return _CONTROLLER[0]


@contextlib.contextmanager
def thread_limit(threads: int | None):
    """Limit BLAS and OpenMP threads (NumPy, torch, lightning) inside the block; None leaves them alone."""
    ctl = _controller() if threads is not None else None
    if ctl is None:
        yield
        return
    with ctl.limit(limits=threads):
        yield


class Engine:
    """Runs kernel jobs of one configuration; caches devices and QNodes per register size.

    Args:
        method: "swap" or "compute_uncompute".
        device: a known, installed PennyLane device name.
        shots: positive int, or None (analytic).
        noise: None or anything :func:`~qkernels.quantum.noise.as_noise` takes (needs default.mixed).
        mode: "auto", "plain", "rows" or "statevector".
        rng: NumPy generator for device seeds and statevector-mode sampling.
        threads: BLAS/OpenMP threads while simulating: an int, None (unchanged) or "auto" (one
            thread for circuits of at most ``SMALL_WIRES`` wires).
        memory_fraction: share of the available memory a job may use.
    """

    def __init__(self, method: str, device: str, shots: int | None, noise: Any, mode: str,
                 rng: np.random.Generator, threads: int | str | None = "auto",
                 memory_fraction: float = MEMORY_FRACTION):
        self.method = check_method(method)
        self.spec = check_device_name(device)
        self.shots = check_shots(shots)
        self.noise = as_noise(noise)
        if self.noise is not None and self.spec.kind != "mixed":
            raise InputError(f"noise needs a density-matrix device: pass device='default.mixed' (got {device!r})")
        self.mode = resolve_mode(mode, self.spec, self.noise)
        if not (threads is None or threads == "auto" or (isinstance(threads, int) and not isinstance(threads, bool)
                                                        and threads >= 1)):
            raise InputError(f"threads: expected a positive integer, 'auto' or None, got {threads!r}")
        self.threads = threads
        if isinstance(memory_fraction, bool) or not isinstance(memory_fraction, (int, float)) \
                or not 0 < memory_fraction <= 1:
            raise InputError(f"memory_fraction: expected a number in (0, 1], got {memory_fraction!r}")
        self.memory_fraction = float(memory_fraction)
        self.rng = rng
        self._devices: dict[int, Any] = {}
        self._qnodes: dict[tuple, Any] = {}

    # ---- resources ---------------------------------------------------------------------------
    def _state_bytes(self, wires: int) -> int:
        return density_bytes(wires) if self.spec.kind == "mixed" else statevector_bytes(wires)

    def _circuit_wires(self, q: int) -> int:
        return swap_wires(q) if self.method == "swap" else q

    def _budget(self) -> tuple[int, int, str | None]:
        """(budget bytes, available bytes, where an explicit budget came from or None)."""
        from qkernels.core.memory import memory_budget

        given = memory_budget()
        avail = available_memory(gpu=self.spec.accelerator)
        if given.explicit:
            return given.bytes, avail, given.source
        return int(avail * self.memory_fraction), avail, None

    def requirements(self, q: int, n_a: int, n_b: int, pairs: bool) -> tuple[int, int]:
        """(fixed bytes, bytes per circuit in a batch) of a job on q-qubit states."""
        dim = 1 << q
        inputs = (n_a + n_b) * dim * 8
        if self.mode == "statevector":
            states = (n_a + n_b) * dim * 16 * WORKING_COPIES
            entries = n_a if pairs else n_a * n_b
            return inputs + states + entries * 8 * 4, 0
        per = WORKING_COPIES * self._state_bytes(self._circuit_wires(q))
        if self.shots is not None:  # the sampled bit strings of one circuit (int64 per measured wire)
            per += 2 * 8 * self.shots * (1 if self.method == "swap" else q)
        if self.method == "swap":
            per += 8 * (2 << (2 * q))  # the kron input of one circuit
            return inputs, per
        unitary = 2 * 16 * dim * dim  # real reflection plus the simulator's complex copy
        if self.mode == "plain":
            return inputs, per
        return inputs + unitary, per  # one reflection at a time (a matrix row, or one distinct a)

    def check_memory(self, q: int, n_a: int, n_b: int, pairs: bool = False, extra: int = 0) -> int:
        """Refuse (InputError, before allocating) a job that cannot fit; return the batch size.

        ``extra`` is memory needed besides the circuits (the validation copies of the inputs).
        """
        budget, avail, source = self._budget()

        def need(k: int) -> int:
            fixed, per = self.requirements(k, n_a, n_b, pairs)
            return fixed + per + extra

        what = (f"{self.method} on {self.spec.name} ({self.mode} mode) for {n_a} x {n_b} states of {q} qubits"
                f"{f' ({self._circuit_wires(q)} wires)' if self.method == 'swap' else ''}")
        qmax = largest_fitting(need, budget)
        limit = (f"the largest register that fits is {qmax} qubits per state" if qmax >= 1
                 else "too many states even at 1 qubit: split the job into smaller blocks of rows")
        check_fits(what, need(q), budget, avail, self.memory_fraction, limit, source)
        fixed, per = self.requirements(q, n_a, n_b, pairs)
        if per == 0:
            return max(n_a, n_b, 1)
        cap = None if self.spec.accelerator or self.mode == "plain" else CPU_BATCH_BYTES
        n_items = max(n_b, 1)
        return 1 if self.mode == "plain" else batch_size(per, fixed, n_items, budget, cap)

    # ---- devices and circuits -----------------------------------------------------------------
    def _device(self, wires: int) -> Any:
        if wires not in self._devices:
            self._devices[wires] = make_device(self.spec.name, wires, int(self.rng.integers(0, 2**31 - 1)))
        return self._devices[wires]

    def _qnode(self, circuit: str, q: int, shots: int | None) -> Any:
        key = (circuit, q, shots)
        if key not in self._qnodes:
            wires = swap_wires(q) if circuit == "swap" else q
            self._qnodes[key] = build_qnode(circuit, self._device(wires), q, self.noise, shots)  # type: ignore[arg-type]
        return self._qnodes[key]

    def _threads(self, q: int) -> int | None:
        if self.threads == "auto":
            return 1 if self._circuit_wires(q) <= SMALL_WIRES else None
        return self.threads  # type: ignore[return-value]

    # ---- one batch of pairs (a_k, b_k) -> outcome-0 probabilities ------------------------------
    def _run_batch(self, Ab: np.ndarray, Bb: np.ndarray, q: int, U_row: np.ndarray | None = None) -> np.ndarray:
        """P(0) of the circuits for row-aligned pairs (rows/plain modes); U_row: reflection of a fixed a."""
        shots = self.shots
        if self.method == "swap":
            node = self._qnode("swap", q, shots)
            x = swap_inputs(Ab, Bb)
            return outcome_zero(node(x if len(x) > 1 else x[0]))
        if self.mode == "plain":
            node = self._qnode("cu_adjoint", q, shots)
            return outcome_zero(node(Ab[0], Bb[0]))
        node = self._qnode("cu_reflection", q, shots)
        U = U_row if U_row is not None else reflection(Ab[0])  # rows mode: all pairs of a batch share a
        return outcome_zero(node(Bb if len(Bb) > 1 else Bb[0], U))

    def _counts(self, P: np.ndarray) -> np.ndarray | None:
        return None if self.shots is None else np.rint(P * self.shots).astype(np.int64)

    # ---- public jobs --------------------------------------------------------------------------
    def pairs(self, A: np.ndarray, B: np.ndarray, qubits: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Outcome-0 probabilities (k/S with shots) and counts for row-aligned pairs (A[k], B[k])."""
        n = len(A)
        batch = self.check_memory(qubits, n, n, pairs=True)
        with thread_limit(self._threads(qubits)):
            if self.mode == "statevector":
                SA = self._states(A, qubits)
                SB = self._states(B, qubits)
                F = np.minimum(np.abs(np.einsum("ij,ij->i", SA.conj(), SB)) ** 2, 1.0)
                return self._sample(F)
            P = np.empty(n)
            if self.mode == "rows" and self.method == "compute_uncompute":
                # one reflection per distinct a (pairs often share it: repeats, rows of a matrix)
                uniq, inverse = np.unique(A, axis=0, return_inverse=True)
                for u in range(len(uniq)):
                    idx = np.flatnonzero(inverse.reshape(-1) == u)
                    U_row = reflection(uniq[u])
                    for s in range(0, idx.size, batch):
                        j = idx[s:s + batch]
                        P[j] = self._run_batch(A[j], B[j], qubits, U_row)
                return P, self._counts(P)
            step = 1 if self.mode == "plain" else batch
            for s in range(0, n, step):
                P[s:s + step] = self._run_batch(A[s:s + step], B[s:s + step], qubits)
        return P, self._counts(P)

    def matrix(self, A: np.ndarray, B: np.ndarray | None, qubits: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Outcome-0 probabilities and counts for all entries (A_i, B_j) (B None: symmetric in A)."""
        sym = B is None
        Bm = A if sym else B
        n_a, n_b = len(A), len(Bm)
        batch = self.check_memory(qubits, n_a, n_b)
        with thread_limit(self._threads(qubits)):
            if self.mode == "statevector":
                return self._statevector_matrix(A, Bm, sym, qubits)
            P = np.empty((n_a, n_b))
            diag_exact = sym and self.noise is None
            for i in range(n_a):
                start = (i + 1 if diag_exact else i) if sym else 0
                js = np.arange(start, n_b)
                if js.size == 0:
                    continue
                U_row = reflection(A[i]) if (self.method == "compute_uncompute" and self.mode == "rows") else None
                step = 1 if self.mode == "plain" else batch
                for s in range(0, js.size, step):
                    j = js[s:s + step]
                    Ab = np.repeat(A[i:i + 1], len(j), axis=0)
                    P[i, j] = self._run_batch(Ab, Bm[j], qubits, U_row)
            if sym:
                iu = np.triu_indices(n_a, 1)
                P[(iu[1], iu[0])] = P[iu]
                if diag_exact:
                    np.fill_diagonal(P, 1.0)
        return P, self._counts(P)

    # ---- statevector mode ---------------------------------------------------------------------
    def _states(self, X: np.ndarray, q: int) -> np.ndarray:
        node = self._qnode("state", q, None)
        S = np.asarray(node(X if len(X) > 1 else X[0]))
        return S.reshape(len(X), -1)

    def _sample(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        p = np.clip(success_probability(F, self.method), 0.0, 1.0)
        if self.shots is None:
            return p, None
        k = self.rng.binomial(self.shots, p)
        return k / self.shots, k.astype(np.int64)

    def _statevector_matrix(self, A: np.ndarray, B: np.ndarray, sym: bool, q: int):
        SA = self._states(A, q)
        SB = SA if sym else self._states(B, q)
        G = SA.conj() @ SB.T
        F = np.minimum(G.real ** 2 + G.imag ** 2, 1.0)
        if not sym:
            return self._sample(F)
        n = len(A)
        iu = np.triu_indices(n, 1)
        Pu, Ku = self._sample(F[iu])
        P = np.ones((n, n))
        P[iu] = Pu
        P[(iu[1], iu[0])] = Pu
        if Ku is None:
            return P, None
        K = np.full((n, n), self.shots, dtype=np.int64)
        K[iu] = Ku
        K[(iu[1], iu[0])] = Ku
        return P, K


def timed(fn, *args) -> tuple[Any, float]:
    """(fn(*args), seconds)."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


__all__ = ["Engine", "MODES", "resolve_mode", "thread_limit", "timed", "CPU_BATCH_BYTES", "SMALL_WIRES", "fmt_bytes"]
