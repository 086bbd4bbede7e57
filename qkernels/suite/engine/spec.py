"""What ``--cluster`` (or ``$QK_CLUSTER``, or Dask's ``$DASK_SCHEDULER_ADDRESS``) asks for.

Three forms (docs/scale-out.md):

- ``local`` or ``local:N``: an embedded Dask ``LocalCluster`` of N single-threaded worker
  processes (default: one per usable core), started for the run and shut down at its end;
- an address ``tcp://HOST:PORT`` (also ``tls://``, ``ws://``, ``wss://``, ``ucx://``): a running
  Dask scheduler, whose workers you started (``qkernels worker ADDRESS``);
- ``slurm`` or ``slurm:KEY=VALUE,...``: a SLURM cluster through dask-jobqueue, with the options of
  :data:`SLURM_OPTIONS`.

Example:
    >>> parse_cluster("local:2")
    ClusterSpec(kind='local', text='local:2', workers=2, address=None, options=())
    >>> parse_cluster("tcp://10.0.0.5:8786").address
    'tcp://10.0.0.5:8786'
    >>> dict(parse_cluster("slurm:jobs=4,cores=8,memory=32GB").options)
    {'jobs': '4', 'cores': '8', 'memory': '32GB'}
    >>> parse_cluster("local:zero")
    Traceback (most recent call last):
    ...
    qkernels.core.errors.InputError: --cluster 'local:zero': expected local or local:N with N a positive integer
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from qkernels.core.errors import InputError

#: the schemes of a Dask scheduler address
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
#: the options of ``--cluster slurm:KEY=VALUE,...`` and what they set (dask-jobqueue's SLURMCluster)
SLURM_OPTIONS = {
    "jobs": "SLURM jobs to submit (default 1); each runs `processes` workers",
    "cores": "cores per job (default 4)",
    "processes": "worker processes per job (default: cores, one thread each)",
    "memory": "memory per job, e.g. 16GB (default 16GB)",
    "walltime": "time limit per job, HH:MM:SS (default 01:00:00)",
    "queue": "partition (sbatch -p)",
    "account": "account (sbatch -A)",
    "gpus": "GPUs per job (sbatch --gres=gpu:N); each worker of the job gets GPU=1 resources",
    "python": "python executable on the nodes (default: this one)",
}


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value."""

    kind: str  # "local", "address" or "slurm"
    text: str
    workers: int | None = None
    address: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def shares_files(self) -> bool:
        """Whether the workers see the driver's files (a local cluster: same machine, same cache)."""
        return self.kind == "local"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_cluster(text: str, origin: str = "--cluster") -> ClusterSpec:
    """Parse a cluster spec; InputError (naming ``origin``) for anything else."""
    raw = text.strip()
    if raw == "local" or raw.startswith("local:"):
        if raw == "local":
            return ClusterSpec("local", raw, workers=usable_cores())
        n = raw.split(":", 1)[1]
        if not re.fullmatch(r"[0-9]+", n) or int(n) < 1:
            raise InputError(f"{origin} {text!r}: expected local or local:N with N a positive integer")
        return ClusterSpec("local", raw, workers=int(n))
    if raw == "slurm" or raw.startswith("slurm:"):
        opts: list[tuple[str, str]] = []
        body = raw[len("slurm:"):] if raw.startswith("slurm:") else ""
        for item in filter(None, (x.strip() for x in body.split(","))):
            k, sep, v = item.partition("=")
            if not sep or not v:
                raise InputError(f"{origin} {text!r}: expected slurm:KEY=VALUE,... (got {item!r})")
            if k not in SLURM_OPTIONS:
                raise InputError(f"{origin} {text!r}: unknown slurm option {k!r}; options: {', '.join(SLURM_OPTIONS)}")
            if k in ("jobs", "cores", "processes", "gpus") and (not v.isdigit() or int(v) < (0 if k == "gpus" else 1)):
                raise InputError(f"{origin} {text!r}: slurm option {k} must be a positive integer, got {v!r}")
            opts.append((k, v))
        return ClusterSpec("slurm", raw, options=tuple(opts))
    m = re.fullmatch(r"([a-z]+)://([^\s/]+)", raw)
    if m and m.group(1) in SCHEMES:
        return ClusterSpec("address", raw, address=raw)
    raise InputError(f"{origin} {text!r}: expected local, local:N, a scheduler address such as tcp://HOST:8786, "
                     "or slurm[:KEY=VALUE,...]")


def cluster_from_env() -> tuple[str, str] | None:
    """``(value, variable)`` of ``$QK_CLUSTER``, else of ``$DASK_SCHEDULER_ADDRESS``, else None."""
    for var in ("QK_CLUSTER", "DASK_SCHEDULER_ADDRESS"):
        value = os.environ.get(var, "").strip()
        if value:
            return value, var
    return None


def resolve_cluster(cli_value: str | None) -> ClusterSpec | None:
    """The cluster of a run: ``--cluster`` if given (``none`` or ``off`` for a sequential run even when the
    environment names a cluster), else the environment, else None (sequential).

    Example:
        >>> resolve_cluster("none") is None, resolve_cluster("local:1").workers
        (True, 1)
    """
    if cli_value is not None:
        if cli_value.strip().lower() in ("none", "off", "sequential"):
            return None
        return parse_cluster(cli_value)
    found = cluster_from_env()
    if found is None:
        return None
    value, var = found
    return parse_cluster(value, origin=var)


__all__ = ["ClusterSpec", "parse_cluster", "cluster_from_env", "resolve_cluster", "usable_cores", "SLURM_OPTIONS",
           "SCHEMES"]
