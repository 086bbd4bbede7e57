"""The in-distribution bound: the mean squared output gap of two layers over data, from its moments.

For two operators Φ(x) = σ(Wx + b) with σ entrywise L-Lipschitz, and data x with mean μ = E[x]
and second moment Σ = E[x xᵀ] (the raw second moment, not the covariance), with ΔW = Wᵢ − Wⱼ
and Δb = bᵢ − bⱼ:

    E_x ‖Φᵢ(x) − Φⱼ(x)‖² ≤ L² ( tr(ΔW Σ ΔWᵀ) + 2 Δbᵀ ΔW μ + ‖Δb‖² )

Pointwise ‖σ(u) − σ(v)‖ ≤ L‖u − v‖; square it, take expectations and expand E‖ΔW x + Δb‖².
With σ = identity and (μ, Σ) the moments of the same empirical distribution the mean gap is
measured on, the two sides are equal. With the augmented input x̂ = [x; 1], Σ̂ = E[x̂ x̂ᵀ] and
ΔŴ = [ΔW, Δb], the right side is L²‖ΔŴ Σ̂^{1/2}‖_F²: the squared Frobenius distance of the
"whitened operator states" Ŵ Σ̂^{1/2} (:func:`whitened_operator`). Proof and discussion:
docs/theory.md, section "The in-distribution bound".

A row violates the bound when lhs > bound·(1 + 1e-9) + 1e-12 (float64), as in
:mod:`qkernels.bounds.check`.

Convolutions: a Conv2d is a linear map on its input patches. :func:`conv_patches` turns an input
batch into patch rows (``F.unfold``) and :func:`conv_operator` gives the matching matrix
(``weight.flatten(1)`` for ``groups=1``), so every function here applies to real conv layers.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 4))
    >>> W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    >>> r = check_in_distribution(W, b, W + 0.1, b - 0.2, X, "tanh")
    >>> r["violation"], r["ratio"] <= 1.0
    (False, True)
    >>> mu, Sigma = moments(X)  # the moments of the same rows: with σ = identity the bound is attained
    >>> exact = check_in_distribution(W, b, -W, b, X, "identity", stats=(mu, Sigma))["ratio"]
    >>> abs(exact - 1.0) < 1e-12
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qkernels.bounds.activations import get_activation
from qkernels.bounds.check import ABS_TOL, REL_TOL, as_layer
from qkernels.core.arrays import as_tensor, check_finite, restore
from qkernels.core.errors import InputError

#: entries of one intermediate (rows × pairs) block of :func:`check_filter_pairs`
_CHUNK = 1 << 22


# ---------------------------------------------------------------------------------------- inputs
def _check_finite(t: torch.Tensor, name: str) -> None:
    """InputError when t holds NaN or Inf, in one pass: NaN or Inf make the sum non-finite (so does an
    overflowing sum of huge entries; then every entry is checked, for the message)."""
    if not math.isfinite(float(t.sum())):
        check_finite(t, name)


def _data(X: Any, name: str = "X") -> torch.Tensor:
    """X as a float64 (N, n) tensor; InputError for non-2-D, empty or non-finite data."""
    t, _ = as_tensor(X, name, min_ndim=2, finite=False)
    if t.ndim != 2:
        raise InputError(f"{name}: expected a data matrix of shape (N, n) (one sample per row), got shape "
                         f"{tuple(t.shape)}")
    t = t.to(torch.float64)
    _check_finite(t, name)
    return t


def _pair(Wi: Any, bi: Any, Wj: Any, bj: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    Wi_, bi_ = as_layer((Wi, bi), "layer i")
    Wj_, bj_ = as_layer((Wj, bj), "layer j")
    if Wi_.shape != Wj_.shape:
        raise InputError(f"the two layers must have one shape, got {tuple(Wi_.shape)} and {tuple(Wj_.shape)}")
    return Wi_, bi_, Wj_, bj_


def _stats(mu: Any, Sigma: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, Σ) checked: shapes, finite entries, Σ symmetric. Each check is one pass over Σ (the checks
    run on every call, and Σ may be large): finiteness through the sum (:func:`_check_finite`),
    symmetry through Σv = Σᵀv for a fixed random v."""
    m, _ = as_tensor(mu, "mu")
    S, _ = as_tensor(Sigma, "Sigma", min_ndim=2, finite=False)
    m, S = m.to(torch.float64), S.to(torch.float64)
    if m.shape != (n,):
        raise InputError(f"mu: expected shape ({n},) to match the layers' {n} inputs, got {tuple(m.shape)}")
    if S.shape != (n, n):
        raise InputError(f"Sigma: expected shape ({n}, {n}) to match the layers' {n} inputs, got {tuple(S.shape)}")
    _check_finite(S, "Sigma")
    v = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Sv, vS = S @ v, v @ S
    norm = torch.linalg.vector_norm
    if float(norm(Sv - vS)) > 1e-8 * float(norm(Sv) + norm(vS)):
        raise InputError("Sigma: must be symmetric (the second moment E[x xᵀ])")
    return m, S


