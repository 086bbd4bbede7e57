"""Range checks for integers given at the boundary (seeds, counts, sizes), the same everywhere.

A seed is an integer in 0..2**63-1 (:data:`MAX_SEED`) in every function and command: the largest
range that torch, NumPy and Python's ``random`` all accept, so a seed that one of them would
refuse half-way (after files were written) is refused up front.

Example:
    >>> check_seed(7)
    7
    >>> check_seed(2**63)
    Traceback (most recent call last):
    ...
    qkernels.core.errors.InputError: seed: expected a non-negative integer (0..2**63-1), got 9223372036854775808
    >>> check_int(0, "--size", 1)
    Traceback (most recent call last):
    ...
    qkernels.core.errors.InputError: --size: expected an integer of at least 1, got 0
"""

from __future__ import annotations

from numbers import Integral

from qkernels.core.errors import InputError

#: largest seed accepted anywhere
MAX_SEED = 2**63 - 1


def check_int(value: object, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in [lo, hi] (bounds optional); InputError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(f"{name}: expected an integer, got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        if hi is None:
            want = f"of at least {lo}"
        elif lo is None:
            want = f"of at most {hi}"
        else:
            want = f"in {lo}..{'2**63-1' if hi == MAX_SEED else hi}"
        raise InputError(f"{name}: expected an integer {want}, got {v}")
    return v


def check_seed(seed: object, name: str = "seed") -> int:
    """A seed in 0..2**63-1."""
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= int(seed) <= MAX_SEED:
        raise InputError(f"{name}: expected a non-negative integer (0..2**63-1), got {seed!r}")
    return int(seed)


__all__ = ["MAX_SEED", "check_int", "check_seed"]
