"""``qkernels run --cluster`` on real Dask clusters of this machine (2 worker processes).

- the pruning section's CSV on a 2-worker ``LocalCluster`` equals the sequential one (all columns
  but the measured times, which differ between any two runs), from empty checkpoint caches;
- the driver SIGKILLed mid-run leaves no worker process, and ``--resume`` on the cluster gives the
  same CSV;
- a unit that kills its worker (``os._exit``) is recorded in ``<section>_errors.csv`` and retried
  by ``--resume``;
- on a scheduler with two fake GPU workers (``qkernels worker --gpus 0,1``) and a CPU worker, the
  units that ask for a GPU run on the GPU workers, each with its own ``CUDA_VISIBLE_DEVICES``;
- ``--device cuda`` is resolved on a worker and refused there (no GPU on this machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from qkernels.core.errors import InputError
from qkernels.suite import sections as sections_pkg
from qkernels.suite.runner import run
from qkernels.suite.sections.pruning import plan as pruning_plan
from tests.suite.engine.fixtures import TINY_PRUNING, FaultSection, GpuSection, without_times

distributed = pytest.importorskip("distributed", reason="the dist extra (dask, distributed) is not installed")
psutil = pytest.importorskip("psutil")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")]

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def tiny_pruning(monkeypatch):
    monkeypatch.setitem(pruning_plan.PROFILES, "quick", TINY_PRUNING)
    monkeypatch.delenv("QK_CLUSTER", raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)


@pytest.fixture()
def extra_sections():
    """The test sections in the registry of this process (the workers get the section objects from the driver)."""
    registry = sections_pkg._registry()
    added = {s.name: s for s in (FaultSection(), GpuSection())}
    registry.update(added)
    yield
    for name in added:
        registry.pop(name, None)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setitem(pruning_plan.PROFILES, "quick", TINY_PRUNING)
    base = tmp_path_factory.mktemp("seq")
    mp.setenv("QK_CACHE_DIR", str(base / "cache"))
    try:
        return run(sections="pruning", out=base / "run", progress=False, cluster="none")
    finally:
        mp.undo()


def test_local_cluster_csv_equals_sequential(tiny_pruning, sequential, tmp_path, monkeypatch):
    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "cache"))
    out = run(sections="pruning", out=tmp_path / "run", progress=False, cluster="local:2")
    assert without_times(out / "pruning.csv") == without_times(sequential / "pruning.csv")
    env = json.loads((out / "env.json").read_text())
    assert env["engine"]["name"] == "dask" and env["engine"]["n_workers"] == 2 and env["engine"]["shared_cache"]
    assert json.loads((sequential / "env.json").read_text())["engine"]["name"] == "sequential"
    units = pd.read_csv(out / "pruning_units.csv")
    assert set(units.engine) == {"dask"} and units.worker.nunique() == 2  # both workers ran units
    assert (units.status == "ok").all() and len(units) == len(pd.read_csv(sequential / "pruning_units.csv"))
    rows = pd.read_csv(out / "pruning.csv")
    assert not {"worker", "host", "pid"} & set(rows.columns)  # where a unit ran is never in the rows
    dense = rows[rows.stage == "dense"]
    assert not dense.cached.any()  # each dense model trained once, by its own unit; the others loaded it


def _tree(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pids: list[int]) -> list[int]:
    out = []
    for p in pids:
        try:
            if psutil.Process(p).status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


DRIVER = """
import signal, sys
# Ctrl-C as in a terminal, even when the test runs in a background job that ignores SIGINT (CI)
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {root!r})
from tests.suite.engine.fixtures import TINY_PRUNING
from qkernels.suite.sections.pruning import plan as P
P.PROFILES["quick"] = TINY_PRUNING
from qkernels.suite.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_of_driver_leaves_no_worker_and_resume_completes(tiny_pruning, sequential, tmp_path, monkeypatch):
    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    env = {**os.environ, "QK_CACHE_DIR": str(tmp_path / "cache"), "QK_TEST_SLOW_UNIT": "none"}
    cmd = [sys.executable, "-c", DRIVER.format(root=str(ROOT)), "run", "--sections", "pruning", "--out", str(out),
           "--cluster", "local:2", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = out / ".parts" / "pruning"
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline:
        workers = sorted(set(workers) | set(_tree(proc.pid)))
        if parts.is_dir() and len(list(parts.glob("*.csv"))) >= 4:
            break
        assert proc.poll() is None, "the driver ended before it could be killed"
        time.sleep(0.05)
    workers = sorted(set(workers) | set(_tree(proc.pid)))
    assert len(workers) >= 2  # the cluster's worker processes
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("*.csv")))
    assert not (out / "pruning.csv").exists() and done >= 4
    deadline = time.monotonic() + 20
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(workers) == [], "worker processes outlived the SIGKILLed driver"
    run(sections="pruning", out=out, resume=True, progress=False, cluster="local:2")
    # `cached` says whether a unit found its dense model in the checkpoint cache, which the killed run
    # may have filled: the one column where a resumed run may differ (as without a cluster)
    assert without_times(out / "pruning.csv", "cached") == without_times(sequential / "pruning.csv", "cached")
    assert not list(out.rglob(".*.tmp"))


def test_ctrl_c_of_driver_stops_the_cluster(tiny_pruning, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "QK_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-c", DRIVER.format(root=str(ROOT)), "run", "--sections", "pruning", "--out", str(out),
           "--cluster", "local:2"]  # with progress bars
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    parts = out / ".parts" / "pruning"
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (parts.is_dir() and len(list(parts.glob("*.csv"))) >= 2):
        workers = sorted(set(workers) | set(_tree(proc.pid)))
        time.sleep(0.05)
    workers = sorted(set(workers) | set(_tree(proc.pid)))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted; finished units are kept" in err
    assert "pruning:" in err and ("unit/s" in err or "s/unit" in err)  # the section's progress bar was shown
    deadline = time.monotonic() + 20
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers) >= 2 and _alive(workers) == []


