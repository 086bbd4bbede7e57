"""Tests of qkernels.geometry.distances against independent references.

References: NumPy closed forms, mpmath at 50 digits (Fubini–Study near 0), and POT
(``ot.emd2_1d``, ``ot.wasserstein_1d``, ``ot.emd2``) for the Wasserstein distances.
"""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch

from qkernels.geometry.distances import (
    cumulative_profile,
    fs_distance,
    pairwise_fs,
    pairwise_w2_cumulative,
    w1_cumulative,
    w2_cumulative,
    w2_empirical,
)
from tests.geometry.reference import (
    assert_w2sq_close,
    fs_arccos,
    fs_chord,
    fs_mp,
    masses,
    positions,
    pot_w1,
    pot_w2sq,
    rand_state,
    spectrum_of,
    unit,
    zpad,
)


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


def test_pairwise_fs_fused_route_equals_the_eager_passes(monkeypatch):
    """The CUDA route (one arccos(min(|g|, 1)) kernel, then a search for small angles) gives the same
    matrix as the three CPU passes; emulated here with the same function on the CPU."""
    import torch

    from qkernels.geometry import distances

    g = torch.Generator().manual_seed(3)
    X = torch.randn(60, 8, generator=g, dtype=torch.float64).abs()
    X[7] = X[3] + 1e-9  # a near-duplicate: refined from the difference vectors in both routes
    X = X / X.norm(dim=1, keepdim=True)
    Y = X[:25].flip(0).contiguous()
    want_sym, want = distances.pairwise_fs(X), distances.pairwise_fs(X, Y)
    monkeypatch.setattr(distances, "_fused_abs_acos", lambda device: lambda G: G.abs().clamp(max=1.0).acos())
    got_sym, got = distances.pairwise_fs(X), distances.pairwise_fs(X, Y)
    assert torch.equal(got_sym, want_sym) and torch.equal(got, want)
    assert 0 < float(got_sym[3, 7]) < 1e-8 and float(got_sym.diagonal().abs().max()) == 0.0


def test_pairwise_fs_has_no_fused_route_on_the_cpu():
    import torch

    from qkernels.geometry.distances import _fused_abs_acos

    assert _fused_abs_acos(torch.device("cpu")) is None
