"""The jobs of a run: the units still to do, in the order an engine runs them, with what each waits for.

A :class:`Job` is one unit of one section plus its dependencies: the jobs that train the
checkpoints it uses (the first unit that names a checkpoint key trains it; the later ones wait
for it and receive its files, unless the driver's cache already has the entry) and the jobs whose
rows it reads (``Unit.needs``). Units finished by an earlier run are not jobs: their rows come
from the run folder as ``given`` payloads.

On a cluster the untimed jobs run first, in parallel; the timed ones run after them, one at a
time (:func:`execution_order`). A sequential run keeps the plan order.

Example:
    >>> import pandas as pd
    >>> from qkernels.suite.sections.base import Unit
    >>> u = [Unit("dense", "", lambda: None, checkpoints=("a" * 24,)),
    ...      Unit("time", "", lambda: None, timed=True, checkpoints=("a" * 24,)),
    ...      Unit("prune", "", lambda: None, checkpoints=("a" * 24,))]
    >>> jobs = build_jobs([PlannedSection(None, "demo", "quick", None, 0, u, None)], lambda key: None)
    >>> [(j.unit.key, j.deps) for j in execution_order(jobs)]
    [('dense', ()), ('prune', (0,)), ('time', (0,))]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qkernels.suite.engine.tasks import Outcome
from qkernels.suite.runfolder import PartSink
from qkernels.suite.sections.base import Section, Unit


@dataclass(frozen=True)
class PlannedSection:
    """One section of a run as planned on the driver: its units still to do and its sink."""

    section: Section | None
    name: str
    profile_name: str
    profile: Any
    seed: int
    units: list[Unit]
    sink: PartSink | None


@dataclass(frozen=True)
class Job:
    """One unit to run, with the jobs it waits for and the payloads already at hand."""

    index: int
    planned: PlannedSection
    unit: Unit
    #: indices of the jobs this one waits for (checkpoint producers, units whose rows it reads)
    deps: tuple[int, ...] = ()
    #: rows of finished units it reads, and checkpoint files the driver already has
    given: tuple[Outcome, ...] = ()

    @property
    def section(self) -> str:
        return self.planned.name


def execution_order(jobs: list[Job]) -> list[Job]:
    """Untimed jobs first (plan order), then the timed ones (plan order): the order of a cluster run."""
    return [j for j in jobs if not j.unit.timed] + [j for j in jobs if j.unit.timed]


def build_jobs(plans: list[PlannedSection], driver_files: Callable[[str], Outcome | None]) -> list[Job]:
    """The jobs of ``plans`` (indices in plan order) with their dependencies.

    ``driver_files(key)`` gives the payload of checkpoint ``key`` when the driver can provide it
    without training (an :class:`Outcome` carrying the files, or one without files when the workers
    share the driver's cache and it is there already), else None.
    """
    raw = [(p, u) for p in plans for u in p.units]
    index_of = {(p.name, u.key): i for i, (p, u) in enumerate(raw)}
    deps: dict[int, list[int]] = {i: [] for i in range(len(raw))}
    given: dict[int, list[Outcome]] = {i: [] for i in range(len(raw))}
    for i, (p, u) in enumerate(raw):
        for k in u.needs:
            j = index_of.get((p.name, k))
            if j is not None:
                if raw[j][1].timed and not u.timed:
                    raise RuntimeError(f"section {p.name!r}: unit {u.key!r} reads timed unit {k!r} but is not timed")
                deps[i].append(j)
            elif p.sink is not None and p.sink.has(k):
                given[i].append(Outcome(p.name, k, rows=p.sink.get(k)))
    producer: dict[str, int] = {}
    at_hand: dict[str, Outcome | None] = {}
    order = [i for i, (_, u) in enumerate(raw) if not u.timed] + [i for i, (_, u) in enumerate(raw) if u.timed]
    for i in order:
        for key in raw[i][1].checkpoints:
            if key not in at_hand:
                at_hand[key] = driver_files(key)
            payload = at_hand[key]
            if payload is not None:
                if payload.checkpoints:
                    given[i].append(payload)
            elif key in producer:
                if producer[key] not in deps[i]:
                    deps[i].append(producer[key])
            else:
                producer[key] = i
    return [Job(i, p, u, tuple(deps[i]), tuple(given[i])) for i, (p, u) in enumerate(raw)]


__all__ = ["Job", "PlannedSection", "build_jobs", "execution_order"]
