"""Tests of qkernels.geometry.distances against independent references.

References: NumPy closed forms, mpmath at 50 digits (Fubini–Study near 0), and POT
(``ot.emd2_1d``, ``ot.wasserstein_1d``, ``ot.emd2``) for the Wasserstein distances.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import ot
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.geometry.distances import (
    UNIT_TOL,
    check_states,
    cumulative_profile,
    fs_distance,
    pairwise_fs,
    pairwise_w2_cumulative,
    w1_cumulative,
    w2_cumulative,
    w2_empirical,
)

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers / references
@pytest.fixture
def rng():
    return np.random.default_rng(2024)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rand_state(rng, n: int, *, sort: bool = True, signed: bool = False) -> np.ndarray:
    v = rng.standard_normal(n)
    if not signed:
        v = np.abs(v)
    if sort:
        v = -np.sort(-v)
    return unit(v)


def spectrum_of(rng, m: int, n: int, rank: int | None = None, scale: float = 1.0) -> np.ndarray:
    """Singular values (NumPy) of a random augmented matrix [[W, b], [0, 1]]."""
    rank = min(m, n) if rank is None else rank
    W = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) * scale
    b = rng.standard_normal(m) * scale
    A = np.block([[W, b[:, None]], [np.zeros((1, n)), np.ones((1, 1))]])
    return np.linalg.svd(A, compute_uv=False)


def zpad(v: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([v, np.zeros(n - len(v))])


def fs_arccos(a: np.ndarray, b: np.ndarray) -> float:
    n = max(len(a), len(b))
    return float(np.arccos(np.clip(abs(zpad(a, n) @ zpad(b, n)), 0.0, 1.0)))


def fs_chord(a: np.ndarray, b: np.ndarray) -> float:
    """Difference-vector formula in NumPy (for non-negative states)."""
    n = max(len(a), len(b))
    return float(2 * np.arcsin(np.linalg.norm(zpad(a, n) - zpad(b, n)) / 2))


def fs_mp(a: np.ndarray, b: np.ndarray) -> float:
    """arccos|<a, b>| of the exactly normalized inputs, at 50 significant digits."""
    n = max(len(a), len(b))
    with mpmath.workdps(50):
        A = [mpmath.mpf(float(x)) for x in zpad(a, n)]
        B = [mpmath.mpf(float(x)) for x in zpad(b, n)]
        na = mpmath.sqrt(mpmath.fsum(x * x for x in A))
        nb = mpmath.sqrt(mpmath.fsum(x * x for x in B))
        c = abs(mpmath.fsum(x * y for x, y in zip(A, B))) / (na * nb)
        return float(mpmath.acos(min(c, mpmath.mpf(1))))


def positions(n: int) -> np.ndarray:
    return np.arange(1, n + 1) / n


def masses(psi: np.ndarray, n: int) -> np.ndarray:
    p = zpad(psi, n) ** 2
    return p / p.sum()


def pot_w2sq(a: np.ndarray, b: np.ndarray, how: str = "emd2_1d") -> float:
    n = max(len(a), len(b))
    x, p, q = positions(n), masses(a, n), masses(b, n)
    if how == "emd2_1d":
        return float(ot.emd2_1d(x, x, p, q))  # default metric: squared Euclidean
    if how == "wasserstein_1d":
        return float(ot.wasserstein_1d(x, x, p, q, p=2))  # returns W_p^p
    if how == "emd2":
        return float(ot.emd2(p, q, (x[:, None] - x[None, :]) ** 2))
    raise AssertionError(how)


def pot_w1(a: np.ndarray, b: np.ndarray) -> float:
    n = max(len(a), len(b))
    x = positions(n)
    return float(ot.wasserstein_1d(x, x, masses(a, n), masses(b, n), p=1))


def assert_w2sq_close(got: float, ref: float, *, rel: float = 1e-12, abs_: float = 1e-15):
    assert abs(got - ref) <= rel * abs(ref) + abs_, (got, ref)


# --------------------------------------------------------------------------- Fubini–Study
def test_fs_against_arccos_away_from_zero(rng):
    for n in (2, 3, 7, 40):
        for signed in (False, True):
            a, b = rand_state(rng, n, signed=signed, sort=False), rand_state(rng, n, signed=signed, sort=False)
            ref = fs_arccos(a, b)
            assert ref > 1e-3  # away from 0, where the arccos reference is accurate
            got = fs_distance(a, b)
            assert isinstance(got, np.ndarray | np.floating | float)
            assert float(got) == pytest.approx(ref, abs=1e-13)
            assert float(got) == pytest.approx(fs_mp(a, b), abs=1e-14)


def test_fs_known_values():
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert float(fs_distance(e1, e2)) == pytest.approx(math.pi / 2, abs=1e-15)
    assert float(fs_distance(e1, unit(np.array([1.0, 1.0])))) == pytest.approx(math.pi / 4, abs=1e-15)
    assert float(fs_distance(e1, unit(np.array([1.0, math.sqrt(3)])))) == pytest.approx(math.pi / 3, abs=1e-15)
    # projective: a global sign does not matter
    v = unit(np.array([0.3, -0.4, 0.5]))
    assert float(fs_distance(v, -v)) == pytest.approx(0.0, abs=1e-15)
    assert float(fs_distance(v, v)) == 0.0


def test_fs_brute_force_angle(rng):
    """Brute force: the angle between the lines, from a rotation in the plane of a and b."""
    for _ in range(5):
        a = rand_state(rng, 6, sort=False)
        u = rng.standard_normal(6)
        u = unit(u - (u @ a) * a)  # unit, orthogonal to a
        theta = rng.uniform(0.01, math.pi / 2 - 0.01)
        b = math.cos(theta) * a + math.sin(theta) * u
        assert float(fs_distance(a, b)) == pytest.approx(theta, abs=1e-13)
        # beyond pi/2 the line angle is pi - theta'
        b2 = math.cos(math.pi - theta) * a + math.sin(math.pi - theta) * u
        assert float(fs_distance(a, b2)) == pytest.approx(theta, abs=1e-13)


@pytest.mark.parametrize("eps", [1e-12, 1e-9, 1e-6, 1e-3])
def test_fs_near_duplicates_full_precision(rng, eps):
    n = 50
    psis, phis = [], []
    for _ in range(6):
        psi = rand_state(rng, n)
        phi = unit(psi + eps * rng.standard_normal(n))
        psis.append(psi)
        phis.append(phi)
    P, Q = np.stack(psis), np.stack(phis)
    ref = np.array([fs_mp(p, q) for p, q in zip(P, Q)])
    chord = np.array([fs_chord(p, q) for p, q in zip(P, Q)])
    tol = 1e-15 + 1e-6 * ref
    assert np.all(np.abs(chord - ref) <= tol)  # the reference formulas agree
    np.testing.assert_array_less(np.abs(fs_distance(P, Q) - ref), tol)
    # pairwise over the stacked set: the (i, i + 6) entries are the near-duplicate pairs
    D = pairwise_fs(np.concatenate([P, Q]))
    got = D[np.arange(6), np.arange(6) + 6]
    np.testing.assert_array_less(np.abs(got - ref), tol)
    np.testing.assert_array_less(np.abs(D[np.arange(6) + 6, np.arange(6)] - ref), tol)
    # and the non-symmetric form
    D2 = pairwise_fs(P, Q)
    np.testing.assert_array_less(np.abs(np.diag(D2) - ref), tol)
    if eps <= 1e-9:
        # the naive arccos of the Gram entry is off by more than the tolerance: this test can fail
        naive = np.arccos(np.clip(np.einsum("ij,ij->i", P, Q), 0, 1))
        assert np.max(np.abs(naive - ref)) > 1e-3 * np.max(ref)


def test_fs_identities(rng):
    """‖ψᵢ − ψⱼ‖ = 2 sin(θ/2) and ‖sᵢ − sⱼ‖² = (aᵢ − aⱼ)² + 4 aᵢ aⱼ sin²(θ/2)."""
    shapes = [(3, 5), (8, 2), (6, 6), (4, 9), (10, 10)]
    for (m1, n1) in shapes:
        for (m2, n2) in shapes:
            s1 = spectrum_of(rng, m1, n1, scale=rng.uniform(0.1, 3))
            s2 = spectrum_of(rng, m2, n2, rank=1, scale=rng.uniform(0.1, 3))
            n = max(len(s1), len(s2))
            s1p, s2p = zpad(s1, n), zpad(s2, n)
            a1, a2 = np.linalg.norm(s1), np.linalg.norm(s2)
            theta = float(fs_distance(s1 / a1, s2 / a2))  # lengths may differ
            assert np.linalg.norm(s1p / a1 - s2p / a2) == pytest.approx(2 * math.sin(theta / 2), rel=1e-12, abs=1e-15)
            lhs = np.sum((s1p - s2p) ** 2)
            rhs = (a1 - a2) ** 2 + 4 * a1 * a2 * math.sin(theta / 2) ** 2
            assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-14)


def test_fs_batched_broadcasting(rng):
    P = np.stack([rand_state(rng, 5) for _ in range(3)])
    q = rand_state(rng, 5)
    d = fs_distance(P, q)
    assert d.shape == (3,)
    np.testing.assert_allclose(d, [fs_arccos(p, q) for p in P], atol=1e-13)
    P3 = np.stack([np.stack([rand_state(rng, 4) for _ in range(3)]) for _ in range(2)])  # (2, 3, 4)
    Q3 = np.stack([rand_state(rng, 4) for _ in range(3)])  # (3, 4)
    d3 = fs_distance(torch.from_numpy(P3), torch.from_numpy(Q3))
    assert isinstance(d3, torch.Tensor) and d3.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert float(d3[i, j]) == pytest.approx(fs_arccos(P3[i, j], Q3[j]), abs=1e-13)


def test_fs_cross_length(rng):
    a, b = rand_state(rng, 4), rand_state(rng, 9)
    assert float(fs_distance(a, b)) == pytest.approx(fs_arccos(a, b), abs=1e-13)
    assert float(fs_distance(b, a)) == pytest.approx(fs_arccos(a, b), abs=1e-13)
    # a state padded with zeros is the same point
    assert float(fs_distance(a, zpad(a, 12))) == 0.0


# --------------------------------------------------------------------------- pairwise FS
def test_pairwise_fs_matches_single_pair_and_is_a_distance_matrix(rng):
    P = np.stack([rand_state(rng, 7) for _ in range(9)] + [rand_state(rng, 7, signed=True, sort=False) for _ in range(3)])
    D = pairwise_fs(P)
    assert isinstance(D, np.ndarray) and D.shape == (12, 12)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    np.testing.assert_allclose(D, D.T, rtol=0, atol=1e-15)
    assert np.all(D >= 0) and np.all(D <= math.pi / 2 + 1e-15)
    for i in range(12):
        for j in range(12):
            assert D[i, j] == pytest.approx(fs_mp(P[i], P[j]), abs=1e-13)
            assert D[i, j] == pytest.approx(float(fs_distance(P[i], P[j])), abs=1e-13)


def test_pairwise_fs_rectangular_cross_length_torch(rng):
    A = np.stack([rand_state(rng, 5) for _ in range(4)])
    B = np.stack([rand_state(rng, 8) for _ in range(6)])
    D = pairwise_fs(torch.from_numpy(A), torch.from_numpy(B))
    assert isinstance(D, torch.Tensor) and D.shape == (4, 6) and D.dtype == torch.float64
    ref = np.array([[fs_arccos(a, b) for b in B] for a in A])
    np.testing.assert_allclose(D.numpy(), ref, atol=1e-12)
    DT = pairwise_fs(B, A)
    np.testing.assert_allclose(DT, ref.T, atol=1e-12)


# --------------------------------------------------------------------------- W2 cumulative
@pytest.mark.parametrize("how", ["emd2_1d", "wasserstein_1d", "emd2"])
def test_w2_cumulative_against_pot(rng, how):
    for n in (1, 2, 3, 5, 16, 64):
        for _ in range(4):
            a = rand_state(rng, n, sort=bool(rng.integers(2)), signed=bool(rng.integers(2)))
            b = rand_state(rng, n, sort=bool(rng.integers(2)))
            ref = pot_w2sq(a, b, how)
            got = float(w2_cumulative(a, b, squared=True))
            assert_w2sq_close(got, ref)
            assert float(w2_cumulative(a, b)) == pytest.approx(math.sqrt(ref), rel=1e-12, abs=1e-12)


def test_w2_cumulative_spectra_and_cross_length(rng):
    for (m1, n1), (m2, n2) in [((4, 6), (9, 3)), ((2, 2), (20, 30)), ((7, 7), (7, 7))]:
        s1, s2 = spectrum_of(rng, m1, n1), spectrum_of(rng, m2, n2, rank=1)
        a, b = unit(s1), unit(s2)
        for how in ("emd2_1d", "wasserstein_1d", "emd2"):
            assert_w2sq_close(float(w2_cumulative(a, b, squared=True)), pot_w2sq(a, b, how))
            assert_w2sq_close(float(w2_cumulative(b, a, squared=True)), pot_w2sq(a, b, how))


def test_w2_cumulative_with_ties_and_zeros():
    """Exact ties between the two CDFs' breakpoints and zero masses (padded spectra)."""
    cases = [
        (np.array([1.0, 0, 0, 0]), np.array([0, 0, 0, 1.0])),
        (unit(np.array([1.0, 1, 0, 0])), unit(np.array([1.0, 0, 1, 0]))),
        (unit(np.array([1.0, 1, 1, 1])), unit(np.array([1.0, 1, 1, 1]))),
        (unit(np.array([2.0, 1, 1, 0])), unit(np.array([1.0, 1, 2, 0]))),
        (unit(np.array([0, 0, 1.0, 0])), unit(np.array([0, 1.0, 0, 0]))),
    ]
    for a, b in cases:
        ref = pot_w2sq(a, b, "emd2")
        assert_w2sq_close(float(w2_cumulative(a, b, squared=True)), ref)
    # e1 vs e_N: all mass moves from 1/N to 1
    for n in (2, 5, 9):
        e1, en = np.eye(n)[0], np.eye(n)[-1]
        assert float(w2_cumulative(e1, en)) == pytest.approx((n - 1) / n, rel=1e-14)


