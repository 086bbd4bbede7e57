"""The run folder: where one ``qkernels run`` keeps its results, resumably.

Layout::

    <run>/env.json              versions, machine, devices, seeds, profile, times
    <run>/<section>.csv         one long-format CSV per section (written when the section ends)
    <run>/report.md, report.html, figures/*.png
    <run>/.parts/<section>/     one CSV per finished unit of work (atomic), and DONE

A section's work is split into units with stable keys. Each finished unit is written at once,
atomically, as its own part file; an interrupted run restarted with ``--resume`` skips the units
whose parts exist, so nothing is lost and no row is duplicated. The section CSV is the
concatenation of its parts in plan order. Part file names are derived from the key (letters,
digits, ``._-`` only, plus a hash), so no key can write outside the run folder.

Example:
    >>> import tempfile, pandas as pd
    >>> run = RunFolder(tempfile.mkdtemp())
    >>> sink = run.sink("metrics")
    >>> sink.put("model=a", pd.DataFrame({"x": [1]}))
    >>> sink.has("model=a"), sink.has("model=b")
    (True, False)
    >>> sink.finalize(["model=a"]).x.tolist()
    [1]
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from qkernels.core.atomic import atomic_write_csv, atomic_write_json, atomic_write_text
from qkernels.core.errors import InputError
from qkernels.core.safeio import confined, read_csv_limited, read_json_limited

DEFAULT_ROOT = Path("reports") / "runs"


def default_run_dir(root: str | Path = DEFAULT_ROOT) -> Path:
    """``reports/runs/<UTC timestamp>`` (with a suffix if that name is taken)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = Path(root) / stamp
    k = 1
    while path.exists():
        path = Path(root) / f"{stamp}-{k}"
        k += 1
    return path


def latest_run_dir(root: str | Path = DEFAULT_ROOT) -> Path | None:
    """The newest run folder (by name) under ``root`` that has an env.json, or None."""
    root = Path(root)
    if not root.is_dir():
        return None
    runs = sorted(p for p in root.iterdir() if (p / "env.json").is_file())
    return runs[-1] if runs else None


