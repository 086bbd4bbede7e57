"""Tests of the Theorem-2.1 bound checker qkernels.bounds.check against the statements of theory.md.

Independent references: NumPy SVDs of the augmented matrices for every spectral and parameter
quantity, POT (``ot.wasserstein_1d``) and SciPy (``wasserstein_distance``) for the cumulative
Wasserstein distances, NumPy/SciPy closed forms of the activations for re-evaluating witnesses,
closed-form suprema for special pairs, and SciPy multistart for the trust-region value S_aff.
"""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from scipy import optimize, special, stats
from torch import nn

from qkernels.bounds.check import (
    ALL_BOUNDS,
    FALSE_BOUNDS,
    TRUE_BOUNDS,
    SearchConfig,
    check_bounds,
    check_bounds_batch,
    witness_gap,
)
from qkernels.core.errors import InputError

ACTS = ["identity", "relu", "tanh", "sigmoid", "gelu"]
RADII = [0.5, 2.0, 10.0]
CFG = SearchConfig(samples=512, steps=40)
FAST = dict(samples=512, steps=40)

NP_ACT = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": special.expit,
    "gelu": lambda z: z * special.ndtr(z),
}
_GELU_L = special.ndtr(math.sqrt(2)) + math.sqrt(2) * math.exp(-1) / math.sqrt(2 * math.pi)
NP_L = {"identity": 1.0, "relu": 1.0, "tanh": 1.0, "sigmoid": 0.25, "gelu": _GELU_L}

RECORD_COLUMNS = [
    "N", "activation", "L", "R", "dtype",
    "a_i", "a_j", "smax_i", "smax_j", "d_fs", "chord", "w2_emp_psi", "w2_emp_s", "w2_cum", "w1_cum",
    "sdiff_inf", "sdiff_2", "dW_op", "db_norm", "dA_op", "dA_F", "A_ij",
    "lhs_sample", "lhs_ascent", "lhs", "S_aff", "x",
    "conv_weyl_ok", "conv_mirsky_ok", "conv_theta_ok",
]


# --------------------------------------------------------------------------- NumPy references
def aug(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    m, n = W.shape
    A = np.zeros((m + 1, n + 1))
    A[:m, :n], A[:m, n], A[m, n] = W, b, 1.0
    return A


def ref_quantities(Wi, bi, Wj, bj) -> dict:
    """Every σ- and R-independent column of the record, from NumPy / POT / SciPy."""
    Ai, Aj = aug(Wi, bi), aug(Wj, bj)
    Ui, si, Vti = np.linalg.svd(Ai, full_matrices=False)
    Uj, sj, Vtj = np.linalg.svd(Aj, full_matrices=False)
    ai, aj = np.linalg.norm(si), np.linalg.norm(sj)
    pi, pj = si / ai, sj / aj
    N = len(si)
    pos = np.arange(1, N + 1) / N
    w2sq = ot.wasserstein_1d(pos, pos, pi**2, pj**2, p=2)
    return {
        "N": N, "a_i": ai, "a_j": aj, "smax_i": si[0], "smax_j": sj[0],
        "d_fs": 2 * math.asin(min(1.0, np.linalg.norm(pi - pj) / 2)),
        "chord": np.linalg.norm(pi - pj),
        "w2_emp_psi": np.linalg.norm(np.sort(pi) - np.sort(pj)) / math.sqrt(N),
        "w2_emp_s": np.linalg.norm(np.sort(si) - np.sort(sj)) / math.sqrt(N),
        "w2_cum_sq": max(float(w2sq), 0.0),
        "w1_cum": stats.wasserstein_distance(pos, pos, pi**2, pj**2),
        "sdiff_inf": np.max(np.abs(si - sj)), "sdiff_2": np.linalg.norm(si - sj),
        "dW_op": np.linalg.norm(Wi - Wj, 2), "db_norm": np.linalg.norm(bi - bj),
        "dA_op": np.linalg.norm(Ai - Aj, 2), "dA_F": np.linalg.norm(Ai - Aj),
        "A_ij": min(np.linalg.norm(Ui @ np.diag(sj) @ Vti - Aj, 2), np.linalg.norm(Uj @ np.diag(si) @ Vtj - Ai, 2)),
        # repeated singular values (zero padding, symmetric pairs) leave the singular frames, and so
        # A_ij, defined only up to a rotation inside each repeated block
        "frames_unique": min(np.min(np.abs(np.diff(si))), np.min(np.abs(np.diff(sj)))) > 1e-6 * max(si[0], sj[0]),
    }


def ref_bounds(q: dict, L: float, R: float, S_aff: float) -> dict:
    """The bounds of bounds.py's docstring, from the NumPy quantities (S_aff checked separately)."""
    rho = math.sqrt(R * R + 1)
    amax, da = max(q["a_i"], q["a_j"]), abs(q["a_i"] - q["a_j"])
    w2 = math.sqrt(q["w2_cum_sq"])
    return {
        "lipschitz": L * S_aff,
        "lipschitz_op": L * (R * q["dW_op"] + q["db_norm"]),
        "augmented": L * rho * q["dA_op"],
        "decomposed_inf": L * rho * (q["sdiff_inf"] + q["A_ij"]),
        "decomposed_2": L * rho * (q["sdiff_2"] + q["A_ij"]),
        "decomposed_theta": L * rho * (da + amax * q["d_fs"] + q["A_ij"]),
        "paper_spectral": L * rho * (da + amax * (q["d_fs"] + w2)),
        "paper_generous": 10 * L * rho * (q["sdiff_2"] + amax * (q["d_fs"] + math.sqrt(w2))),
    }


def np_gap(Wi, bi, Wj, bj, act: str, x) -> float:
    f = NP_ACT[act]
    x = np.asarray(x, dtype=np.float64)
    return float(np.linalg.norm(f(Wi @ x + bi) - f(Wj @ x + bj)))


def saff_multistart(dW, db, R, restarts=20, seed=0) -> float:
    """max_{‖x‖=R} ‖ΔW x + Δb‖ by L-BFGS on the sphere from random starts (independent of trust_region)."""
    rng = np.random.default_rng(seed)
    scale = np.linalg.norm(dW, 2) + np.linalg.norm(db)
    if scale == 0:
        return 0.0
    dW, db = dW / scale, db / scale  # L-BFGS tolerances are absolute: work at unit scale

    def f(z):
        nz = np.linalg.norm(z)
        x = R * z / nz
        r = dW @ x + db
        g = -2 * dW.T @ r
        return -(r @ r), R * (g - x * (x @ g) / R**2) / nz

    best = 0.0
    for _ in range(restarts):
        res = optimize.minimize(f, rng.standard_normal(dW.shape[1]), jac=True, method="L-BFGS-B",
                                options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 3000})
        best = max(best, -res.fun)
    return math.sqrt(best) * scale