@pytest.mark.parametrize("n", [2, 3, 4, 10, 100, 1000])
def test_counterexample_from_theory(n):
    """ψ = e₁ against (e₁+e₂)/√2: θ = π/4 but W₂cum = 1/(√2 N)."""
    e1 = np.zeros(n)
    e1[0] = 1.0
    v = np.zeros(n)
    v[:2] = 1 / math.sqrt(2)
    assert float(fs_distance(e1, v)) == pytest.approx(math.pi / 4, abs=1e-15)
    assert float(w2_cumulative(e1, v)) == pytest.approx(1 / (math.sqrt(2) * n), rel=1e-13)
    assert float(w2_cumulative(e1, v, squared=True)) == pytest.approx(1 / (2 * n * n), rel=1e-13)
    assert pot_w2sq(e1, v) == pytest.approx(1 / (2 * n * n), rel=1e-13)
    # W1cum: mass 1/2 moves by 1/N
    assert float(w1_cumulative(e1, v)) == pytest.approx(1 / (2 * n), rel=1e-13)


def test_tv_and_w2_bounded_by_sin_theta(rng):
    """TV(p, q) ≤ sin θ and W₂cum ≤ √(sin θ) on random pairs."""
    count = 0
    for n in (2, 3, 8, 33):
        for _ in range(25):
            a = rand_state(rng, n, sort=bool(rng.integers(2)))
            if rng.integers(3) == 0:  # some near pairs
                b = unit(a + 10.0 ** rng.uniform(-8, -1) * np.abs(rng.standard_normal(n)))
            else:
                b = rand_state(rng, n, sort=bool(rng.integers(2)))
            theta = fs_mp(a, b)
            tv = 0.5 * np.sum(np.abs(a**2 - b**2))
            assert tv <= math.sin(theta) * (1 + 1e-12) + 1e-15
            w2 = float(w2_cumulative(a, b))
            assert w2 <= math.sqrt(math.sin(theta)) * (1 + 1e-9) + 1e-9
            count += 1
    assert count == 100


