"""``--cluster`` values, ``$QK_CLUSTER`` / ``$DASK_SCHEDULER_ADDRESS``, ``$QK_SHARED_CACHE``, and the SLURM arguments."""

from __future__ import annotations

import pytest

from qkernels.core.errors import InputError
from qkernels.suite.engine import make_engine, shared_cache_from_env
from qkernels.suite.engine.dask import slurm_kwargs, worker_timeout
from qkernels.suite.engine.spec import parse_cluster, resolve_cluster, usable_cores


@pytest.mark.parametrize("text, kind, workers, address", [
    ("local", "local", None, None), ("local:3", "local", 3, None), (" local:1 ", "local", 1, None),
    ("tcp://10.1.2.3:8786", "address", None, "tcp://10.1.2.3:8786"), ("tls://head:8786", "address", None, "tls://head:8786"),
    ("slurm", "slurm", None, None), ("slurm:jobs=2,cores=4", "slurm", None, None),
])
def test_valid_specs(text, kind, workers, address):
    spec = parse_cluster(text)
    assert spec.kind == kind and spec.address == address
    assert spec.workers == (usable_cores() if text == "local" else workers)
    assert spec.shares_files == (kind == "local")


@pytest.mark.parametrize("text, words", [
    ("local:0", "positive integer"), ("local:-1", "positive integer"), ("local:x", "positive integer"),
    ("10.0.0.1:8786", "tcp://HOST"), ("http://x:1", "tcp://HOST"), ("", "tcp://HOST"),
    ("slurm:jobs", "KEY=VALUE"), ("slurm:nodes=3", "unknown slurm option 'nodes'"), ("slurm:jobs=0", "positive"),
    ("slurm:cores=two", "positive"),
])
def test_bad_specs_are_one_clear_error(text, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(")) as e:
        parse_cluster(text)
    assert "\n" not in str(e.value) and str(e.value).startswith("--cluster")


def test_environment_names_the_cluster(monkeypatch):
    monkeypatch.delenv("QK_CLUSTER", raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    assert resolve_cluster(None) is None
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://sched:8786")
    assert resolve_cluster(None).address == "tcp://sched:8786"
    monkeypatch.setenv("QK_CLUSTER", "local:2")  # ours first
    assert resolve_cluster(None).workers == 2
    assert resolve_cluster("none") is None and resolve_cluster("local:1").workers == 1  # the option wins
    monkeypatch.setenv("QK_CLUSTER", "lokal")
    with pytest.raises(InputError, match="^QK_CLUSTER 'lokal'"):
        resolve_cluster(None)


def test_shared_cache_and_timeout_variables(monkeypatch):
    monkeypatch.delenv("QK_SHARED_CACHE", raising=False)
    assert shared_cache_from_env() is None
    for raw, want in (("1", True), ("yes", True), ("0", False), ("false", False)):
        monkeypatch.setenv("QK_SHARED_CACHE", raw)
        assert shared_cache_from_env() is want
    monkeypatch.setenv("QK_SHARED_CACHE", "maybe")
    with pytest.raises(InputError, match="QK_SHARED_CACHE"):
        shared_cache_from_env()
    monkeypatch.setenv("QK_WORKER_TIMEOUT", "2.5")
    assert worker_timeout() == 2.5
    for bad in ("0", "-1", "soon", "inf"):
        monkeypatch.setenv("QK_WORKER_TIMEOUT", bad)
        with pytest.raises(InputError, match="QK_WORKER_TIMEOUT"):
            worker_timeout()


def test_local_cluster_shares_the_cache_unless_told():
    assert make_engine(parse_cluster("local:1")).ships_checkpoints is False
    assert make_engine(parse_cluster("tcp://a:1")).ships_checkpoints is True
    assert make_engine(parse_cluster("tcp://a:1"), shared_cache=True).ships_checkpoints is False
    assert make_engine(parse_cluster("local:1"), shared_cache=False).ships_checkpoints is True


def test_slurm_arguments():
    kw, jobs = slurm_kwargs(parse_cluster("slurm:jobs=3,cores=8,memory=32GB,walltime=02:00:00,queue=gpu,account=lab"))
    assert jobs == 3 and kw["cores"] == 8 and kw["processes"] == 8 and kw["memory"] == "32GB"
    assert kw["walltime"] == "02:00:00" and kw["queue"] == "gpu" and kw["account"] == "lab"
    assert kw["worker_command"] == "qkernels.suite.engine.worker" and kw["job_extra_directives"] == []
    kw, jobs = slurm_kwargs(parse_cluster("slurm:gpus=4"))
    assert jobs == 1 and kw["processes"] == 1 and kw["job_extra_directives"] == ["--gres=gpu:4"]
    assert kw["worker_extra_args"] == ["--gpus", "all"] and "queue" not in kw


def test_slurm_cluster_is_built_from_the_options(monkeypatch, tmp_path):
    pytest.importorskip("distributed")
    jobqueue = pytest.importorskip("dask_jobqueue")
    made = {}

    class FakeSLURM:
        def __init__(self, **kw):
            made["kw"] = kw

        def scale(self, jobs):
            made["jobs"] = jobs
            raise RuntimeError("no SLURM here")

        def close(self):
            made["closed"] = True

    monkeypatch.setattr(jobqueue, "SLURMCluster", FakeSLURM)
    with pytest.raises(RuntimeError, match="no SLURM here"):
        with make_engine(parse_cluster("slurm:jobs=2,cores=2")):
            pass
    assert made["jobs"] == 2 and made["kw"]["cores"] == 2 and made["closed"]  # nothing left running
