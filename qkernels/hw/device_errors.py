"""Recognizing errors raised by an accelerator (out of memory, a failed kernel, a lost device).

The runner records such an error for the unit that raised it and goes on with the next unit
(``--resume`` retries it); any other exception is a bug or bad input and stops the run.

Example:
    >>> is_device_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    True
    >>> is_device_error(ValueError("bad shape"))
    False
"""

from __future__ import annotations

import torch

#: substrings of RuntimeError messages that come from a device runtime, not from our code
DEVICE_MESSAGES = ("out of memory", "cuda error", "cublas_status", "cudnn_status", "cudnn error",
                   "cusolver", "hip error", "npu error", "acl error", "mlu error", "xpu error",
                   "mps backend out of memory", "device-side assert")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says a device (or the host) ran out of memory."""
    oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    return isinstance(exc, oom) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def is_device_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from the accelerator (out of memory or a device runtime error)."""
    if is_out_of_memory(exc):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return any(s in msg for s in DEVICE_MESSAGES)
    return False


def describe(exc: BaseException) -> str:
    """One line: the exception type and the first line of its message (at most 300 characters)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


__all__ = ["is_device_error", "is_out_of_memory", "describe", "DEVICE_MESSAGES"]
