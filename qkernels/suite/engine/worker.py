"""``qkernels worker ADDRESS``: start Dask workers for a qkernels run, one per device.

Without ``--gpus``/``--npus`` it starts ``--nworkers`` CPU workers (default: one per usable core),
one thread each. With ``--gpus 0,1`` (or ``all``) it starts one worker per GPU, each with its own
``CUDA_VISIBLE_DEVICES`` and a ``GPU=1`` resource, so that every unit that asks for a GPU gets one
to itself; ``--npus`` does the same with ``ASCEND_RT_VISIBLE_DEVICES`` and ``NPU=1``. The workers
are ``python -m distributed.cli.dask_worker`` processes; options this command does not know are
passed to them. It runs until they exit, and stops them on Ctrl-C or SIGTERM.

dask-jobqueue starts it as ``python -m qkernels.suite.engine.worker`` on SLURM nodes
(``--cluster slurm:gpus=N``), which is why it accepts the options that dask-jobqueue passes.

Example:
    >>> cmds = worker_commands("tcp://10.0.0.5:8786", gpus=["0", "1"], name="node7")
    >>> [(c.name, c.env["CUDA_VISIBLE_DEVICES"], c.argv[c.argv.index("--resources") + 1]) for c in cmds]
    [('node7-gpu0', '0', 'GPU=1'), ('node7-gpu1', '1', 'GPU=1')]
    >>> worker_commands("tcp://10.0.0.5:8786", nworkers=2)[0].argv[-4:]
    ['--nworkers', '2', '--nthreads', '1']
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from qkernels.core.errors import InputError
from qkernels.suite.engine.spec import parse_cluster, usable_cores

#: Dask settings of the workers this command starts (the environment can override them), as for an
#: embedded local cluster (qkernels.suite.engine.dask.LOCAL_CONFIG): no ``MALLOC_TRIM_THRESHOLD_`` (Dask's
#: 65536 made torch training ~2x slower in a worker) and no statistical profiler
WORKER_ENV = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
              "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_": "None"}
#: device kind -> (visible-devices variable, Dask resource)
DEVICE_VARS = {"gpu": ("CUDA_VISIBLE_DEVICES", "GPU"), "npu": ("ASCEND_RT_VISIBLE_DEVICES", "NPU")}


@dataclass(frozen=True)
class WorkerCommand:
    """One worker process to start: its name, environment additions and command line."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        """The command as one shell line (what ``--dry-run`` prints)."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (prefix + " " if prefix else "") + " ".join(shlex.quote(a) for a in self.argv)


def detect_devices(kind: str) -> list[str]:
    """The devices of ``kind`` ("gpu" or "npu") this machine shows: its visible-devices variable if set,
    else the count torch reports. InputError when there are none."""
    var, _ = DEVICE_VARS[kind]
    listed = [d.strip() for d in os.environ.get(var, "").split(",") if d.strip()]
    if listed:
        return listed
    count = 0
    if kind == "gpu":
        import torch
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    else:
        try:
            import torch
            import torch_npu  # noqa: F401
            count = torch.npu.device_count()
        except Exception:
            count = 0
    if count == 0:
        raise InputError(f"--{kind}s all: no {kind.upper()} is visible here (set {var} or list the devices)")
    return [str(i) for i in range(count)]


def parse_device_list(text: str | None, kind: str) -> list[str] | None:
    """``"0,1"`` -> ["0", "1"]; ``"all"`` -> every visible device; None -> None.

    Example:
        >>> parse_device_list("0, 2", "gpu")
        ['0', '2']
    """
    if text is None:
        return None
    if text.strip().lower() == "all":
        return detect_devices(kind)
    ids = [d.strip() for d in text.split(",") if d.strip()]
    if not ids or any(not (d.isdigit() or d.startswith(("GPU-", "MIG-"))) for d in ids) or len(set(ids)) != len(ids):
        raise InputError(f"--{kind}s {text!r}: expected all or a comma-separated list of distinct device ids (0,1,...)")
    return ids