def _check_X(X: torch.Tensor, n: int) -> None:
    if X.shape[1] != n:
        raise InputError(f"X: rows of length {X.shape[1]}, but the layers take inputs of length {n}")


# --------------------------------------------------------------------------------------- moments
def moments(X: Any) -> tuple[Any, Any]:
    """The mean μ = E[x] and the second moment Σ = E[x xᵀ] of the rows of X (N, n), in float64.

    Σ is the raw second moment (not the covariance: Σ = Cov + μμᵀ). The outputs follow the input
    (NumPy arrays for NumPy input, tensors for tensors).

    Raises:
        InputError: X is not a 2-D array with at least one row and column, or holds NaN or Inf.

    Example:
        >>> import numpy as np
        >>> mu, Sigma = moments(np.array([[1.0, 0.0], [3.0, 2.0]]))
        >>> mu.tolist(), Sigma.tolist()
        ([2.0, 1.0], [[5.0, 3.0], [3.0, 2.0]])
    """
    kind = "torch" if isinstance(X, torch.Tensor) else "numpy"
    t = _data(X)
    mu = t.mean(0)
    Sigma = t.T @ t / t.shape[0]
    Sigma = 0.5 * (Sigma + Sigma.T)  # exactly symmetric
    return restore(mu, kind), restore(Sigma, kind)


def augmented_moment(mu: Any, Sigma: Any) -> Any:
    """Σ̂ = E[x̂ x̂ᵀ] of the augmented input x̂ = [x; 1]: [[Σ, μ], [μᵀ, 1]], (n+1) × (n+1).

    Example:
        >>> augmented_moment(np.array([2.0]), np.array([[5.0]])).tolist()
        [[5.0, 2.0], [2.0, 1.0]]
    """
    kind = "torch" if isinstance(Sigma, torch.Tensor) else "numpy"
    S0, _ = as_tensor(Sigma, "Sigma", min_ndim=2)
    m, S = _stats(mu, Sigma, int(S0.shape[-1]))
    n = m.shape[0]
    out = torch.empty(n + 1, n + 1, dtype=torch.float64)
    out[:n, :n], out[:n, n], out[n, :n], out[n, n] = S, m, m, 1.0
    return restore(out, kind)


def whitened_operator(W: Any, b: Any, mu: Any, Sigma: Any) -> Any:
    """The whitened operator state Ŵ Σ̂^{1/2}, m × (n+1): Ŵ = [W, b], Σ̂^{1/2} the symmetric square root.

    The squared Frobenius distance of two of them is the right side of the in-distribution bound
    divided by L²: ‖(Ŵᵢ − Ŵⱼ) Σ̂^{1/2}‖_F² = tr(ΔW Σ ΔWᵀ) + 2 Δbᵀ ΔW μ + ‖Δb‖². (Eigenvalues of Σ̂
    that rounding leaves slightly negative are set to 0.)

    Example:
        >>> X = np.random.default_rng(1).standard_normal((50, 3)); mu, S = moments(X)
        >>> W, b = np.eye(3), np.ones(3)
        >>> d = whitened_operator(W, b, mu, S) - whitened_operator(-W, b, mu, S)
        >>> bool(np.isclose((d ** 2).sum(), in_distribution_bound(W, b, -W, b, mu, S)))
        True
    """
    kind = "torch" if isinstance(W, torch.Tensor) else "numpy"
    Wt, bt = as_layer((W, b), "layer")
    A = augmented_moment(*_stats(mu, Sigma, Wt.shape[1]))
    evals, evecs = torch.linalg.eigh(A)
    root = (evecs * evals.clamp_min(0.0).sqrt()) @ evecs.T
    return restore(torch.cat([Wt, bt[:, None]], dim=1) @ root, kind)


