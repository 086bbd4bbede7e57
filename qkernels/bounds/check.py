"""Empirical check of the spectral-to-functional bounds (Theorem 2.1 and its corrected forms).

For two operators Φ(x) = σ(Wx + b) and a radius R, the left-hand side

    lhs = sup_{‖x‖≤R} ‖Φᵢ(x) − Φⱼ(x)‖

is estimated from below by the best of (a) random sampling (half on the sphere, half in the ball)
and (b) projected normalized gradient ascent with restarts at ±x_aff (the exact maximizer of
‖ΔW x + Δb‖), ±R·v₁ (top right singular vector of ΔW) and the best sampled points. Every
estimate is attained at a feasible x (kept as the witness), so one row with lhs > B refutes a
bound B. The bounds (docs/bounds.md; L the activation's Lipschitz constant, ρ = √(R²+1)):

true (the checker must find no violation):
  lipschitz         L·S_aff, S_aff = max_{‖x‖≤R} ‖ΔW x + Δb‖ (exact, trust region)
  lipschitz_op      L·(R‖ΔW‖_op + ‖Δb‖)
  augmented         L·ρ·‖ΔÂ‖_op
  decomposed_inf    L·ρ·(‖sᵢ − sⱼ‖_∞ + A_ij)
  decomposed_2      L·ρ·(‖sᵢ − sⱼ‖₂ + A_ij),  ‖sᵢ − sⱼ‖₂ = √((aᵢ−aⱼ)² + 4aᵢaⱼ sin²(θ/2))
  decomposed_theta  L·ρ·(|aᵢ − aⱼ| + max(aᵢ, aⱼ)·θ + A_ij)
with the misalignment A_ij = min(‖UᵢSⱼVᵢᵀ − Âⱼ‖_op, ‖UⱼSᵢVⱼᵀ − Âᵢ‖_op).

spectral-only (the paper's form; false in general):
  paper_spectral    L·ρ·(|aᵢ − aⱼ| + max(aᵢ, aⱼ)·(θ + W₂cum))
  paper_generous    10·L·ρ·(‖sᵢ − sⱼ‖₂ + max(aᵢ, aⱼ)·(θ + √W₂cum))

A row violates B when lhs > B·(1 + 1e-9) + 1e-12 (float64).

Example:
    >>> import torch
    >>> W = torch.randn(8, 8, dtype=torch.float64)
    >>> r = check_bounds((W, None), (-W, None), "tanh", 1.0)
    >>> r["d_fs"] < 1e-7, r["viol_paper_spectral"], r["viol_lipschitz"]
    (True, True, False)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from qkernels.bounds.activations import get_activation
from qkernels.bounds.trust_region import max_affine_norm
from qkernels.core.errors import InputError
from qkernels.core.threads import kernel_threads
from qkernels.geometry.distances import fs_distance, w1_cumulative, w2_cumulative, w2_empirical
from qkernels.geometry.spectral import augmented_tensor

TRUE_BOUNDS = ("lipschitz", "lipschitz_op", "augmented", "decomposed_inf", "decomposed_2", "decomposed_theta")
FALSE_BOUNDS = ("paper_spectral", "paper_generous")
ALL_BOUNDS = TRUE_BOUNDS + FALSE_BOUNDS
REL_TOL, ABS_TOL = 1e-9, 1e-12


@dataclass(frozen=True)
class SearchConfig:
    """How the left-hand side is searched: samples, ascent restarts and steps, seed."""

    samples: int = 4096
    restarts: int = 8
    steps: int = 100
    seed: int = 0

    def __post_init__(self):
        if self.samples < 1 or self.restarts < 4 or self.steps < 0:
            raise InputError("search: need samples >= 1, restarts >= 4 (±x_aff, ±R·v1) and steps >= 0")


def as_layer(layer, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) in float64 from an nn.Linear or a (W, b) pair (b may be None)."""
    if isinstance(layer, nn.Linear):
        W, b = layer.weight, layer.bias
    elif isinstance(layer, (tuple, list)) and len(layer) == 2:
        W, b = layer
    else:
        raise InputError(f"{name}: expected an nn.Linear or a (W, b) pair, got {type(layer).__name__}")
    try:
        W = torch.as_tensor(W).detach()
        b = None if b is None else torch.as_tensor(b).detach()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{name}: W and b must be numeric arrays ({exc})") from None
    if b is not None and b.is_complex():
        raise InputError(f"{name}: b must be real, got {b.dtype}")
    if W.is_complex() or W.ndim != 2 or W.numel() == 0:
        raise InputError(f"{name}: W must be a real non-empty 2-D matrix, got shape {tuple(W.shape)} ({W.dtype})")
    W = W.to(torch.float64)
    b = torch.zeros(W.shape[0], dtype=torch.float64) if b is None else b.to(torch.float64)
    if b.shape != (W.shape[0],):
        raise InputError(f"{name}: b must have shape ({W.shape[0]},), got {tuple(b.shape)}")
    if not bool(torch.isfinite(W).all() and torch.isfinite(b).all()):
        raise InputError(f"{name}: contains NaN or Inf")
    return W, b


