"""How many CPU threads a kernel uses: the thread policy of the exact-distance and bound kernels.

torch's CPU threads spin-wait at the end of every parallel region. When another process holds a
core, a thread waits for a core that never frees, and a kernel made of many small torch ops (one
parallel region each) becomes several times slower (measured on 2 cores with one core spinning
and every torch thread: all-pairs W₂cum 4.8×, the bound checker 3.7×, the ResNet-18 spectra 2.6×).
The policy, applied by :func:`kernel_threads` around the headline kernels on the CPU:

* ``"shared"`` kernels (many small or medium ops: all-pairs W₂cum, spectra, the bound checker,
  QM-FRG's aligned distance) use ``min(torch threads, max(1, cores // 2))``, where ``cores`` are
  the cores this process may run on: they leave half the machine to others, so a competing
  process cannot make them spin. On a 2-core machine that is one thread, which makes them up to
  ~45% slower when it is quiet (W₂cum 0.29 → 0.42 s, the bound checker 233 → 290 s between the
  two committed bench runs); on a 16-core machine, 8 threads.
* ``"full"`` kernels (one large GEMM: all-pairs d_FS) use torch's threads: a GEMM's threads do
  useful work even when oversubscribed, and halving them would slow it on a quiet machine.
* ``"serial"``: one thread.

The count depends on the machine and on ``torch.get_num_threads()`` only, never on the load, so
the same call gives the same bits on a quiet and on a busy machine (reductions and GEMMs can round
differently with another thread count). ``QK_KERNEL_THREADS`` changes the policy for every
kernel: a number N fixes the count (``0`` or unset: the policy above); ``auto`` sizes each call
by the cores that are free at that moment (:func:`free_cores`), faster on a big machine whose load
comes and goes, at the price of results that can differ in the last bits from call to call.
Anything else is an InputError naming the variable. The count is never raised above
``torch.get_num_threads()`` except by an explicit N, and the previous count is restored on exit.

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

Policy = Literal["serial", "shared", "full"]

#: elements of work below which a kernel runs on one thread (threads cost more than they give)
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


def _setting() -> int | str | None:
    """QK_KERNEL_THREADS: a fixed count, "auto", or None (unset or 0: the policy)."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    if raw.lower() == "auto":
        return "auto"
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        raise InputError(f"{ENV}: expected a whole number of threads, 0 for the policy or 'auto', got {raw!r}")
    return n or None


def policy_threads(policy: Policy, work: int | None = None) -> int:
    """The thread count :func:`kernel_threads` would set for a kernel of this policy and size.

    Args:
        policy: ``"serial"``, ``"shared"`` or ``"full"`` (see the module text).
        work: elements the kernel touches (None: large); below :data:`SMALL_WORK` one thread.

    Example:
        >>> policy_threads("serial"), policy_threads("shared", work=10)
        (1, 1)
    """
    if policy not in ("serial", "shared", "full"):
        raise InputError(f"policy: expected 'serial', 'shared' or 'full', got {policy!r}")
    current = torch.get_num_threads()
    setting = _setting()
    if isinstance(setting, int):
        return setting
    if policy == "serial" or current == 1 or (work is not None and work < SMALL_WORK):
        return 1
    if setting == "auto":
        return max(1, min(current, free_cores()))
    if policy == "full":
        return current
    return max(1, min(current, _allowed_cores() // 2))


@contextmanager
def kernel_threads(policy: Policy, work: int | None = None, device: torch.device | str | None = None) -> Iterator[int]:
    """Run the block with the policy's torch thread count on the CPU, then restore the old count.

    On another device (``device`` not the CPU) nothing changes.

    Example:
        >>> with kernel_threads("shared", work=1 << 30) as n:
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