# ----------------------------------------------------------------------------------------- bound
def _terms(dW: torch.Tensor, db: torch.Tensor, mu: torch.Tensor, Sigma: torch.Tensor) -> tuple[float, float, float]:
    """(tr(ΔW Σ ΔWᵀ), 2 Δbᵀ ΔW μ, ‖Δb‖²) for one pair (ΔW of shape (m, n))."""
    trace = float(((dW @ Sigma) * dW).sum())
    cross = float(2.0 * (db @ (dW @ mu)))
    return trace, cross, float(db @ db)


def _combine(trace: float, cross: float, bias_sq: float, L: float) -> float:
    """L²·(trace + cross + bias_sq), refusing moments that make it clearly negative."""
    raw = trace + cross + bias_sq
    if raw < -1e-9 * (trace + abs(cross) + bias_sq) - 1e-300:
        raise InputError(f"the moments give E‖ΔW x + Δb‖² = {raw:.6g} < 0: Sigma must be the second moment "
                         "E[x xᵀ] of data with mean mu (not the covariance), so that [[Sigma, mu], [muᵀ, 1]] "
                         "is positive semidefinite")
    return L * L * max(raw, 0.0)


def _lipschitz(L: float) -> float:
    if isinstance(L, bool) or not isinstance(L, (int, float)) or not math.isfinite(L) or L < 0:
        raise InputError(f"L: expected a finite Lipschitz constant >= 0, got {L!r}")
    return float(L)


def in_distribution_bound(Wi: Any, bi: Any, Wj: Any, bj: Any, mu: Any, Sigma: Any, L: float = 1.0) -> float:
    """L²·(tr(ΔW Σ ΔWᵀ) + 2 Δbᵀ ΔW μ + ‖Δb‖²), the bound on E‖Φᵢ(x) − Φⱼ(x)‖² for data with moments (μ, Σ).

    ``bi``/``bj`` may be None (no bias). Σ is the second moment E[x xᵀ] (see :func:`moments`).

    Raises:
        InputError: shapes that do not match (W's of one shape (m, n), b's (m,), μ (n,), Σ (n, n)),
            non-finite entries, a non-symmetric Σ, L < 0, or moments for which the right side is
            negative (a covariance passed as Σ).

    Example:
        >>> W = np.array([[1.0, 2.0]]); mu = np.array([1.0, 0.0]); S = np.array([[2.0, 0.0], [0.0, 1.0]])
        >>> in_distribution_bound(W, [1.0], np.zeros((1, 2)), [0.0], mu, S)  # 6 + 2·1·1 + 1
        9.0
    """
    Wi_, bi_, Wj_, bj_ = _pair(Wi, bi, Wj, bj)
    m, S = _stats(mu, Sigma, Wi_.shape[1])
    return _combine(*_terms(Wi_ - Wj_, bi_ - bj_, m, S), _lipschitz(L))


# ----------------------------------------------------------------------------------- left side
def mean_gap(Wi: Any, bi: Any, Wj: Any, bj: Any, X: Any, activation: str) -> float:
    """The measured E‖Φᵢ(x) − Φⱼ(x)‖² over the rows x of X (N, n), with σ = ``activation`` (float64).

    Activation names are those of :mod:`qkernels.bounds.activations`.

    Example:
        >>> mean_gap(np.eye(2), None, -np.eye(2), None, np.array([[1.0, 0.0], [0.0, -1.0]]), "relu")
        1.0
    """
    Wi_, bi_, Wj_, bj_ = _pair(Wi, bi, Wj, bj)
    Xt = _data(X)
    _check_X(Xt, Wi_.shape[1])
    fn = get_activation(activation).fn
    d = fn(Xt @ Wi_.T + bi_) - fn(Xt @ Wj_.T + bj_)
    return float((d * d).sum() / Xt.shape[0])