def pad_layers(Wi, bi, Wj, bj, pad: bool):
    """Zero-pad two layers to a common shape (inputs padded with zeros too), or refuse."""
    if Wi.shape == Wj.shape:
        return Wi, bi, Wj, bj
    if not pad:
        raise InputError(f"layer shapes {tuple(Wi.shape)} and {tuple(Wj.shape)} differ; pass pad=True to zero-pad")
    m, n = max(Wi.shape[0], Wj.shape[0]), max(Wi.shape[1], Wj.shape[1])
    f = lambda W: torch.nn.functional.pad(W, (0, n - W.shape[1], 0, m - W.shape[0]))  # noqa: E731
    g = lambda b: torch.nn.functional.pad(b, (0, m - b.shape[0]))  # noqa: E731
    return f(Wi), g(bi), f(Wj), g(bj)


def _opnorm(M: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(M, ord=2)


def parameter_quantities(Wi, bi, Wj, bj) -> dict:
    """Spectral and parameter-level quantities of a batch of pairs (P, m, n) (independent of σ, R)."""
    Ai, Aj = augmented_tensor(Wi, bi), augmented_tensor(Wj, bj)
    Ui, si, Vhi = torch.linalg.svd(Ai, full_matrices=False)
    Uj, sj, Vhj = torch.linalg.svd(Aj, full_matrices=False)
    ai, aj = torch.linalg.vector_norm(si, dim=-1), torch.linalg.vector_norm(sj, dim=-1)
    pi, pj = si / ai[:, None], sj / aj[:, None]
    mis = torch.minimum(_opnorm(Ui @ torch.diag_embed(sj) @ Vhi - Aj), _opnorm(Uj @ torch.diag_embed(si) @ Vhj - Ai))
    dW, db = Wi - Wj, bi - bj
    dsvd = torch.linalg.svd(dW, full_matrices=False)
    dA = Ai - Aj
    q = {
        "a_i": ai, "a_j": aj, "smax_i": si[:, 0], "smax_j": sj[:, 0],
        "d_fs": fs_distance(pi, pj), "chord": torch.linalg.vector_norm(pi - pj, dim=-1),
        "w2_emp_psi": w2_empirical(pi, pj), "w2_emp_s": w2_empirical(si, sj),
        "w2_cum": w2_cumulative(pi, pj), "w1_cum": w1_cumulative(pi, pj),
        "sdiff_inf": (si - sj).abs().amax(-1), "sdiff_2": torch.linalg.vector_norm(si - sj, dim=-1),
        "dW_op": dsvd[1][:, 0], "db_norm": torch.linalg.vector_norm(db, dim=-1),
        "dA_op": _opnorm(dA), "dA_F": torch.linalg.matrix_norm(dA), "A_ij": mis,
    }
    return {"q": q, "dsvd": dsvd, "dW": dW, "db": db}


def _sample_points(n: int, S: int, R: float, gen: torch.Generator) -> torch.Tensor:
    X = torch.randn(S, n, dtype=torch.float64, generator=gen)
    X = X / torch.linalg.vector_norm(X, dim=1, keepdim=True).clamp_min(1e-300)
    half = S // 2
    r = torch.rand(S - half, 1, dtype=torch.float64, generator=gen) ** (1.0 / n)
    X[half:] *= r
    return X * R


def _stacked(Wi, bi, Wj, bj) -> tuple[torch.Tensor, torch.Tensor]:
    """[Wᵢ; Wⱼ] (P, 2m, n) and [bᵢ; bⱼ] (P, 2m): both layers' pre-activations in one GEMM."""
    return torch.cat([Wi, Wj], dim=1), torch.cat([bi, bj], dim=1)


def _gap(act, W2, b2, X, direction: bool = False):
    """‖σ(X Wᵢᵀ + bᵢ) − σ(X Wⱼᵀ + bⱼ)‖ for X (P, K, n) -> (P, K), and optionally its ascent direction.

    The direction is the gradient with respect to X up to a positive factor per point (1/gap),
    which the normalized ascent step ignores: Wᵢᵀ(σ'(zᵢ)⊙d) − Wⱼᵀ(σ'(zⱼ)⊙d) with d = σ(zᵢ) − σ(zⱼ).
    """
    m = W2.shape[1] // 2
    Z = torch.baddbmm(b2[:, None, :], X, W2.mT)
    S = act.fn(Z)
    D = S[..., :m] - S[..., m:]
    f = torch.linalg.vector_norm(D, dim=-1)
    if not direction:
        return f, None
    G = act.deriv(Z, S)
    G[..., :m] *= D
    G[..., m:] *= -D
    return f, torch.bmm(G, W2)


def _top_samples(fn, G32: tuple[torch.Tensor, torch.Tensor], b32: tuple[torch.Tensor, torch.Tensor], R: float,
                 k: int) -> torch.Tensor:
    """Indices (P, k) of the k samples with the largest gap, ranked in float32.

    G32 = (U Wᵢᵀ, U Wⱼᵀ) for the unit-ball samples U, so the pre-activations at radius R are
    R·G + b without another GEMM. Only the ranking uses float32; values are re-evaluated in float64.
    """
    Zi = torch.addcmul(b32[0][:, None, :], G32[0], torch.tensor(R, dtype=torch.float32))
    Zj = torch.addcmul(b32[1][:, None, :], G32[1], torch.tensor(R, dtype=torch.float32))
    gap = torch.linalg.vector_norm(fn(Zi) - fn(Zj), dim=-1)
    return gap.topk(min(k, gap.shape[1]), dim=1).indices


@torch.no_grad()
def search_lhs(act, Wi, bi, Wj, bj, R: float, starts: torch.Tensor, cand: torch.Tensor, steps: int,
               ascent_dtype: torch.dtype = torch.float32):
    """Best of the sampled candidates ``cand`` (P, k, n) and an ascent from starts + candidates.

    The ascent is projected, normalized gradient ascent with the analytic gradient of
    :func:`_gap` (one GEMM for both layers forward, one backward), run in ``ascent_dtype``. Only
    the search runs in that precision: the starts, the candidates and the best point of every
    trajectory (projected onto the ball again) are evaluated in float64, and only float64 values
    are reported, so every lhs is attained at its x. Returns a dict of tensors: lhs_sample,
    lhs_ascent, lhs (P,) and the maximizing x (P, n).
    """
    P = Wi.shape[0]
    W2, b2 = _stacked(Wi, bi, Wj, bj)
    cv, _ = _gap(act, W2, b2, cand)
    k0 = cv.argmax(dim=1)
    best_s = cv.gather(1, k0[:, None])[:, 0]
    best_sx = cand[torch.arange(P), k0]
    X0 = torch.cat([starts, cand], dim=1)
    # the exact values of the starting points; the candidates' values are reused (re-evaluating them
    # in the concatenated batch can round differently), so that lhs_ascent >= lhs_sample holds exactly
    v0 = torch.cat([_gap(act, W2, b2, starts)[0], cv], dim=1)
    Wa, ba, X = W2.to(ascent_dtype), b2.to(ascent_dtype), X0.to(ascent_dtype)
    best_v, best_x = None, X
    for t in range(steps + 1):
        f, grad = _gap(act, Wa, ba, X, direction=t < steps)
        if best_v is None:
            best_v = f
        else:
            better = f > best_v
            best_v = torch.where(better, f, best_v)
            best_x = torch.where(better[..., None], X, best_x)
        if grad is None:
            break
        gn = torch.linalg.vector_norm(grad, dim=-1, keepdim=True)
        eta = 0.3 * R * (0.95**t)
        X = X + eta * grad / gn.clamp_min(1e-30)
        nx = torch.linalg.vector_norm(X, dim=-1, keepdim=True)
        X = X * torch.clamp(R / nx.clamp_min(1e-30), max=1.0)
    # each trajectory's best point, in float64 and feasible, against its exact starting value
    Xb = best_x.to(torch.float64)
    Xb = Xb * torch.clamp(R / torch.linalg.vector_norm(Xb, dim=-1, keepdim=True).clamp_min(1e-300), max=1.0)
    vb, _ = _gap(act, W2, b2, Xb)
    better = vb > v0
    vals = torch.where(better, vb, v0)
    xs = torch.where(better[..., None], Xb, X0)
    k = vals.argmax(dim=1)
    asc_v = vals.gather(1, k[:, None])[:, 0]
    asc_x = xs[torch.arange(P), k]
    use_asc = asc_v >= best_s
    return {
        "lhs_sample": best_s,
        "lhs_ascent": asc_v,
        "lhs": torch.maximum(asc_v, best_s),
        "x": torch.where(use_asc[:, None], asc_x, best_sx),
    }


def _bounds(q: dict, L: float, R: float, S_aff: torch.Tensor) -> dict[str, torch.Tensor]:
    rho = math.sqrt(R * R + 1)
    amax = torch.maximum(q["a_i"], q["a_j"])
    return {
        "lipschitz": L * S_aff,
        "lipschitz_op": L * (R * q["dW_op"] + q["db_norm"]),
        "augmented": L * rho * q["dA_op"],
        "decomposed_inf": L * rho * (q["sdiff_inf"] + q["A_ij"]),
        "decomposed_2": L * rho * (q["sdiff_2"] + q["A_ij"]),
        "decomposed_theta": L * rho * ((q["a_i"] - q["a_j"]).abs() + amax * q["d_fs"] + q["A_ij"]),
        "paper_spectral": L * rho * ((q["a_i"] - q["a_j"]).abs() + amax * (q["d_fs"] + q["w2_cum"])),
        "paper_generous": 10 * L * rho * (q["sdiff_2"] + amax * (q["d_fs"] + q["w2_cum"].sqrt())),
    }


def check_bounds_batch(
    Wi: torch.Tensor,
    bi: torch.Tensor,
    Wj: torch.Tensor,
    bj: torch.Tensor,
    activations: Sequence[str],
    radii: Sequence[float],
    search: SearchConfig = SearchConfig(),
    chunk_elems: int = 1 << 23,
    ascent_pairs: int = 128,
) -> list[dict]:
    """Per-pair records for P pairs of equal shape (P, m, n) × activations × radii.

    Parameter-level quantities are computed once per pair; the left-hand side is searched for all
    pairs of a chunk (``ascent_pairs``) at once per activation and radius. The sampled points'
    pre-activations are computed once per sub-chunk of at most ``chunk_elems`` numbers per layer
    and scaled by R. Returns one dict per R × activation × pair, in that
    order (pair index ``pair``), with the maximizing ``x`` as a 1-D tensor.
    """
    acts = [get_activation(a) for a in activations]
    radii = list(radii)
    for R in radii:
        if not (isinstance(R, numbers.Real) and not isinstance(R, bool) and math.isfinite(R) and R > 0):
            raise InputError(f"R: expected positive finite radii, got {R!r}")
    radii = [float(R) for R in radii]
    P, m, n = Wi.shape
    gen = torch.Generator().manual_seed(search.seed)
    U1 = _sample_points(n, search.samples, 1.0, gen)  # unit ball; scaled by R
    U1_32 = U1.to(torch.float32)
    k_top = max(1, search.restarts - 4)
    sub = max(1, chunk_elems // max(1, search.samples * m))  # pairs whose sampled pre-activations fit
    chunk = max(sub, ascent_pairs)
    combos = [(ri, R, ai, act) for ri, R in enumerate(radii) for ai, act in enumerate(acts)]
    out: dict[tuple[int, int, int], dict] = {}
    for c0 in range(0, P, chunk):
        with kernel_threads("shared", device=Wi.device):  # core/threads.py
            sl = slice(c0, min(P, c0 + chunk))
            wi, vi, wj, vj = Wi[sl], bi[sl], Wj[sl], bj[sl]
            pq = parameter_quantities(wi, vi, wj, vj)
            q, (U, s, Vh), dW, db = pq["q"], pq["dsvd"], pq["dW"], pq["db"]
            q_lists = {k: v.tolist() for k, v in q.items()}
            # the best sampled points of every pair, radius and activation (float32 ranking, in sub-chunks)
            top: dict[tuple[int, int], list[torch.Tensor]] = {(ri, ai): [] for ri, _, ai, _ in combos}
            for s0 in range(0, wi.shape[0], sub):
                ss = slice(s0, s0 + sub)
                G32 = (U1_32 @ wi[ss].to(torch.float32).mT, U1_32 @ wj[ss].to(torch.float32).mT)
                b32 = (vi[ss].to(torch.float32), vj[ss].to(torch.float32))
                for ri, R, ai, act in combos:
                    top[ri, ai].append(_top_samples(act.fn, G32, b32, R, k_top))
                del G32
            for ri, R in enumerate(radii):
                aff = [max_affine_norm(dW[p], db[p], R, svd=(U[p], s[p], Vh[p])) for p in range(dW.shape[0])]
                S_aff = torch.stack([v for v, _ in aff])
                x_aff = torch.stack([x for _, x in aff])
                v1 = Vh[:, 0, :] * R
                starts = torch.stack([x_aff, -x_aff, v1, -v1], dim=1)
                for ai, act in enumerate(acts):
                    cand = R * U1[torch.cat(top[ri, ai])]
                    lhs = search_lhs(act, wi, vi, wj, vj, R, starts, cand, search.steps)
                    B = {k: v.tolist() for k, v in _bounds(q, act.lipschitz, R, S_aff).items()}
                    vals = {k: lhs[k].tolist() for k in ("lhs_sample", "lhs_ascent", "lhs")}
                    vals["S_aff"] = S_aff.tolist()
                    for p in range(dW.shape[0]):
                        out[(ri, ai, c0 + p)] = _record(c0 + p, m, n, act, R, q_lists, vals, B, lhs["x"][p], p)
    return [out[(ri, ai, p)] for ri in range(len(radii)) for ai in range(len(acts)) for p in range(P)]


def _record(pair: int, m: int, n: int, act, R: float, q: dict[str, list[float]], vals: dict[str, list[float]],
            B: dict[str, list[float]], x: torch.Tensor, p: int) -> dict:
    r = {"pair": pair, "m": m, "n": n, "N": int(min(m, n) + 1), "activation": act.name, "L": act.lipschitz,
         "R": R, "dtype": "float64"}
    r.update({k: v[p] for k, v in q.items()})
    r.update({k: v[p] for k, v in vals.items()})
    val = r["lhs"]
    for name in ALL_BOUNDS:
        b = B[name][p]
        r[name] = b
        r[f"ratio_{name}"] = val / b if b > 0 else (math.inf if val > 0 else 0.0)
        r[f"viol_{name}"] = bool(val > b * (1 + REL_TOL) + ABS_TOL)
    r["conv_weyl_ok"] = bool(r["sdiff_inf"] <= r["dA_op"] * (1 + REL_TOL) + ABS_TOL)
    r["conv_mirsky_ok"] = bool(r["sdiff_2"] <= r["dA_F"] * (1 + REL_TOL) + ABS_TOL)
    r["conv_theta_ok"] = bool(2 * math.sin(r["d_fs"] / 2)
                              <= r["dA_F"] / math.sqrt(r["a_i"] * r["a_j"]) * (1 + REL_TOL) + ABS_TOL)
    r["x"] = x.clone()
    return r


def check_bounds(layer_i, layer_j, activation: str, R: float, *, pad: bool = False, samples: int = 4096,
                 restarts: int = 8, steps: int = 100, seed: int = 0) -> dict:
    """The per-pair record of one pair of layers (interface.md), with ``lhs`` and its maximizer ``x``.

    Args:
        layer_i, layer_j: nn.Linear or (W, b) pairs (b may be None).
        activation: identity, relu, tanh, sigmoid or gelu.
        R: radius of the input ball (> 0).
        pad: zero-pad layers of different shapes to a common shape (else an error).
        samples, restarts, steps, seed: the left-hand-side search.

    Returns:
        dict with the spectral and parameter quantities, lhs_sample, lhs_ascent, lhs, x, S_aff, and
        for every bound B in ALL_BOUNDS its value, ``ratio_B`` = lhs/B and ``viol_B``.
    """
    Wi, bi = as_layer(layer_i, "layer_i")
    Wj, bj = as_layer(layer_j, "layer_j")
    Wi, bi, Wj, bj = pad_layers(Wi, bi, Wj, bj, pad)
    cfg = SearchConfig(samples=samples, restarts=restarts, steps=steps, seed=seed)
    rows = check_bounds_batch(Wi[None], bi[None], Wj[None], bj[None], [activation], [R], cfg)
    return rows[0]


def witness_gap(layer_i, layer_j, activation: str, x) -> float:
    """‖σ(Wᵢx + bᵢ) − σ(Wⱼx + bⱼ)‖ at one x: re-evaluates a witness independently of the search."""
    Wi, bi = as_layer(layer_i, "layer_i")
    Wj, bj = as_layer(layer_j, "layer_j")
    fn = get_activation(activation).fn
    try:
        x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(f"x: expected a real vector of length {Wi.shape[1]}, got {type(x).__name__}") from None
    if x.shape != (Wi.shape[1],) or Wj.shape[1] != Wi.shape[1]:
        raise InputError(f"x: expected shape ({Wi.shape[1]},) matching both layers, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise InputError("x: contains NaN or Inf")
    return float(torch.linalg.vector_norm(fn(Wi @ x + bi) - fn(Wj @ x + bj)))


__all__ = ["TRUE_BOUNDS", "FALSE_BOUNDS", "ALL_BOUNDS", "SearchConfig", "check_bounds", "check_bounds_batch",
           "parameter_quantities", "search_lhs", "as_layer", "pad_layers", "witness_gap"]
