"""Running one unit, in this process or on a cluster worker, and what comes back.

:func:`run_unit` is the one way a unit is executed, whatever the engine: the global random
generators are seeded from the run seed and the unit's key (so a unit computes the same rows
whatever ran before it, in any order, on any worker), a timed unit runs with the thread count
it declares, a device error costs only the unit (it comes back as an error, not an exception),
and the result is an :class:`Outcome`: the rows, or the error, and where and how it ran.

On a cluster the driver sends a :class:`RemoteTask` (the section object, the profile it
resolved, the seed, the device string and the unit key) to :func:`remote_execute`, which plans the
section on the worker with the worker's own device (once per worker process, then cached),
installs the files and rows of the units it depends on, and runs the unit there. Workers never
write the run folder: they return rows, and the driver writes them.

Example:
    >>> import pandas as pd
    >>> from qkernels.suite.sections.base import Unit
    >>> out = run_unit(Unit("a", "unit a", lambda: pd.DataFrame({"x": [1]})), seed=0, section="demo")
    >>> out.rows.x.tolist(), out.error, out.meta["engine"]
    ([1], None, 'sequential')
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from qkernels.hw.backends import resolve_device
from qkernels.hw.device_errors import describe, is_device_error
from qkernels.suite.ckcache import entry_files, install_files
from qkernels.suite.engine.spec import usable_cores
from qkernels.suite.envinfo import utc_now
from qkernels.suite.sections.base import Section, SectionContext, Unit
from qkernels.suite.sweeps.pruning import torch_threads


@dataclass
class Outcome:
    """What running one unit gave: its rows or its error, where it ran, the checkpoint files it leaves."""

    section: str
    key: str
    rows: pd.DataFrame | None = None
    #: a device error or a dead worker (the unit is recorded as failed and retried on --resume)
    error: str | None = None
    meta: dict = field(default_factory=dict)
    #: checkpoint-cache files (path relative to the cache root -> bytes) for the units that need them
    checkpoints: dict[str, bytes] = field(default_factory=dict)


def unit_seed(run_seed: int, section: str, key: str) -> int:
    """The seed of the global generators while unit ``key`` of ``section`` runs.

    Example:
        >>> unit_seed(0, "metrics", "a") == unit_seed(0, "metrics", "a") != unit_seed(1, "metrics", "a")
        True
    """
    digest = hashlib.sha256(f"{run_seed}:unit:{section}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little")


def _seed_globals(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_name() -> str | None:
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return str(get_worker().name)
    except ValueError:  # not inside a Dask task
        return None


def run_unit(unit: Unit, *, seed: int, section: str, threads: int | None = None, engine: str = "sequential",
             device: str = "") -> Outcome:
    """Run ``unit`` here: seeded globals, ``threads`` torch threads if given, device errors caught.

    Any other exception propagates (it stops the run, as a bug or a user's mistake should).
    """
    _seed_globals(unit_seed(seed, section, unit.key))
    meta = {"label": unit.label, "engine": engine, "worker": _worker_name(), "host": socket.gethostname(),
            "pid": os.getpid(), "device": device,
            "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("ASCEND_RT_VISIBLE_DEVICES"),
            "timed": unit.timed, "start": utc_now()}
    t0 = time.perf_counter()
    with torch_threads(threads, "cpu"):  # the torch CPU thread pool (a GPU unit uses it too)
        meta["threads"] = torch.get_num_threads()
        try:
            rows = unit.run()
        except Exception as exc:
            if not is_device_error(exc):
                raise
            meta.update(status="device error", seconds=round(time.perf_counter() - t0, 3))
            return Outcome(section, unit.key, error=describe(exc), meta=meta)
    meta.update(status="ok", seconds=round(time.perf_counter() - t0, 3))
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(f"section {section!r}, unit {unit.key!r}: expected a DataFrame, got {type(rows).__name__}")
    return Outcome(section, unit.key, rows=rows, meta=meta)


# ---- on a cluster worker ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteTask:
    """Everything a worker needs to plan a section and run one of its units."""

    section: Section
    profile_name: str
    profile: Any
    seed: int
    device: str
    key: str
    #: the unit times something (it runs alone; with ``threads`` or else every usable core of the worker)
    timed: bool = False
    #: torch threads the unit declares (None: a timed unit gets the worker's usable cores, others keep the
    #: worker's one thread)
    threads: int | None = None
    #: send back the checkpoint files of the unit (False when the workers share the driver's cache)
    ship_checkpoints: bool = True


class _RowsSink:
    """The read side of a part sink, holding the rows that the driver sent."""

    def __init__(self):
        self.rows: dict[str, pd.DataFrame] = {}

    def has(self, key: str) -> bool:
        return key in self.rows

    def get(self, key: str) -> pd.DataFrame:
        return self.rows[key]


class RowsView:
    """What ``ctx.run`` is on a worker: read-only, with the rows of the units a unit ``needs``.

    Example:
        >>> view = RowsView()
        >>> view.sink("latency").rows["table:mlp:cpu"] = pd.DataFrame({"x": [1]})
        >>> view.sink("latency").has("table:mlp:cpu"), view.sink("bounds").has("table:mlp:cpu")
        (True, False)
    """

    def __init__(self):
        self._sinks: dict[str, _RowsSink] = {}

    def sink(self, section: str) -> _RowsSink:
        return self._sinks.setdefault(section, _RowsSink())


#: plans made on this worker: (section, profile, seed, device) -> (units by key, rows view)
_PLANS: OrderedDict[tuple, tuple[dict[str, Unit], RowsView]] = OrderedDict()
_MAX_PLANS = 4


def worker_plan(task: RemoteTask) -> tuple[dict[str, Unit], RowsView]:
    """The units (by key) of the task's section, planned on this worker once and then reused (so the
    dense models a plan holds in memory serve every unit of it that runs here)."""
    ident = (task.section.name, type(task.section).__qualname__, task.profile_name, repr(task.profile), task.seed,
             task.device)
    if ident in _PLANS:
        _PLANS.move_to_end(ident)
        return _PLANS[ident]
    view = RowsView()
    ctx = SectionContext(run=view, profile=task.profile_name, device=resolve_device(task.device), seed=task.seed)
    units = {u.key: u for u in task.section.plan_with(ctx, task.profile)}
    _PLANS[ident] = (units, view)
    while len(_PLANS) > _MAX_PLANS:
        _PLANS.popitem(last=False)
    return units, view


def remote_execute(task: RemoteTask, *deps: Outcome) -> Outcome:
    """Run ``task`` on this worker, after installing what its dependencies left (checkpoint files into
    the worker's cache, rows into its plan's view). Returns the unit's :class:`Outcome`."""
    for dep in deps:
        if dep.checkpoints:
            install_files(dep.checkpoints)
    units, view = worker_plan(task)
    if task.key not in units:
        raise RuntimeError(f"section {task.section.name!r}: unit {task.key!r} is not in the plan made on worker "
                           f"{_worker_name()} (device {task.device}); the driver and the workers must run the same "
                           "qkernels version")
    for dep in deps:
        if dep.rows is not None and dep.section == task.section.name:
            view.sink(dep.section).rows[dep.key] = dep.rows
    unit = units[task.key]
    threads = task.threads if task.threads is not None else (default_timed_threads() if task.timed else None)
    out = run_unit(unit, seed=task.seed, section=task.section.name, threads=threads, engine="dask",
                   device=task.device)
    if task.ship_checkpoints:
        for key in unit.checkpoints:
            out.checkpoints.update(entry_files(key))
    return out


def resolve_on_worker(spec: str) -> str:
    """``--device`` resolved where the work runs (a worker): the device string, or InputError."""
    return str(resolve_device(spec))


def default_timed_threads() -> int:
    """Threads of a timed unit that declares none: the worker's usable cores (what torch uses in a
    sequential run on the same machine; Dask workers otherwise run one thread)."""
    return usable_cores()


__all__ = ["Outcome", "RemoteTask", "RowsView", "run_unit", "remote_execute", "resolve_on_worker", "unit_seed",
           "worker_plan", "default_timed_threads"]
