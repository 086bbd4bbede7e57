"""The kernel engine: every fast path against the plain circuit and independent NumPy simulations.

* Analytic values: rows and statevector modes equal the plain circuits to 1e-12 (swap test and
  compute-uncompute, symmetric, rectangular and pair jobs, each installed device), and the
  circuits equal hand-written NumPy state-vector / density-matrix simulations.
* Shot statistics: counts from real shot runs (broadcast rows, separate plain circuits) and from
  the statevector mode's draws are each tested against Binomial(S, p) with a chi-square
  goodness-of-fit test, and against each other with a chi-square homogeneity test, at level
  α = 1e-3 (a correct implementation fails a given test for 1 seed in 1,000; the seeds are fixed,
  so the outcome is deterministic).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qkernels.core.errors import InputError
from qkernels.quantum import engine as engine_mod
from qkernels.quantum.devices import device_usable
from qkernels.quantum.encoding import reflection
from qkernels.quantum.engine import Engine, thread_limit
from qkernels.quantum.kernel import QuantumKernel
from qkernels.quantum.noise import Noise

ALPHA = 1e-3
CPU_DEVICES = ["default.qubit", "lightning.qubit"]
EXTRA_DEVICES = ["lightning.kokkos", "lightning.gpu"]


def states(n, q, seed=0, signed=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2**q))
    if not signed:
        X = np.abs(X)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def engine(method, device="default.qubit", mode="rows", shots=None, noise=None, seed=0):
    return Engine(method, device, shots, noise, mode, np.random.default_rng(seed))


def to_F(P, method):
    return 2 * P - 1 if method == "swap" else P


# ---- independent NumPy references ---------------------------------------------------------------
H = np.array([[1, 1], [1, -1]]) / math.sqrt(2)
PAULIS = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]])]


def op_on(U, wires, n):
    """The 2^n x 2^n matrix of U acting on ``wires`` (wire 0 most significant), by brute force."""
    k = len(wires)
    full = np.zeros((2**n, 2**n), dtype=complex)
    for col in range(2**n):
        bits = [(col >> (n - 1 - w)) & 1 for w in range(n)]
        sub = sum(bits[w] << (k - 1 - i) for i, w in enumerate(wires))
        for out_sub in range(2**k):
            amp = U[out_sub, sub]
            if amp == 0:
                continue
            nb = list(bits)
            for i, w in enumerate(wires):
                nb[w] = (out_sub >> (k - 1 - i)) & 1
            row = sum(b << (n - 1 - w) for w, b in enumerate(nb))
            full[row, col] += amp
    return full


def cswap_matrix():
    M = np.eye(8)
    M[[5, 6]] = M[[6, 5]]  # |1 0 1> <-> |1 1 0>
    return M


def numpy_swap_p0(a, b):
    q = int(math.log2(len(a)))
    n = 2 * q + 1
    psi = np.zeros(2**n, dtype=complex)
    psi[: 4**q] = np.kron(a, b)
    psi = op_on(H, [0], n) @ psi
    for k in range(q):
        psi = op_on(cswap_matrix(), [0, 1 + k, 1 + q + k], n) @ psi
    psi = op_on(H, [0], n) @ psi
    return float(np.sum(np.abs(psi[: 2 ** (n - 1)]) ** 2))


def depolarize(rho, wire, p, n):
    out = (1 - p) * rho
    for P in PAULIS:
        M = op_on(P, [wire], n)
        out = out + (p / 3) * M @ rho @ M.conj().T
    return out


def numpy_noisy_swap_p0(a, b, p):
    """Density-matrix swap test with depolarizing after every gate, on each wire of the gate."""
    q = int(math.log2(len(a)))
    n = 2 * q + 1
    psi = np.zeros(2**n, dtype=complex)
    psi[: 4**q] = np.kron(a, b)
    rho = np.outer(psi, psi.conj())
    for w in range(n):
        rho = depolarize(rho, w, p, n)
    gates = [(H, [0])] + [(cswap_matrix(), [0, 1 + k, 1 + q + k]) for k in range(q)] + [(H, [0])]
    for U, wires in gates:
        M = op_on(U, wires, n)
        rho = M @ rho @ M.conj().T
        for w in wires:
            rho = depolarize(rho, w, p, n)
    return float(np.real(np.trace(rho[: 2 ** (n - 1), : 2 ** (n - 1)])))


def numpy_noisy_cu_p0(a, b, p, where):
    """Density-matrix compute-uncompute (StatePrep(b), reflection U_a) with depolarizing noise."""
    q = int(math.log2(len(a)))
    rho = np.outer(b, b).astype(complex)
    U = reflection(a)
    if where == "gates":
        for w in range(q):
            rho = depolarize(rho, w, p, q)
    rho = U @ rho @ U.T
    for w in range(q):
        rho = depolarize(rho, w, p, q)
    return float(np.real(rho[0, 0]))


# ---- analytic equality ----------------------------------------------------------------------------
@pytest.mark.parametrize("q", [1, 2, 3])
def test_swap_circuit_equals_a_numpy_simulation(q):
    X = states(3, q, seed=q)
    P, _ = engine("swap", mode="plain").pairs(X, X[::-1], q)
    ref = [numpy_swap_p0(a, b) for a, b in zip(X, X[::-1])]
    np.testing.assert_allclose(P, ref, atol=1e-12)
    np.testing.assert_allclose(ref, (1 + np.sum(X * X[::-1], 1) ** 2) / 2, atol=1e-12)


@pytest.mark.parametrize("device", CPU_DEVICES)
@pytest.mark.parametrize("method", ["swap", "compute_uncompute"])
@pytest.mark.parametrize("q", [1, 3])
def test_fast_paths_equal_the_plain_circuit(device, method, q):
    A, B = states(5, q, seed=1), states(3, q, seed=2, signed=False)
    plain = engine(method, device, "plain")
    ref_sym, _ = plain.matrix(A, None, q)
    ref_rect, _ = plain.matrix(A, B, q)
    ref_pairs, _ = plain.pairs(A[:3], B, q)
    np.testing.assert_allclose(to_F(ref_sym, method), (A @ A.T) ** 2, atol=1e-12)
    for mode in ("rows", "statevector"):
        e = engine(method, device, mode)
        np.testing.assert_allclose(e.matrix(A, None, q)[0], ref_sym, atol=1e-12, rtol=0)
        np.testing.assert_allclose(e.matrix(A, B, q)[0], ref_rect, atol=1e-12, rtol=0)
        np.testing.assert_allclose(e.pairs(A[:3], B, q)[0], ref_pairs, atol=1e-12, rtol=0)


@pytest.mark.parametrize("device", EXTRA_DEVICES)
def test_accelerator_devices_when_installed(device):
    ok, why = device_usable(device)
    if not ok:
        pytest.skip(f"{device} is not usable here: {why}")
    A = states(4, 3, seed=3)
    for method in ("swap", "compute_uncompute"):
        for mode in ("plain", "rows", "statevector"):
            P, _ = engine(method, device, mode).matrix(A, None, 3)
            np.testing.assert_allclose(to_F(P, method), (A @ A.T) ** 2, atol=1e-12)
    k = QuantumKernel("compute_uncompute", device, shots=200, seed=1, mode="rows").estimate(A)
    assert k.counts.shape == (4, 4) and (k.counts.diagonal() == 200).all()


def test_mixed_device_without_noise_equals_the_closed_form():
    A = states(4, 2, seed=4)
    for method in ("swap", "compute_uncompute"):
        P, _ = engine(method, "default.mixed", "rows", noise=Noise(0.0)).matrix(A, None, 2)
        np.testing.assert_allclose(to_F(P, method), (A @ A.T) ** 2, atol=1e-10)  # density sims round to ~1e-12


def test_small_batches_give_the_same_values(monkeypatch):
    A = states(7, 3, seed=5)
    ref, _ = engine("swap").matrix(A, None, 3)
    monkeypatch.setattr(engine_mod, "CPU_BATCH_BYTES", 1)  # one circuit per batch
    e = engine("swap")
    assert e.check_memory(3, 7, 7) == 1
    np.testing.assert_allclose(e.matrix(A, None, 3)[0], ref, atol=1e-14)
    np.testing.assert_allclose(engine("compute_uncompute").pairs(A, A[::-1], 3)[0], (np.sum(A * A[::-1], 1)) ** 2,
                               atol=1e-12)


# ---- noise ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.01, 0.2])
def test_swap_with_measurement_noise_shrinks_fidelity_exactly(p):
    A = states(3, 2, seed=6)
    P, _ = engine("swap", "default.mixed", "rows", noise=Noise(p, "measure")).pairs(A, A[::-1], 2)
    F = np.sum(A * A[::-1], 1) ** 2
    np.testing.assert_allclose(2 * P - 1, (1 - 4 * p / 3) * F, atol=1e-10)


@pytest.mark.parametrize("p", [0.02, 0.3])
def test_noisy_circuits_equal_numpy_density_matrices(p):
    A = states(2, 1, seed=7)
    P, _ = engine("swap", "default.mixed", "plain", noise=Noise(p, "gates")).pairs(A[:1], A[1:], 1)
    assert P[0] == pytest.approx(numpy_noisy_swap_p0(A[0], A[1], p), abs=1e-10)
    B = states(2, 2, seed=8)
    for where in ("gates", "measure"):
        P, _ = engine("compute_uncompute", "default.mixed", "rows", noise=Noise(p, where)).pairs(B[:1], B[1:], 2)
        assert P[0] == pytest.approx(numpy_noisy_cu_p0(B[0], B[1], p, where), abs=1e-10)


def test_noise_lowers_the_diagonal_and_full_depolarizing_mixes_completely():
    A = states(3, 2, seed=9)
    prev = None
    for p in (0.0, 0.01, 0.05, 0.2):
        P, _ = engine("compute_uncompute", "default.mixed", "rows", noise=Noise(p)).matrix(A, None, 2)
        if p > 0:  # the diagonal is run, not set, under noise, and falls as p grows
            assert (np.diag(P) < np.diag(prev) - 1e-6).all()
        prev = P
    # p = 3/4 on every measured qubit gives the maximally mixed state: P(0…0) = 1/2^q for every pair
    P, _ = engine("compute_uncompute", "default.mixed", "rows", noise=Noise(0.75, "measure")).matrix(A, None, 2)
    np.testing.assert_allclose(P, 0.25, atol=1e-12)
    P, _ = engine("swap", "default.mixed", "rows", noise=Noise(0.75, "measure")).matrix(A, None, 2)
    np.testing.assert_allclose(P, 0.5, atol=1e-12)


# ---- shot statistics ------------------------------------------------------------------------------
def _gof_pvalue(k: np.ndarray, S: int, p: float) -> float:
    """Chi-square goodness of fit of counts k to Binomial(S, p), bins merged to expected ≥ 5."""
    support = np.arange(S + 1)
    pmf = stats.binom.pmf(support, S, p)
    obs = np.bincount(k, minlength=S + 1).astype(float)
    exp_bins, obs_bins, e_acc, o_acc = [], [], 0.0, 0.0
    for e, o in zip(pmf * len(k), obs):
        e_acc += e
        o_acc += o
        if e_acc >= 5:
            exp_bins.append(e_acc)
            obs_bins.append(o_acc)
            e_acc = o_acc = 0.0
    exp_bins[-1] += e_acc
    obs_bins[-1] += o_acc
    return float(stats.chisquare(obs_bins, exp_bins, ddof=0).pvalue)


def _homogeneity_pvalue(k1: np.ndarray, k2: np.ndarray) -> float:
    """Chi-square test that two samples of counts come from one distribution (sparse bins pooled)."""
    lo, hi = min(k1.min(), k2.min()), max(k1.max(), k2.max())
    edges = np.unique(np.quantile(np.concatenate([k1, k2]), np.linspace(0, 1, 9)))
    edges[0], edges[-1] = lo - 0.5, hi + 0.5
    t = np.array([np.histogram(k1, edges)[0], np.histogram(k2, edges)[0]])
    t = t[:, t.sum(0) > 0]
    return float(stats.chi2_contingency(t)[1])


@pytest.mark.parametrize("method", ["swap", "compute_uncompute"])
@pytest.mark.parametrize("theta", [0.7, 0.15])
def test_sampled_and_real_shot_runs_have_the_same_statistics(method, theta):
    S, R, q = 100, 400, 2
    rng = np.random.default_rng(10)
    a = rng.standard_normal(4)
    a /= np.linalg.norm(a)
    u = rng.standard_normal(4)
    u -= (u @ a) * a
    u /= np.linalg.norm(u)
    b = math.cos(theta) * a + math.sin(theta) * u
    A, B = np.repeat(a[None], R, 0), np.repeat(b[None], R, 0)
    p = (1 + math.cos(theta) ** 2) / 2 if method == "swap" else math.cos(theta) ** 2
    runs = {}
    for name, mode, device in (("rows", "rows", "default.qubit"), ("plain", "plain", "default.qubit"),
                               ("lightning", "rows", "lightning.qubit"), ("sampled", "statevector", "default.qubit")):
        _, K = engine(method, device, mode, shots=S, seed=20).pairs(A, B, q)
        assert K.shape == (R,) and K.dtype == np.int64 and ((0 <= K) & (K <= S)).all()
        runs[name] = K
        assert _gof_pvalue(K, S, p) > ALPHA, name
        assert len(np.unique(K)) > 3, name  # independent draws, not one repeated estimate
    for name in ("rows", "plain", "lightning"):
        assert _homogeneity_pvalue(runs[name], runs["sampled"]) > ALPHA, name
    # the pooled count is an unbiased estimate of p: binomial test on all R·S shots
    for name, K in runs.items():
        assert stats.binomtest(int(K.sum()), R * S, p).pvalue > ALPHA, name


def test_symmetric_shot_matrices_mirror_and_fix_the_diagonal():
    A = states(5, 2, seed=11)
    for mode in ("rows", "statevector", "plain"):
        P, K = engine("swap", mode=mode, shots=50, seed=1).matrix(A, None, 2)
        np.testing.assert_array_equal(K, K.T)
        assert (np.diag(K) == 50).all() and (P == K / 50).all()


def test_seeds_make_runs_reproducible():
    A = states(6, 2, seed=12)
    for mode in ("rows", "statevector"):
        k1 = engine("compute_uncompute", mode=mode, shots=100, seed=3).matrix(A, None, 2)[1]
        k2 = engine("compute_uncompute", mode=mode, shots=100, seed=3).matrix(A, None, 2)[1]
        k3 = engine("compute_uncompute", mode=mode, shots=100, seed=4).matrix(A, None, 2)[1]
        np.testing.assert_array_equal(k1, k2)
        assert (k1 != k3).any()


# ---- resources ------------------------------------------------------------------------------------
def test_memory_limit_refuses_before_allocating(monkeypatch):
    monkeypatch.setattr(engine_mod, "available_memory", lambda gpu=False: 2 << 20)  # 2 MiB: budget 1 MiB
    e = engine("swap")
    limit = None
    for q in range(1, 12):
        try:
            e.check_memory(q, 4, 4)
        except InputError as exc:
            limit = q
            msg = str(exc)
            break
    assert limit is not None and limit > 1
    assert f"largest register that fits is {limit - 1} qubits" in msg and "available memory" in msg
    A = states(4, limit - 1, seed=13)
    P, _ = e.matrix(A, None, limit - 1)  # the largest register that fits does run
    np.testing.assert_allclose(2 * P - 1, (A @ A.T) ** 2, atol=1e-12)
    with pytest.raises(InputError, match="needs about"):
        QuantumKernel("swap", mode="rows").matrix(states(2, limit, seed=14))


def test_huge_registers_are_refused_at_once():
    with pytest.raises(InputError, match=r"needs about .* (TiB|PiB|EiB)"):
        QuantumKernel("compute_uncompute", mode="rows", n_qubits=45).matrix(np.eye(2))
    with pytest.raises(InputError, match="largest register"):
        QuantumKernel("swap", "default.mixed", noise=0.01, n_qubits=20).fidelity(np.array([1.0, 0]), np.array([0, 1.0]))


def test_thread_limit_sets_and_restores():
    from threadpoolctl import threadpool_info

    before = {d["filepath"]: d["num_threads"] for d in threadpool_info()}
    with thread_limit(1):
        assert all(d["num_threads"] == 1 for d in threadpool_info())
    assert {d["filepath"]: d["num_threads"] for d in threadpool_info()} == before
    with thread_limit(None):
        pass


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "fast"}, "mode"), ({"mode": "statevector", "noise": 0.1, "device": "default.mixed"}, "statevector"),
    ({"mode": "statevector", "device": "default.mixed"}, "statevector"), ({"noise": 0.1}, "default.mixed"),
    ({"threads": 0}, "threads"), ({"threads": "many"}, "threads"), ({"memory_fraction": 0}, "memory_fraction"),
    ({"memory_fraction": 2}, "memory_fraction"),
])
def test_engine_refuses_bad_settings(kwargs, match):
    args = {"method": "swap", "device": "default.qubit", "shots": None, "noise": None, "mode": "auto", **kwargs}
    threads = args.pop("threads", "auto")
    frac = args.pop("memory_fraction", 0.5)
    with pytest.raises(InputError, match=match):
        Engine(args["method"], args["device"], args["shots"], args["noise"], args["mode"], np.random.default_rng(0),
               threads, frac)


def test_many_pairs_are_not_charged_as_a_matrix(monkeypatch):
    monkeypatch.setattr(engine_mod, "available_memory", lambda gpu=False: 512 << 20)
    e = engine("compute_uncompute", mode="statevector")
    e.check_memory(3, 100_000, 100_000, pairs=True)  # 1e5 pairs fit in 256 MiB
    with pytest.raises(InputError, match="too many states"):
        e.check_memory(3, 100_000, 100_000, pairs=False)  # a 1e5 x 1e5 matrix does not
