"""Memory the kernel circuits need, checked against what the machine has before anything is built.

A state-vector simulation of w wires holds 2^w complex128 amplitudes (16 bytes each); a
density-matrix simulation (``default.mixed``) holds 4^w. Simulators keep a few working copies
while they apply gates, so one circuit is counted as ``WORKING_COPIES`` times its state. A batch
of circuits (broadcasting) multiplies that by the batch size. The engine splits batches so
that they fit, and refuses a job when even one circuit does not: the error names the largest
register that would fit.

The budget is ``--max-memory`` / ``$QK_MAX_MEMORY`` when one is given
(:mod:`qkernels.core.memory`), else ``memory_fraction`` (default 0.5) of the available memory:
what :func:`qkernels.core.memory.available_memory` finds (``MemAvailable``, the cgroup's and the
address-space limit's room), or the free memory of the GPU for GPU devices when torch sees one.

Example:
    >>> statevector_bytes(3)  # 8 amplitudes x 16 bytes
    128
    >>> density_bytes(3)
    1024
    >>> fmt_bytes(3 * 2**30)
    '3.0 GiB'
"""

from __future__ import annotations

from collections.abc import Callable

from qkernels.core.errors import InputError
from qkernels.core.memory import available_memory as host_available
from qkernels.core.memory import fmt_bytes

#: working copies of the state a simulator keeps while applying a gate (conservative)
WORKING_COPIES = 3

#: default fraction of the available memory one kernel job may use
MEMORY_FRACTION = 0.5


def statevector_bytes(wires: int) -> int:
    """Bytes of one complex128 state vector on ``wires`` wires."""
    return 16 << wires


def density_bytes(wires: int) -> int:
    """Bytes of one complex128 density matrix on ``wires`` wires."""
    return 16 << (2 * wires)


def available_memory(gpu: bool = False) -> int:
    """Bytes of memory available now (GPU free memory when ``gpu`` and torch sees a CUDA device)."""
    if gpu:
        try:
            import torch

            if torch.cuda.is_available():
                return int(torch.cuda.mem_get_info()[0])
        except Exception:  # pragma: no cover - fall back to host memory
            pass
    return host_available()


def largest_fitting(bytes_for: Callable[[int], int], budget: int, start: int = 1, stop: int = 64) -> int:
    """The largest q in [start, stop] with bytes_for(q) ≤ budget (start − 1 if none)."""
    q = start - 1
    for k in range(start, stop + 1):
        if bytes_for(k) > budget:
            break
        q = k
    return q


def check_fits(what: str, need: int, budget: int, available: int, fraction: float,
               limit: str | None = None, source: str | None = None) -> None:
    """Raise InputError when ``need`` bytes exceed ``budget`` (before anything is allocated).

    ``source`` says where an explicit budget came from (``--max-memory 2G``); without it the
    budget is ``fraction`` of ``available``.
    """
    if need > budget:
        where = source or f"{fraction:.0%} of {fmt_bytes(available)} available memory"
        msg = f"{what} needs about {fmt_bytes(need)} but this job may use {fmt_bytes(budget)} ({where})"
        if limit:
            msg += f"; {limit}"
        msg += "; raise the budget with --max-memory or QK_MAX_MEMORY" if source else ""
        raise InputError(msg)


def batch_size(per_item: int, fixed: int, n_items: int, budget: int, cap: int | None = None) -> int:
    """How many circuits of ``per_item`` bytes one batch may hold (at least 1, at most n_items)."""
    room = budget - fixed
    if cap is not None:
        room = min(room, cap)
    return int(max(1, min(n_items, room // max(per_item, 1))))


__all__ = ["WORKING_COPIES", "MEMORY_FRACTION", "statevector_bytes", "density_bytes", "fmt_bytes",
           "available_memory", "largest_fitting", "check_fits", "batch_size"]
