"""The memory budget: how many bytes one step of work may allocate, estimated before allocating.

Every path whose memory grows with the input (reading a checkpoint, the spectra of large
operators, an all-pairs table held in memory, the states of a quantum kernel, a data set) first
estimates what it will allocate and compares it with the budget:

* the budget is ``--max-memory`` on the command line, else ``$QK_MAX_MEMORY``, else
  :data:`DEFAULT_FRACTION` (one half) of the memory available now;
* "available" is the smallest of the kernel's ``MemAvailable``, what the process's cgroup still
  allows (``memory.max``) and what its address-space limit (``ulimit -v``) still allows, so a
  process started under a limit plans for that limit;
* a size is a number of bytes with an optional unit (``K``, ``M``, ``G``, ``T``: powers of 1024;
  ``KB``, ``MB``, ``GB``, ``TB``: powers of 1000; ``KiB`` ... as ``K`` ...), or a percentage of the
  available memory (``"25%"``).

Over the budget, a step either works in blocks of a fixed size (the spectra, the all-pairs
distance tables written to CSV) or refuses with one line that gives the estimate, the budget and
how to raise it (:func:`check_memory`). Block sizes never depend on the budget, so results do not
depend on the machine.

Example:
    >>> parse_size("1.5G", "--max-memory")
    1610612736
    >>> parse_size("2 GB", "--max-memory")
    2000000000
    >>> fmt_bytes(3 * 2**30)
    '3.0 GiB'
    >>> with max_memory("1M"):
    ...     check_memory("a table of 10 rows", 1000)
    ...     memory_budget().bytes
    1048576
    >>> with max_memory("1M"):
    ...     check_memory("a table of 10^9 rows", 10**9)
    Traceback (most recent call last):
    ...
    qkernels.core.errors.InputError: a table of 10^9 rows needs about 953.7 MiB, over the memory budget of 1.0 MiB (--max-memory 1M); raise it with --max-memory or QK_MAX_MEMORY
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from qkernels.core.errors import InputError

#: share of the available memory one step may use when no budget is given
DEFAULT_FRACTION = 0.5

#: environment variable with the budget (same syntax as --max-memory)
ENV_VAR = "QK_MAX_MEMORY"

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 10**3, "m": 1 << 20, "mib": 1 << 20, "mb": 10**6,
          "g": 1 << 30, "gib": 1 << 30, "gb": 10**9, "t": 1 << 40, "tib": 1 << 40, "tb": 10**12}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*|%)\s*$")

_override: tuple[str, str] | None = None  # (text, where it came from), set by max_memory()


def fmt_bytes(n: float) -> str:
    """Human-readable bytes (KiB, MiB, GiB, TiB, ...)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    k = 0
    x = float(n)
    while x >= 1024 and k < len(units) - 1:
        x /= 1024
        k += 1
    return f"{x:.0f} {units[k]}" if k == 0 else f"{x:.1f} {units[k]}"


def parse_size(text: object, name: str, *, available: int | None = None) -> int:
    """A size in bytes from ``text`` (see the module docstring); ``name`` is named in the error.

    Raises:
        InputError: not a size, zero, negative or absurdly large.
    """
    raw = str(text)
    m = _SIZE.match(raw)
    unit = m.group(2).lower() if m else ""
    if not m or (unit != "%" and unit not in _UNITS):
        raise InputError(f"{name}={raw!r}: expected a size such as 4G, 512M, 2000000000 or 50%")
    value = float(m.group(1))
    if unit == "%":
        if not 0 < value <= 100:
            raise InputError(f"{name}={raw!r}: a percentage must be in (0, 100]")
        return max(1, int((available if available is not None else available_memory()) * value / 100))
    n = value * _UNITS[unit]
    if not math.isfinite(n) or n < 1 or n > 2**62:
        raise InputError(f"{name}={raw!r}: expected a size between 1 byte and 4 EiB")
    return int(n)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # not Linux
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _cgroup_room() -> int | None:
    """Bytes the process's cgroup still allows (v2 memory.max, or v1 limit_in_bytes), if limited."""
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    room = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, rel = parts
        rel = rel.lstrip("/")
        if hier == "0" and controllers == "":  # cgroup v2
            base = Path("/sys/fs/cgroup") / rel
            limit, used = _read_int(base / "memory.max"), _read_int(base / "memory.current")
        elif "memory" in controllers.split(","):  # cgroup v1
            base = Path("/sys/fs/cgroup/memory") / rel
            limit, used = _read_int(base / "memory.limit_in_bytes"), _read_int(base / "memory.usage_in_bytes")
            if limit is not None and limit >= 1 << 60:
                limit = None
        else:
            continue
        if limit is None or used is None:
            continue
        left = max(0, limit - used)
        room = left if room is None else min(room, left)
    return room


def _rlimit_room() -> int | None:
    """Bytes the address-space limit (``ulimit -v``) still allows, if there is one."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    size = None
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    size = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - (size or 0))


def available_memory() -> int:
    """Bytes of host memory this process can still allocate now (see the module docstring)."""
    found = [v for v in (_meminfo_available(), _cgroup_room(), _rlimit_room()) if v is not None]
    return min(found) if found else 4 << 30


@dataclass(frozen=True)
class Budget:
    """The memory budget in force: bytes, and where the number came from (for messages)."""

    bytes: int
    source: str
    explicit: bool  # given by --max-memory or $QK_MAX_MEMORY (not the default share)


def _explicit() -> tuple[str, str] | None:
    if _override is not None:
        return _override
    raw = os.environ.get(ENV_VAR)
    if raw is None or raw == "":
        return None
    return raw, ENV_VAR


def memory_budget() -> Budget:
    """The budget in force (see the module docstring).

    Raises:
        InputError: ``$QK_MAX_MEMORY`` (or ``--max-memory``) is not a valid size.
    """
    given = _explicit()
    if given is not None:
        text, where = given
        n = parse_size(text, where)
        label = f"{where} {text}" if where.startswith("--") else f"{where}={text}"
        return Budget(n, label, True)
    avail = available_memory()
    return Budget(max(1, int(avail * DEFAULT_FRACTION)),
                  f"{DEFAULT_FRACTION:.0%} of {fmt_bytes(avail)} available", False)


@contextlib.contextmanager
def max_memory(value: str | int | None, where: str = "--max-memory"):
    """Use ``value`` as the budget inside the block (None: leave it as it is); validated first."""
    global _override
    if value is None:
        yield
        return
    parse_size(value, where)
    old, _override = _override, (str(value), where)
    try:
        yield
    finally:
        _override = old


def check_memory(what: str, need: int, *, hint: str = "") -> None:
    """Refuse (InputError, before anything is allocated) a step needing more than the budget.

    ``what`` names the step ("reading checkpoint 'x.pt'"); ``hint`` is appended (e.g. another
    way to do the work in less memory).
    """
    budget = memory_budget()
    if need > budget.bytes:
        raise InputError(f"{what} needs about {fmt_bytes(need)}, over the memory budget of {fmt_bytes(budget.bytes)} "
                         f"({budget.source}); raise it with --max-memory or {ENV_VAR}{hint}")


__all__ = ["DEFAULT_FRACTION", "ENV_VAR", "Budget", "fmt_bytes", "parse_size", "available_memory", "memory_budget",
           "max_memory", "check_memory"]
