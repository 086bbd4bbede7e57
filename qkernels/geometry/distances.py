"""Exact distances between operator states (closed forms; POT is the reference in the tests).

Definitions (see docs/theory.md):

* Fubini–Study: θ = d_FS(ψ, φ) = arccos|⟨ψ, φ⟩| ∈ [0, π/2], computed as
  2·arcsin(min(‖ψ − φ‖, ‖ψ + φ‖)/2), which keeps full precision near θ = 0 (the arccos form
  loses ~1e-8 there). For the non-negative states of spectra ⟨ψ, φ⟩ ≥ 0 and ‖ψ − φ‖ is the min.
* Cumulative ("majorization profile") W₂: masses p_k = ψ_k² at positions k/N (k = 1..N), CDF
  F(k) = Σ_{l≤k} p_l, and W₂cum² = ∫₀¹ (Q_p(t) − Q_q(t))² dt with the quantile functions Q.
  Computed exactly by merging the two CDFs' breakpoints (a sort of 2N values per pair; all-pairs:
  one global sort and per-row count tables, O(N) per pair).
* Cumulative W₁: W₁cum = (1/N) Σ_k |F_p(k) − F_q(k)|.
* Empirical spectral W₂ of two vectors u, v (states or raw spectra) with uniform weights 1/N:
  ‖sort(u) − sort(v)‖ / √N.

States of different lengths are zero-padded to a common length N (a padded spectrum has the
same norm and the same d_FS; N-dependent distances are computed after padding).

Functions that take states check that they are finite unit vectors, within 1e-6 in float64,
1e-4 in float32 and 2e-3 in float16 (1.6e-2 in bfloat16), the same for NumPy and torch, and raise :class:`~qkernels.core.errors.InputError` (a ValueError) otherwise.

Example:
    >>> import numpy as np
    >>> a, b = np.array([1.0, 0.0]), np.array([1.0, 1.0]) / np.sqrt(2)
    >>> round(float(fs_distance(a, b)), 6)  # π/4
    0.785398
    >>> round(float(w2_cumulative(a, b)), 6)  # 1/(√2·N)
    0.353553
"""

from __future__ import annotations

import math
from typing import Any

import torch

from qkernels.core.arrays import (
    LOW_PRECISION_TOL,
    ArrayLike,
    Kind,
    as_tensor,
    common_dtype,
    pad_last,
    restore,
    source_precision,
)
from qkernels.core.errors import InputError
from qkernels.core.threads import kernel_threads

#: Allowed deviation |‖ψ‖ − 1| of a state, by dtype (larger for lower precision).
UNIT_TOL = {torch.float64: 1e-6, torch.float32: 1e-4}

#: pairwise_fs recomputes entries with |⟨ψ, φ⟩| above 1 − this (θ below ~0.014 in float64,
#: ~0.14 in float32) from the difference vectors, where arccos of the Gram entry is inaccurate.
_REFINE = {torch.float64: 1e-4, torch.float32: 1e-2}

_REFINE_CHUNK = 1 << 18  # pairs per refinement block (bounds memory)


def check_states(psi: ArrayLike, name: str, *, ndim: int | None = None) -> tuple[torch.Tensor, Kind]:
    """Validate finite unit vectors along the last axis; return (tensor, kind).

    Example:
        >>> check_states([0.6, 0.8], "psi")[0]
        tensor([0.6000, 0.8000], dtype=torch.float64)
    """
    t, kind = as_tensor(psi, name, min_ndim=1)
    if ndim is not None and t.ndim != ndim:
        raise InputError(f"{name}: expected {ndim} dimension(s), got shape {tuple(t.shape)}")
    low = source_precision(psi)  # half-precision input, NumPy or torch alike: its own tolerance
    tol = LOW_PRECISION_TOL[low] if low else UNIT_TOL.get(t.dtype, 1e-4)
    norms = torch.linalg.vector_norm(t, dim=-1)
    dev = (norms - 1).abs()
    if bool((dev > tol).any()):
        worst = float(dev.max())
        raise InputError(
            f"{name}: expected unit vectors along the last axis (|‖ψ‖ − 1| ≤ {tol:g}), "
            f"found one off by {worst:.3g}; normalize with qkernels.state()"
        )
    return t, kind