def part_filename(key: str) -> str:
    """A safe file name for a unit key: a readable slug plus a hash of the exact key."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:80] or "part"
    return f"{slug}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:10]}.csv"


def safe_name(name: object) -> str:
    """``name`` as a file-name fragment: letters, digits and ``._-`` kept, anything else ``_``
    (figure names built from model or backend names, e.g. ``cuda:0``).

    Example:
        >>> safe_name("resnet18_small_w0.5@32"), safe_name("cuda:0")
        ('resnet18_small_w0.5_32', 'cuda_0')
    """
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in str(name))


class PartSink:
    """Finished units of one section, one atomic CSV per unit key."""

    def __init__(self, folder: Path, section: str, csv_path: Path):
        self.folder = folder
        self.section = section
        self.csv_path = csv_path

    def _path(self, key: str) -> Path:
        return self.folder / part_filename(key)

    def has(self, key: str) -> bool:
        """Whether the unit ``key`` is finished (a unit that failed on the device is not)."""
        return self._path(key).is_file() and not self._error_path(key).is_file()

    def _error_path(self, key: str) -> Path:
        return self.folder / (part_filename(key)[: -len(".csv")] + ".error.json")

    def put_error(self, key: str, error: str) -> None:
        """Record that unit ``key`` failed on the device: no rows, and the error (retried on resume)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self._error_path(key), {"section": self.section, "unit": key, "error": error})
        atomic_write_csv(self._path(key), pd.DataFrame())

    def errors(self) -> list[dict]:
        """The recorded device errors of this section's units."""
        if not self.folder.is_dir():
            return []
        out = []
        for p in sorted(self.folder.glob("*.error.json")):
            try:
                rec = read_json_limited(p)
            except InputError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def put(self, key: str, df: pd.DataFrame) -> None:
        """Record the rows of the finished unit ``key`` (atomically; replaces an earlier one)."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"section {self.section!r}, unit {key!r}: expected a DataFrame, got {type(df).__name__}")
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_csv(self._path(key), df)
        self._error_path(key).unlink(missing_ok=True)  # a retried unit that now succeeded

    def get(self, key: str) -> pd.DataFrame:
        """The rows of the finished unit ``key``."""
        return _read_csv(self._path(key))

    @property
    def done(self) -> bool:
        """Whether the section was finalized with no unit left failed on the device."""
        return (self.folder / "DONE").is_file() and self.csv_path.is_file() and not self.errors()

    def finalize(self, keys: list[str]) -> pd.DataFrame:
        """Concatenate the parts of ``keys`` in order into ``<section>.csv`` (atomic) and mark DONE."""
        missing = [k for k in keys if not self._path(k).is_file()]
        if missing:
            raise RuntimeError(f"section {self.section!r}: units not finished: {missing[:5]}")
        frames = [self.get(k) for k in keys]
        frames = [f for f in frames if not f.empty]
        errors = self.errors()
        if errors:
            atomic_write_csv(self.csv_path.with_name(f"{self.section}_errors.csv"), pd.DataFrame(errors))
        else:
            self.csv_path.with_name(f"{self.section}_errors.csv").unlink(missing_ok=True)
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        # keep integer columns integer where other parts lack them (NaN would make them float)
        ints = {c for f in frames for c in f.columns if pd.api.types.is_integer_dtype(f[c])}
        ints -= {c for f in frames for c in f.columns if pd.api.types.is_float_dtype(f[c])}
        for c in ints:
            df[c] = df[c].astype("Int64")
        atomic_write_csv(self.csv_path, df)
        atomic_write_text(self.folder / "DONE", "\n".join(keys) + "\n")
        return df


def _read_csv(path: Path) -> pd.DataFrame:
    return read_csv_limited(path)


class RunFolder:
    """Paths of one run folder, and its per-section sinks."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def env_path(self) -> Path:
        return self.path / "env.json"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    def csv(self, section: str) -> Path:
        """``<run>/<section>.csv`` (the name must be a plain file name: nothing outside the run)."""
        return confined(self.path, f"{section}.csv")

    def figure(self, name: str) -> Path:
        """``<run>/figures/<name>``, refusing names that would leave the folder.

        Example:
            >>> RunFolder("r").figure("a.png").as_posix()
            'r/figures/a.png'
        """
        return confined(self.figures, name)

    def sink(self, section: str) -> PartSink:
        """The part sink of ``section``."""
        return PartSink(confined(self.path / ".parts", section), section, self.csv(section))

    def read_env(self) -> dict:
        """env.json as a dict ({} when absent)."""
        if not self.env_path.is_file():
            return {}
        env = read_json_limited(self.env_path)
        if not isinstance(env, dict):
            raise InputError(f"{self.env_path}: expected a JSON object, got {type(env).__name__}")
        return env

    def write_env(self, env: dict) -> None:
        atomic_write_json(self.env_path, env)

    def prepare(self, *, resume: bool, profile: str, seed: int) -> None:
        """Create the folder, or check that an existing one may be resumed with these settings."""
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"--out {str(self.path)!r} exists and is not a folder")
        has_content = self.path.is_dir() and any(self.path.iterdir())
        if has_content and not resume:
            raise InputError(f"run folder {str(self.path)!r} is not empty; pass --resume to continue it or choose another --out")
        if resume and has_content:
            env = self.read_env()
            if not env:
                raise InputError(f"cannot resume {str(self.path)!r}: it has no env.json (not a qkernels run folder)")
            old = (env.get("profile"), env.get("seeds", {}).get("seed"))
            if old != (profile, seed):
                raise InputError(
                    f"cannot resume {str(self.path)!r}: it was started with profile={old[0]!r}, seed={old[1]!r}, "
                    f"not profile={profile!r}, seed={seed!r}"
                )
        self.path.mkdir(parents=True, exist_ok=True)
        if resume:  # temporaries of writes that a killed run never finished (never read, only litter)
            for tmp in self.path.rglob(".*.tmp"):
                tmp.unlink(missing_ok=True)


__all__ = ["RunFolder", "PartSink", "default_run_dir", "latest_run_dir", "part_filename", "safe_name", "DEFAULT_ROOT"]
