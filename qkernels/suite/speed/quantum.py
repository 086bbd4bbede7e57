"""Speed goals of the kernel engine: workloads and measurements shared by bench/ and the section.

Goals (issue: quantum-kernel estimation; targets in :mod:`qkernels.suite.speed.targets`), on one
device (default.qubit unless said):

* ``rows_vs_skm``: a 64 x 64 kernel matrix of 8-qubit states with real circuits (``mode="rows"``:
  compute-uncompute in its reflection form, one broadcast execution per row) at least 500x
  faster than ``qml.kernels.square_kernel_matrix`` with the textbook compute-uncompute kernel
  (``StatePrep(a)``, ``adjoint(StatePrep(b))``, P(0…0)), values equal to 1e-12.
* ``statevector_vs_skm``: the statevector mode at least 10,000x faster than that baseline.
* ``time_per_entry``: seconds per kernel entry of each mode against the exact GEMM, for 3, 4, 6,
  8 and 10 qubits (reported, no target).

The baseline is slow (about 2 minutes at 8 qubits on 2 cores), so it is timed on a sample: the
full ``square_kernel_matrix`` call on the first m states (m(m+1)/2 circuit calls, since it also
evaluates the diagonal), scaled per call to the 64·65/2 calls of the whole matrix. Its values on
that sample are compared with the fast modes' entries. Swap-test timings of large registers are
likewise taken on a sample of pairs and scaled to the 64·63/2 pairs of the symmetric matrix.
"Per entry" divides the (estimated) time of the whole 64 x 64 job by 64².

Example:
    >>> r = measure_goal(qubits=2, n=6, sample=3, repeat=1)
    >>> r["max_abs_err_rows"] < 1e-12, r["max_abs_err_statevector"] < 1e-12
    (True, True)
"""

from __future__ import annotations

import time

import numpy as np

from qkernels.hw.timing import time_callable
from qkernels.quantum.circuits import build_qnode
from qkernels.quantum.devices import make_device
from qkernels.quantum.encoding import exact_fidelity
from qkernels.quantum.engine import thread_limit
from qkernels.quantum.kernel import QuantumKernel
from qkernels.suite.speed.goals import random_states
from qkernels.suite.speed.targets import legacy_goals

#: goal id -> (description, target, what the number is): the ``quantum`` goals of
#: :data:`qkernels.suite.speed.targets.SPEED_GOALS`, where the targets are stated.
GOALS: dict[str, tuple[str, float, str]] = legacy_goals("quantum")

#: qubit counts of the time-per-entry table
ENTRY_QUBITS = (3, 4, 6, 8, 10)


def workload(qubits: int, n: int = 64, seed: int = 0) -> np.ndarray:
    """n spectrum-like states (sorted, normalized |N(0,1)|) of 2^qubits amplitudes."""
    return random_states(n, 1 << qubits, seed=seed).numpy()


def square_kernel_matrix_sample(X: np.ndarray, qubits: int, sample: int, device: str = "default.qubit") -> dict:
    """Time ``qml.kernels.square_kernel_matrix`` (textbook compute-uncompute) on the first ``sample`` states."""
    import pennylane as qml

    node = build_qnode("cu_adjoint", make_device(device, qubits, 0), qubits)

    def kernel(a, b):
        return node(a, b)[0]

    m = min(sample, len(X))
    calls = m * (m + 1) // 2
    with thread_limit(1 if qubits <= 20 else None):
        kernel(X[0], X[0])  # warm-up (QNode construction)
        t0 = time.perf_counter()
        K = qml.kernels.square_kernel_matrix(X[:m], kernel, assume_normalized_kernel=False)
        el = time.perf_counter() - t0
    n = len(X)
    per_call = el / calls
    return {"per_call_s": per_call, "calls_timed": calls, "sample": m, "est_full_s": per_call * (n * (n + 1) // 2),
            "K": np.asarray(K, dtype=np.float64)}


def _job_time(kernel: QuantumKernel, X: np.ndarray, repeat: int) -> tuple[float, np.ndarray]:
    out = kernel.matrix(X)  # warm-up: devices, QNodes
    t = time_callable(lambda: kernel.matrix(X), repeat=repeat, warmup=0)
    return t.median, np.asarray(out)


def measure_goal(qubits: int = 8, n: int = 64, sample: int = 8, repeat: int = 3, device: str = "default.qubit") -> dict:
    """The two speed goals: rows and statevector modes against the sampled baseline, with value checks."""
    X = workload(qubits, n)
    base = square_kernel_matrix_sample(X, qubits, sample, device)
    rows_s, F_rows = _job_time(QuantumKernel("compute_uncompute", device, mode="rows"), X, repeat)
    sv_s, F_sv = _job_time(QuantumKernel("compute_uncompute", device, mode="statevector"), X, repeat)
    m = base["sample"]
    return {
        "qubits": qubits, "n": n, "skm_per_call_s": base["per_call_s"], "skm_calls_timed": base["calls_timed"],
        "skm_est_s": base["est_full_s"], "rows_s": rows_s, "statevector_s": sv_s,
        "speedup_rows": base["est_full_s"] / rows_s, "speedup_statevector": base["est_full_s"] / sv_s,
        "max_abs_err_rows": float(np.abs(F_rows[:m, :m] - base["K"]).max()),
        "max_abs_err_statevector": float(np.abs(F_sv[:m, :m] - base["K"]).max()),
        "max_abs_err_rows_vs_exact": float(np.abs(F_rows - exact_fidelity(X)).max()),
    }


def measure_entry_times(qubits: int, n: int = 64, sample: int = 6, swap_pairs: int = 64, repeat: int = 3,
                        device: str = "default.qubit") -> dict:
    """Seconds per entry of a 64 x 64 kernel matrix for every mode, and of the exact GEMM.

    ``swap_pairs`` pairs of the swap test are timed (broadcast, rows mode) and scaled to the
    n(n−1)/2 pairs of the symmetric matrix; the plain baseline is ``square_kernel_matrix`` on
    ``sample`` states, scaled.
    """
    X = workload(qubits, n)
    entries = n * n
    out: dict = {"qubits": qubits, "n": n}
    base = square_kernel_matrix_sample(X, qubits, sample, device)
    out["plain_cu"] = base["est_full_s"] / entries
    out["plain_cu_calls_timed"] = base["calls_timed"]
    rows_s, _ = _job_time(QuantumKernel("compute_uncompute", device, mode="rows"), X, repeat)
    out["rows_cu"] = rows_s / entries
    sv_s, _ = _job_time(QuantumKernel("compute_uncompute", device, mode="statevector"), X, max(repeat, 5))
    out["statevector"] = sv_s / entries
    gemm = time_callable(lambda: exact_fidelity(X), repeat=max(repeat, 5), warmup=1)
    out["gemm"] = gemm.median / entries
    m = min(swap_pairs, n * (n - 1) // 2)
    iu = np.triu_indices(n, 1)
    A, B = X[iu[0][:m]], X[iu[1][:m]]
    k = QuantumKernel("swap", device, mode="rows")
    k.estimate_pairs(A[:1], B[:1])  # warm-up
    t = time_callable(lambda: k.estimate_pairs(A, B), repeat=1 if qubits >= 8 else repeat, warmup=0)
    out["rows_swap"] = t.median / m * (n * (n - 1) // 2) / entries
    out["rows_swap_pairs_timed"] = m
    return out


__all__ = ["GOALS", "ENTRY_QUBITS", "workload", "square_kernel_matrix_sample", "measure_goal", "measure_entry_times"]
