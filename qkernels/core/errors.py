"""Error types shared by the library and the command line.

A :class:`InputError` is a mistake in what the user gave us (bad numbers, an unknown name, an
unreadable file). The command line turns it into one line on stderr and exit status 2; every
other exception is an internal failure (exit status 1).

Example:
    >>> from qkernels.core.errors import InputError
    >>> try:
    ...     raise InputError("R must be positive, got -1")
    ... except ValueError as exc:  # InputError is a ValueError
    ...     print(exc)
    R must be positive, got -1
"""

from __future__ import annotations


class InputError(ValueError):
    """A user-facing error about bad input; the message names what and where."""


__all__ = ["InputError"]
