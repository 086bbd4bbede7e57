"""The environment record written as env.json."""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import numpy
import pandas
import pytest
import scipy
import torch

from qkernels.suite.envinfo import TRACKED_PACKAGES, collect_env, git_commit, package_versions, utc_now

REQUIRED = {"packages", "python", "os", "cpu", "logical_cores", "torch_threads", "device", "devices", "seeds",
            "profile", "git", "argv", "env_vars", "torch_flags"}


def test_package_versions_match_the_imported_modules():
    v = package_versions()
    assert set(v) == set(TRACKED_PACKAGES)
    for name in ("qkernels", "torch", "pennylane", "POT", "numpy", "scipy", "pandas", "torch-pruning"):
        assert name in v  # the design's list; None when not installed
    assert v["torch"] == torch.__version__
    assert v["numpy"] == numpy.__version__
    assert v["pandas"] == pandas.__version__
    assert v["scipy"] == scipy.__version__
    import ot

    assert v["POT"] == ot.__version__
    import qkernels

    assert v["qkernels"] == qkernels.__version__
    assert all(x is None or (isinstance(x, str) and x) for x in v.values())


def test_package_versions_none_for_absent(monkeypatch):
    from qkernels.suite import envinfo

    monkeypatch.setattr(envinfo, "TRACKED_PACKAGES", ("numpy", "surely-not-installed-qk-xyz"))
    assert package_versions() == {"numpy": numpy.__version__, "surely-not-installed-qk-xyz": None}


def test_collect_env_contents():
    env = collect_env(seed=7, profile="full", device="cpu", extra={"note": "x"})
    assert REQUIRED <= set(env)
    assert env["seeds"] == {"seed": 7} and env["profile"] == "full" and env["device"] == "cpu"
    assert env["python"] == platform.python_version()
    assert env["torch_threads"] == torch.get_num_threads()
    assert env["note"] == "x"
    assert [d["name"] for d in env["devices"]] == ["cpu", "cuda", "npu", "mlu", "xpu", "mps"]
    assert next(d for d in env["devices"] if d["name"] == "cpu")["usable"] is True
    assert isinstance(env["cpu"], str) and env["cpu"]
    assert isinstance(env["git"], dict) and {"commit", "dirty"} <= set(env["git"])
    json.dumps(env)  # plain data


def test_collect_env_records_thread_env_vars(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    env = collect_env(seed=0, profile="quick", device="cpu")
    assert env["env_vars"]["OMP_NUM_THREADS"] == "3"
    assert "MKL_NUM_THREADS" not in env["env_vars"]


def test_utc_now_is_iso_utc():
    t = datetime.fromisoformat(utc_now())
    assert t.utcoffset() == timedelta(0)
    assert abs((datetime.now(timezone.utc) - t).total_seconds()) < 5


def test_git_commit_returns_dict_here():
    g = git_commit()
    assert isinstance(g, dict) and set(g) == {"commit", "dirty"}
    assert g["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", g["commit"])


def test_git_commit_outside_a_repo(tmp_path):
    probe = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=tmp_path, capture_output=True) if shutil.which("git") else None
    if probe is not None and probe.returncode == 0:
        pytest.skip("tmp_path is inside a git checkout")
    assert git_commit(tmp_path) == {"commit": None, "dirty": None}


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_commit_in_a_fresh_repo(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
                        *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f.txt").write_text("a")
    git("add", "f.txt")
    git("commit", "-q", "-m", "first")
    head = (tmp_path / ".git" / "HEAD").read_text().split()[-1]
    expected = (tmp_path / ".git" / head).read_text().strip()
    g = git_commit(tmp_path)
    assert g == {"commit": expected, "dirty": False}
    (tmp_path / "untracked.txt").write_text("u")
    assert git_commit(tmp_path)["dirty"] is False  # untracked files do not count
    (tmp_path / "f.txt").write_text("b")
    assert git_commit(tmp_path) == {"commit": expected, "dirty": True}


def test_git_missing_binary(monkeypatch, tmp_path):
    from qkernels.suite import envinfo

    def no_git(*a, **k):
        raise FileNotFoundError("git")

    monkeypatch.setattr(envinfo.subprocess, "run", no_git)
    assert git_commit(tmp_path) == {"commit": None, "dirty": None}


def test_collect_env_records_quantum_devices():
    env = collect_env(seed=0, profile="quick", device="cpu")
    by = {d["name"]: d for d in env["quantum_devices"]}
    assert by["default.qubit"]["usable"] is True
    assert set(by) == {"default.qubit", "lightning.qubit", "default.mixed", "lightning.gpu", "lightning.kokkos"}
    for d in by.values():
        assert isinstance(d["usable"], bool) and d["reason"]