def test_w2_scales_like_sqrt_eps_while_theta_like_eps(rng):
    n = 12
    a = rand_state(rng, n)
    d = rng.standard_normal(n)
    d -= (d @ a) * a
    eps_list = [1e-4, 1e-6, 1e-8]
    thetas, w2sq, w1 = [], [], []
    for eps in eps_list:
        b = unit(a + eps * d)
        thetas.append(float(fs_distance(a, b)))
        w2sq.append(float(w2_cumulative(a, b, squared=True)))
        w1.append(float(w1_cumulative(a, b)))
        # in this regime W2² = W1/N (each quantile gap is one step of 1/N); POT agrees
        assert w2sq[-1] == pytest.approx(w1[-1] / n, rel=1e-6)
        assert w2sq[-1] == pytest.approx(pot_w2sq(a, b), rel=1e-6, abs=1e-18)
    r_theta = [t / e for t, e in zip(thetas, eps_list)]
    r_w2 = [w / e for w, e in zip(w2sq, eps_list)]
    assert max(r_theta) / min(r_theta) < 1.01
    assert max(r_w2) / min(r_w2) < 1.01


def test_w2_cumulative_batched(rng):
    A = np.stack([np.stack([rand_state(rng, 6) for _ in range(3)]) for _ in range(2)])
    B = np.stack([rand_state(rng, 4) for _ in range(3)])
    W = w2_cumulative(A, B, squared=True)
    assert W.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert_w2sq_close(float(W[i, j]), pot_w2sq(A[i, j], B[j]))
    np.testing.assert_allclose(w2_cumulative(A, B), np.sqrt(W), rtol=1e-15)


