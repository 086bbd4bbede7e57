"""Reading result files other people made, and naming files inside a run folder, safely.

* Result files (CSV, JSON) are read only up to a size limit (:data:`MAX_RESULT_BYTES`, or
  ``$QK_MAX_RESULT_BYTES``): a huge or hostile file gives a clear error instead of exhausting
  memory. Nothing here unpickles or evaluates anything.
* :func:`confined` turns a name (a section, figure or unit name) into a path inside a folder and
  refuses absolute paths, ``..`` and path separators, so no name can write outside the run folder.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> confined(root, "metrics.csv") == root / "metrics.csv"
    True
    >>> confined(root, "../escape.csv")
    Traceback (most recent call last):
    ...
    qkernels.core.errors.InputError: file name '../escape.csv' must be a plain name inside the run folder (no '/', '\\\\' or '..')
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from qkernels.core.errors import InputError

#: default largest result file read (bytes); override with $QK_MAX_RESULT_BYTES
MAX_RESULT_BYTES = 512 * 1024 * 1024


def max_result_bytes() -> int:
    """The size limit in force: ``$QK_MAX_RESULT_BYTES`` if set (a positive integer), else the default."""
    raw = os.environ.get("QK_MAX_RESULT_BYTES")
    if raw is None:
        return MAX_RESULT_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"QK_MAX_RESULT_BYTES={raw!r}: expected a positive integer") from None
    if value <= 0:
        raise InputError(f"QK_MAX_RESULT_BYTES={raw!r}: expected a positive integer")
    return value


def check_size(path: str | Path, limit: int | None = None) -> Path:
    """``path`` as a Path, after checking it is a regular file no larger than ``limit`` bytes."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{str(p)!r}: no such file")
    limit = max_result_bytes() if limit is None else limit
    size = p.stat().st_size
    if size > limit:
        raise InputError(f"{str(p)!r} is {size:,} bytes, over the {limit:,}-byte limit for result files "
                         "(set QK_MAX_RESULT_BYTES to read larger ones)")
    return p


def read_csv_limited(path: str | Path, limit: int | None = None) -> pd.DataFrame:
    """A CSV result file as a DataFrame (empty for an empty file), refusing files over the limit.

    Raises:
        InputError: missing, too large, or not parseable as CSV.
    """
    p = check_size(path, limit)
    try:
        return pd.read_csv(p)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{str(p)!r}: not a readable CSV ({type(exc).__name__}: {exc})") from None


def read_json_limited(path: str | Path, limit: int | None = None) -> Any:
    """A JSON result file, refusing files over the limit.

    Raises:
        InputError: missing, too large, or not valid UTF-8 JSON.
    """
    p = check_size(path, limit)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{str(p)!r}: not readable JSON ({type(exc).__name__}: {exc})") from None


def confined(root: str | Path, name: str) -> Path:
    """``root / name`` for a plain file name; refuses anything that could leave ``root``.

    Raises:
        InputError: ``name`` is empty, absolute, contains a path separator or NUL, or is ``.``/``..``.
    """
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
            or "\0" in name or os.path.isabs(name) or ".." in Path(name).parts):
        raise InputError(f"file name {name!r} must be a plain name inside the run folder (no '/', '\\\\' or '..')")
    return Path(root) / name


__all__ = ["MAX_RESULT_BYTES", "max_result_bytes", "check_size", "read_csv_limited", "read_json_limited", "confined"]
