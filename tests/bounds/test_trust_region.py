"""Tests of qkernels.bounds.trust_region.max_affine_norm against independent references.

References (none uses the secular equation of the implementation):
* n = 2: dense sampling of the circle ‖x‖ = R followed by a bounded scalar refinement of the angle;
* any n: multistart L-BFGS (scipy) on the sphere, x = R·z/‖z‖, from many random restarts;
* the Lagrangian dual of the trust-region problem (strong duality by the S-lemma),
  max_{‖x‖≤R} ‖Ax + c‖² = inf_{λ>σ₁²} ‖c‖² + cᵀA(λI − AᵀA)⁻¹Aᵀc + λR²,
  minimized over λ by scipy with the inverse computed by numpy.linalg.solve.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import optimize

from qkernels.bounds.trust_region import max_affine_norm
from qkernels.core.errors import InputError

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- references
def brute_circle(A: np.ndarray, c: np.ndarray, R: float) -> float:
    """n = 2: the maximum of ‖Ax + c‖ over the circle of radius R (grid + local refinement)."""
    assert A.shape[1] == 2
    t = np.linspace(0.0, 2 * np.pi, 200_001)
    X = R * np.stack([np.cos(t), np.sin(t)], axis=1)
    v = np.linalg.norm(X @ A.T + c, axis=1)
    k = int(np.argmax(v))
    f = lambda s: -np.linalg.norm(A @ (R * np.array([np.cos(s), np.sin(s)])) + c)  # noqa: E731
    h = t[1] - t[0]
    res = optimize.minimize_scalar(f, bounds=(t[k] - 2 * h, t[k] + 2 * h), method="bounded",
                                   options={"xatol": 1e-14})
    return max(float(v[k]), float(-res.fun))


def brute_multistart(A: np.ndarray, c: np.ndarray, R: float, restarts: int = 40, seed: int = 0) -> float:
    """max over the sphere of ‖Ax + c‖ by L-BFGS on z ↦ −‖A R z/‖z‖ + c‖² from random starts."""
    rng = np.random.default_rng(seed)
    n = A.shape[1]
    scale = R * np.linalg.norm(A, 2) + np.linalg.norm(c)
    if scale == 0:
        return 0.0
    A, c = A / scale, c / scale  # L-BFGS tolerances are absolute: solve at unit scale

    def f(z):
        nz = np.linalg.norm(z)
        if not nz > 0:
            return 0.0, np.zeros_like(z)
        x = R * z / nz
        r = A @ x + c
        g_x = -2 * A.T @ r
        # chain rule through x = R z / ‖z‖
        g_z = R * (g_x - x * (x @ g_x) / R**2) / nz
        return -(r @ r), g_z

    best = -np.inf
    starts = [rng.standard_normal(n) for _ in range(restarts)]
    # a few structured starts too (the reference stays independent of the implementation)
    _, _, vt = np.linalg.svd(A)
    starts += [vt[0], -vt[0], A.T @ c + 1e-9 * rng.standard_normal(n), -(A.T @ c) + 1e-9 * rng.standard_normal(n)]
    for z0 in starts:
        if not np.linalg.norm(z0) > 0:
            continue
        res = optimize.minimize(f, z0, jac=True, method="L-BFGS-B", options={"gtol": 1e-14, "ftol": 1e-16,
                                                                           "maxiter": 500})
        best = max(best, -res.fun)
    return math.sqrt(max(best, 0.0)) * scale


def dual_value(A: np.ndarray, c: np.ndarray, R: float) -> float:
    """Lagrangian dual: inf over λ > σ₁² of ‖c‖² + cᵀA(λI − AᵀA)⁻¹Aᵀc + λR² (S-lemma: no gap)."""
    G = A.T @ A
    n = G.shape[0]
    s1 = float(np.linalg.norm(A, 2)) ** 2
    Ac = A.T @ c

    def phi(mu):  # λ = s1 + exp(mu) keeps λ > σ₁²
        lam = s1 + math.exp(mu)
        return c @ c + Ac @ np.linalg.solve(lam * np.eye(n) - G, Ac) + lam * R * R

    scale = max(s1, 1e-300)
    lo, hi = math.log(scale * 1e-14 + 1e-300), math.log(scale * 1e8 + (c @ c) / R**2 * 1e8 + 1e-300)
    mus = np.linspace(lo, hi, 400)
    vals = [phi(m) for m in mus]
    k = int(np.argmin(vals))
    a, b = mus[max(k - 1, 0)], mus[min(k + 1, len(mus) - 1)]
    res = optimize.minimize_scalar(phi, bounds=(a, b), method="bounded", options={"xatol": 1e-12})
    return math.sqrt(max(min(float(res.fun), min(vals)), 0.0))


def run(A: np.ndarray, c: np.ndarray, R: float):
    v, x = max_affine_norm(torch.as_tensor(A, dtype=torch.float64), torch.as_tensor(c, dtype=torch.float64), R)
    return float(v), x.numpy()


def check_solution(A, c, R, v, x, rtol=1e-9):
    scale = R * np.linalg.norm(A, 2) + np.linalg.norm(c) + 1e-300
    # feasible, on the sphere, attains the reported value
    assert abs(np.linalg.norm(x) - R) <= 1e-12 * R
    assert abs(np.linalg.norm(A @ x + c) - v) <= rtol * scale
    # upper bounds of T1
    M = np.column_stack([A, c])
    ub = min(R * np.linalg.norm(A, 2) + np.linalg.norm(c), math.sqrt(R * R + 1) * np.linalg.norm(M, 2))
    assert v <= ub * (1 + 1e-12) + 1e-300
    # lower bounds: trivial feasible points ±R·e_k, ±R·v1, 0 cannot beat the maximum
    _, _, vt = np.linalg.svd(A)
    cands = [np.zeros(A.shape[1])] + [s * R * e for e in np.eye(A.shape[1]) for s in (1, -1)]
    cands += [R * vt[0], -R * vt[0]]
    for y in cands:
        assert np.linalg.norm(A @ y + c) <= v + 1e-12 * scale


# --------------------------------------------------------------------------- hard and generic cases
def _orth(rng, n):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q


def _cases():
    rng = np.random.default_rng(7)
    out = {}
    for shape in [(2, 2), (3, 2), (5, 2), (1, 2)]:
        out[f"generic{shape}"] = (rng.standard_normal(shape), rng.standard_normal(shape[0]), 1.3)
    # hard case: c orthogonal to the top left singular vector (and to the top only)
    U, V = _orth(rng, 3), _orth(rng, 2)
    A = U[:, :2] @ np.diag([3.0, 1.0]) @ V.T
    out["hard_c_perp_u1_small"] = (A, 0.1 * U[:, 1], 2.0)       # true hard case: ‖y‖ < R
    out["hard_c_perp_u1_big"] = (A, 50.0 * U[:, 1], 0.5)        # c ⊥ u1 but ‖y(σ₁²⁺)‖ > R
    out["hard_c_in_null"] = (A, 2.0 * U[:, 2], 1.0)             # c outside the range of A
    out["c_zero"] = (rng.standard_normal((3, 2)), np.zeros(3), 1.7)
    A0 = rng.standard_normal((3, 2))
    A0[:, 1] = 0
    out["zero_column"] = (A0, rng.standard_normal(3), 0.8)
    out["zero_matrix"] = (np.zeros((3, 2)), rng.standard_normal(3), 2.0)
    out["zero_all"] = (np.zeros((2, 2)), np.zeros(2), 2.0)
    out["repeated_top"] = (2.0 * _orth(rng, 2), rng.standard_normal(2), 1.1)
    out["repeated_top_c0"] = (2.0 * _orth(rng, 2), np.zeros(2), 1.1)
    out["rank1"] = (np.outer(rng.standard_normal(4), rng.standard_normal(2)), rng.standard_normal(4), 3.0)
    out["rank1_c_perp"] = (np.outer([1.0, 0, 0], [0.6, 0.8]), np.array([0.0, 0.3, -0.2]), 3.0)
    out["tiny_R"] = (rng.standard_normal((3, 2)), rng.standard_normal(3), 1e-6)
    out["huge_R"] = (rng.standard_normal((3, 2)), rng.standard_normal(3), 1e6)
    out["near_hard"] = (np.diag([2.0, 1.0]), np.array([1e-9, 0.5]), 1.0)
    return out


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_n2_matches_dense_circle(name):
    A, c, R = CASES[name]
    v, x = run(A, c, R)
    ref = brute_circle(A, c, R)
    scale = R * np.linalg.norm(A, 2) + np.linalg.norm(c) + 1e-300
    assert v >= ref - 1e-10 * scale, (v, ref)       # never below a feasible point found by brute force
    assert v <= ref + 1e-9 * scale, (v, ref)        # and the brute force gets within grid error
    check_solution(A, c, R, v, x)


def _nd_cases():
    rng = np.random.default_rng(11)
    out = {}
    for shape in [(4, 4), (6, 3), (3, 6), (1, 5), (5, 1)]:
        out[f"generic{shape}"] = (rng.standard_normal(shape), rng.standard_normal(shape[0]), 1.7)
    U, V = _orth(rng, 5), _orth(rng, 4)
    s = np.array([3.0, 3.0, 1.0, 0.5])
    A = U[:, :4] @ np.diag(s) @ V.T
    out["repeated_top_hard"] = (A, 0.2 * U[:, 2] + 0.1 * U[:, 4], 1.5)   # c ⊥ whole top space
    out["repeated_top_soft"] = (A, U[:, 0] - U[:, 3], 1.5)
    out["repeated_top_hard_bigc"] = (A, 30 * U[:, 3], 0.7)
    sd = np.array([2.0, 1.0, 0.0, 0.0])
    Ad = U[:, :4] @ np.diag(sd) @ V.T
    out["rank_deficient"] = (Ad, rng.standard_normal(5), 2.0)
    out["rank_deficient_c_in_null"] = (Ad, U[:, 2] + U[:, 4], 2.0)
    Az = rng.standard_normal((4, 5))
    Az[:, [1, 3]] = 0
    out["zero_columns_wide"] = (Az, rng.standard_normal(4), 1.0)
    out["c_zero_wide"] = (rng.standard_normal((2, 5)), np.zeros(2), 2.5)
    out["c_zero_tall"] = (rng.standard_normal((6, 3)), np.zeros(6), 0.3)
    return out


ND = _nd_cases()


@pytest.mark.parametrize("name", sorted(ND))
def test_nd_matches_multistart_and_dual(name):
    A, c, R = ND[name]
    v, x = run(A, c, R)
    scale = R * np.linalg.norm(A, 2) + np.linalg.norm(c)
    ref = brute_multistart(A, c, R)
    assert v >= ref - 1e-9 * scale, (v, ref)
    assert v <= ref + 1e-7 * scale, (v, ref)
    dual = dual_value(A, c, R)
    assert v <= dual + 1e-7 * scale, (v, dual)      # weak duality: the dual is an upper bound
    assert v >= dual - 1e-6 * scale, (v, dual)
    check_solution(A, c, R, v, x)


def test_docstring_example_and_attained_identity():
    v, x = run(np.eye(2), np.array([1.0, 0.0]), 2.0)
    assert v == pytest.approx(3.0, abs=1e-12)
    np.testing.assert_allclose(x, [2.0, 0.0], atol=1e-12)


def test_precomputed_svd_gives_same_answer():
    rng = np.random.default_rng(3)
    A = torch.as_tensor(rng.standard_normal((5, 4)))
    c = torch.as_tensor(rng.standard_normal(5))
    v1, x1 = max_affine_norm(A, c, 1.5)
    v2, x2 = max_affine_norm(A, c, 1.5, svd=torch.linalg.svd(A, full_matrices=False))
    assert float(v1) == pytest.approx(float(v2), rel=1e-13)
    assert float(torch.linalg.vector_norm(A @ x2 + c)) == pytest.approx(float(v2), rel=1e-12)


def test_float32_input_is_computed_in_float64():
    rng = np.random.default_rng(4)
    A64, c64 = rng.standard_normal((3, 3)), rng.standard_normal(3)
    A32, c32 = torch.as_tensor(A64, dtype=torch.float32), torch.as_tensor(c64, dtype=torch.float32)
    v, x = max_affine_norm(A32, c32, 1.0)
    assert v.dtype == torch.float64 and x.dtype == torch.float64
    ref = brute_multistart(A32.double().numpy(), c32.double().numpy(), 1.0)
    assert float(v) == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize("R", [0.0, -1.0, float("nan"), -float("inf")])
def test_nonpositive_radius_rejected(R):
    with pytest.raises(InputError):
        max_affine_norm(torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), R)
    assert issubclass(InputError, ValueError)


# --------------------------------------------------------------------------- property test
@st.composite
def problems(draw):
    m = draw(st.integers(1, 5))
    n = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a_scale = 10.0 ** draw(st.integers(-3, 3))
    c_scale = draw(st.sampled_from([0.0, 1e-3, 1.0, 1e3]))
    R = 10.0 ** draw(st.floats(-2, 2))
    kind = draw(st.sampled_from(["generic", "rank1", "repeated", "c_perp_top", "zero_col"]))
    A = rng.standard_normal((m, n)) * a_scale
    c = rng.standard_normal(m) * c_scale
    if kind == "rank1":
        A = np.outer(rng.standard_normal(m), rng.standard_normal(n)) * a_scale
    elif kind == "repeated" and min(m, n) >= 2:
        U, _ = np.linalg.qr(rng.standard_normal((m, m)))
        V, _ = np.linalg.qr(rng.standard_normal((n, n)))
        s = np.sort(rng.uniform(0.1, 1.0, min(m, n)))[::-1] * a_scale
        s[1] = s[0]
        A = U[:, : len(s)] @ np.diag(s) @ V[:, : len(s)].T
    elif kind == "c_perp_top":
        u, _, _ = np.linalg.svd(A)
        c = c - u[:, 0] * (u[:, 0] @ c)
    elif kind == "zero_col":
        A[:, draw(st.integers(0, n - 1))] = 0
    return A, c, R


@HYP
@given(problems())
def test_property_matches_brute_force(prob):
    A, c, R = prob
    v, x = run(A, c, R)
    scale = R * np.linalg.norm(A, 2) + np.linalg.norm(c)
    if A.shape[1] == 2:
        ref = brute_circle(A, c, R)
    else:
        ref = brute_multistart(A, c, R, restarts=12)
    assert v >= ref - 1e-9 * scale - 1e-300, (v, ref)
    assert v <= ref + 1e-7 * scale + 1e-300, (v, ref)
    check_solution(A, c, R, v, x)
