"""Independent references and scenario pairs for the tests of qkernels.bounds.check.

NumPy SVDs of the augmented matrices for every spectral and parameter quantity, POT
(``ot.wasserstein_1d``) and SciPy (``wasserstein_distance``) for the cumulative Wasserstein
distances, NumPy/SciPy closed forms of the activations for re-evaluating witnesses, and SciPy
multistart for the trust-region value S_aff; the scenario families of layer pairs.
"""

from __future__ import annotations

import math

import numpy as np
import ot
import torch
from scipy import optimize, special, stats

from qkernels.bounds.check import SearchConfig, check_bounds_batch

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
def orth(rng, n):
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
            out.append((W, b, W @ orth(rng, n), b))
        elif family == "left_orth":
            U = orth(rng, m)
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



def iter_rows(generated):
    for family, shape, pairs, rows, refs in generated:
        for r in rows:
            yield family, shape, pairs[r["pair"]], refs[r["pair"]], r
