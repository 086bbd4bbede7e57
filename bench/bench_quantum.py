"""pytest-benchmark suites for the quantum-kernel engine (qkernels.suite.speed.quantum has the goals).

Run them as benchmarks:  pytest bench/bench_quantum.py --benchmark-json=bench_quantum.json
In CI (--benchmark-disable) each runs once on a small workload and still checks its values.

Groups:
* ``quantum_goal``: a 64 x 64 kernel matrix of 8-qubit states on default.qubit: the baseline
  ``qml.kernels.square_kernel_matrix`` (textbook compute-uncompute; timed on the first 8 states,
  36 of the 2,080 calls: multiply its median by extra_info["scale"]), the rows mode (real
  circuits, reflection form), the statevector mode and the exact GEMM. Goals: rows ≥ 500x and
  statevector ≥ 10,000x faster than the scaled baseline, values equal to 1e-12.
* ``quantum_entry_q<q>`` for q = 3, 4, 6, 8, 10: the same modes plus the swap test (rows mode,
  timed on a sample of pairs, extra_info["scale"] gives the whole symmetric matrix). Time per
  entry = median x scale / 64².
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from qkernels.quantum import QuantumKernel
from qkernels.quantum.encoding import exact_fidelity
from qkernels.quantum.engine import thread_limit
from qkernels.suite.speed.quantum import ENTRY_QUBITS, workload

#: the PennyLane device of the benchmarks: QK_QDEVICE (bench/gpu_check.sh sets lightning.gpu), default default.qubit
DEVICE = os.environ.get("QK_QDEVICE", "default.qubit")


def _sizes(benchmark, q: int) -> tuple[int, int, int]:
    """(states n, baseline sample m, swap pairs) for this run: full size, or small when disabled."""
    if benchmark.disabled:
        return 4, 2, 1
    return 64, (8 if q <= 8 else 3), (64 if q <= 6 else 8 if q == 8 else 2)


def _skm(X: np.ndarray, q: int):
    import pennylane as qml

    from qkernels.quantum.circuits import build_qnode
    from qkernels.quantum.devices import make_device

    node = build_qnode("cu_adjoint", make_device(DEVICE, q, 0), q)
    return lambda: qml.kernels.square_kernel_matrix(X, lambda a, b: node(a, b)[0], assume_normalized_kernel=False)


def _baseline(benchmark, q: int, n: int, m: int, group_rounds: int = 1):
    X = workload(q, n)
    fn = _skm(X[:m], q)
    calls = m * (m + 1) // 2
    benchmark.extra_info.update(qubits=q, n=n, sampled_states=m, calls_timed=calls, all_calls=n * (n + 1) // 2,
                                scale=(n * (n + 1) // 2) / calls, reference=True, device=DEVICE,
                                note="square_kernel_matrix on the first m states; multiply by scale for n x n")
    with thread_limit(1):
        K = benchmark.pedantic(fn, rounds=group_rounds, iterations=1, warmup_rounds=1)
    np.testing.assert_allclose(np.asarray(K), exact_fidelity(X[:m]), atol=1e-12)


def _mode(benchmark, q: int, n: int, method: str, mode: str, rounds: int):
    X = workload(q, n)
    k = QuantumKernel(method, DEVICE, mode=mode)
    benchmark.extra_info.update(qubits=q, n=n, entries=n * n, method=method, mode=mode, device=DEVICE, scale=1.0)
    F = benchmark.pedantic(lambda: k.matrix(X), rounds=rounds, iterations=1, warmup_rounds=1)
    np.testing.assert_allclose(F, exact_fidelity(X), atol=1e-12)


# ---- the speed goals at 8 qubits ------------------------------------------------------------------
@pytest.mark.benchmark(group="quantum_goal")
def bench_goal_square_kernel_matrix_sample(benchmark):
    q = 3 if benchmark.disabled else 8
    n, m, _ = _sizes(benchmark, q)
    _baseline(benchmark, q, n, m, group_rounds=1 if benchmark.disabled else 3)


@pytest.mark.benchmark(group="quantum_goal")
def bench_goal_rows(benchmark):
    q = 3 if benchmark.disabled else 8
    n, _, _ = _sizes(benchmark, q)
    _mode(benchmark, q, n, "compute_uncompute", "rows", rounds=1 if benchmark.disabled else 10)


@pytest.mark.benchmark(group="quantum_goal")
def bench_goal_statevector(benchmark):
    q = 3 if benchmark.disabled else 8
    n, _, _ = _sizes(benchmark, q)
    _mode(benchmark, q, n, "compute_uncompute", "statevector", rounds=1 if benchmark.disabled else 50)


@pytest.mark.benchmark(group="quantum_goal")
def bench_goal_gemm(benchmark):
    q = 3 if benchmark.disabled else 8
    n, _, _ = _sizes(benchmark, q)
    X = workload(q, n)
    benchmark.extra_info.update(qubits=q, n=n, entries=n * n, mode="gemm", reference=True, scale=1.0)
    F = benchmark(lambda: exact_fidelity(X))
    assert F.shape == (n, n)


# ---- time per entry across qubit counts -----------------------------------------------------------
@pytest.mark.parametrize("q", ENTRY_QUBITS)
def bench_entry_plain(benchmark, q):
    benchmark.group = f"quantum_entry_q{q}"
    n, m, _ = _sizes(benchmark, q)
    _baseline(benchmark, q, n, m)


@pytest.mark.parametrize("q", ENTRY_QUBITS)
def bench_entry_rows_cu(benchmark, q):
    benchmark.group = f"quantum_entry_q{q}"
    n, _, _ = _sizes(benchmark, q)
    _mode(benchmark, q, n, "compute_uncompute", "rows", rounds=1 if benchmark.disabled else (5 if q < 10 else 2))


@pytest.mark.parametrize("q", ENTRY_QUBITS)
def bench_entry_statevector(benchmark, q):
    benchmark.group = f"quantum_entry_q{q}"
    n, _, _ = _sizes(benchmark, q)
    _mode(benchmark, q, n, "compute_uncompute", "statevector", rounds=1 if benchmark.disabled else 20)


@pytest.mark.parametrize("q", ENTRY_QUBITS)
def bench_entry_rows_swap(benchmark, q):
    benchmark.group = f"quantum_entry_q{q}"
    n, _, pairs = _sizes(benchmark, q)
    X = workload(q, n)
    iu = np.triu_indices(n, 1)
    A, B = X[iu[0][:pairs]], X[iu[1][:pairs]]
    k = QuantumKernel("swap", DEVICE, mode="rows")
    benchmark.extra_info.update(qubits=q, n=n, pairs_timed=pairs, all_pairs=n * (n - 1) // 2,
                                scale=(n * (n - 1) // 2) / pairs, method="swap", mode="rows", device=DEVICE,
                                note="sampled pairs; multiply by scale for the symmetric n x n matrix")
    est = benchmark.pedantic(lambda: k.estimate_pairs(A, B), rounds=1 if (benchmark.disabled or q >= 8) else 3,
                             iterations=1, warmup_rounds=0 if q >= 8 else 1)
    np.testing.assert_allclose(est.fidelity, np.sum(A * B, axis=1) ** 2, atol=1e-12)


@pytest.mark.parametrize("q", ENTRY_QUBITS)
def bench_entry_gemm(benchmark, q):
    benchmark.group = f"quantum_entry_q{q}"
    n, _, _ = _sizes(benchmark, q)
    X = workload(q, n)
    benchmark.extra_info.update(qubits=q, n=n, entries=n * n, mode="gemm", reference=True, scale=1.0)
    F = benchmark(lambda: exact_fidelity(X))
    assert F.shape == (n, n)
