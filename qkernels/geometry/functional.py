"""Functional states: unit vectors of channels that see what the channels compute.

The paper's state ψ = s/‖s‖ of an operator keeps only its singular values, so it cannot tell a
filter from its negation, a permutation or a rotation of it (docs/theory.md, "What is false").
The states here are unit vectors too, so the Fubini–Study distance d_FS = arccos|⟨ψᵢ, ψⱼ⟩|, the
redundancy graph, the merges and the quantum kernels apply to them unchanged; they differ in
what they are invariant to (docs/theory.md, "Functional states"):

* **activation states** (:func:`correlation_states`, :func:`correlation_distances`): a channel's
  centred response y_c − E[y_c] over the calibration inputs, normalized. ⟨ψᵢ, ψⱼ⟩ = corr(yᵢ, yⱼ),
  so d_FS = arccos|corr|: 0 exactly when one channel is an affine function of the other on the
  data (a per-channel BatchNorm, any positive or negative rescaling, any shift).
* **whitened operator states** (:func:`whitened_operator`, :func:`gram_distances` of the second
  moment): the augmented rows ŵ_c = [w_c, b_c] acting on the data, Ŵ Σ̂^{1/2} with Σ̂ = E[x̂ x̂ᵀ],
  x̂ = [x; 1]. ⟨ŵᵢ Σ̂^{1/2}, ŵⱼ Σ̂^{1/2}⟩ = E[yᵢ yⱼ] (uncentred), and ‖ΔŴ Σ̂^{1/2}‖_F² is the
  right side of the in-distribution bound.
* **filter states** (:func:`filter_states`): the flattened filter, scale-normalized and
  sign-lifted, ψ = [u, 1]/√2 with u = w/‖w‖: invariant to positive rescaling (what a following
  BatchNorm removes, and what ReLU commutes with); ⟨ψᵢ, ψⱼ⟩ = (1 + cos∠(wᵢ, wⱼ))/2 ≥ 0, so −w is
  at the largest distance π/2 and rotations or permutations of w are not at 0.

Example:
    >>> import torch
    >>> w = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [-1.0, -2.0, -3.0], [3.0, 2.0, 1.0]])
    >>> [round(float(v), 4) for v in filter_distances(filter_states(w))[0]]
    [0.0, 0.0, 1.5708, 0.5411]
"""

from __future__ import annotations

import math

import torch

from qkernels.core.errors import InputError
from qkernels.geometry.distances import pairwise_fs

#: below this variance (relative to the largest of the layer) a channel counts as constant on the data
CONSTANT_TOL = 1e-12