def test_dense_models_are_shipped_to_workers_with_their_own_caches(tiny_pruning, sequential, tmp_path, monkeypatch):
    """Two workers that share no file with the driver or each other: each dense model is trained once, by one
    worker; its files reach the driver's cache and the other worker's, byte for byte."""
    from distributed import Client, LocalCluster

    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "driver"))
    with LocalCluster(n_workers=0, processes=True, dashboard_address=None) as scheduler:
        address = scheduler.scheduler_address
        procs = []
        for name in ("wa", "wb"):
            env = {**os.environ, "PYTHONPATH": str(ROOT), "QK_CACHE_DIR": str(tmp_path / name)}
            procs.append(subprocess.Popen([sys.executable, "-m", "qkernels", "worker", address, "--nworkers", "1",
                                           "--name", name], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        try:
            with Client(address, set_as_default=False) as client:
                client.wait_for_workers(2, timeout=60)
            out = run(sections="pruning", out=tmp_path / "run", progress=False, cluster=address)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=30)
    assert without_times(out / "pruning.csv") == without_times(sequential / "pruning.csv")
    env = json.loads((out / "env.json").read_text())
    assert env["engine"]["shared_cache"] is False and env["engine"]["n_workers"] == 2
    driver = {p.name: p.read_bytes() for p in (tmp_path / "driver" / "dense").glob("*")}
    # weights + info of each dense model (the MLP and its cross-architecture partner ViT, per replicate),
    # sent back to the driver
    assert len(driver) == 2 * 2 * TINY_PRUNING.replicates
    held = set()
    for name in ("wa", "wb"):
        files = {p.name: p.read_bytes() for p in (tmp_path / name / "dense").glob("*")}
        assert all(driver[f] == data for f, data in files.items())  # one training per model (else other bytes)
        held |= set(files)
    # every entry is on a worker; whether it also reached the other worker depends on where Dask
    # placed the units that need it (it prefers the worker holding their input), so it is not asserted
    assert held == set(driver)
    units = pd.read_csv(out / "pruning_units.csv")
    assert set(units.worker) == {"wa-cpu", "wb-cpu"} or units.worker.str.startswith(("wa", "wb")).all()


def test_unit_that_kills_its_worker_is_recorded_then_retried(extra_sections, tmp_path, monkeypatch):
    monkeypatch.setenv("QK_TEST_KILL_UNIT", "u2")  # the workers inherit it
    out = run(sections="faults", out=tmp_path / "run", progress=False, cluster="local:2")
    errors = pd.read_csv(out / "faults_errors.csv")
    assert errors.unit.tolist() == ["u2"] and errors.error.str.contains("worker running it died").all()
    assert pd.read_csv(out / "faults.csv").unit.tolist() == ["u0", "u1", "u3"]
    assert json.loads((out / "env.json").read_text())["unit_errors"] == 1
    monkeypatch.delenv("QK_TEST_KILL_UNIT")
    run(sections="faults", out=out, resume=True, progress=False, cluster="local:2")
    assert pd.read_csv(out / "faults.csv").unit.tolist() == ["u0", "u1", "u2", "u3"]
    assert not (out / "faults_errors.csv").exists()


def _start_workers(address: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "qkernels", "worker", address, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_gpu_units_run_on_fake_gpu_workers(extra_sections, tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=0, processes=True, dashboard_address=None) as scheduler:
        address = scheduler.scheduler_address
        gpus = _start_workers(address, "--gpus", "0,1", "--name", "fake")
        cpus = _start_workers(address, "--nworkers", "1", "--name", "plain")
        launched = [gpus.pid, cpus.pid]
        try:
            with Client(address, set_as_default=False) as client:
                client.wait_for_workers(3, timeout=60)
                info = client.scheduler_info(n_workers=-1)["workers"].values()
                gpus_of = sorted((w.get("resources") or {}).get("GPU", 0) for w in info)
            assert gpus_of == [0, 1, 1]
            children = _tree(gpus.pid) + _tree(cpus.pid)
            out = run(sections="gpus", out=tmp_path / "run", progress=False, cluster=address)
            units = pd.read_csv(out / "gpus_units.csv", dtype={"visible_devices": str})
            gpu_units = units[units.unit.str.startswith("g")]
            assert gpu_units.worker.str.startswith("fake-gpu").all()
            assert set(gpu_units.visible_devices) == {"0", "1"}  # each GPU worker sees its own device
            assert gpu_units.groupby("worker").visible_devices.nunique().eq(1).all()
            timed = units[units.unit == "t0"].iloc[0]
            assert timed.timed and timed.threads == 1
            assert timed.start >= units[~units.timed].start.max()  # after the parallel phase
            assert pd.read_csv(out / "gpus.csv").unit.tolist() == [f"g{i}" for i in range(6)] + ["c0", "t0"]
        finally:
            for p in (gpus, cpus):
                p.send_signal(signal.SIGTERM)
            for p in (gpus, cpus):
                assert p.wait(timeout=30) == 0
        deadline = time.monotonic() + 20
        while _alive(children + launched) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(children + launched) == []


def test_device_is_resolved_on_a_worker(tiny_pruning, tmp_path):
    with pytest.raises(InputError, match="resolved on a worker"):
        run(sections="pruning", out=tmp_path / "run", progress=False, cluster="local:1", device="cuda")
    assert not (tmp_path / "run").exists()  # refused before anything was written
