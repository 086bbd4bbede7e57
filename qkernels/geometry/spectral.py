"""The augmented matrix of an operator, its singular values and its normalized state.

An operator x -> Wx + b (W of shape m x n) is represented by the augmented matrix

    Â = [[W, b],
         [0, 1]]   of shape (m+1) x (n+1),

whose singular values s (descending) are never all zero. Its state is ψ = s / ‖s‖₂, a real unit
vector with non-negative entries (a point on the "Bloch hypersphere"); ‖s‖₂ = ‖Â‖_F.

Two routes compute singular values (``spectrum(..., method=...)``):

* ``"svd"``: ``torch.linalg.svdvals``. Backward stable: every σ_k has absolute error
  ≲ c·eps·σ_max.
* ``"gram"``: eigenvalues of the smaller Gram matrix ÂÂᵀ or ÂᵀÂ, computed in float64, then
  square roots. The absolute error of σ_k is ≲ c·eps₆₄·σ_max²/σ_k: relative accuracy ~1e-16·κ_k²,
  and never worse than ~1.5e-8·σ_max (for σ_k near 0). Measured on ResNet-18: 16x faster than
  ``svdvals`` for the 513x4609 layer-4 matrices and 5x faster for batches of 513x10 filters, with
  spectra equal to 2.4e-13·σ_max.
* ``"auto"`` (default) takes the Gram route when it is clearly cheaper, i.e. when the matrix is
  at least twice as long as it is wide or its smaller side has 64 or more entries, and the SVD
  otherwise. Use ``method="svd"`` where singular values far below 1e-8·σ_max matter.

Memory: before computing, the working set (:func:`spectrum_bytes`: the scaled copy, and the
Gram matrix with the eigensolver's copy, or the SVD's copy) is checked against the memory budget
(:mod:`qkernels.core.memory`), and a matrix over it is refused with the estimate.
:func:`operator_spectra` builds the augmented matrices in chunks of a fixed size
(:data:`SPECTRA_CHUNK_BYTES`), so many small operators never need more than one chunk at a time
(smaller chunks when the budget is smaller than one chunk's working set).

Example:
    >>> import torch
    >>> A = augmented(torch.eye(2), torch.zeros(2))
    >>> A
    tensor([[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.]])
    >>> state(spectrum(A))
    tensor([0.5774, 0.5774, 0.5774])
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from qkernels.core.arrays import ArrayLike, as_tensor, check_finite, restore
from qkernels.core.errors import InputError
from qkernels.core.memory import check_memory, memory_budget
from qkernels.core.threads import kernel_threads

#: bytes of augmented matrices that operator_spectra builds at once (at least one matrix)
SPECTRA_CHUNK_BYTES = 64 << 20

Method = Literal["auto", "svd", "gram"]


def augmented(W: ArrayLike, b: ArrayLike | None = None) -> Any:
    """The augmented matrix [[W, b], [0, 1]], batched over leading dimensions.

    Args:
        W: weights of shape (..., m, n).
        b: bias of shape (..., m), or None for a zero bias.

    Returns:
        Array of shape (..., m+1, n+1), of the input's kind (NumPy or torch) and dtype.

    Example:
        >>> import numpy as np
        >>> augmented(np.array([[2.0]]), np.array([3.0]))
        array([[2., 3.],
               [0., 1.]])
    """
    Wt, kind = as_tensor(W, "W", min_ndim=2)
    bt = None
    if b is not None:
        bt, _ = as_tensor(b, "b", min_ndim=1)
        m = Wt.shape[-2]
        if bt.shape[-1] != m:
            raise InputError(f"b: expected length {m} to match W of shape {tuple(Wt.shape)}, got shape {tuple(bt.shape)}")
        bt = bt.to(device=Wt.device)
        try:
            torch.broadcast_shapes(Wt.shape[:-2], bt.shape[:-1])
        except RuntimeError:
            raise InputError(
                f"W and b: batch shapes {tuple(Wt.shape[:-2])} and {tuple(bt.shape[:-1])} do not broadcast"
            ) from None
    return restore(augmented_tensor(Wt, bt), kind)


def augmented_tensor(W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`augmented` for tensors that are already validated (no checks, no conversion).

    Args:
        W: weights of shape (..., m, n).
        b: bias of shape (..., m) on W's device, or None for a zero bias; its batch shape must
            broadcast with W's.

    Returns:
        Tensor of shape (..., m+1, n+1) on W's device, of the promoted dtype of W and b.

    Example:
        >>> import torch
        >>> augmented_tensor(torch.ones(2, 1, 1), torch.tensor([[2.0], [3.0]])).tolist()
        [[[1.0, 2.0], [0.0, 1.0]], [[1.0, 3.0], [0.0, 1.0]]]
    """
    m, n = W.shape[-2], W.shape[-1]
    if b is None:
        b = torch.zeros(W.shape[:-1], dtype=W.dtype, device=W.device)
    dtype = torch.promote_types(W.dtype, b.dtype)
    batch = torch.broadcast_shapes(W.shape[:-2], b.shape[:-1])
    A = torch.zeros(*batch, m + 1, n + 1, dtype=dtype, device=W.device)
    A[..., :m, :n] = W
    A[..., :m, n] = b
    A[..., m, n] = 1
    return A