def _as_gram(G: object, name: str = "G") -> torch.Tensor:
    g = torch.as_tensor(G, dtype=torch.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise InputError(f"{name}: expected a square (C, C) matrix, got shape {tuple(g.shape)}")
    if not bool(torch.isfinite(g).all()):
        raise InputError(f"{name}: contains non-finite values")
    return (g + g.T) / 2


def fs_from_cosine(c: torch.Tensor) -> torch.Tensor:
    """arccos|c| computed as 2·asin(√((1 − |c|)/2)), accurate near |c| = 1 (clipped to [0, 1]).

    Example:
        >>> fs_from_cosine(torch.tensor([1.0, -1.0, 0.0], dtype=torch.float64)).round(decimals=6).tolist()
        [0.0, 0.0, 1.570796]
    """
    a = c.abs().clamp(0.0, 1.0)
    return 2.0 * torch.asin(torch.sqrt(((1.0 - a) / 2.0).clamp_min(0.0)))


def gram_distances(G: object) -> torch.Tensor:
    """d_FS between the unit vectors whose inner products are the Gram matrix ``G``, normalized:
    arccos(|G_ij| / √(G_ii G_jj)). A channel with G_ii ≈ 0 (a zero vector, or constant on the data
    for a covariance) is at π/2 from every other channel.

    Example:
        >>> gram_distances([[4.0, 2.0], [2.0, 1.0]]).tolist()
        [[0.0, 0.0], [0.0, 0.0]]
    """
    g = _as_gram(G)
    top = max(float(g.diagonal().max()) if g.numel() else 0.0, 1e-300)
    g = g / top  # scale first, so that the outer product of the diagonal below cannot overflow
    d = g.diagonal().clamp_min(0.0)
    dead = d <= CONSTANT_TOL
    s = torch.where(dead, torch.ones_like(d), d)
    # one square root of G_ii·G_jj (not two divisions by √G_ii, √G_jj): equal entries (identical states,
    # exact copies) give a cosine of exactly 1, so their distance is exactly 0 (threshold tau = 0 finds them)
    c = g / torch.sqrt(torch.outer(s, s))
    c[dead, :] = 0.0
    c[:, dead] = 0.0
    D = fs_from_cosine(c)
    D = (D + D.T) / 2
    D.fill_diagonal_(0.0)
    return D


def correlation_distances(covariance: object) -> torch.Tensor:
    """Activation-state distances arccos|corr(yᵢ, yⱼ)| from the channels' covariance on the data.

    Example:
        >>> y = torch.tensor([[0.0, 1.0, 5.0], [1.0, 3.0, -2.0], [2.0, 5.0, 1.0]])  # columns: channels
        >>> cov = torch.cov(y.T)
        >>> [round(float(v), 3) for v in correlation_distances(cov)[0]]  # y1 = 2 y0 + 1
        [0.0, 0.0, 0.965]
    """
    return gram_distances(covariance)


def states_from_gram(G: object) -> torch.Tensor:
    """Unit vectors ψ_c (rows, length C) with ⟨ψᵢ, ψⱼ⟩ = G_ij / √(G_ii G_jj): the normalized
    columns of Λ^{1/2} Vᵀ for G = V Λ Vᵀ (negative round-off eigenvalues set to 0). A channel with
    G_ii ≈ 0 (constant on the data) gets the basis vector e_c.

    These are the states the quantum kernels load (real amplitudes, signed).

    Example:
        >>> psi = states_from_gram([[1.0, 0.5], [0.5, 1.0]])
        >>> [round(float(v), 6) for v in (psi @ psi.T).flatten()]
        [1.0, 0.5, 0.5, 1.0]
    """
    g = _as_gram(G)
    d = g.diagonal().clamp_min(0.0)
    dead = d <= CONSTANT_TOL * max(float(d.max()) if d.numel() else 0.0, 1e-300)
    s = torch.where(dead, torch.ones_like(d), d).sqrt()
    r = g / torch.outer(s, s)  # normalized first: small-variance channels keep their accuracy
    r[dead, :] = 0.0
    r[:, dead] = 0.0
    lam, V = torch.linalg.eigh((r + r.T) / 2)
    X = (V * lam.clamp_min(0.0).sqrt()[None, :])  # rows: x_c with x_i·x_j = R_ij
    n = torch.linalg.vector_norm(X, dim=1, keepdim=True)
    psi = X / torch.where(n > 0, n, torch.ones_like(n))
    if bool(dead.any()):
        psi[dead] = torch.eye(g.shape[0], dtype=torch.float64)[dead]
    return psi


def correlation_states(covariance: object) -> torch.Tensor:
    """Activation states as explicit unit vectors (rows): ⟨ψᵢ, ψⱼ⟩ = corr(yᵢ, yⱼ) (:func:`states_from_gram`)."""
    return states_from_gram(covariance)


def whitened_operator(W: object, b: object | None, mean: object, second: object) -> torch.Tensor:
    """Ŵ Σ̂^{1/2}: the augmented operator [W, b] as it acts on data with E[x] = ``mean`` and
    E[x xᵀ] = ``second``; Σ̂ = [[Σ, μ], [μᵀ, 1]] is the second moment of x̂ = [x; 1].

    Its rows are the whitened states of the output channels (normalize them): row c · row c' =
    E[yᵢ yⱼ] for y = Wx + b, and ‖ΔŴ Σ̂^{1/2}‖_F² = E‖ΔW x + Δb‖².

    Example:
        >>> W = torch.tensor([[1.0, 0.0], [0.0, 2.0]]); mu = torch.zeros(2); S = torch.eye(2)
        >>> whitened_operator(W, torch.tensor([1.0, 0.0]), mu, S).tolist()
        [[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]]
    """
    w = torch.as_tensor(W, dtype=torch.float64)
    if w.ndim != 2:
        raise InputError(f"W: expected a matrix (m, n), got shape {tuple(w.shape)}")
    m, n = w.shape
    bb = torch.zeros(m, dtype=torch.float64) if b is None else torch.as_tensor(b, dtype=torch.float64).reshape(-1)
    mu = torch.as_tensor(mean, dtype=torch.float64).reshape(-1)
    S = _as_gram(second, "second")
    if bb.shape != (m,) or mu.shape != (n,) or S.shape != (n, n):
        raise InputError(f"whitened_operator: W {tuple(w.shape)} needs b ({m},), mean ({n},), second ({n}, {n}); "
                         f"got {tuple(bb.shape)}, {tuple(mu.shape)}, {tuple(S.shape)}")
    Sh = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    Sh[:n, :n], Sh[:n, n], Sh[n, :n], Sh[n, n] = S, mu, mu, 1.0
    lam, V = torch.linalg.eigh(Sh)
    root = (V * lam.clamp_min(0.0).sqrt()[None, :]) @ V.T
    return torch.cat([w, bb[:, None]], dim=1) @ root


def filter_states(W: object, b: object | None = None) -> torch.Tensor:
    """Sign-lifted, scale-normalized filter states, one row per output channel: ψ = [u, 1]/√2 with
    u = [w, b]/‖[w, b]‖ (``b`` None: the bias is left out, as when a BatchNorm follows). A zero
    filter gets ψ = e_last (it computes nothing; at π/4 from every non-zero filter).

    Example:
        >>> filter_states(torch.tensor([[3.0, 4.0]])).round(decimals=4).tolist()
        [[0.4243, 0.5657, 0.7071]]
    """
    w = torch.as_tensor(W, dtype=torch.float64)
    if w.ndim < 2:
        raise InputError(f"W: expected (channels, ...) filters, got shape {tuple(w.shape)}")
    w = w.reshape(w.shape[0], -1)
    if b is not None:
        w = torch.cat([w, torch.as_tensor(b, dtype=torch.float64).reshape(-1, 1)], dim=1)
    if not bool(torch.isfinite(w).all()):
        raise InputError("filters contain non-finite values")
    n = torch.linalg.vector_norm(w, dim=1, keepdim=True)
    u = w / torch.where(n > 0, n, torch.ones_like(n))
    lifted = torch.cat([u, torch.ones(w.shape[0], 1, dtype=torch.float64)], dim=1) / math.sqrt(2.0)
    zero = n[:, 0] == 0
    if bool(zero.any()):
        lifted[zero] = 0.0
        lifted[zero, -1] = 1.0
    return lifted


def filter_distances(states: torch.Tensor) -> torch.Tensor:
    """d_FS between filter states (rows of :func:`filter_states`): arccos((1 + cos∠(wᵢ, wⱼ))/2).

    From the states themselves (:func:`~qkernels.geometry.distances.pairwise_fs`: near 0 from the
    difference vectors), so equal filter states (w and 2w) are at exactly 0, and positive multiples
    at round-off (~1e-16) rather than the ~1e-8 that the arccos of a Gram entry gives.
    """
    D = torch.as_tensor(pairwise_fs(torch.as_tensor(states, dtype=torch.float64)))
    D = (D + D.T) / 2
    D.fill_diagonal_(0.0)
    return D


__all__ = ["CONSTANT_TOL", "fs_from_cosine", "gram_distances", "correlation_distances", "states_from_gram",
           "correlation_states", "whitened_operator", "filter_states", "filter_distances"]