def _record(lhs: float, trace: float, cross: float, bias_sq: float, act, m: int, n: int, N: int) -> dict:
    bound = _combine(trace, cross, bias_sq, act.lipschitz)
    return {"activation": act.name, "L": act.lipschitz, "m": m, "n": n, "N": N, "lhs": lhs, "bound": bound,
            "ratio": lhs / bound if bound > 0 else (math.inf if lhs > 0 else 0.0),
            "violation": bool(lhs > bound * (1 + REL_TOL) + ABS_TOL),
            "trace": trace, "cross": cross, "bias_sq": bias_sq, "dtype": "float64"}


def _moments_for(Xt: torch.Tensor, stats: tuple[Any, Any] | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if stats is None:
        mu = Xt.mean(0)
        return mu, Xt.T @ Xt / Xt.shape[0]
    if not (isinstance(stats, (tuple, list)) and len(stats) == 2):
        raise InputError("stats: expected the pair (mu, Sigma) of moments(X)")
    return _stats(stats[0], stats[1], n)


def check_in_distribution_batch(Wi: Any, bi: Any, Wj: Any, bj: Any, X: Any, activations: Sequence[str], *,
                                stats: tuple[Any, Any] | None = None) -> list[dict]:
    """:func:`check_in_distribution` for several activations at once (one record each, the moments'
    terms computed once). ``stats`` = (μ, Σ) of X when already computed (:func:`moments`).

    Example:
        >>> X = np.random.default_rng(2).standard_normal((40, 3)); W = np.eye(3)
        >>> [r["activation"] for r in check_in_distribution_batch(W, None, 2 * W, None, X, ["relu", "tanh"])]
        ['relu', 'tanh']
    """
    Wi_, bi_, Wj_, bj_ = _pair(Wi, bi, Wj, bj)
    Xt = _data(X)
    m, n = Wi_.shape
    _check_X(Xt, n)
    acts = [get_activation(a) for a in ([activations] if isinstance(activations, str) else activations)]
    mu, S = _moments_for(Xt, stats, n)
    terms = _terms(Wi_ - Wj_, bi_ - bj_, mu, S)
    Zi, Zj = Xt @ Wi_.T + bi_, Xt @ Wj_.T + bj_
    out = []
    for act in acts:
        d = act.fn(Zi) - act.fn(Zj)
        out.append(_record(float((d * d).sum() / Xt.shape[0]), *terms, act, m, n, Xt.shape[0]))
    return out


def check_in_distribution(Wi: Any, bi: Any, Wj: Any, bj: Any, X: Any, activation: str, *,
                          stats: tuple[Any, Any] | None = None) -> dict:
    """The in-distribution bound checked on the rows of X (N, n): one record.

    Keys: ``lhs`` (the mean gap E‖Φᵢ(x) − Φⱼ(x)‖² over the rows, :func:`mean_gap`), ``bound`` (the right
    side with the moments of the same rows, or ``stats`` = (μ, Σ) when given), ``ratio`` = lhs/bound
    (0 when both are 0, inf when only the bound is), ``violation`` (lhs > bound·(1 + 1e-9) + 1e-12),
    ``L`` and ``activation``, the shapes ``m``, ``n``, the number of rows ``N``, the terms ``trace``
    = tr(ΔW Σ ΔWᵀ), ``cross`` = 2 Δbᵀ ΔW μ, ``bias_sq`` = ‖Δb‖², and ``dtype`` (float64).

    lhs is measured from the two layers' outputs, so for nearly equal layers (relative difference
    δ) its relative rounding error is about 1e-16/δ: the identity's equality holds to 1e-9 for
    δ ≳ 1e-6.

    Raises:
        InputError: bad shapes, non-finite or empty data, an unknown activation.

    Example:
        >>> X = np.random.default_rng(3).standard_normal((100, 2))
        >>> r = check_in_distribution(np.eye(2), None, np.zeros((2, 2)), None, X, "identity")
        >>> abs(r["ratio"] - 1) < 1e-12, r["N"], (r["m"], r["n"])
        (True, 100, (2, 2))
    """
    return check_in_distribution_batch(Wi, bi, Wj, bj, X, [activation], stats=stats)[0]


def check_filter_pairs(W: Any, b: Any, X: Any, pairs: Sequence[tuple[int, int]], activations: Sequence[str], *,
                       stats: tuple[Any, Any] | None = None) -> list[dict]:
    """The bound for pairs of one-output operators (filters): row p of (W, b) against row q, on the rows of X.

    W is (C, n) (e.g. the filters of one or more layers stacked, each row one filter), ``pairs`` lists
    (p, q) row indices. The outputs of all filters are computed once, so checking many pairs costs
    little more than one forward pass. One record per activation × pair (activations outer), as in
    :func:`check_in_distribution`, with ``i`` = p and ``j`` = q added (m = 1).

    Example:
        >>> X = np.random.default_rng(4).standard_normal((30, 3)); W = np.eye(3)
        >>> rs = check_filter_pairs(W, None, X, [(0, 1), (1, 2)], ["identity"])
        >>> [(r["i"], r["j"]) for r in rs], all(abs(r["ratio"] - 1) < 1e-12 for r in rs)
        ([(0, 1), (1, 2)], True)
    """
    Wt, bt = as_layer((W, b), "W")
    Xt = _data(X)
    C, n = Wt.shape
    _check_X(Xt, n)
    acts = [get_activation(a) for a in ([activations] if isinstance(activations, str) else activations)]
    P = torch.as_tensor(np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
    if P.numel() and (int(P.min()) < 0 or int(P.max()) >= C):
        raise InputError(f"pairs: row indices must lie in 0..{C - 1}")
    mu, S = _moments_for(Xt, stats, n)
    p, q = P[:, 0], P[:, 1]
    # tr(Δw Σ Δwᵀ) from the Gram matrix G = W Σ Wᵀ (one product for all pairs); where it cancels
    # (nearly equal filters) it is recomputed from Δw directly
    G = (Wt @ S) @ Wt.T
    gp, gq = G.diagonal()[p], G.diagonal()[q]
    trace = gp + gq - 2.0 * G[p, q]
    mW, db = Wt @ mu, bt[p] - bt[q]
    cross = 2.0 * db * (mW[p] - mW[q])
    close = torch.nonzero(trace < 1e-4 * (gp + gq)).reshape(-1)
    if len(close):
        dWc = Wt[p[close]] - Wt[q[close]]
        trace[close] = ((dWc @ S) * dWc).sum(1)
        cross[close] = 2.0 * db[close] * (dWc @ mu)
    bias_sq = db * db
    Z = Xt @ Wt.T + bt
    N = Xt.shape[0]
    step = max(1, _CHUNK // max(N, 1))
    out = []
    for act in acts:
        A = act.fn(Z)
        lhs = torch.cat([((A[:, p[k:k + step]] - A[:, q[k:k + step]]) ** 2).sum(0) / N
                         for k in range(0, len(P), step)]) if len(P) else torch.zeros(0, dtype=torch.float64)
        for k in range(len(P)):
            r = _record(float(lhs[k]), float(trace[k]), float(cross[k]), float(bias_sq[k]), act, 1, n, N)
            out.append({"i": int(p[k]), "j": int(q[k]), **r})
    return out


# ------------------------------------------------------------------------------ conv and linear
def _conv_padding(conv: nn.Conv2d) -> tuple[tuple[int, int, int, int] | None, tuple[int, int]]:
    """(explicit F.pad amounts or None, the padding F.unfold applies itself)."""
    kh, kw = conv.kernel_size
    dh, dw = conv.dilation
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return None, (0, 0)
        th, tw = dh * (kh - 1), dw * (kw - 1)  # 'same' (stride 1): torch puts the extra one on the right
        return (tw // 2, tw - tw // 2, th // 2, th - th // 2), (0, 0)
    ph, pw = conv.padding
    if conv.padding_mode != "zeros":
        return (pw, pw, ph, ph), (0, 0)
    return None, (ph, pw)


def conv_patches(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The input patches of ``conv`` for the batch ``x`` (B, C, H, W), one row per output position.

    ``F.unfold`` gives (B, C·kh·kw, L) with L = H_out·W_out; it is transposed to (B, L, C·kh·kw) and
    flattened to rows (B·L, C·kh·kw), ordered by image, then by output position row-major. Within a row
    the entries run over channel, then kernel row, then kernel column: the order of
    ``weight.flatten(1)``. So with (W, b) = :func:`conv_operator` (conv), ``patches @ W.T + b`` is the
    conv output as rows (B·L, out), and ``.reshape(B, L, out).permute(0, 2, 1).reshape(B, out, H_out,
    W_out)`` is ``conv(x)``. Padding (numbers, ``'same'``, ``'valid'``, any ``padding_mode``), stride
    and dilation are those of the conv. The dtype is x's.

    Raises:
        InputError: not an ``nn.Conv2d``, or x not of shape (B, in_channels, H, W).

    Example:
        >>> conv = nn.Conv2d(2, 3, 3, padding=1)
        >>> x = torch.randn(4, 2, 5, 5)
        >>> P = conv_patches(conv, x); W, b = conv_operator(conv)
        >>> tuple(P.shape), tuple(W.shape)
        ((100, 18), (3, 18))
        >>> y = (P.double() @ W.T + b).reshape(4, 25, 3).permute(0, 2, 1).reshape(4, 3, 5, 5)
        >>> bool(torch.allclose(y.float(), conv(x), atol=1e-5))
        True
    """
    if not isinstance(conv, nn.Conv2d):
        raise InputError(f"conv_patches: expected an nn.Conv2d, got {type(conv).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != conv.in_channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"conv_patches: expected inputs (B, {conv.in_channels}, H, W), got {shape}")
    explicit, pad = _conv_padding(conv)
    if explicit is not None:
        mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
        x = F.pad(x, explicit, mode=mode)
    cols = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=pad, stride=conv.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def conv_operator(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) in float64 of ``conv`` as a linear map on :func:`conv_patches` rows: W is out × (C·kh·kw).

    For ``groups=1``, W = ``weight.flatten(1)``. For grouped convs W is block sparse: output o of group
    g has its weights in the columns of group g's input channels and zeros elsewhere, so W still acts
    on full patches. b is the bias (zeros without one).

    Example:
        >>> W, b = conv_operator(nn.Conv2d(4, 6, 3, groups=2, bias=False))
        >>> tuple(W.shape), float(b.abs().sum()), int((W[0, 18:] != 0).sum())
        ((6, 36), 0.0, 0)
    """
    if not isinstance(conv, nn.Conv2d):
        raise InputError(f"conv_operator: expected an nn.Conv2d, got {type(conv).__name__}")
    w = conv.weight.detach().to(torch.float64)
    out, cg, kh, kw = w.shape
    g = conv.groups
    if g > 1:
        full = torch.zeros(out, cg * g, kh, kw, dtype=torch.float64)
        og = out // g
        for k in range(g):
            full[k * og:(k + 1) * og, k * cg:(k + 1) * cg] = w[k * og:(k + 1) * og]
        w = full
    b = torch.zeros(out, dtype=torch.float64) if conv.bias is None else conv.bias.detach().to(torch.float64)
    return w.flatten(1), b


def layer_operator(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) in float64 of an ``nn.Linear`` (its weight and bias) or ``nn.Conv2d`` (:func:`conv_operator`).

    Example:
        >>> [tuple(t.shape) for t in layer_operator(nn.Linear(5, 2))]
        [(2, 5), (2,)]
    """
    if isinstance(module, nn.Conv2d):
        return conv_operator(module)
    if isinstance(module, nn.Linear):
        W = module.weight.detach().to(torch.float64)
        b = module.bias
        return W, torch.zeros(W.shape[0], dtype=torch.float64) if b is None else b.detach().to(torch.float64)
    raise InputError(f"layer_operator: expected an nn.Linear or nn.Conv2d, got {type(module).__name__}")


def layer_inputs(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The rows the operator of ``module`` acts on, for a batch ``x`` of its inputs: patch rows for a
    Conv2d (:func:`conv_patches`), ``x.reshape(-1, in_features)`` for a Linear (every leading index a row).

    Example:
        >>> tuple(layer_inputs(nn.Linear(3, 2), torch.zeros(4, 5, 3)).shape)
        (20, 3)
    """
    if isinstance(module, nn.Conv2d):
        return conv_patches(module, x)
    if isinstance(module, nn.Linear):
        if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[-1] != module.in_features:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"layer_inputs: expected inputs (..., {module.in_features}), got {shape}")
        return x.reshape(-1, module.in_features)
    raise InputError(f"layer_inputs: expected an nn.Linear or nn.Conv2d, got {type(module).__name__}")


__all__ = ["moments", "augmented_moment", "whitened_operator", "in_distribution_bound", "mean_gap",
           "check_in_distribution", "check_in_distribution_batch", "check_filter_pairs", "conv_patches",
           "conv_operator", "layer_operator", "layer_inputs"]
