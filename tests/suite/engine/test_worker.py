"""``qkernels worker``: the worker commands per device, bad input, and the dask-jobqueue entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qkernels.core.errors import InputError
from qkernels.suite.cli import main
from qkernels.suite.engine.worker import parse_device_list, worker_commands


def test_one_worker_per_gpu_with_its_own_device():
    cmds = worker_commands("tcp://h:8786", gpus=["2", "5"], name="n", memory_limit="8GB", extra=["--death-timeout", "60"])
    assert [c.env for c in cmds] == [{"CUDA_VISIBLE_DEVICES": "2"}, {"CUDA_VISIBLE_DEVICES": "5"}]
    for c in cmds:
        argv = c.argv
        assert argv[:4] == [sys.executable, "-m", "distributed.cli.dask_worker", "tcp://h:8786"]
        assert argv[argv.index("--resources") + 1] == "GPU=1" and argv[argv.index("--nthreads") + 1] == "1"
        assert argv[argv.index("--memory-limit") + 1] == "8GB" and "--death-timeout" in argv
    npu = worker_commands("tcp://h:8786", npus=["0"])[0]
    assert npu.env == {"ASCEND_RT_VISIBLE_DEVICES": "0"} and "NPU=1" in npu.argv
    cpu = worker_commands("tcp://h:8786", nworkers=3)
    assert len(cpu) == 1 and cpu[0].env == {} and cpu[0].argv[-4:] == ["--nworkers", "3", "--nthreads", "1"]
    with pytest.raises(InputError, match="one kind"):
        worker_commands("tcp://h:8786", gpus=["0"], npus=["0"])


def test_device_lists(monkeypatch):
    assert parse_device_list("0,1", "gpu") == ["0", "1"] and parse_device_list(None, "gpu") is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,4")
    assert parse_device_list("all", "gpu") == ["3", "4"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no GPU is visible"):
            parse_device_list("all", "gpu")
    for bad in ("", "0,0", "a,b", ","):
        with pytest.raises(InputError, match="--gpus"):
            parse_device_list(bad, "gpu")


def test_command_line(capsys):
    assert main(["worker", "tcp://10.0.0.1:8786", "--gpus", "0,1", "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("CUDA_VISIBLE_DEVICES=0 ") and "GPU=1" in lines[1]
    for argv, words in ((["worker", "local:2"], "scheduler address"), (["worker", "10.0.0.1:8786"], "tcp://HOST"),
                        (["worker", "tcp://h:1", "--nthreads", "0"], "positive"),
                        (["worker", "tcp://h:1", "--gpus", "x"], "--gpus")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1


def test_run_refuses_a_bad_cluster_before_writing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QK_CLUSTER", raising=False)
    assert main(["run", "--sections", "bounds", "--cluster", "locl", "--out", str(tmp_path / "r")]) == 2
    assert "--cluster 'locl'" in capsys.readouterr().err and not (tmp_path / "r").exists()
    monkeypatch.setenv("QK_CLUSTER", "local:zero")
    assert main(["run", "--sections", "bounds", "--out", str(tmp_path / "r")]) == 2
    assert "QK_CLUSTER 'local:zero'" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_missing_dask_is_exit_2_with_the_pip_command(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QK_CLUSTER", raising=False)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["run", "--sections", "bounds", "--cluster", "local:1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'qkernels[dist]'" in err and not (tmp_path / "r").exists()
    assert main(["worker", "tcp://h:1"]) == 2
    assert "pip install 'qkernels[dist]'" in capsys.readouterr().err


def test_jobqueue_entry_point_accepts_its_options():
    out = subprocess.run([sys.executable, "-m", "qkernels.suite.engine.worker", "tcp://h:8786", "--name", "job-0",
                          "--nthreads", "8", "--memory-limit", "16GB", "--nworkers", "1", "--nanny",
                          "--death-timeout", "60", "--gpus", "0,1", "--dry-run"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and all("--nthreads 1" in l and "--nanny" in l and "--death-timeout 60" in l
                                   for l in lines)
    assert "job-0-gpu0" in lines[0] and "job-0-gpu1" in lines[1]
