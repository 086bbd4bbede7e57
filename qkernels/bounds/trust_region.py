"""Exact maximum of ‖Ax + c‖ over the ball ‖x‖ ≤ R (a trust-region problem).

With the thin SVD A = U diag(σ) Vᵀ, d = Uᵀc and c⊥ = c − U d, write y = Vᵀx. The maximum of the
convex function ‖Ax + c‖² lies on the sphere ‖x‖ = R, and stationarity gives
y_k = σ_k d_k / (λ − σ_k²) with λ ≥ σ_1² chosen so that ‖y‖ = R (the secular equation; ‖y(λ)‖
decreases on (σ_1², ∞), solved by bisection to machine precision). In the "hard case"
(d is zero on the top singular space and ‖y(σ_1²⁺)‖ < R) λ = σ_1² and the remaining norm is put
along the top right singular vector, with the sign that does not decrease the objective. Then
‖Ax + c‖² = Σ_k (σ_k y_k + d_k)² + ‖c⊥‖².

Example:
    >>> import torch
    >>> v, x = max_affine_norm(torch.eye(2, dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64), 2.0)
    >>> round(float(v), 12), [round(float(t), 12) for t in x]
    (3.0, [2.0, 0.0])
"""

from __future__ import annotations

import torch

from qkernels.core.errors import InputError


def max_affine_norm(
    A: torch.Tensor, c: torch.Tensor, R: float, svd: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """max over ‖x‖ ≤ R of ‖A x + c‖ (float64), and a maximizer x.

    Args:
        A: matrix (m, n). c: vector (m,). R: radius > 0.
        svd: optional precomputed thin SVD (U, σ, Vh) of A.

    Returns:
        (value, x) with ‖x‖ = R (up to rounding).
    """
    if not R > 0:
        raise InputError(f"R: expected a positive radius, got {R!r}")
    A = A.to(torch.float64)
    c = c.to(torch.float64)
    U, s, Vh = svd if svd is not None else torch.linalg.svd(A, full_matrices=False)
    U, s, Vh = U.to(torch.float64), s.to(torch.float64), Vh.to(torch.float64)
    d = U.mT @ c
    c_perp2 = float(torch.clamp(c @ c - d @ d, min=0.0))
    smax = float(s[0]) if s.numel() else 0.0
    if smax == 0.0:  # A = 0: every x gives ‖c‖
        x = torch.zeros(A.shape[1], dtype=torch.float64)
        x[0] = R
        return torch.linalg.vector_norm(c), x
    s2 = s * s
    top = s2 >= s2[0] * (1 - 1e-12)
    tol_d = 1e-14 * max(float(torch.linalg.vector_norm(c)), 1e-300)

    def ynorm(lam: float) -> float:
        return float(torch.linalg.vector_norm(s * d / (lam - s2)))

    hard = bool((d[top].abs() <= tol_d).all())
    if hard:
        y = torch.where(top, torch.zeros_like(d), s * d / torch.where(top, torch.ones_like(s2), s2[0] - s2))
        rest = R * R - float(y @ y)
        if rest >= 0:
            y[int(torch.nonzero(top)[0])] = rest**0.5  # sign is irrelevant: d is 0 there
            val = torch.sqrt(((s * y + d) ** 2).sum() + c_perp2)
            return val, Vh.mT @ y
    lo = float(s2[0])
    hi = lo + float(s[0] * torch.linalg.vector_norm(d)) / R + 1e-300
    while ynorm(hi) > R:
        hi = lo + 2 * (hi - lo)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if ynorm(mid) > R:
            lo = mid
        else:
            hi = mid
    y = s * d / (hi - s2)
    y = y * (R / float(torch.linalg.vector_norm(y)))  # land exactly on the sphere
    val = torch.sqrt(((s * y + d) ** 2).sum() + c_perp2)
    return val, Vh.mT @ y


__all__ = ["max_affine_norm"]