def _pair(a: ArrayLike, b: ArrayLike, names: tuple[str, str], *, states: bool = True):
    if states:
        ta, kind = check_states(a, names[0])
        tb, _ = check_states(b, names[1])
    else:
        ta, kind = as_tensor(a, names[0])
        tb, _ = as_tensor(b, names[1])
    if ta.device != tb.device:
        raise InputError(f"{names[0]} and {names[1]} are on different devices ({ta.device}, {tb.device})")
    dtype = common_dtype(ta, tb)
    n = max(ta.shape[-1], tb.shape[-1])
    ta, tb = pad_last(ta.to(dtype), n), pad_last(tb.to(dtype), n)
    try:
        shape = torch.broadcast_shapes(ta.shape[:-1], tb.shape[:-1])
    except RuntimeError:
        raise InputError(
            f"{names[0]} and {names[1]}: batch shapes {tuple(ta.shape[:-1])} and {tuple(tb.shape[:-1])} do not broadcast"
        ) from None
    return ta.expand(*shape, n), tb.expand(*shape, n), kind


def _fs_from_vectors(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = torch.linalg.vector_norm(a - b, dim=-1)
    s = torch.linalg.vector_norm(a + b, dim=-1)
    return 2 * torch.asin((torch.minimum(d, s) / 2).clamp(max=1.0))


def fs_distance(psi_a: ArrayLike, psi_b: ArrayLike) -> Any:
    """Fubini–Study distance arccos|⟨ψ_a, ψ_b⟩| between unit vectors (batched, broadcasting).

    Example:
        >>> import torch
        >>> fs_distance(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
        tensor(1.5708)
    """
    a, b, kind = _pair(psi_a, psi_b, ("psi_a", "psi_b"))
    return restore(_fs_from_vectors(a, b), kind)


def _state_matrices(Psi_a: ArrayLike, Psi_b: ArrayLike | None) -> tuple[torch.Tensor, torch.Tensor, Kind]:
    """Validate two state matrices (B defaults to A), on one device, padded to a common length."""
    A, kind = check_states(Psi_a, "Psi_a", ndim=2)
    if Psi_b is None:
        return A, A, kind
    B, _ = check_states(Psi_b, "Psi_b", ndim=2)
    if A.device != B.device:
        raise InputError(f"Psi_a and Psi_b are on different devices ({A.device}, {B.device})")
    dtype = common_dtype(A, B)
    n = max(A.shape[-1], B.shape[-1])
    return pad_last(A.to(dtype), n), pad_last(B.to(dtype), n), kind


def pairwise_fs(Psi_a: ArrayLike, Psi_b: ArrayLike | None = None) -> Any:
    """All-pairs Fubini–Study distances between the rows of Psi_a and Psi_b (default: Psi_a).

    One GEMM gives |⟨ψ_i, φ_j⟩|; entries close to 1 (tiny θ, where arccos is ill-conditioned)
    are recomputed from the difference vectors, so every entry is accurate to ~1e-12 in float64.

    Args:
        Psi_a: states of shape (n_a, N_a).
        Psi_b: states of shape (n_b, N_b), or None for the symmetric case.

    Returns:
        Distances of shape (n_a, n_b), of the kind of Psi_a.

    Example:
        >>> import numpy as np
        >>> P = np.eye(3)
        >>> pairwise_fs(P).round(4)
        array([[0.    , 1.5708, 1.5708],
               [1.5708, 0.    , 1.5708],
               [1.5708, 1.5708, 0.    ]])
    """
    A, B, kind = _state_matrices(Psi_a, Psi_b)
    with kernel_threads("full", A.shape[0] * B.shape[0], A.device):
        G = _fs_matrix(A, B, Psi_b is None)
    return restore(G, kind)


def _fs_matrix(A: torch.Tensor, B: torch.Tensor, symmetric: bool) -> torch.Tensor:
    G = A @ B.mT
    if symmetric:  # θ(ψ, ψ) = 0 exactly; leaving the diagonal out of the search keeps it row-sparse
        G.diagonal().zero_()
    threshold = 1 - _REFINE.get(G.dtype, 1e-2)
    fused = _fused_abs_acos(G.device)
    if fused is not None:  # CUDA: |G| -> arccos in one kernel; the search reads arccos < its threshold
        G = fused(G)
        near = _near_one(G, math.acos(threshold), below=True)
    else:
        G.abs_()
        near = _near_one(G, threshold)
        G.clamp_(max=1.0).acos_()
    if symmetric:
        G.diagonal().zero_()
    for start in range(0, near.shape[0], _REFINE_CHUNK):
        i, j = near[start : start + _REFINE_CHUNK].unbind(1)
        G[i, j] = _fs_from_vectors(A[i], B[j])
    return G


_FUSED: dict[str, Any] = {}

_ACOS_ABS_CODE = """
template <typename T> T acos_abs(T x) { T a = x < T(0) ? -x : x; return acos(a < T(1) ? a : T(1)); }
"""


def _fused_abs_acos(device: torch.device):
    """On CUDA, one elementwise kernel arccos(min(|g|, 1)) built with torch's jiterator (NVRTC);
    None elsewhere, or where it cannot be built (then the three eager passes run instead)."""
    if device.type != "cuda":
        return None
    if "cuda" not in _FUSED:
        fn = None
        try:
            from torch.cuda.jiterator import _create_jit_fn

            fn = _create_jit_fn(_ACOS_ABS_CODE)
            probe = torch.tensor([-0.5, 2.0], dtype=torch.float64, device=device)
            got = fn(probe).cpu()
            want = torch.tensor([math.acos(0.5), 0.0], dtype=torch.float64)
            if not torch.allclose(got, want, atol=1e-12):
                fn = None
        except Exception:  # noqa: BLE001 - no NVRTC, an old torch: the eager passes are correct too
            fn = None
        _FUSED["cuda"] = fn
    return _FUSED["cuda"]


def _near_one(G: torch.Tensor, threshold: float, below: bool = False) -> torch.Tensor:
    """Indices (k, 2) of the entries of G above ``threshold`` (``below``: under it), found row-first.

    Near-duplicate states are rare, so one max per row (a reduction) finds the few rows to scan;
    this is about twice as fast as a full comparison followed by ``nonzero`` over all of G.
    """
    rows = ((G.amin(dim=1) < threshold) if below else (G.amax(dim=1) > threshold)).nonzero().squeeze(1)
    if rows.numel() == 0:
        return torch.empty((0, 2), dtype=torch.long, device=G.device)
    ij = ((G[rows] < threshold) if below else (G[rows] > threshold)).nonzero()
    return torch.stack([rows[ij[:, 0]], ij[:, 1]], dim=1)


def cumulative_profile(psi: torch.Tensor) -> torch.Tensor:
    """CDF F(k) = Σ_{l≤k} ψ_l² / Σ ψ² along the last axis (last entry exactly 1).

    Example:
        >>> import torch
        >>> cumulative_profile(torch.tensor([0.6, 0.8]))
        tensor([0.3600, 1.0000])
    """
    return _profile_hilo(psi)[0]


def _profile_hilo(psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The CDF as an unevaluated sum hi + lo, accurate to ~eps² instead of ~k·eps.

    A plain cumsum carries a rounding error that grows with k (measured: 1e-12 relative error on
    W₂² for N = 4609). Each step's error is recovered exactly with TwoSum (Knuth):
    F[k-1] + p[k] = s + e exactly, and s − F[k] is exact by Sterbenz's lemma, so the step error is
    δ_k = (s − F[k]) + e and the exact CDF is F[k] + Σ_{i≤k} δ_i. The total is then normalized to 1.
    """
    p = psi * psi
    p = p / p.sum(-1, keepdim=True)
    F = p.cumsum(-1)
    prev = torch.nn.functional.pad(F[..., :-1], (1, 0))
    s = prev + p
    bb = s - prev
    e = (prev - (s - bb)) + (p - bb)
    lo = ((s - F) + e).cumsum(-1)
    total_lo = (F[..., -1:] - 1) + lo[..., -1:]  # (hi + lo) of the total, minus 1
    lo = lo - F * total_lo  # divide by (1 + total_lo) to first order
    F = F.clamp(max=1.0)
    F[..., -1] = 1.0
    lo[..., -1] = 0.0
    return F, lo


def _w2sq_profiles(Fa: torch.Tensor, Fb: torch.Tensor, La: torch.Tensor | None = None,
                   Lb: torch.Tensor | None = None) -> torch.Tensor:
    """Exact W₂² between the quantile functions of CDFs Fa, Fb (..., N) on positions k/N.

    Q(t) = (1 + #{k : F(k) < t}) / N. Sorting the 2N breakpoints of both CDFs, on the interval
    that ends at merged position m the quantile difference is (c_a − c_b)/N, where c_a (c_b) is
    the number of breakpoints of Fa (Fb) before position m, and c_a + c_b = m. All terms are
    non-negative (no cancellation). La, Lb: optional low parts of the CDFs (see _profile_hilo).
    """
    n = Fa.shape[-1]
    if La is not None and Lb is not None:  # sort the rounded sums: hi alone can order ties wrongly
        Fa, Fb = Fa + La, Fb + Lb
    X = torch.cat([Fa, Fb], dim=-1)
    Xs, idx = torch.sort(X, dim=-1, stable=True)
    itype = torch.int32 if n <= 16384 else torch.int64  # (2n)² must fit exactly
    src = (idx < n).to(itype)
    ca = src.cumsum(-1, dtype=itype) - src
    d = 2 * ca - torch.arange(2 * n, dtype=itype, device=X.device)
    dt = torch.diff(Xs, dim=-1, prepend=torch.zeros_like(Xs[..., :1]))
    return (dt * (d * d)).sum(-1) / (n * n)


def _interleave(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]):
    return a[0], b[0], a[1], b[1]


def w2_cumulative(psi_a: ArrayLike, psi_b: ArrayLike, *, squared: bool = False) -> Any:
    """W₂ between the cumulative singular-value profiles of two states (batched).

    Use ``squared=True`` for W₂² (full relative precision near 0; W₂ has a √roundoff floor).

    Example:
        >>> import numpy as np
        >>> float(w2_cumulative(np.array([1.0, 0.0]), np.array([0.0, 1.0])))
        0.5
    """
    a, b, kind = _pair(psi_a, psi_b, ("psi_a", "psi_b"))
    w = _w2sq_profiles(*_interleave(_profile_hilo(a), _profile_hilo(b))).clamp_min(0)
    return restore(w if squared else w.sqrt(), kind)


def _local_ranks(V: torch.Tensor, n_a: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each value of V (flattened rows; the first ``n_a`` values are side A, the rest B)
    falls among the values of each side, in one stable global order (ties: A first).

    Returns ``(own, other)``: ``own[e]`` is the rank of value e among the values of its own side,
    and ``other[e]`` is the number of values of the other side that come before it.
    """
    order = torch.sort(V, stable=True).indices
    from_a = order < n_a
    before_a = torch.cumsum(from_a, 0) - from_a.to(torch.int64)  # A values before each position
    before_b = torch.arange(V.numel(), device=V.device) - before_a
    own, other = torch.empty_like(order), torch.empty_like(order)
    own[order] = torch.where(from_a, before_a, before_b)
    other[order] = torch.where(from_a, before_b, before_a)
    return own, other


def _w2_one_side(VA: torch.Tensor, own_a: torch.Tensor, VB: torch.Tensor, at_b: torch.Tensor,
                 block_elems: int) -> torch.Tensor:
    """T[i, j] = Σ_k (a_k − max(a_{k−1}, b_{c−1}))·(k − c)² over the breakpoints a_k of row i of VA,
    with c the number of breakpoints of row j of VB before a_k in the merged order.

    This is the part of N²·W₂²(i, j) on the merged intervals that end at a breakpoint of row i
    (see :func:`_w2sq_profiles`), so W₂²(i, j)·N² = T_AB[i, j] + T_BA[j, i]. ``own_a`` is the rank
    of each A breakpoint among all A breakpoints, ``at_b`` (nb, N) the number of A breakpoints
    before each B breakpoint. For each block of B rows a count table over the A ranks
    (a histogram of ``at_b`` and its cumsum) gives c for every A breakpoint at once: O(1) per
    pair and breakpoint instead of a sort of 2N values per pair. All terms are non-negative.
    """
    na, n = VA.shape
    nb, total = VB.shape[0], VA.numel()
    T = torch.empty(nb, na, dtype=VA.dtype, device=VA.device)
    if nb == 0 or na == 0:
        return T.mT
    a_prev = torch.nn.functional.pad(VA[:, :-1], (1, 0))
    b_pad = torch.nn.functional.pad(VB, (1, 0))  # b_pad[j, c] = b_{c−1}, and 0 for c = 0
    k = torch.arange(n, dtype=torch.int64, device=VA.device)
    rows = max(1, min(nb, block_elems // max(1, total)))
    for j0 in range(0, nb, rows):
        j1 = min(nb, j0 + rows)
        m = j1 - j0
        offs = torch.arange(m, device=VA.device)[:, None] * (total + 1)
        hist = torch.zeros(m * (total + 1), dtype=torch.int64, device=VA.device)
        hist.index_put_(((at_b[j0:j1] + offs).reshape(-1),), torch.ones((), dtype=torch.int64,
                        device=VA.device).expand(m * n), accumulate=True)
        counts = hist.view(m, total + 1).cumsum_(1)  # counts[j, r]: B_j breakpoints before A rank r
        c = counts.gather(1, own_a.reshape(1, -1).expand(m, -1))  # (m, na·n)
        prev = torch.maximum(a_prev.expand(m, na, n), b_pad[j0:j1].gather(1, c).view(m, na, n))
        dt = torch.sub(VA, prev, out=prev)
        d = (k - c.view(m, na, n)).to(VA.dtype)
        T[j0:j1] = (dt.mul_(d) * d).sum(-1)
    return T.mT


def pairwise_w2_cumulative(
    Psi_a: ArrayLike, Psi_b: ArrayLike | None = None, *, squared: bool = False, block_elems: int = 1 << 17
) -> Any:
    """All-pairs cumulative W₂ between the rows of Psi_a and Psi_b (default: Psi_a, symmetric).

    Exact, with the same merged-breakpoint sums as :func:`w2_cumulative`, but without a sort per
    pair: one global sort of all breakpoints ranks them, and per-row count tables give every
    pair's merge positions (O(N) per pair). ``block_elems`` bounds the entries of the temporary
    arrays (several rows of Psi_b per block when the rows of Psi_a are few).

    Example:
        >>> import numpy as np
        >>> pairwise_w2_cumulative(np.eye(2))
        array([[0. , 0.5],
               [0.5, 0. ]])
    """
    A, B, kind = _state_matrices(Psi_a, Psi_b)
    with kernel_threads("shared", A.shape[0] * B.shape[0] * A.shape[1], A.device):
        out = _w2_matrix(A, B, Psi_b is None, block_elems)
    out.clamp_(min=0)
    return restore(out if squared else out.sqrt(), kind)


def _w2_matrix(A: torch.Tensor, B: torch.Tensor, symmetric: bool, block_elems: int) -> torch.Tensor:
    VA = torch.add(*_profile_hilo(A))  # the CDF values hi + lo
    VB = VA if symmetric else torch.add(*_profile_hilo(B))
    na, nb, n = VA.shape[0], VB.shape[0], VA.shape[1]
    if symmetric:  # one side: own == other (ties broken by the flattened index)
        own, _ = _local_ranks(VA.reshape(-1), VA.numel())
        own_a = own_b = own.view(na, n)
        at_a = at_b = own_a
    else:
        own, other = _local_ranks(torch.cat([VA.reshape(-1), VB.reshape(-1)]), VA.numel())
        own_a, own_b = own[: na * n].view(na, n), own[na * n :].view(nb, n)
        at_a, at_b = other[: na * n].view(na, n), other[na * n :].view(nb, n)
    out = _w2_one_side(VA, own_a, VB, at_b, block_elems)
    out = out + (out.mT if symmetric else _w2_one_side(VB, own_b, VA, at_a, block_elems).mT)
    out /= n * n
    if symmetric:
        out.diagonal().zero_()
    return out


def w1_cumulative(psi_a: ArrayLike, psi_b: ArrayLike) -> Any:
    """W₁ between cumulative profiles: (1/N) Σ_k |F_a(k) − F_b(k)| (batched).

    Example:
        >>> import numpy as np
        >>> float(w1_cumulative(np.array([1.0, 0.0]), np.array([0.0, 1.0])))
        0.5
    """
    a, b, kind = _pair(psi_a, psi_b, ("psi_a", "psi_b"))
    n = a.shape[-1]
    w = (cumulative_profile(a) - cumulative_profile(b)).abs().sum(-1) / n
    return restore(w, kind)


def w2_empirical(u: ArrayLike, v: ArrayLike) -> Any:
    """W₂ between empirical measures (1/N)Σδ_{u_k} and (1/N)Σδ_{v_k}: ‖sort u − sort v‖/√N.

    Takes any finite vectors (states or raw spectra), zero-padded to a common length N.

    Example:
        >>> import numpy as np
        >>> round(float(w2_empirical(np.array([3.0, 1.0]), np.array([1.0, 2.0]))), 12)
        0.707106781187
    """
    a, b, kind = _pair(u, v, ("u", "v"), states=False)
    n = a.shape[-1]
    diff = torch.sort(a, dim=-1).values - torch.sort(b, dim=-1).values
    return restore(torch.linalg.vector_norm(diff, dim=-1) / math.sqrt(n), kind)


__all__ = [
    "UNIT_TOL",
    "check_states",
    "fs_distance",
    "pairwise_fs",
    "cumulative_profile",
    "w2_cumulative",
    "pairwise_w2_cumulative",
    "w1_cumulative",
    "w2_empirical",
]