def test_cumulative_profile():
    F = cumulative_profile(torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64))
    np.testing.assert_allclose(F.numpy(), [0.36, 1.0, 1.0], rtol=1e-15)
    assert float(F[-1]) == 1.0


# --------------------------------------------------------------------------- W1 cumulative, W2 empirical
def test_w1_cumulative_against_pot(rng):
    for n in (1, 2, 5, 17, 64):
        for _ in range(4):
            a, b = rand_state(rng, n, sort=bool(rng.integers(2))), rand_state(rng, n)
            assert float(w1_cumulative(a, b)) == pytest.approx(pot_w1(a, b), rel=1e-12, abs=1e-15)
    a, b = rand_state(rng, 3), rand_state(rng, 11)
    assert float(w1_cumulative(a, b)) == pytest.approx(pot_w1(a, b), rel=1e-12, abs=1e-15)
    # also emd2_1d with the |x - y| metric
    x = positions(11)
    ref = ot.emd2_1d(x, x, masses(a, 11), masses(b, 11), metric="cityblock")
    assert float(w1_cumulative(a, b)) == pytest.approx(float(ref), rel=1e-12)


def test_w2_empirical_against_pot(rng):
    for n in (1, 2, 7, 30):
        u, v = rng.standard_normal(n) * 3, rng.standard_normal(n)
        ref = math.sqrt(ot.wasserstein_1d(u, v, p=2))
        assert float(w2_empirical(u, v)) == pytest.approx(ref, rel=1e-12, abs=1e-15)
    # spectra of different lengths: zero-padded to the common length
    s1, s2 = spectrum_of(rng, 3, 4), spectrum_of(rng, 8, 6)
    n = max(len(s1), len(s2))
    ref = math.sqrt(ot.wasserstein_1d(zpad(s1, n), zpad(s2, n), p=2))
    assert float(w2_empirical(s1, s2)) == pytest.approx(ref, rel=1e-12)
    assert float(w2_empirical(s2, s1)) == pytest.approx(ref, rel=1e-12)
    # states
    a, b = rand_state(rng, 9, sort=False), rand_state(rng, 9)
    assert float(w2_empirical(a, b)) == pytest.approx(math.sqrt(ot.wasserstein_1d(a, b, p=2)), rel=1e-12)
    # batched torch
    U, V = torch.randn(4, 5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    out = w2_empirical(U, V)
    assert isinstance(out, torch.Tensor) and out.shape == (4,)
    for i in range(4):
        assert float(out[i]) == pytest.approx(math.sqrt(ot.wasserstein_1d(U[i].numpy(), V.numpy(), p=2)), rel=1e-12)


# --------------------------------------------------------------------------- pairwise W2
@pytest.mark.parametrize("block_elems", [1, 16, 1 << 17])
def test_pairwise_w2_symmetric(rng, block_elems):
    P = np.stack([rand_state(rng, 6, sort=bool(i % 2)) for i in range(11)])
    D2 = pairwise_w2_cumulative(P, squared=True, block_elems=block_elems)
    D = pairwise_w2_cumulative(P, block_elems=block_elems)
    assert D.shape == (11, 11)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_allclose(D, np.sqrt(D2), rtol=1e-15)
    for i in range(11):
        for j in range(11):
            if i != j:
                assert_w2sq_close(float(D2[i, j]), pot_w2sq(P[i], P[j]))
            assert float(D[i, j]) == pytest.approx(float(w2_cumulative(P[i], P[j])), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("block_elems", [1, 50, 1 << 17])
def test_pairwise_w2_rectangular_cross_length(rng, block_elems):
    A = np.stack([rand_state(rng, 5) for _ in range(4)])
    B = np.stack([rand_state(rng, 8) for _ in range(7)])
    D2 = pairwise_w2_cumulative(torch.from_numpy(A), torch.from_numpy(B), squared=True, block_elems=block_elems)
    assert isinstance(D2, torch.Tensor) and D2.shape == (4, 7)
    for i in range(4):
        for j in range(7):
            assert_w2sq_close(float(D2[i, j]), pot_w2sq(A[i], B[j]))


def test_pairwise_w2_near_duplicates_distinct_from_zero(rng):
    a = rand_state(rng, 10)
    b = unit(a + 1e-9 * np.abs(rng.standard_normal(10)))
    D2 = pairwise_w2_cumulative(np.stack([a, b]), squared=True)
    ref = pot_w2sq(a, b)
    assert ref > 0
    assert abs(D2[0, 1] - ref) <= 1e-6 * ref + 1e-17


# --------------------------------------------------------------------------- kinds and dtypes
def test_output_kind_follows_input(rng):
    a, b = rand_state(rng, 5), rand_state(rng, 5)
    P = np.stack([a, b])
    for f in (fs_distance, w2_cumulative, w1_cumulative, w2_empirical):
        r_np = f(a, b)
        assert isinstance(r_np, np.ndarray | np.floating) and not isinstance(r_np, torch.Tensor)
        r_t = f(torch.from_numpy(a), torch.from_numpy(b))
        assert isinstance(r_t, torch.Tensor) and r_t.dtype == torch.float64 and r_t.ndim == 0
        assert float(r_t) == pytest.approx(float(r_np), rel=1e-15, abs=1e-300)
    for f in (pairwise_fs, pairwise_w2_cumulative):
        assert isinstance(f(P), np.ndarray)
        assert isinstance(f(torch.from_numpy(P)), torch.Tensor)


def test_float32(rng):
    A = np.stack([rand_state(rng, 7) for _ in range(5)])
    A32 = torch.from_numpy(A.astype(np.float32))
    a, b = A32[0], A32[1]
    for f, ref in [
        (fs_distance, fs_arccos(A[0], A[1])),
        (w2_cumulative, math.sqrt(pot_w2sq(A[0], A[1]))),
        (w1_cumulative, pot_w1(A[0], A[1])),
        (w2_empirical, math.sqrt(ot.wasserstein_1d(A[0], A[1], p=2))),
    ]:
        r = f(a, b)
        assert r.dtype == torch.float32
        assert float(r) == pytest.approx(ref, abs=2e-5)
    D = pairwise_fs(A32)
    assert D.dtype == torch.float32
    ref = np.array([[fs_arccos(x, y) for y in A] for x in A])
    np.testing.assert_allclose(D.numpy(), ref, atol=1e-3)  # float32 Gram + arccos away from 0
    np.testing.assert_array_equal(np.diag(D.numpy()), 0.0)
    W = pairwise_w2_cumulative(A32, squared=True)
    assert W.dtype == torch.float32
    ref = np.array([[pot_w2sq(x, y) for y in A] for x in A])
    np.testing.assert_allclose(W.numpy(), ref, atol=1e-6)
    # float32 numpy input stays float32
    assert w2_cumulative(A[0].astype(np.float32), A[1].astype(np.float32)).dtype == np.float32


def test_unit_tolerance_depends_on_dtype():
    v = np.array([1.0 + 5e-6, 0.0])  # off by 5e-6: too far in float64, fine in float32
    assert UNIT_TOL[torch.float64] < 5e-6 < UNIT_TOL[torch.float32]
    with pytest.raises(InputError, match="unit"):
        fs_distance(v, np.array([0.0, 1.0]))
    r = fs_distance(torch.tensor(v, dtype=torch.float32), torch.tensor([0.0, 1.0]))
    assert float(r) == pytest.approx(math.pi / 2, abs=1e-5)  # the input is off by 5e-6
    t, kind = check_states([0.6, 0.8], "psi")
    assert kind == "numpy" and t.dtype == torch.float64


# --------------------------------------------------------------------------- bad input
STATE_FUNCS = [fs_distance, w2_cumulative, w1_cumulative]


@pytest.mark.parametrize("f", STATE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "a, b, name",
    [
        (np.array([1.0, 1.0]), np.array([1.0, 0.0]), "psi_a"),
        (np.array([1.0, 0.0]), np.array([0.5, 0.0]), "psi_b"),
        (np.array([0.0, 0.0]), np.array([1.0, 0.0]), "psi_a"),
        (np.array([np.nan, 1.0]), np.array([1.0, 0.0]), "psi_a"),
        (np.array([1.0, 0.0]), np.array([np.inf, 0.0]), "psi_b"),
        (np.zeros(0), np.array([1.0]), "psi_a"),
        (np.array([1.0 + 0j, 0.0]), np.array([1.0, 0.0]), "psi_a"),
        (np.eye(3)[:2], np.eye(3), "psi_a and psi_b"),
        (np.array(1.0), np.array([1.0]), "psi_a"),
        (np.array(["a", "b"]), np.array([1.0, 0.0]), "psi_a"),
    ],
)
def test_state_functions_bad_input(f, a, b, name):
    with pytest.raises(InputError, match=rf"^{name}\b") as info:
        f(a, b)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("f", [pairwise_fs, pairwise_w2_cumulative], ids=lambda f: f.__name__)
def test_pairwise_bad_input(f):
    good = np.eye(3)
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.array([[1.0, 1.0]]))
    with pytest.raises(InputError, match="^Psi_b"):
        f(good, np.array([[1.0, 1.0]]))
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.array([1.0, 0.0]))  # 1-D
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.eye(2)[None])  # 3-D
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.array([[np.nan, 1.0]]))
    with pytest.raises(InputError, match="^Psi_b"):
        f(good, np.zeros((0, 3)))
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.eye(2, dtype=complex))