def worker_commands(address: str, *, gpus: list[str] | None = None, npus: list[str] | None = None,
                    nworkers: int | None = None, nthreads: int = 1, name: str | None = None,
                    memory_limit: str | None = None, extra: list[str] | None = None) -> list[WorkerCommand]:
    """The worker processes to start for ``address`` (see the module docstring)."""
    base = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-dashboard"]
    if memory_limit:
        base += ["--memory-limit", memory_limit]
    base += list(extra or [])
    host = name or socket.gethostname()
    if gpus and npus:
        raise InputError("--gpus and --npus: give one kind of device per worker command")
    devices = [("gpu", d) for d in gpus or []] + [("npu", d) for d in npus or []]
    if devices:
        cmds = []
        for i, (kind, dev) in enumerate(devices):
            var, resource = DEVICE_VARS[kind]
            cmds.append(WorkerCommand(f"{host}-{kind}{i}", base + ["--name", f"{host}-{kind}{i}", "--resources",
                                                                   f"{resource}=1", "--nworkers", "1", "--nthreads",
                                                                   str(nthreads)], {var: dev}))
        return cmds
    n = nworkers or usable_cores()
    return [WorkerCommand(f"{host}-cpu", base + ["--name", f"{host}-cpu", "--nworkers", str(n), "--nthreads",
                                                 str(nthreads)])]


def serve(commands: list[WorkerCommand], *, out=sys.stderr) -> int:
    """Start ``commands``, wait for them, stop them all on SIGINT/SIGTERM or when one fails; the exit status."""
    procs: list[subprocess.Popen] = []
    stopping = False

    def stop(signum=None, frame=None):
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.poll() is None:
                p.terminate()

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for c in commands:
            print(f"qkernels worker: starting {c.name}: {c.shell()}", file=out, flush=True)
            procs.append(subprocess.Popen(c.argv, env={**WORKER_ENV, **os.environ, **c.env}))
        while any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs) and not stopping:
                print("qkernels worker: a worker exited with an error; stopping the others", file=out, flush=True)
                stop()
            time.sleep(0.2)
    finally:
        stop()
        deadline = time.monotonic() + 10
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        for s, h in old.items():
            signal.signal(s, h)
    codes = [p.returncode for p in procs]
    return 0 if stopping and all(c in (0, -signal.SIGTERM, -signal.SIGINT) for c in codes) else max(
        (abs(c) for c in codes), default=0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``qkernels worker`` (shared with ``python -m qkernels.suite.engine.worker``)."""
    p.add_argument("address", help="the Dask scheduler, e.g. tcp://HOST:8786")
    p.add_argument("--gpus", default=None, help="one worker per GPU: all, or ids such as 0,1 (sets CUDA_VISIBLE_DEVICES "
                                                "and a GPU=1 resource per worker)")
    p.add_argument("--npus", default=None, help="one worker per Ascend NPU: all, or ids (ASCEND_RT_VISIBLE_DEVICES, NPU=1)")
    p.add_argument("--nworkers", type=int, default=None, help="CPU workers (default: one per usable core)")
    p.add_argument("--nthreads", type=int, default=1, help="threads per worker (default 1: units set their own)")
    p.add_argument("--name", default=None, help="name prefix of the workers (default: the host name)")
    p.add_argument("--memory-limit", default=None, help="memory per worker, e.g. 8GB (default: Dask's)")
    p.add_argument("--dry-run", action="store_true", help="print the worker commands and exit")


def worker_command(a: argparse.Namespace, extra: list[str] | None = None) -> int:
    """Run ``qkernels worker`` with parsed arguments ``a``."""
    spec = parse_cluster(a.address, origin="qkernels worker")
    if spec.kind != "address":
        raise InputError(f"qkernels worker {a.address!r}: expected a scheduler address such as tcp://HOST:8786")
    if a.nthreads < 1 or (a.nworkers is not None and a.nworkers < 1):
        raise InputError("qkernels worker: --nthreads and --nworkers must be positive")
    if not a.dry_run:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise InputError("qkernels worker needs Dask: pip install 'qkernels[dist]'") from None
    cmds = worker_commands(spec.address, gpus=parse_device_list(a.gpus, "gpu"), npus=parse_device_list(a.npus, "npu"),
                           nworkers=a.nworkers, nthreads=a.nthreads, name=a.name, memory_limit=a.memory_limit,
                           extra=extra)
    if a.dry_run:
        for c in cmds:
            print(c.shell())
        return 0
    return serve(cmds)


def main(argv: list[str] | None = None) -> int:
    """``python -m qkernels.suite.engine.worker``: as ``qkernels worker``, tolerant of dask-jobqueue's options."""
    p = argparse.ArgumentParser(prog="qkernels-worker")
    add_arguments(p)
    a, rest = p.parse_known_args(argv)
    # dask-jobqueue passes --nworkers/--nthreads for the whole job; with devices, one worker per device
    if a.gpus or a.npus:
        a.nworkers = None
        a.nthreads = 1
    try:
        return worker_command(a, rest)
    except InputError as exc:
        print(f"qkernels worker: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["WorkerCommand", "worker_commands", "parse_device_list", "detect_devices", "serve", "add_arguments",
           "worker_command", "main", "DEVICE_VARS", "WORKER_ENV"]