def _gram_spectrum(A: torch.Tensor) -> torch.Tensor:
    m, n = A.shape[-2], A.shape[-1]
    A64 = A.to(torch.float64)
    G = A64 @ A64.mT if m <= n else A64.mT @ A64
    ev = torch.linalg.eigvalsh(G)  # ascending
    return ev.flip(-1).clamp_min(0).sqrt().to(A.dtype)


def choose_method(m: int, n: int) -> Literal["svd", "gram"]:
    """The route ``method="auto"`` takes for an m x n matrix (see the module docstring)."""
    small, large = min(m, n), max(m, n)
    return "gram" if (large >= 2 * small or small >= 64) else "svd"


def spectrum(A: ArrayLike, method: Method = "auto") -> Any:
    """Singular values of A (descending), batched over leading dimensions.

    Args:
        A: matrix of shape (..., m, n), NumPy or torch, real.
        method: "svd", "gram" or "auto" (see the module docstring for accuracy).

    Returns:
        Array of shape (..., min(m, n)) of the input's kind.

    Example:
        >>> import numpy as np
        >>> spectrum(np.diag([3.0, 4.0]))
        array([4., 3.])
    """
    At, kind = as_tensor(A, "A", min_ndim=2)
    return restore(spectrum_tensor(At, method), kind)


def spectrum_bytes(shape: tuple[int, ...], itemsize: int = 8, method: Method = "auto") -> int:
    """Memory the spectrum of a (batch of) matrix of ``shape`` needs besides the matrix itself.

    The scaled copy (itemsize per entry), then for the Gram route a float64 copy (unless the
    input is float64), the k × k Gram matrix and the eigensolver's copy of it (k = min(m, n)); for
    the SVD route the solver's copy of the matrix.

    Example:
        >>> spectrum_bytes((1000, 10))  # gram: scaled copy + two 10 x 10 matrices
        81600
    """
    *batch, m, n = (int(d) for d in shape)
    b = math.prod(batch)
    route = choose_method(m, n) if method == "auto" else method
    k = min(m, n)
    per = m * n * itemsize
    if route == "gram":
        per += (0 if itemsize == 8 else m * n * 8) + 2 * k * k * 8
    else:
        per += m * n * max(itemsize, 4) + 16 * (m + n)
    return b * per


def spectrum_tensor(A: torch.Tensor, method: Method = "auto", *, what: str | None = None,
                    overwrite: bool = False) -> torch.Tensor:
    """:func:`spectrum` for a tensor that is already validated (no checks, no conversion).

    ``what`` names the matrix in a memory refusal; ``overwrite`` lets the scaling reuse ``A``'s
    storage (for callers that own it).
    """
    if method not in ("auto", "svd", "gram"):
        raise InputError(f"method: expected 'auto', 'svd' or 'gram', got {method!r}")
    route = choose_method(A.shape[-2], A.shape[-1]) if method == "auto" else method
    fn = _gram_spectrum if route == "gram" else torch.linalg.svdvals
    if A.numel() == 0:
        return fn(A)
    dims = "x".join(str(d) for d in A.shape)
    check_memory(f"the spectrum of {what or 'a ' + dims + ' matrix'} ({route} route)",
                 spectrum_bytes(tuple(A.shape), A.element_size(), route))
    # scale each matrix by a power of two near its largest entry (exact), so that huge finite
    # entries do not overflow (the Gram route squares them) and tiny ones do not underflow
    peak = A.abs().amax(dim=(-2, -1), keepdim=True)
    scale = torch.where(peak > 0, torch.exp2(torch.floor(torch.log2(peak))), torch.ones_like(peak))
    s = fn(A.div_(scale) if overwrite else A / scale) * scale[..., 0]
    if not bool(torch.isfinite(s).all()):
        hint = "rescale it" if A.dtype == torch.float64 else "rescale it or use float64"
        raise InputError(f"A: its singular values exceed the range of {A.dtype} (entries up to "
                         f"{float(peak.max()):.3g}); {hint}")
    return s