def test_w2_empirical_bad_input():
    with pytest.raises(InputError, match=r"^u\b"):
        w2_empirical(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(InputError, match=r"^v\b"):
        w2_empirical(np.array([1.0]), np.zeros(0))
    with pytest.raises(InputError, match=r"^u\b"):
        w2_empirical(np.array([1j]), np.array([1.0]))
    with pytest.raises(InputError, match="broadcast"):
        w2_empirical(np.ones((2, 3)), np.ones((4, 3)))
    # non-unit vectors are allowed here (raw spectra)
    assert float(w2_empirical(np.array([3.0]), np.array([1.0]))) == pytest.approx(2.0)


# --------------------------------------------------------------------------- property-based
@st.composite
def spectral_states(draw, max_n: int = 12):
    """States of spectra of random low-rank operators of random shape and scale."""
    m = draw(st.integers(1, max_n - 1))
    n = draw(st.integers(1, max_n - 1))
    rank = draw(st.integers(0, min(m, n)))
    scale = 10.0 ** draw(st.floats(-3, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return unit(spectrum_of(np.random.default_rng(seed), m, n, rank=rank, scale=scale))


@st.composite
def near_duplicate(draw):
    psi = draw(spectral_states())
    eps = 10.0 ** draw(st.floats(-12, -2))
    seed = draw(st.integers(0, 2**32 - 1))
    d = np.random.default_rng(seed).standard_normal(len(psi))
    return psi, unit(np.abs(psi + eps * d))


@HYP
@given(spectral_states(), spectral_states(), spectral_states())
def test_property_metric_axioms(a, b, c):
    n = max(len(a), len(b), len(c))
    a, b, c = zpad(a, n), zpad(b, n), zpad(c, n)
    dab, dba = float(fs_distance(a, b)), float(fs_distance(b, a))
    dbc, dac = float(fs_distance(b, c)), float(fs_distance(a, c))
    assert dab == dba
    assert 0 <= dab <= math.pi / 2
    assert float(fs_distance(a, a)) == 0.0
    assert dac <= dab + dbc + 1e-12
    assert dab == pytest.approx(fs_mp(a, b), abs=1e-13)
    w = {k: float(w2_cumulative(x, y)) for k, (x, y) in {"ab": (a, b), "ba": (b, a), "bc": (b, c), "ac": (a, c)}.items()}
    assert w["ab"] == pytest.approx(w["ba"], rel=1e-12, abs=1e-15)
    assert min(w.values()) >= 0
    assert float(w2_cumulative(a, a)) == 0.0
    assert w["ac"] <= w["ab"] + w["bc"] + 1e-7  # W2 has a sqrt(roundoff) floor near 0
    w1 = {k: float(w1_cumulative(x, y)) for k, (x, y) in {"ab": (a, b), "bc": (b, c), "ac": (a, c)}.items()}
    assert w1["ac"] <= w1["ab"] + w1["bc"] + 1e-14
    # theory bounds
    tv = 0.5 * np.sum(np.abs(a**2 - b**2))
    assert tv <= math.sin(dab) * (1 + 1e-12) + 1e-15
    assert w["ab"] <= math.sqrt(math.sin(dab)) * (1 + 1e-9) + 1e-8
    # pairwise agrees with the single pairs
    D = pairwise_fs(np.stack([a, b, c]))
    np.testing.assert_allclose(D[0, 1:], [dab, dac], atol=1e-13)
    W = pairwise_w2_cumulative(np.stack([a, b, c]))
    np.testing.assert_allclose(W[0, 1:], [w["ab"], w["ac"]], rtol=1e-10, atol=1e-12)


@HYP
@given(spectral_states(), spectral_states())
def test_property_agreement_with_pot(a, b):
    got = float(w2_cumulative(a, b, squared=True))
    assert_w2sq_close(got, pot_w2sq(a, b, "wasserstein_1d"))
    assert_w2sq_close(got, pot_w2sq(a, b, "emd2_1d"))
    assert float(w1_cumulative(a, b)) == pytest.approx(pot_w1(a, b), rel=1e-12, abs=1e-15)
    n = max(len(a), len(b))
    assert float(w2_empirical(a, b)) == pytest.approx(
        math.sqrt(ot.wasserstein_1d(zpad(a, n), zpad(b, n), p=2)), rel=1e-12, abs=1e-15
    )


@HYP
@given(near_duplicate())
def test_property_near_duplicates(pair):
    a, b = pair
    ref = fs_mp(a, b)
    assume(ref > 0)
    got = float(fs_distance(a, b))
    assert abs(got - ref) <= 1e-15 + 1e-6 * ref
    D = pairwise_fs(np.stack([a, b]))
    assert abs(D[0, 1] - ref) <= 1e-15 + 1e-6 * ref
    assert D[0, 1] == D[1, 0]
    w2sq = float(w2_cumulative(a, b, squared=True))
    ref_w = pot_w2sq(a, b, "wasserstein_1d")
    assert abs(w2sq - ref_w) <= 1e-12 * ref_w + 1e-15


def test_pairwise_fs_row_first_search_finds_every_near_duplicate():
    """Near-duplicates off the diagonal (and the diagonal) are refined exactly as one pair at a time."""
    from qkernels.geometry.distances import _near_one

    g = torch.Generator().manual_seed(5)
    base = torch.randn(6, 9, dtype=torch.float64, generator=g).abs()
    rows = [base[0], base[0] + 1e-9, base[1], base[2], base[2] * 3, base[3] + 1e-6, base[4], base[5]]
    P = torch.stack([r / r.norm() for r in rows])
    D = pairwise_fs(P)
    for i in range(len(P)):
        for j in range(len(P)):
            assert float(D[i, j]) == pytest.approx(float(fs_distance(P[i], P[j])), abs=1e-13)
    assert float(D.diagonal().abs().max()) == 0.0
    G = (P @ P.T).abs()
    for thr in (0.5, 0.99, 1 - 1e-4):
        got = {tuple(x) for x in _near_one(G, thr).tolist()}
        assert got == {tuple(x) for x in (G > thr).nonzero().tolist()}
    assert _near_one(torch.zeros(3, 4, dtype=torch.float64), 0.5).shape == (0, 2)
    D2 = pairwise_fs(P, P[:3])  # not symmetric: the diagonal is refined like every near pair
    assert float(D2[0, 0]) == 0.0 and float(D2[1, 0]) == pytest.approx(float(fs_distance(P[1], P[0])), abs=1e-13)


def test_w2_symmetric_when_cdf_ties_differ_in_low_part():
    # Found by hypothesis: b's CDF reaches 1 only in its low part, so sorting by the high part
    # alone ordered ties differently for (a, b) and (b, a) and gave W₂² asymmetric.
    a = np.eye(8)[0]
    b = np.array([0.9999991157541385, 9.654287231280872e-05, 0.000667939322168443, 0.0009940779626827455,
                  0.00023676628668840169, 0.0005184382380776359, 1.1120903913900046e-18, 1.3446534880410004e-19])
    ab, ba = float(w2_cumulative(a, b, squared=True)), float(w2_cumulative(b, a, squared=True))
    assert ab == pytest.approx(ba, rel=1e-14, abs=0)  # 3.9e-10 apart (relative) before the fix
    assert float(pairwise_w2_cumulative(np.stack([a, b]), squared=True)[0, 1]) == pytest.approx(ab, rel=1e-13, abs=0)
