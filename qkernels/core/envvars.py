"""Checking the ``QK_*`` environment variables that hold numbers, before any work starts.

A typo in such a variable must be an error that names it, not a silent fallback that changes
what a run does (an unreadable ``QK_MAX_RESULT_BYTES`` would otherwise make every result file "missing").
The command line calls :func:`check_environment` before running a command.

Example:
    >>> import os
    >>> os.environ["QK_MAX_MEMORY"] = "lots"
    >>> check_environment()
    Traceback (most recent call last):
    ...
    qkernels.core.errors.InputError: QK_MAX_MEMORY='lots': expected a size such as 4G, 512M, 2000000000 or 50%
    >>> del os.environ["QK_MAX_MEMORY"]
    >>> check_environment()
"""

from __future__ import annotations

import os

from qkernels.core.memory import ENV_VAR, parse_size
from qkernels.core.safeio import max_result_bytes
from qkernels.core.threads import policy_threads


def check_environment() -> None:
    """Raise InputError naming the first ``QK_*`` numeric variable that is set to something invalid."""
    max_result_bytes()
    raw = os.environ.get(ENV_VAR)
    if raw is not None and raw != "":
        parse_size(raw, ENV_VAR)
    policy_threads("serial")  # reads QK_KERNEL_THREADS


__all__ = ["check_environment"]