def state(s: ArrayLike) -> Any:
    """Normalize along the last axis: ψ = s / ‖s‖₂.

    Raises :class:`InputError` for a zero vector (it has no state).

    Example:
        >>> import numpy as np
        >>> state(np.array([3.0, 4.0]))
        array([0.6, 0.8])
    """
    st, kind = as_tensor(s, "s", min_ndim=1)
    # scale by the largest entry first, so that the norm neither overflows (huge finite s would
    # give inf and a zero "state") nor underflows (tiny non-zero s would be called zero)
    peak = st.abs().amax(dim=-1, keepdim=True)
    if bool((peak == 0).any()):
        raise InputError("s: a zero vector has no state (norm 0)")
    st = st / peak
    return restore(st / torch.linalg.vector_norm(st, dim=-1, keepdim=True), kind)


def operator_spectra(
    operators: list[Any],
    *,
    method: Method = "auto",
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> list[torch.Tensor]:
    """Spectra of the augmented matrices of many operators, batched by shape.

    Args:
        operators: objects with attributes ``W`` (2-D tensor), ``b`` (1-D tensor or None) and
            ``name`` (used in error messages), such as the records of ``extract_operators``.
        method: spectrum route, as in :func:`spectrum`.
        dtype: dtype to compute in (float64 by default).
        device: device to compute on (default: the CPU).

    Returns:
        One 1-D CPU tensor of singular values per operator, in the input order.

    Example:
        >>> import torch
        >>> from types import SimpleNamespace as Op
        >>> ops = [Op(name="a", W=torch.eye(2), b=None), Op(name="b", W=2 * torch.eye(2), b=None)]
        >>> [s.tolist() for s in operator_spectra(ops)]
        [[1.0, 1.0, 1.0], [2.0, 2.0, 1.0]]
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    groups: dict[tuple[int, int], list[int]] = {}
    for i, op in enumerate(operators):
        W = op.W
        if W.ndim != 2 or W.numel() == 0:
            raise InputError(f"operator {op.name!r}: expected a non-empty 2-D weight, got shape {tuple(W.shape)}")
        if W.is_complex():
            raise InputError(f"operator {op.name!r}: complex weights are not supported")
        groups.setdefault(tuple(W.shape), []).append(i)
    out: list[torch.Tensor | None] = [None] * len(operators)
    itemsize = torch.empty((), dtype=dtype).element_size()
    budget = memory_budget().bytes
    for (m, n), idx_all in groups.items():
        per = (m + 1) * (n + 1) * itemsize
        # the stacked weights and the augmented matrix, then the spectrum's working set
        need_one = 2 * per + spectrum_bytes((m + 1, n + 1), itemsize, method)
        step = max(1, SPECTRA_CHUNK_BYTES // per)
        if step * need_one > budget:  # smaller chunks under a small budget (a matrix that cannot fit is refused)
            step = max(1, budget // need_one)
        for c in range(0, len(idx_all), step):
            idx = idx_all[c : c + step]
            what = (f"operator {operators[idx[0]].name!r} ({m}x{n})" if len(idx) == 1 else
                    f"{len(idx)} operators of shape {m}x{n} ({operators[idx[0]].name!r}, ...)")
            check_memory(f"the spectrum of {what}", len(idx) * need_one)
            with kernel_threads("shared", len(idx) * per // itemsize, device):
                S = _chunk_spectra(operators, idx, m, dtype, device, method, what)
            for row, i in enumerate(idx):
                out[i] = S[row]
    return out  # type: ignore[return-value]


def _chunk_spectra(operators: list[Any], idx: list[int], m: int, dtype: torch.dtype, device: torch.device,
                   method: Method, what: str) -> torch.Tensor:
    """The spectra (len(idx), r) of one chunk of operators of one shape (returned on the CPU)."""
    W = torch.stack([operators[i].W.detach() for i in idx]).to(device=device, dtype=dtype)
    B = torch.zeros(len(idx), m, dtype=dtype, device=device)
    for row, i in enumerate(idx):
        if operators[i].b is not None:
            B[row] = operators[i].b.detach().to(device=device, dtype=dtype).reshape(m)
    bad = ~(torch.isfinite(W).flatten(1).all(1) & torch.isfinite(B).all(1))
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        check_finite(torch.cat([W[row].flatten(), B[row]]), f"operator {operators[idx[row]].name!r}")
    A = augmented_tensor(W, B)
    del W, B
    S = spectrum_tensor(A, method, what=what, overwrite=True).cpu()
    del A
    return S


__all__ = ["augmented", "augmented_tensor", "spectrum", "spectrum_tensor", "state", "operator_spectra",
           "choose_method", "spectrum_bytes", "SPECTRA_CHUNK_BYTES"]
