"""Read a section CSV of a run folder defensively, saying what is wrong instead of failing.

The report and the run comparison read ``<run>/<section>.csv`` through :func:`read_section_csv`.
It never raises for a bad file: it returns what could be read and a sentence on what is missing.

* absent file: ``state = "absent"`` (with whether unfinished unit parts exist under ``.parts``);
* unreadable file (not CSV, not UTF-8): ``state = "unreadable"``, no rows;
* truncated file (the last line has no newline: the writer always ends with one, so the file was
  cut): the partial last row is dropped and ``note`` says so;
* malformed lines (more fields than the header): skipped and counted in ``note``.

Example:
    >>> import tempfile, pathlib
    >>> from qkernels.suite.runfolder import RunFolder
    >>> run = RunFolder(tempfile.mkdtemp())
    >>> _ = (run.path / "metrics.csv").write_text("a,b\\n1,2\\n3,")
    >>> r = read_section_csv(run, "metrics")
    >>> r.state, len(r.df), r.note
    ('partial', 1, 'metrics.csv looks truncated (its last line is incomplete); that row was dropped.')
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pandas as pd

from qkernels.core.errors import InputError
from qkernels.core.safeio import check_size, max_result_bytes
from qkernels.suite.runfolder import RunFolder


@dataclass(frozen=True)
class SectionCSV:
    """What :func:`read_section_csv` found: rows (or None), a state and a note for the reader."""

    name: str
    df: pd.DataFrame | None
    state: str  # "ok", "partial", "absent", "unreadable"
    note: str = ""

    @property
    def usable(self) -> bool:
        return self.df is not None


def _unfinished(run: RunFolder, name: str) -> str:
    parts = run.path / ".parts" / name
    n = len(list(parts.glob("*.csv"))) if parts.is_dir() else 0
    if n:
        return (f"{name}.csv is missing, but {n} finished unit(s) of this section are in .parts/{name}/: the run "
                f"was interrupted (continue it with `qkernels run --resume --out {run.path}`).")
    return f"{name}.csv is missing."


def read_section_csv(run: RunFolder, name: str) -> SectionCSV:
    """Read ``<run>/<name>.csv`` without raising; see the module docstring for the states."""
    path = run.csv(name)
    limit = max_result_bytes()  # an invalid $QK_MAX_RESULT_BYTES is an error, not a missing part
    if not path.is_file():
        return SectionCSV(name, None, "absent", _unfinished(run, name))
    try:
        raw = check_size(path, limit).read_bytes()
        text = raw.decode("utf-8")
    except InputError as exc:
        return SectionCSV(name, None, "unreadable", f"{path.name} was not read ({exc}); this part is missing.")
    except (OSError, UnicodeDecodeError) as exc:
        return SectionCSV(name, None, "unreadable",
                          f"{path.name} could not be read ({type(exc).__name__}: {exc}); this part is missing.")
    notes = []
    if text and not text.endswith("\n"):
        cut = text.rfind("\n")
        text = text[: cut + 1] if cut >= 0 else ""
        notes.append(f"{path.name} looks truncated (its last line is incomplete); that row was dropped.")
    if not text.strip():
        return SectionCSV(name, pd.DataFrame(), "partial" if notes else "ok", " ".join(notes))
    try:
        df = pd.read_csv(io.StringIO(text))
    except pd.errors.EmptyDataError:
        return SectionCSV(name, pd.DataFrame(), "partial" if notes else "ok", " ".join(notes))
    except pd.errors.ParserError as exc:
        bad: list[list[str]] = []
        try:
            df = pd.read_csv(io.StringIO(text), on_bad_lines=lambda line: bad.append(line), engine="python")
            if not bad:
                raise ValueError("not a bad-line problem")
        except (pd.errors.ParserError, ValueError, csv.Error):
            return SectionCSV(name, None, "unreadable",
                              f"{path.name} could not be read (ParserError: {exc}); this part is missing.")
        notes.append(f"{path.name} has {len(bad)} malformed line(s) (more fields than the header); they were skipped.")
    return SectionCSV(name, df, "partial" if notes else "ok", " ".join(notes))


__all__ = ["SectionCSV", "read_section_csv"]
