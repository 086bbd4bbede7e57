"""Atomic file writes: write a temporary file beside the target, flush it, then rename.

A reader (or a resumed run) sees either the old file or the complete new one, never a half.
:func:`atomic_open` does the same for a file written piece by piece (a table streamed in blocks).
An ``OSError`` while writing (a full disk, a read-only folder) carries the target's path, so the
command line can name it and the free space there.

Example:
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> atomic_write_text(p, "hello")
    >>> open(p).read()
    'hello'
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


def _with_path(exc: OSError, p: Path) -> OSError:
    """``exc`` naming ``p`` when it names no file (a write() on a full disk names none)."""
    if exc.filename is None and exc.errno is not None:
        new = OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(p))
        new.__cause__ = exc
        return new
    return exc


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """A file object whose content replaces ``path`` atomically when the block ends without error.

    On an error (or an interruption) the temporary file is removed and ``path`` keeps its old
    content. ``mode`` is "w" (text, ``encoding``) or "wb".

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> with atomic_open(p) as fh:
        ...     _ = fh.write("a\\n")
        ...     _ = fh.write("1\\n")
        >>> open(p).read()
        'a\\n1\\n'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:
        raise _with_path(exc, p) from None
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": encoding, "newline": ""})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, p)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _with_path(exc, p) from None
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (creating parent folders)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (non-JSON values are written with ``str``)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_csv(path: str | Path, df: pd.DataFrame) -> None:
    """Write ``df`` as CSV with a header row and no index, atomically."""
    atomic_write_text(path, df.to_csv(index=False))


__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_write_csv"]
