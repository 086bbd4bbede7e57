"""How many CPU threads a kernel uses: the thread policy of the exact-distance and bound kernels.

torch's CPU threads spin-wait at the end of every parallel region. When another process holds a
core, a thread waits for a core that never frees, and a kernel made of many small torch ops (one
parallel region each) becomes 5–45× slower than with one thread (measured on 2 cores with one
core spinning: all-pairs W₂cum 5.4×, the bound checker 3.4×). The policy, applied by
:func:`kernel_threads` around every headline kernel on the CPU:

* ``"adaptive"`` kernels (all-pairs d_FS and W₂cum, spectra, the bound checker) use
  ``min(torch threads, free cores)``, where the free cores are the cores this process may run on
  minus the runnable tasks of *other* processes, read from ``/proc/loadavg`` (an instantaneous
  count, not the 1-minute average) less this process's own running threads. On a quiet machine
  they keep every thread; with one core of two taken they drop to one thread and stay near their
  quiet time. Long kernels probe again per chunk. Where the count cannot be read (not Linux) it
  is torch's.
* ``"serial"`` kernels, whose threads do not pay even on a quiet machine (the batched
  misalignment of QM-FRG's ``aligned`` distance: 0.20 s on 2 threads, 0.14 s on one), run on one
  thread.
* The policy never raises the thread count above ``torch.get_num_threads()``; a user who set 1
  keeps 1. ``QK_KERNEL_THREADS=N`` fixes the count for every kernel instead (``0`` or unset: the
  policy; anything else is an InputError naming the variable).
* The previous count is restored on exit. The probe reads the count :data:`PROBES` times 1 ms
  apart and keeps the fewest (a competing process is runnable in every reading; a daemon that
  wakes once is not), about 2.5 ms in all; kernels skip it below a small size (:data:`SMALL_WORK`).

Example:
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with kernel_threads("serial") as n:
    ...     n, torch.get_num_threads()
    (1, 1)
    >>> torch.get_num_threads() == before
    True
"""

from __future__ import annotations

import glob
import os
import time
from contextlib import contextmanager
from typing import Iterator, Literal

import torch

from qkernels.core.errors import InputError

Policy = Literal["serial", "adaptive"]

#: elements of work below which an "adaptive" kernel runs on one thread without probing the machine
SMALL_WORK = 1 << 16

ENV = "QK_KERNEL_THREADS"


def _allowed_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _own_running() -> int:
    n = 0
    for path in glob.glob("/proc/self/task/*/stat"):
        try:
            with open(path, "rb") as f:
                s = f.read()
        except OSError:  # a thread that ended meanwhile
            continue
        n += s[s.rindex(b")") + 2: s.rindex(b")") + 3] == b"R"
    return n


#: probes per reading of :func:`other_runnable`, 1 ms apart; the fewest counts (a process that
#: runs in every probe holds a core; a daemon waking once does not make a kernel drop its threads)
PROBES = 3


def other_runnable(probes: int = PROBES) -> int | None:
    """Runnable tasks of other processes now (Linux; the fewest of ``probes`` readings 1 ms apart),
    or None where it cannot be read.

    Example:
        >>> n = other_runnable()
        >>> n is None or n >= 0
        True
    """
    counts = []
    for k in range(max(1, probes)):
        if k:
            time.sleep(0.001)
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(max(0, running - _own_running()))
    return min(counts)


def free_cores() -> int:
    """Cores this process may use that no other process is running on now (at least 1).

    Example:
        >>> free_cores() >= 1
        True
    """
    allowed = _allowed_cores()
    others = other_runnable()
    return allowed if others is None else max(1, allowed - others)


def _fixed() -> int | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise InputError(f"{ENV}: expected a whole number of threads (0 for the policy), got {raw!r}") from None
    if n < 0:
        raise InputError(f"{ENV}: expected a whole number of threads (0 for the policy), got {raw!r}")
    return n or None


def policy_threads(policy: Policy, work: int | None = None) -> int:
    """The thread count :func:`kernel_threads` would set for a kernel of this policy and size.

    Args:
        policy: ``"serial"`` or ``"adaptive"`` (see the module text).
        work: elements the kernel touches (None: large); below :data:`SMALL_WORK` one thread.

    Example:
        >>> policy_threads("serial"), policy_threads("adaptive", work=10)
        (1, 1)
    """
    if policy not in ("serial", "adaptive"):
        raise InputError(f"policy: expected 'serial' or 'adaptive', got {policy!r}")
    current = torch.get_num_threads()
    fixed = _fixed()
    if fixed is not None:
        return fixed
    if policy == "serial" or current == 1 or (work is not None and work < SMALL_WORK):
        return 1
    return max(1, min(current, free_cores()))


@contextmanager
def kernel_threads(policy: Policy, work: int | None = None, device: torch.device | str | None = None) -> Iterator[int]:
    """Run the block with the policy's torch thread count on the CPU, then restore the old count.

    On another device (``device`` not the CPU) nothing changes.

    Example:
        >>> with kernel_threads("adaptive", work=1 << 30) as n:
        ...     1 <= n <= max(1, torch.get_num_threads())
        True
    """
    if device is not None and torch.device(device).type != "cpu":
        yield torch.get_num_threads()
        return
    old = torch.get_num_threads()
    n = policy_threads(policy, work)
    if n != old:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


__all__ = ["SMALL_WORK", "PROBES", "ENV", "Policy", "other_runnable", "free_cores", "policy_threads", "kernel_threads"]