def violates(lhs: float, B: float) -> bool:
    return lhs > B * (1 + 1e-9) + 1e-12


# --------------------------------------------------------------------------- scenario generation
def _orth(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def make_pairs(family: str, P: int, m: int, n: int, seed: int):
    """P pairs (Wi, bi, Wj, bj) as NumPy arrays of one scenario family."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(P):
        w_scale, b_scale = rng.choice([0.5, 1.0, 3.0]), rng.choice([0.0, 0.1, 1.0])
        W = rng.standard_normal((m, n)) / math.sqrt(n) * w_scale
        b = rng.standard_normal(m) * b_scale
        if family == "independent":  # same distribution: nearly equal Marchenko–Pastur spectra
            out.append((W, b, rng.standard_normal((m, n)) / math.sqrt(n) * w_scale, rng.standard_normal(m) * b_scale))
        elif family.startswith("perturb"):
            eps = float(family.split("_")[1])
            out.append((W, b, W + eps * rng.standard_normal((m, n)), b + eps * rng.standard_normal(m)))
        elif family == "negate":
            out.append((W, b, -W, -b))
        elif family == "permute":
            p = rng.permutation(m)
            out.append((W, b, W[p], b[p]))
        elif family == "right_orth":
            out.append((W, b, W @ _orth(rng, n), b))
        elif family == "left_orth":
            U = _orth(rng, m)
            out.append((W, b, U @ W, U @ b))
        elif family == "scale2":
            out.append((W, b, 2 * W, 2 * b))
        elif family == "lowrank":
            k = max(1, min(m, n) // 4)
            Lr = rng.standard_normal((m, k)) @ rng.standard_normal((k, n)) / math.sqrt(n)
            out.append((Lr + 1e-2 * rng.standard_normal((m, n)), b,
                        Lr + 1e-2 * rng.standard_normal((m, n)), b + 1e-2 * rng.standard_normal(m)))
        else:
            raise AssertionError(family)
    return out


FAMILIES = ["independent", "perturb_1e-6", "perturb_1e-3", "perturb_1e-1", "negate", "permute",
            "right_orth", "left_orth", "scale2", "lowrank"]
SHAPES = [(8, 8), (12, 6), (6, 12), (24, 24)]


def run_batch(pairs, acts=ACTS, radii=RADII, cfg=CFG):
    t = lambda k: torch.as_tensor(np.stack([p[k] for p in pairs]), dtype=torch.float64)  # noqa: E731
    return check_bounds_batch(t(0), t(1), t(2), t(3), acts, radii, cfg)


@pytest.fixture(scope="module")
def generated():
    """(family, shape, pairs, rows, refs) for every family × shape: rows from one batch call."""
    out = []
    for fi, family in enumerate(FAMILIES):
        for si, (m, n) in enumerate(SHAPES):
            pairs = make_pairs(family, 3, m, n, seed=100 * fi + si)
            rows = run_batch(pairs)
            refs = [ref_quantities(*p) for p in pairs]
            out.append((family, (m, n), pairs, rows, refs))
    return out


@pytest.fixture(scope="module")
def padded():
    """Cross-shape pairs through check_bounds(pad=True): (layers_i, layers_j, padded numpy, rows)."""
    rng = np.random.default_rng(99)
    out = []
    for (mi, ni), (mj, nj) in [((8, 6), (6, 8)), ((10, 4), (10, 7)), ((5, 9), (7, 9))]:
        Wi, bi = rng.standard_normal((mi, ni)) / math.sqrt(ni), rng.standard_normal(mi) * 0.3
        Wj, bj = rng.standard_normal((mj, nj)) / math.sqrt(nj), rng.standard_normal(mj) * 0.3
        m, n = max(mi, mj), max(ni, nj)
        pad = lambda W, b: (np.pad(W, ((0, m - W.shape[0]), (0, n - W.shape[1]))), np.pad(b, (0, m - len(b))))  # noqa: E731
        P = pad(Wi, bi) + pad(Wj, bj)
        rows = [check_bounds((torch.as_tensor(Wi), torch.as_tensor(bi)), (torch.as_tensor(Wj), torch.as_tensor(bj)),
                             act, R, pad=True, **FAST) for R in RADII for act in ACTS]
        out.append(((Wi, bi), (Wj, bj), P, rows))
    return out


def _iter_rows(generated):
    for family, shape, pairs, rows, refs in generated:
        for r in rows:
            yield family, shape, pairs[r["pair"]], refs[r["pair"]], r


# --------------------------------------------------------------------------- true bounds: zero violations
def test_true_bounds_never_violated_on_generated_pairs(generated, padded):
    n_rows = 0
    for family, shape, pair, q, r in _iter_rows(generated):
        n_rows += 1
        for name in TRUE_BOUNDS:
            assert not r[f"viol_{name}"], (family, shape, r["activation"], r["R"], name, r["lhs"], r[name])
        # and independently of the flags: lhs against bounds recomputed from NumPy quantities
        B = ref_bounds(q, NP_L[r["activation"]], r["R"], r["S_aff"])
        for name in TRUE_BOUNDS:
            assert not violates(r["lhs"], B[name]), (family, shape, r["activation"], r["R"], name, r["lhs"], B[name])
    assert n_rows == len(FAMILIES) * len(SHAPES) * 3 * len(ACTS) * len(RADII)
    for _, _, _, rows in padded:
        for r in rows:
            for name in TRUE_BOUNDS:
                assert not r[f"viol_{name}"], (r["activation"], r["R"], name, r["lhs"], r[name])


def test_every_row_is_a_feasible_attained_witness(generated, padded):
    for family, shape, (Wi, bi, Wj, bj), q, r in _iter_rows(generated):
        x = r["x"].numpy()
        assert x.shape == (shape[1],)
        assert np.linalg.norm(x) <= r["R"] * (1 + 1e-12)
        g = np_gap(Wi, bi, Wj, bj, r["activation"], x)
        assert g == pytest.approx(r["lhs"], rel=1e-9, abs=1e-13), (family, r["activation"], r["R"])
    for _, _, (Wi, bi, Wj, bj), rows in padded:
        for r in rows:
            x = r["x"].numpy()
            assert x.shape == (Wi.shape[1],) and np.linalg.norm(x) <= r["R"] * (1 + 1e-12)
            assert np_gap(Wi, bi, Wj, bj, r["activation"], x) == pytest.approx(r["lhs"], rel=1e-9, abs=1e-13)


def test_flags_and_ratios_consistent_with_values(generated):
    for _, _, _, q, r in _iter_rows(generated):
        for name in ALL_BOUNDS:
            B = r[name]
            assert r[f"viol_{name}"] == violates(r["lhs"], B), name
            if B > 0:
                assert r[f"ratio_{name}"] == pytest.approx(r["lhs"] / B, rel=1e-12)
        # bound values agree with the NumPy recomputation
        Bref = ref_bounds(q, NP_L[r["activation"]], r["R"], r["S_aff"])
        for name in TRUE_BOUNDS:
            assert r[name] == pytest.approx(Bref[name], rel=1e-8, abs=1e-10), name
        # W₂cum has a √roundoff floor near 0 (its value is checked squared in
        # test_record_quantities_match_numpy): use the record's W₂cum in the false forms
        Bref = ref_bounds(dict(q, w2_cum_sq=r["w2_cum"] ** 2), NP_L[r["activation"]], r["R"], r["S_aff"])
        for name in FALSE_BOUNDS:
            assert r[name] == pytest.approx(Bref[name], rel=1e-8, abs=1e-10), name


# --------------------------------------------------------------------------- the search
def test_ascent_never_below_sampling_and_lhs_is_the_max(generated):
    for _, _, _, _, r in _iter_rows(generated):
        assert r["lhs_ascent"] >= r["lhs_sample"]  # ascent restarts include the sampled candidates
        assert r["lhs"] == max(r["lhs_sample"], r["lhs_ascent"])
        assert r["lhs"] >= 0


def test_identity_activation_reaches_S_aff(generated):
    n = 0
    for family, _, _, _, r in _iter_rows(generated):
        if r["activation"] != "identity" or r["S_aff"] == 0:
            continue
        n += 1
        ratio = r["lhs"] / r["S_aff"]
        assert 1 - 1e-4 <= ratio <= 1 + 1e-9, (family, r["R"], ratio)
    assert n > 0


def test_S_aff_against_independent_multistart(generated):
    checked = 0
    for family, shape, (Wi, bi, Wj, bj), q, r in _iter_rows(generated):
        if r["activation"] != "identity" or shape[1] > 12 or r["pair"] != 0:
            continue
        ref = saff_multistart(Wi - Wj, bi - bj, r["R"])
        scale = r["R"] * q["dW_op"] + q["db_norm"]
        assert r["S_aff"] == pytest.approx(ref, rel=1e-8, abs=1e-9 * scale), (family, shape, r["R"])
        checked += 1
    assert checked >= 20


def test_search_finds_known_suprema():
    # W = I against −I with tanh: sup = 2√n·tanh(R/√n) (tanh²(√u) is concave in u: equal split)
    n = 8
    W = torch.eye(n, dtype=torch.float64)
    for R in RADII:
        r = check_bounds((W, None), (-W, None), "tanh", R, **FAST)
        sup = 2 * math.sqrt(n) * math.tanh(R / math.sqrt(n))
        assert 0.99 * sup <= r["lhs"] <= sup * (1 + 1e-12), (R, r["lhs"], sup)
    # W = I against a transposition P with ReLU: sup = √2·R at x = R·e₁
    Pm = torch.eye(n, dtype=torch.float64)[[1, 0, *range(2, n)]]
    for R in RADII:
        r = check_bounds((W, None), (Pm, None), "relu", R, **FAST)
        assert 0.99 * math.sqrt(2) * R <= r["lhs"] <= math.sqrt(2) * R * (1 + 1e-12), (R, r["lhs"])


# --------------------------------------------------------------------------- false forms are witnessed
def _assert_witness(layer_i, layer_j, r):
    x = r["x"]
    assert float(torch.linalg.vector_norm(x)) <= r["R"] * (1 + 1e-12)
    assert witness_gap(layer_i, layer_j, r["activation"], x) == pytest.approx(r["lhs"], rel=1e-9)
    (Wi, bi), (Wj, bj) = [(np.asarray(W, dtype=float), np.zeros(np.shape(W)[0]) if b is None else np.asarray(b))
                          for W, b in (layer_i, layer_j)]
    assert np_gap(Wi, bi, Wj, bj, r["activation"], x.numpy()) == pytest.approx(r["lhs"], rel=1e-9)


@pytest.mark.parametrize("R", RADII)
def test_negation_tanh_violates_spectral_forms(R):
    rng = np.random.default_rng(1)
    cases = [(np.eye(8), None), (rng.standard_normal((8, 8)), rng.standard_normal(8) * 0.5),
             (rng.standard_normal((10, 6)) / 3, None)]
    for W, b in cases:
        li = (torch.as_tensor(W), None if b is None else torch.as_tensor(b))
        lj = (torch.as_tensor(-W), None if b is None else torch.as_tensor(-b))
        r = check_bounds(li, lj, "tanh", R, **FAST)
        assert r["d_fs"] < 1e-7 and r["sdiff_2"] < 1e-10 * r["a_i"]  # identical spectra
        assert r["a_i"] == pytest.approx(r["a_j"], rel=1e-12)
        assert r["viol_paper_spectral"] and r["viol_paper_generous"], (r["lhs"], r["paper_generous"])
        assert not any(r[f"viol_{t}"] for t in TRUE_BOUNDS)
        _assert_witness(li, lj, r)


@pytest.mark.parametrize("R", RADII)
def test_permutation_relu_violates_spectral_form(R):
    n = 8
    W = torch.eye(n, dtype=torch.float64)
    Pm = torch.eye(n, dtype=torch.float64)[[1, 0, *range(2, n)]]
    r = check_bounds((W, None), (Pm @ W, None), "relu", R, **FAST)
    assert r["paper_spectral"] <= 1e-12 and r["lhs"] >= 0.99 * math.sqrt(2) * R
    assert r["viol_paper_spectral"] and r["viol_paper_generous"]
    _assert_witness((W, None), (Pm @ W, None), r)
    # random W with bias, random permutations: the spectral-only form fails on most
    rng = np.random.default_rng(2)
    viol = 0
    for _ in range(6):
        Wr, br = rng.standard_normal((10, 10)), rng.standard_normal(10) * 0.3
        p = rng.permutation(10)
        li, lj = (torch.as_tensor(Wr), torch.as_tensor(br)), (torch.as_tensor(Wr[p]), torch.as_tensor(br[p]))
        r = check_bounds(li, lj, "relu", R, **FAST)
        assert not any(r[f"viol_{t}"] for t in TRUE_BOUNDS)
        if r["viol_paper_spectral"]:
            viol += 1
            _assert_witness(li, lj, r)
    assert viol >= 5


def test_orthogonal_mixing_violates_spectral_form():
    rng = np.random.default_rng(3)
    for kind in ("right", "left"):
        viol = 0
        for act in ("relu", "tanh", "gelu"):
            W, b = rng.standard_normal((8, 8)), rng.standard_normal(8) * 0.3
            Q = _orth(rng, 8)
            Wj, bj = (W @ Q, b) if kind == "right" else (Q @ W, Q @ b)
            li, lj = (torch.as_tensor(W), torch.as_tensor(b)), (torch.as_tensor(Wj), torch.as_tensor(bj))
            r = check_bounds(li, lj, act, 2.0, **FAST)
            assert r["d_fs"] < 1e-7
            assert not any(r[f"viol_{t}"] for t in TRUE_BOUNDS)
            if r["viol_paper_spectral"]:
                viol += 1
                _assert_witness(li, lj, r)
        assert viol == 3, kind


def test_independent_gaussians_violate_spectral_form_in_most_pairs(generated):
    for family, shape, pairs, rows, refs in generated:
        if family != "independent":
            continue
        for act in ("relu", "gelu", "identity"):  # (tanh saturates at R = 10 on small layers)
            sel = [r for r in rows if r["activation"] == act]
            frac = sum(r["viol_paper_spectral"] for r in sel) / len(sel)
            assert frac > 0.5, (shape, act, frac)
        assert sum(r["viol_paper_spectral"] for r in rows) / len(rows) > 0.6, shape
        for r in rows:
            if r["viol_paper_spectral"]:
                Wi, bi, Wj, bj = pairs[r["pair"]]
                _assert_witness((torch.as_tensor(Wi), torch.as_tensor(bi)), (torch.as_tensor(Wj), torch.as_tensor(bj)), r)
    # a larger batch at one radius: the spectral-only form fails in a clear majority
    pairs = make_pairs("independent", 24, 16, 16, seed=5)
    rows = run_batch(pairs, acts=["relu"], radii=[2.0])
    assert sum(r["viol_paper_spectral"] for r in rows) >= 18


def test_scale2_relu_only_the_norm_term_saves_the_true_bound():
    rng = np.random.default_rng(4)
    for R in RADII:
        W = torch.as_tensor(rng.standard_normal((10, 10)))
        r = check_bounds((W, None), (2 * W, None), "relu", R, **FAST)
        assert r["d_fs"] < 0.1                       # θ ≈ 0
        assert not any(r[f"viol_{t}"] for t in TRUE_BOUNDS)
        # without |a_i − a_j| the decomposed θ form would fail: the gap is large
        rho = math.sqrt(R * R + 1)
        assert r["lhs"] > rho * (max(r["a_i"], r["a_j"]) * r["d_fs"] + r["A_ij"])
        # relu(2z) = 2 relu(z): the gap is ‖relu(Wx)‖, re-evaluated in NumPy
        x = r["x"].numpy()
        assert np.linalg.norm(np.maximum(W.numpy() @ x, 0)) == pytest.approx(r["lhs"], rel=1e-9)


def test_violating_rows_have_valid_witnesses(generated):
    nviol = 0
    for family, shape, (Wi, bi, Wj, bj), q, r in _iter_rows(generated):
        if not any(r[f"viol_{b}"] for b in FALSE_BOUNDS):
            continue
        nviol += 1
        _assert_witness((Wi, bi), (Wj, bj), r)
    assert nviol > 100


# --------------------------------------------------------------------------- identities of theory.md
def test_record_quantities_match_numpy(generated, padded):
    keys = ["a_i", "a_j", "smax_i", "smax_j", "sdiff_inf", "sdiff_2", "dW_op", "db_norm", "dA_op", "dA_F", "A_ij",
            "chord", "d_fs", "w2_emp_psi", "w2_emp_s", "w1_cum"]
    items = [(q, r) for _, _, _, q, r in _iter_rows(generated)]
    items += [(ref_quantities(*P), r) for _, _, P, rows in padded for r in rows]
    for q, r in items:
        scale = max(q["a_i"], q["a_j"])
        assert r["N"] == q["N"]
        for k in keys:
            if k == "A_ij" and not q["frames_unique"]:
                # any valid frame gives a true decomposition: ‖ΔÂ‖_op ≤ ‖sᵢ − sⱼ‖_∞ + A_ij
                assert q["dA_op"] <= q["sdiff_inf"] + r[k] + 1e-9 * scale, k
                continue
            tol = 1e-9 * scale if k not in ("chord", "d_fs", "w2_emp_psi", "w1_cum") else 1e-9
            assert r[k] == pytest.approx(q[k], rel=1e-8, abs=tol), k
        assert r["w2_cum"] ** 2 == pytest.approx(q["w2_cum_sq"], rel=1e-8, abs=1e-12)
        # TV ≤ sin θ ⇒ W₂cum ≤ √(sin θ) (support diameter < 1)
        assert r["w2_cum"] ** 2 <= math.sin(r["d_fs"]) + 1e-12


def test_padding_keeps_norm_and_fs_distance(padded):
    for (Wi, bi), (Wj, bj), _, rows in padded:
        si = np.linalg.svd(aug(Wi, bi), compute_uv=False)
        sj = np.linalg.svd(aug(Wj, bj), compute_uv=False)
        k = max(len(si), len(sj))
        pi, pj = np.pad(si, (0, k - len(si))) / np.linalg.norm(si), np.pad(sj, (0, k - len(sj))) / np.linalg.norm(sj)
        for r in rows:
            assert r["a_i"] == pytest.approx(np.linalg.norm(aug(Wi, bi)), rel=1e-12)
            assert r["a_j"] == pytest.approx(np.linalg.norm(aug(Wj, bj)), rel=1e-12)
            assert r["d_fs"] == pytest.approx(2 * math.asin(np.linalg.norm(pi - pj) / 2), rel=1e-9)


def test_theory_identities_on_records(generated, padded):
    rows = [r for *_, r in _iter_rows(generated)] + [r for *_, rows in padded for r in rows]
    for r in rows:
        ai, aj, th = r["a_i"], r["a_j"], r["d_fs"]
        scale = max(ai, aj)
        # ‖s_i − s_j‖² = (a_i − a_j)² + 4 a_i a_j sin²(θ/2), and ‖ψ_i − ψ_j‖ = 2 sin(θ/2)
        ident = math.sqrt((ai - aj) ** 2 + 4 * ai * aj * math.sin(th / 2) ** 2)
        assert r["sdiff_2"] == pytest.approx(ident, rel=1e-10, abs=1e-12 * scale)
        assert r["chord"] == pytest.approx(2 * math.sin(th / 2), rel=1e-10, abs=1e-14)
        # converse (T4)
        assert r["conv_weyl_ok"] and r["conv_mirsky_ok"] and r["conv_theta_ok"]
        assert r["sdiff_inf"] <= r["dA_op"] * (1 + 1e-9) + 1e-12
        assert r["sdiff_2"] <= r["dA_F"] * (1 + 1e-9) + 1e-12
        # T2 split and Weyl factor 3
        assert r["dA_op"] <= (r["sdiff_inf"] + r["A_ij"]) * (1 + 1e-9) + 1e-12
        assert r["sdiff_inf"] + r["A_ij"] <= 3 * r["dA_op"] * (1 + 1e-9) + 1e-12
        # T1: S_aff bounded by both relaxations
        R = r["R"]
        assert r["S_aff"] <= min(R * r["dW_op"] + r["db_norm"], math.sqrt(R * R + 1) * r["dA_op"]) * (1 + 1e-12) + 1e-14
        # θ-form dominates the 2-form: √((Δa)² + 4a_ia_j sin²(θ/2)) ≤ |Δa| + max(a)·θ
        assert r["decomposed_2"] <= r["decomposed_theta"] * (1 + 1e-12) + 1e-14
        assert r["decomposed_inf"] <= r["decomposed_2"] * (1 + 1e-12) + 1e-14
        assert r["augmented"] <= r["decomposed_inf"] * (1 + 1e-9) + 1e-12


def test_aligned_frames_have_zero_misalignment_and_spectral_bounds_hold():
    rng = np.random.default_rng(8)
    for m, n in [(8, 8), (10, 6), (6, 10)]:
        k = min(m, n)
        U, V = _orth(rng, m)[:, :k], _orth(rng, n)[:, :k]
        for _ in range(3):
            si = np.sort(rng.uniform(1.5, 4.0, k))[::-1]
            sj = np.sort(rng.uniform(1.5, 4.0, k))[::-1]
            Wi, Wj = U @ np.diag(si) @ V.T, U @ np.diag(sj) @ V.T
            li, lj = (torch.as_tensor(Wi), None), (torch.as_tensor(Wj), None)
            for act in ("identity", "relu", "tanh"):
                for R in RADII:
                    r = check_bounds(li, lj, act, R, **FAST)
                    assert r["A_ij"] <= 1e-10 * max(r["a_i"], r["a_j"])
                    rho, L = math.sqrt(R * R + 1), NP_L[act]
                    # spectral-only forms, with A_ij dropped
                    assert not violates(r["lhs"], L * rho * r["sdiff_2"])
                    assert not violates(r["lhs"], L * rho * r["sdiff_inf"])
                    assert not violates(r["lhs"], L * rho * (abs(r["a_i"] - r["a_j"]) + max(r["a_i"], r["a_j"]) * r["d_fs"]))
                    assert not r["viol_paper_spectral"]
                    assert not any(r[f"viol_{t}"] for t in TRUE_BOUNDS)
                    # sorted spectra: the augmented 1 stays last
                    assert r["sdiff_inf"] == pytest.approx(np.max(np.abs(si - sj)), rel=1e-10)


# --------------------------------------------------------------------------- record contents
def test_record_has_all_columns(generated):
    r = generated[0][3][0]
    for k in RECORD_COLUMNS:
        assert k in r, k
    for name in ALL_BOUNDS:
        for k in (name, f"ratio_{name}", f"viol_{name}"):
            assert k in r, k
        assert isinstance(r[f"viol_{name}"], bool)
    assert set(TRUE_BOUNDS) == {"lipschitz", "lipschitz_op", "augmented", "decomposed_inf", "decomposed_2",
                                "decomposed_theta"}
    assert set(FALSE_BOUNDS) == {"paper_spectral", "paper_generous"}
    assert r["dtype"] == "float64" and r["L"] == NP_L[r["activation"]]
    assert isinstance(r["x"], torch.Tensor) and r["x"].dtype == torch.float64 and r["x"].ndim == 1
    for k in RECORD_COLUMNS:
        if k not in ("activation", "dtype", "x"):
            assert math.isfinite(float(r[k])), k


def test_batch_order_and_chunking():
    pairs = make_pairs("independent", 5, 6, 5, seed=12)
    acts, radii = ["tanh", "relu"], [0.5, 3.0]
    rows = run_batch(pairs, acts=acts, radii=radii)
    assert len(rows) == len(pairs) * len(acts) * len(radii)
    i = 0
    for R in radii:
        for act in acts:
            for p in range(len(pairs)):
                r = rows[i]
                assert (r["R"], r["activation"], r["pair"]) == (R, act, p)
                q = ref_quantities(*pairs[p])
                assert r["a_i"] == pytest.approx(q["a_i"], rel=1e-12) and r["dA_op"] == pytest.approx(q["dA_op"], rel=1e-10)
                assert np_gap(*pairs[p], act, r["x"].numpy()) == pytest.approx(r["lhs"], rel=1e-9)
                i += 1
    # chunking (one pair per sampling sub-chunk, two per ascent chunk) gives the same records
    t = lambda k: torch.as_tensor(np.stack([p[k] for p in pairs]))  # noqa: E731
    rows2 = check_bounds_batch(t(0), t(1), t(2), t(3), acts, radii, CFG, chunk_elems=1, ascent_pairs=2)
    for a, b in zip(rows, rows2, strict=True):
        assert (a["R"], a["activation"], a["pair"]) == (b["R"], b["activation"], b["pair"])
        for k in ("a_i", "a_j", "d_fs", "A_ij", "S_aff", "dA_op"):
            assert a[k] == pytest.approx(b[k], rel=1e-10, abs=1e-13), k
        assert np_gap(*pairs[b["pair"]], b["activation"], b["x"].numpy()) == pytest.approx(b["lhs"], rel=1e-9)


def test_single_pair_matches_batch_row():
    pairs = make_pairs("perturb_1e-1", 3, 7, 5, seed=13)
    rows = run_batch(pairs, acts=["gelu"], radii=[2.0])
    for p, (Wi, bi, Wj, bj) in enumerate(pairs):
        r = check_bounds((torch.as_tensor(Wi), torch.as_tensor(bi)), (torch.as_tensor(Wj), torch.as_tensor(bj)),
                         "gelu", 2.0, **FAST)
        for k in ("a_i", "d_fs", "w2_cum", "A_ij", "S_aff", "paper_spectral", "lipschitz"):
            assert r[k] == pytest.approx(rows[p][k], rel=1e-9, abs=1e-12), k
        assert r["lhs"] == pytest.approx(rows[p]["lhs"], rel=1e-6)


# --------------------------------------------------------------------------- inputs
def test_accepts_linear_and_none_bias():
    torch.manual_seed(0)
    lin_i, lin_j = nn.Linear(6, 4), nn.Linear(6, 4, bias=False)
    r1 = check_bounds(lin_i, lin_j, "tanh", 1.5, **FAST)
    Wi, bi = lin_i.weight.detach().double(), lin_i.bias.detach().double()
    Wj = lin_j.weight.detach().double()
    r2 = check_bounds((Wi, bi), (Wj, None), "tanh", 1.5, **FAST)
    r3 = check_bounds((Wi, bi), (Wj, torch.zeros(4, dtype=torch.float64)), "tanh", 1.5, **FAST)
    for r in (r2, r3):
        for k in ("a_i", "a_j", "d_fs", "A_ij", "S_aff", "lhs", "db_norm"):
            assert r1[k] == pytest.approx(r[k], rel=1e-12, abs=1e-15), k
    assert r1["db_norm"] == pytest.approx(float(torch.linalg.vector_norm(bi)), rel=1e-12)
    assert np_gap(Wi.numpy(), bi.numpy(), Wj.numpy(), np.zeros(4), "tanh", r1["x"].numpy()) == pytest.approx(r1["lhs"], rel=1e-9)
    # NumPy arrays, float32 and plain lists work too
    r4 = check_bounds((Wi.numpy(), bi.numpy()), (Wj.numpy().astype(np.float32), None), "tanh", 1.5, **FAST)
    assert r4["dtype"] == "float64" and r4["a_i"] == pytest.approx(r1["a_i"], rel=1e-12)
    r5 = check_bounds(([[1.0, 2.0], [3.0, 4.0]], None), ([[1.0, 2.0], [3.0, 5.0]], [0.0, 1.0]), "relu", 1.0, **FAST)
    assert r5["db_norm"] == pytest.approx(1.0)


def _W(*shape, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


@pytest.mark.parametrize("case", [
    "shape_mismatch", "R_zero", "R_negative", "R_nan", "R_inf", "unknown_activation", "nan_W", "inf_b",
    "one_d_W", "complex_W", "complex_b", "bad_bias_shape", "not_a_layer", "empty_W", "three_d_W", "string_W",
])
def test_bad_input_raises_input_error(case):
    W = _W(4, 3)
    li, lj, act, R, kw = (W, None), (W.clone(), None), "tanh", 1.0, {}
    if case == "shape_mismatch":
        lj = (_W(4, 5), None)
    elif case == "R_zero":
        R = 0.0
    elif case == "R_negative":
        R = -2.0
    elif case == "R_nan":
        R = float("nan")
    elif case == "R_inf":
        R = float("inf")
    elif case == "unknown_activation":
        act = "softplus"
    elif case == "nan_W":
        W2 = W.clone()
        W2[1, 1] = float("nan")
        lj = (W2, None)
    elif case == "inf_b":
        lj = (W, torch.tensor([0.0, float("inf"), 0.0, 0.0], dtype=torch.float64))
    elif case == "one_d_W":
        li = (torch.ones(3, dtype=torch.float64), None)
    elif case == "complex_W":
        li = (_W(4, 3, dtype=torch.complex128), None)
    elif case == "complex_b":
        li = (W, torch.ones(4, dtype=torch.complex128) * (1 + 1j))
    elif case == "bad_bias_shape":
        li = (W, torch.ones(3, dtype=torch.float64))
    elif case == "not_a_layer":
        li = W
    elif case == "empty_W":
        li, lj = (torch.zeros(0, 3, dtype=torch.float64), None), (torch.zeros(0, 3, dtype=torch.float64), None)
    elif case == "three_d_W":
        li = (_W(2, 4, 3), None)
    elif case == "string_W":
        li = (np.array([["a", "b", "c"]] * 4), None)
    with pytest.raises(InputError) as exc:
        check_bounds(li, lj, act, R, **kw, **FAST)
    assert isinstance(exc.value, ValueError)


def test_pad_allows_mismatched_shapes():
    r = check_bounds((_W(4, 3), None), (_W(5, 6), None), "relu", 1.0, pad=True, **FAST)
    assert (r["m"], r["n"], r["N"]) == (5, 6, 6)
    assert r["x"].shape == (6,)


def test_radius_may_be_a_numpy_scalar():
    W = _W(4, 3)
    r1 = check_bounds((W, None), (-W, None), "tanh", 2.0, **FAST)
    r2 = check_bounds((W, None), (-W, None), "tanh", np.float32(2.0), **FAST)
    r3 = check_bounds((W, None), (-W, None), "tanh", np.int64(2), **FAST)
    assert r1["lhs"] == r2["lhs"] == r3["lhs"]
    assert r2["R"] == 2.0 and isinstance(r2["R"], float)


def test_bad_search_config_rejected():
    W = _W(4, 3)
    for kw in (dict(samples=0), dict(restarts=3), dict(steps=-1)):
        with pytest.raises(InputError):
            check_bounds((W, None), (-W, None), "tanh", 1.0, **kw)


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_records():
    rng = np.random.default_rng(21)
    Wi, Wj = torch.as_tensor(rng.standard_normal((9, 7))), torch.as_tensor(rng.standard_normal((9, 7)))
    bi = torch.as_tensor(rng.standard_normal(9))
    for act in ("relu", "gelu"):
        a = check_bounds((Wi, bi), (Wj, None), act, 2.0, seed=5, **FAST)
        b = check_bounds((Wi, bi), (Wj, None), act, 2.0, seed=5, **FAST)
        assert a.keys() == b.keys()
        for k in a:
            if k == "x":
                assert torch.equal(a["x"], b["x"])
            elif isinstance(a[k], float) and math.isnan(a[k]):
                assert math.isnan(b[k])
            else:
                assert a[k] == b[k], k
    pairs = make_pairs("independent", 3, 6, 6, seed=3)
    r1, r2 = run_batch(pairs, acts=["tanh"], radii=[1.0]), run_batch(pairs, acts=["tanh"], radii=[1.0])
    for a, b in zip(r1, r2, strict=True):
        assert a["lhs"] == b["lhs"] and torch.equal(a["x"], b["x"])


def test_seed_controls_the_samples():
    rng = np.random.default_rng(22)
    Wi, Wj = torch.as_tensor(rng.standard_normal((9, 7))), torch.as_tensor(rng.standard_normal((9, 7)))
    a = check_bounds((Wi, None), (Wj, None), "tanh", 2.0, seed=5, samples=64, steps=0)
    b = check_bounds((Wi, None), (Wj, None), "tanh", 2.0, seed=6, samples=64, steps=0)
    assert a["lhs_sample"] != b["lhs_sample"]
    assert a["a_i"] == b["a_i"] and a["S_aff"] == b["S_aff"]  # parameter-level columns do not depend on it


def test_boolean_radius_is_refused():
    import torch

    from qkernels.bounds.check import check_bounds
    from qkernels.core.errors import InputError

    W = torch.eye(3, dtype=torch.float64)
    with pytest.raises(InputError, match="R"):
        check_bounds((W, None), (2 * W, None), "tanh", True)


@pytest.mark.parametrize("act", ACTS)
def test_ascent_direction_is_the_autograd_gradient(act):
    """The analytic ascent direction equals autograd's gradient of the gap times the gap."""
    from qkernels.bounds.activations import get_activation
    from qkernels.bounds.check import _gap, _stacked

    g = torch.Generator().manual_seed(3)
    Wi, Wj = torch.randn(2, 7, 5, dtype=torch.float64, generator=g), torch.randn(2, 7, 5, dtype=torch.float64, generator=g)
    bi, bj = torch.randn(2, 7, dtype=torch.float64, generator=g), torch.randn(2, 7, dtype=torch.float64, generator=g)
    X = torch.randn(2, 6, 5, dtype=torch.float64, generator=g).requires_grad_(True)
    a = get_activation(act)
    W2, b2 = _stacked(Wi, bi, Wj, bj)
    f, direction = _gap(a, W2, b2, X.detach(), direction=True)
    ref = torch.linalg.vector_norm(a.fn(X @ Wi.mT + bi[:, None]) - a.fn(X @ Wj.mT + bj[:, None]), dim=-1)
    (grad,) = torch.autograd.grad(ref.sum(), X)
    torch.testing.assert_close(f, ref.detach(), rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(direction, grad * ref.detach()[..., None], rtol=1e-10, atol=1e-12)
