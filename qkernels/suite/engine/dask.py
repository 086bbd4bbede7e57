"""The Dask engine: the units of a run as Dask tasks on a local cluster, a running scheduler or SLURM.

How a run uses the cluster (docs/scale-out.md):

1. ``--device`` is resolved on a worker (one with GPU/NPU resources when the cluster has them),
   never on the driver, and the units that use that device ask for one ``GPU``/``NPU`` resource.
2. The untimed units are submitted at once; a unit's task takes the tasks it depends on as
   arguments (Dask starts it when they are done and moves their results between workers), so a
   dense model is trained once and its files reach the workers that prune it.
3. The driver writes each result as it arrives (the workers never write the run folder).
4. When the parallel phase has drained, the timed units run one at a time on one worker, with the
   threads they declare.

A device error costs only its unit; a worker that dies while running a unit (``KilledWorker``) is
recorded the same way; any other error cancels the outstanding tasks and stops the run.
Interrupting the driver (Ctrl-C) cancels everything and shuts an embedded cluster down.

Example:
    >>> DaskEngine.resource_for("cuda"), DaskEngine.resource_for("npu"), DaskEngine.resource_for("cpu")
    ('GPU', 'NPU', None)
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator

import torch

from qkernels.core.errors import InputError
from qkernels.suite.engine.jobs import Job, execution_order
from qkernels.suite.engine.spec import ClusterSpec
from qkernels.suite.engine.tasks import Outcome, RemoteTask, remote_execute, resolve_on_worker

#: the Dask resource a device type asks for
RESOURCES = {"cuda": "GPU", "npu": "NPU"}
#: how long to wait for the first worker (seconds; $QK_WORKER_TIMEOUT)
DEFAULT_WORKER_TIMEOUT = 300.0
PIP_HINT = "pip install 'qkernels[dist]'"
#: the Dask settings of an embedded local cluster (workers of another cluster should run with the same:
#: ``qkernels worker`` sets them, docs/scale-out.md). Measured on the 2-core machine:
#:
#: - Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; any explicit value turns
#:   off glibc's adaptive mmap threshold, so every large tensor is mmap'ed and unmapped again, and
#:   training a small MLP took 3.6-5.5 s in a worker against 2.0-2.2 s in a process without it
#:   (None unsets it);
#: - the workers' statistical profiler samples the task's stack every 10 ms and reads source lines
#:   for every frame: off;
#: - one task per worker thread at a time (none queued on a worker), and a task whose worker died is
#:   tried once more elsewhere: a unit that kills its worker is blamed (KilledWorker) after its second
#:   death, and a unit that merely shared the dying worker's last moments runs again.
LOCAL_CONFIG = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0,
                "distributed.worker.daemon": True, "distributed.worker.profile.enabled": False,
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def worker_timeout() -> float:
    """``$QK_WORKER_TIMEOUT`` (seconds to wait for the first worker), else 300."""
    raw = os.environ.get("QK_WORKER_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_WORKER_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise InputError(f"QK_WORKER_TIMEOUT={raw!r}: expected a positive number of seconds")
    return value


def _import_dask():
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise InputError(f"--cluster needs Dask ({exc.name} is not installed): {PIP_HINT}") from None
    return dask, distributed


def slurm_kwargs(spec: ClusterSpec) -> tuple[dict, int]:
    """dask-jobqueue ``SLURMCluster`` arguments of a ``slurm:...`` spec, and the number of jobs.

    Example:
        >>> kw, jobs = slurm_kwargs(ClusterSpec("slurm", "slurm:jobs=2,cores=8,gpus=2",
        ...                                     options=(("jobs", "2"), ("cores", "8"), ("gpus", "2"))))
        >>> jobs, kw["cores"], kw["processes"], kw["job_extra_directives"], kw["worker_extra_args"]
        (2, 8, 1, ['--gres=gpu:2'], ['--gpus', 'all'])
    """
    o = dict(spec.options)
    cores = int(o.get("cores", 4))
    gpus = int(o.get("gpus", 0))
    kw: dict = {"cores": cores, "memory": o.get("memory", "16GB"), "walltime": o.get("walltime", "01:00:00"),
                "processes": int(o.get("processes", cores)), "python": o.get("python", sys.executable),
                "worker_command": "qkernels.suite.engine.worker", "job_extra_directives": [],
                "worker_extra_args": []}
    if gpus:  # one launcher per job; it starts one worker per GPU with its own CUDA_VISIBLE_DEVICES
        kw["processes"] = 1
        kw["job_extra_directives"].append(f"--gres=gpu:{gpus}")
        kw["worker_extra_args"] += ["--gpus", "all"]
    for opt in ("queue", "account"):
        if opt in o:
            kw[opt] = o[opt]
    return kw, int(o.get("jobs", 1))


class DaskEngine:
    """Runs the jobs of a run on a Dask cluster (see the module docstring)."""

    name = "dask"

    def __init__(self, spec: ClusterSpec, *, progress: bool = True, shared_cache: bool | None = None):
        self.spec = spec
        self.progress = progress
        #: whether the workers see the driver's checkpoint cache ($QK_SHARED_CACHE=1 says so for a cluster)
        self.shared_cache = spec.shares_files if shared_cache is None else shared_cache
        self.ships_checkpoints = not self.shared_cache
        self.client = None
        self.cluster = None
        #: the tasks not yet collected (cancelled when the run stops)
        self._futures: dict[str, object] = {}
        self._device = ""
        self._resources: dict[str, float] = {}
        #: the worker that runs the timed units, per resource request
        self._pinned: dict[tuple, str | None] = {}

    @staticmethod
    def resource_for(device_type: str) -> str | None:
        return RESOURCES.get(device_type)

    # ---- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> DaskEngine:
        dask, distributed = _import_dask()
        logging.getLogger("distributed").setLevel(logging.CRITICAL if self.spec.kind == "local" else logging.ERROR)
        try:
            if self.spec.kind == "local":
                with dask.config.set(LOCAL_CONFIG):  # see LOCAL_CONFIG: each setting is measured
                    self.cluster = distributed.LocalCluster(
                        n_workers=self.spec.workers, threads_per_worker=1, processes=True,
                        dashboard_address=os.environ.get("QK_DASHBOARD") or None, silence_logs=logging.CRITICAL)
                    self.client = distributed.Client(self.cluster, set_as_default=False)
            elif self.spec.kind == "slurm":
                try:
                    from dask_jobqueue import SLURMCluster
                except ImportError:
                    raise InputError(f"--cluster slurm needs dask-jobqueue: {PIP_HINT}") from None
                kw, jobs = slurm_kwargs(self.spec)
                self.cluster = SLURMCluster(**kw)
                self.cluster.scale(jobs=jobs)
                self.client = distributed.Client(self.cluster, set_as_default=False)
            else:
                try:
                    self.client = distributed.Client(self.spec.address, timeout=worker_timeout(),
                                                     set_as_default=False)
                except (OSError, TimeoutError) as exc:
                    raise InputError(f"--cluster {self.spec.address}: cannot reach the Dask scheduler "
                                     f"({type(exc).__name__}: {exc})") from None
            self._wait_for_workers()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_for_workers(self) -> None:
        timeout = worker_timeout()
        if not self._workers():
            if self.progress:
                print(f"qkernels: waiting up to {timeout:g} s for a worker to join {self.spec.text}", file=sys.stderr)
            try:
                self.client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise InputError(f"--cluster {self.spec.text}: no worker joined within {timeout:g} s "
                                 "(start some with `qkernels worker ADDRESS`; $QK_WORKER_TIMEOUT waits longer)") from None

    def __exit__(self, *exc) -> None:
        try:
            if self.client is not None and self._futures:
                self.client.cancel(list(self._futures.values()), force=True)
        except Exception:  # shutting down: nothing more to save
            pass
        self._futures = {}
        for thing in (self.client, self.cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception:
                    pass
        self.client = self.cluster = None

    def close(self) -> None:
        """Cancel what is left and shut an embedded cluster down (idempotent)."""
        self.__exit__(None, None, None)

    # ---- cluster facts ------------------------------------------------------------------------
    def _workers(self) -> dict[str, dict]:
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed
            info = self.client.scheduler_info()
        return dict(info.get("workers", {}))

    def describe(self) -> dict:
        """The ``engine`` block of env.json: the cluster, its workers, Dask's versions."""
        import dask
        import distributed
        workers = [{"name": str(w.get("name")), "address": addr, "host": w.get("host"),
                    "nthreads": w.get("nthreads"), "memory_limit": w.get("memory_limit"),
                    "resources": w.get("resources") or {}} for addr, w in sorted(self._workers().items())]
        return {"name": self.name, "cluster": self.spec.text, "kind": self.spec.kind,
                "scheduler": getattr(self.client, "scheduler", None) and self.client.scheduler.address,
                "workers": workers, "n_workers": len(workers), "shared_cache": self.shared_cache,
                "device": self._device, "device_resources": dict(self._resources),
                "versions": {"dask": dask.__version__, "distributed": distributed.__version__}}

    def device(self, spec: str) -> torch.device:
        """``--device`` resolved on a worker (with GPU/NPU resources when the cluster has them)."""
        have = {r for w in self._workers().values() for r, v in (w.get("resources") or {}).items() if v}
        want = None
        if spec == "auto":
            want = next((r for r in ("GPU", "NPU") if r in have), None)
        else:
            want = self.resource_for(spec.split(":")[0])
            if want not in have:
                want = None
        fut = self.client.submit(resolve_on_worker, spec, resources={want: 1} if want else None, pure=False,
                                 key=f"qk-device-{uuid.uuid4().hex[:8]}")
        try:
            name = fut.result(timeout=worker_timeout())
        except InputError as exc:
            raise InputError(f"--device {spec}: {exc} (resolved on a worker of {self.spec.text})") from None
        dev = torch.device(name)
        self._device = name
        res = self.resource_for(dev.type)
        self._resources = {res: 1} if res and res in have else {}
        return dev

    def device_resources(self) -> dict[str, float]:
        return dict(self._resources)

    # ---- running ------------------------------------------------------------------------------
    def _task(self, job: Job) -> RemoteTask:
        p = job.planned
        return RemoteTask(section=p.section, profile_name=p.profile_name, profile=p.profile, seed=p.seed,
                          device=self._device, key=job.unit.key, timed=job.unit.timed, threads=job.unit.threads,
                          ship_checkpoints=self.ships_checkpoints)

    def _resources_of(self, job: Job) -> dict[str, float] | None:
        res = {**self._resources, **dict(job.unit.resources)}
        return res or None

    def _args(self, job: Job, futures: dict[int, object], scattered: dict[str, object]) -> list:
        args: list = [futures[d] for d in job.deps if d in futures]
        for g in job.given:
            if g.checkpoints:
                ident = ",".join(sorted(g.checkpoints))
                if ident not in scattered:
                    scattered[ident] = self.client.scatter(g, hash=False)
                args.append(scattered[ident])
            else:
                args.append(g)
        return args

    def _outcome(self, job: Job, fut) -> Outcome:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker
        try:
            return fut.result()
        except KilledWorker as exc:
            return Outcome(job.section, job.unit.key, error=f"the worker running it died (KilledWorker: {exc})",
                           meta={"label": job.unit.label, "engine": self.name, "status": "worker died",
                                 "timed": job.unit.timed})
        except FutureCancelledError:
            raise RuntimeError(f"section {job.section!r}: unit {job.unit.key!r} was cancelled by the cluster") from None

    def _submit(self, job: Job, args: list, **kw):
        fut = self.client.submit(remote_execute, self._task(job), *args, resources=self._resources_of(job),
                                 key=f"qk-{job.section}-{job.index}-{uuid.uuid4().hex[:8]}", pure=False, **kw)
        self._futures[fut.key] = fut
        return fut

    def _timing_worker(self, job: Job) -> str | None:
        """The worker that runs the timed units asking for these resources (the same one each time)."""
        need = self._resources_of(job) or {}
        live = sorted(self._workers().items(), key=lambda kv: str(kv[1].get("name")))
        ok = [addr for addr, w in live if all((w.get("resources") or {}).get(r, 0) >= v for r, v in need.items())]
        key = tuple(sorted(need.items()))
        if self._pinned.get(key) not in ok:
            self._pinned[key] = ok[0] if ok else None
        return self._pinned[key]

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        """Run ``jobs``: the untimed ones in parallel, then the timed ones one at a time; yield each
        :class:`Outcome` as it arrives."""
        from distributed import as_completed

        order = execution_order(jobs)
        needed = {d for j in jobs for d in j.deps}
        futures: dict[int, object] = {}
        scattered: dict[str, object] = {}
        by_key: dict[str, Job] = {}
        untimed = [j for j in order if not j.unit.timed]
        for job in untimed:
            fut = self._submit(job, self._args(job, futures, scattered))
            futures[job.index] = fut
            by_key[fut.key] = job
        for fut in as_completed([futures[j.index] for j in untimed], loop=self.client.loop):
            job = by_key.pop(fut.key)
            out = self._outcome(job, fut)
            self._futures.pop(fut.key, None)
            if job.index not in needed:
                futures.pop(job.index, None)
            yield out
        for job in (j for j in order if j.unit.timed):
            worker = self._timing_worker(job)
            fut = self._submit(job, self._args(job, futures, scattered),
                               workers=[worker] if worker else None, allow_other_workers=worker is None)
            futures[job.index] = fut
            out = self._outcome(job, fut)
            self._futures.pop(fut.key, None)
            if job.index not in needed:
                futures.pop(job.index, None)
            yield out
        self._futures = {}


__all__ = ["DaskEngine", "slurm_kwargs", "worker_timeout", "RESOURCES", "PIP_HINT", "LOCAL_CONFIG"]
