"""The run folder: where one ``qkernels run`` keeps its results, resumably.

Layout::

    <run>/env.json              versions, machine, devices, seeds, profile, times
    <run>/<section>.csv         one long-format CSV per section (written when the section ends)
    <run>/<section>_units.csv   where and how each unit ran (engine, worker, host, device, threads, times)
    <run>/report.md, report.html, figures/*.png
    <run>/.parts/<section>/     one CSV per finished unit of work (atomic), and DONE
    <run>/.lock                 while a run writes the folder: its pid, host and start time

A section's work is split into units with stable keys. Each finished unit is written at once,
atomically, as its own part file; an interrupted run restarted with ``--resume`` skips the units
whose parts exist, so nothing is lost and no row is duplicated. The section CSV is the
concatenation of its parts in plan order. Part file names are derived from the key (letters,
digits, ``._-`` only, plus a hash), so no key can write outside the run folder.

One process writes a run folder at a time: ``qkernels run`` (and ``--resume``) holds
:meth:`RunFolder.lock` while it works. The lock is an OS lock (``flock``) on ``<run>/.lock``,
which names the owner (pid and host); a second process is refused with "run folder in use by
...". The OS drops the lock when its owner dies, however it dies, so a lock left by a killed
process is taken over by the next run (and, where ``flock`` is not available, a lock whose
owner's pid no longer runs on this host).

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

import contextlib
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
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


def safe_name(text: object, max_len: int = 80) -> str:
    """A file-name part made from free text (a model or backend name): letters, digits, ``._-``.

    Other characters become ``_``; a name that had to change gets a short hash of the original,
    so two different names never share a file. Use it for every name derived from data.

    Example:
        >>> safe_name("resnet18"), safe_name("org/model:v2")
        ('resnet18', 'org_model_v2-24ea8169')
        >>> RunFolder("r").figure(f"metrics_fs_{safe_name('../x')}.png").name
        'metrics_fs_x-72e4d01d.png'
    """
    raw = str(text)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._")[:max_len]
    if slug == raw and slug not in ("", ".", ".."):
        return slug
    return f"{slug or 'name'}-{hashlib.sha1(raw.encode('utf-8')).hexdigest()[:8]}"


LOCK_NAME = ".lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


class RunFolderLock:
    """The lock of one run folder, held by this process (see the module docstring)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def owner(self) -> dict:
        """The recorded owner ({} when unknown)."""
        try:
            rec = json.loads(self.path.read_text(encoding="utf-8")[:4096] or "{}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return rec if isinstance(rec, dict) else {}

    def _refuse(self, folder: Path) -> None:
        o = self.owner()
        who = f"pid {o.get('pid', '?')} on {o.get('host', '?')}" + (f" since {o['since']}" if o.get("since") else "")
        raise InputError(f"run folder {str(folder)!r} in use by {who} (another qkernels run is writing it; wait for "
                         f"it to finish, or remove {LOCK_NAME} if that process is gone)")

    def acquire(self) -> None:
        """Take the lock or raise InputError naming its owner."""
        folder = self.path.parent
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            fcntl = None  # type: ignore[assignment]
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    self._refuse(folder)
                except OSError:  # no flock here (some network file systems): pid check below
                    pass
                else:
                    try:  # the file may have been removed by its releasing owner since we opened it
                        same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                    except FileNotFoundError:
                        same = False
                    if not same:
                        os.close(fd)
                        continue
                    self._fd = fd
                    break
            o = self.owner()  # fallback: the recorded owner is alive on this host
            pid = o.get("pid")
            if (isinstance(pid, int) and pid != os.getpid() and o.get("host") == socket.gethostname()
                    and _pid_alive(pid)):
                os.close(fd)
                self._refuse(folder)
            self._fd = fd
            break
        else:  # pragma: no cover - the lock file kept changing under us
            self._refuse(folder)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        data = (json.dumps(record) + "\n").encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


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
        return _records(sorted(self.folder.glob("*.error.json")))

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

    def _meta_path(self, key: str) -> Path:
        return self.folder / (part_filename(key)[: -len(".csv")] + ".meta.json")

    def put_meta(self, key: str, meta: dict) -> None:
        """Record where and how unit ``key`` ran (engine, worker, host, device, threads, times), atomically.

        Kept beside the unit's part, never in its rows (a section's CSV does not depend on where its
        units ran); :meth:`finalize` gathers them into ``<section>_units.csv``.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self._meta_path(key), {"section": self.section, "unit": key, **meta})

    def metas(self, keys: list[str]) -> list[dict]:
        """The recorded metadata of ``keys``, in that order (units without a record are left out)."""
        return _records([p for p in map(self._meta_path, keys) if p.is_file()])

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
        metas = self.metas(keys)
        if metas:
            atomic_write_csv(self.csv_path.with_name(f"{self.section}_units.csv"), pd.DataFrame(metas))
        atomic_write_text(self.folder / "DONE", "\n".join(keys) + "\n")
        return df


def _records(paths: list[Path]) -> list[dict]:
    """The JSON objects in ``paths``, in order (unreadable or non-object files are skipped)."""
    out = []
    for p in paths:
        try:
            rec = read_json_limited(p)
        except InputError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


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

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunFolderLock]:
        """Hold the run folder's lock inside the block (creating the folder); see the module docstring.

        Raises:
            InputError: another live process holds it ("run folder ... in use by pid N on HOST").
        """
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"--out {str(self.path)!r} exists and is not a folder")
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        lk = RunFolderLock(self.path)
        try:
            lk.acquire()
        except BaseException:
            if created:
                with contextlib.suppress(OSError):
                    self.path.rmdir()
            raise
        try:
            yield lk
        except InputError:
            lk.release()
            if created:  # a refused run leaves nothing behind
                with contextlib.suppress(OSError):
                    self.path.rmdir()
            raise
        except BaseException:
            lk.release()
            raise
        else:
            lk.release()

    def prepare(self, *, resume: bool, profile: str, seed: int) -> None:
        """Create the folder, or check that an existing one may be resumed with these settings."""
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"--out {str(self.path)!r} exists and is not a folder")
        has_content = self.path.is_dir() and any(p.name != LOCK_NAME for p in self.path.iterdir())
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


__all__ = ["RunFolder", "PartSink", "RunFolderLock", "default_run_dir", "latest_run_dir", "part_filename", "safe_name",
           "DEFAULT_ROOT", "LOCK_NAME"]
