"""Conversion between NumPy arrays and torch tensors, with input validation.

Public functions accept either kind; they compute in torch and hand back the kind they were
given ("outputs follow the input"). Integer, boolean and half-precision inputs (float16, and
torch's bfloat16) are promoted to float64 (float32 on accelerators), the same for NumPy and torch,
so both kinds of input are accepted or refused alike; complex inputs are refused, since every
quantity here is defined for real operators. :data:`LOW_PRECISION_TOL` gives the unit-norm
tolerance that half-precision inputs are checked with.

Example:
    >>> import numpy as np
    >>> t, kind = as_tensor(np.ones(3), "x")
    >>> kind, t.dtype
    ('numpy', torch.float64)
    >>> restore(t * 2, kind)
    array([2., 2., 2.])
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from qkernels.core.errors import InputError

Kind = Literal["numpy", "torch"]
ArrayLike = Any  # np.ndarray | torch.Tensor | nested sequences of numbers


def as_tensor(x: ArrayLike, name: str, *, min_ndim: int = 1, finite: bool = True) -> tuple[torch.Tensor, Kind]:
    """Return ``x`` as a real floating tensor and the kind ("numpy"/"torch") it came as.

    Raises :class:`InputError` naming ``name`` for complex or non-numeric data, too few
    dimensions, empty axes, or (with ``finite=True``) NaN/Inf entries.
    """
    kind: Kind = "torch" if isinstance(x, torch.Tensor) else "numpy"
    if kind == "numpy":
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise InputError(f"{name}: cannot be read as an array ({exc})") from None
        if arr.dtype.kind == "c":
            raise InputError(f"{name}: complex dtype {arr.dtype} is not supported; operators must be real")
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{name}: expected real numbers, got dtype {arr.dtype}")
        if arr.dtype.kind in "biu" or arr.dtype == np.float16:
            arr = arr.astype(np.float64)
        t = torch.from_numpy(np.ascontiguousarray(arr).reshape(arr.shape))  # ascontiguousarray makes 0-d 1-d
    else:
        t = x.detach()
        if t.is_complex():
            raise InputError(f"{name}: complex dtype {t.dtype} is not supported; operators must be real")
        if not t.is_floating_point():
            t = t.to(torch.float64)
        elif t.dtype in (torch.float16, torch.bfloat16):  # as NumPy's float16: computed in float64
            t = t.to(torch.float64 if t.device.type == "cpu" else torch.float32)
    if t.ndim < min_ndim:
        raise InputError(f"{name}: expected at least {min_ndim} dimension(s), got shape {tuple(t.shape)}")
    if t.numel() == 0 or any(d == 0 for d in t.shape):
        raise InputError(f"{name}: empty tensor of shape {tuple(t.shape)}")
    if finite:
        check_finite(t, name)
    return t, kind


_FINITE_CHUNK = 1 << 22  # entries per chunk of check_finite

#: |‖ψ‖ − 1| allowed for states given in half precision (a few units in the last place at 1)
LOW_PRECISION_TOL = {"float16": 2e-3, "bfloat16": 1.6e-2}


def source_precision(x: Any) -> str | None:
    """"float16" or "bfloat16" when ``x`` is an array or tensor of that dtype, else None."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return None
    name = str(dtype).replace("torch.", "")
    return name if name in LOW_PRECISION_TOL else None


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise :class:`InputError` if ``t`` holds NaN or Inf, with the counts.

    Large tensors are scanned in chunks, so the check needs a few MiB whatever their size.
    """
    flat = t.reshape(-1) if t.is_contiguous() else None
    if flat is not None and flat.numel() > _FINITE_CHUNK:
        if all(bool(torch.isfinite(c).all()) for c in flat.split(_FINITE_CHUNK)):
            return
    elif bool(torch.isfinite(t).all()):
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int(bad.sum()) - n_nan
        raise InputError(f"{name}: contains non-finite values ({n_nan} NaN, {n_inf} Inf)")


def restore(t: torch.Tensor | np.ndarray, kind: Kind) -> Any:
    """Hand ``t`` back as the kind the input came as: a tensor for "torch", an array for "numpy".

    NumPy arrays are made from CPU copies of tensors, and 0-d arrays become NumPy scalars;
    a NumPy ``t`` becomes a tensor sharing its (contiguous) memory.

    Example:
        >>> import numpy as np, torch
        >>> restore(torch.tensor(2.0), "numpy"), restore(np.zeros(2), "torch")
        (np.float32(2.0), tensor([0., 0.], dtype=torch.float64))
    """
    if isinstance(t, np.ndarray):
        if kind == "torch":
            return torch.from_numpy(np.ascontiguousarray(t))
        return t[()] if t.ndim == 0 else t
    if kind == "torch":
        return t
    arr = t.detach().cpu().numpy()
    return arr[()] if arr.ndim == 0 else arr


def common_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The floating dtype that all ``tensors`` promote to (at least float32)."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    return dtype


def pad_last(t: torch.Tensor, n: int) -> torch.Tensor:
    """Zero-pad the last axis of ``t`` to length ``n`` (no copy when already that long)."""
    k = t.shape[-1]
    if k == n:
        return t
    return torch.nn.functional.pad(t, (0, n - k))


__all__ = ["as_tensor", "check_finite", "source_precision", "LOW_PRECISION_TOL", "restore", "common_dtype", "pad_last"]
