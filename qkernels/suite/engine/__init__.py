"""Engines that run the units of ``qkernels run``: in this process (default) or on a Dask cluster.

An engine is small on purpose (so that another distributed engine, e.g. Ray, fits the same
shape): a context manager with ``device(spec)`` (resolve ``--device`` where the work runs),
``describe()`` (the ``engine`` block of env.json), ``ships_checkpoints`` and ``run(jobs)``, which
yields one :class:`~qkernels.suite.engine.tasks.Outcome` per job as it finishes. The runner plans,
builds the jobs (:mod:`.jobs`) and is the only writer of the run folder.

Example:
    >>> make_engine(None).name
    'sequential'
    >>> make_engine(parse_cluster("local:2")).name
    'dask'
"""

from __future__ import annotations

import os

from qkernels.core.errors import InputError
from qkernels.suite.engine.jobs import Job, PlannedSection, build_jobs, execution_order
from qkernels.suite.engine.sequential import SequentialEngine
from qkernels.suite.engine.spec import ClusterSpec, cluster_from_env, parse_cluster, resolve_cluster
from qkernels.suite.engine.tasks import Outcome, run_unit


def shared_cache_from_env() -> bool | None:
    """``$QK_SHARED_CACHE``: 1 (the workers see the driver's ``QK_CACHE_DIR``), 0 (they do not), unset (None:
    true for a local cluster only)."""
    raw = os.environ.get("QK_SHARED_CACHE", "").strip().lower()
    if raw == "":
        return None
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise InputError(f"QK_SHARED_CACHE={raw!r}: expected 1 or 0")


def make_engine(spec: ClusterSpec | None, *, progress: bool = True, shared_cache: bool | None = None):
    """The engine of a run: sequential without a cluster, else :class:`~qkernels.suite.engine.dask.DaskEngine`."""
    if spec is None:
        return SequentialEngine()
    from qkernels.suite.engine.dask import DaskEngine
    return DaskEngine(spec, progress=progress, shared_cache=shared_cache)


__all__ = ["make_engine", "shared_cache_from_env", "SequentialEngine", "ClusterSpec", "parse_cluster",
           "resolve_cluster", "cluster_from_env", "Job", "PlannedSection", "build_jobs", "execution_order", "Outcome",
           "run_unit"]
