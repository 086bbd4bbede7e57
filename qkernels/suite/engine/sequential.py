"""The default engine: every unit in this process, one after another, in plan order (as without ``--cluster``).

Example:
    >>> import pandas as pd
    >>> from qkernels.suite.sections.base import Unit
    >>> from qkernels.suite.engine.jobs import PlannedSection, build_jobs
    >>> units = [Unit(k, k, lambda k=k: pd.DataFrame({"k": [k]})) for k in ("a", "b")]
    >>> jobs = build_jobs([PlannedSection(None, "demo", "quick", None, 0, units, None)], lambda key: None)
    >>> with SequentialEngine() as engine:
    ...     [o.rows.k[0] for o in engine.run(jobs)], engine.describe()["name"]
    (['a', 'b'], 'sequential')
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import torch

from qkernels.hw.backends import resolve_device
from qkernels.suite.engine.jobs import Job
from qkernels.suite.engine.tasks import Outcome, run_unit


class SequentialEngine:
    """Runs the units here, in order; a device error costs its unit only."""

    name = "sequential"
    #: the workers are this process: nothing to ship
    ships_checkpoints = False

    def __init__(self):
        self._device = ""

    def __enter__(self) -> SequentialEngine:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def close(self) -> None:
        return None

    def device(self, spec: str) -> torch.device:
        """``--device`` resolved here."""
        dev = resolve_device(spec)
        self._device = str(dev)
        return dev

    def device_resources(self) -> dict[str, float]:
        return {}

    def describe(self) -> dict:
        """The ``engine`` block of env.json."""
        return {"name": self.name, "workers": 1, "host": socket.gethostname()}

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        for job in jobs:
            yield run_unit(job.unit, seed=job.planned.seed, section=job.section, device=self._device)


__all__ = ["SequentialEngine"]
