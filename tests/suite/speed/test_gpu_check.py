"""bench/gpu_check.sh and its latency part, on a machine without a GPU: CUDA parts skip with their reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from qkernels.suite.speed import devicecheck

ROOT = Path(__file__).resolve().parents[3]


def test_devicecheck_rows_compare_eager_and_deployed():
    rows = devicecheck.latency_rows("cpu", small=True, batch_sizes=(1, 4), budget_s=0.0)
    df = pd.DataFrame(rows)
    assert len(df) == 2 * 2 * 2 * 2  # models x pruned x mode x batch
    dep = df[df["mode"] == "deployed"]
    assert (dep.max_abs_diff < 1e-4).all() and set(dep.compiled) == {"off"}
    assert (dep[dep.model.str.startswith("resnet")].bn_folded > 0).all()
    pr = df[df.pruned]
    assert (pr.mac_ratio > 1).all() and (pr.efficiency > 0).all() and (df.median_s > 0).all()


def test_devicecheck_on_an_absent_device_writes_why_and_exits_0(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert devicecheck.main(["--device", "cuda", "--out", str(tmp_path), "--small"]) == 0
    df = pd.read_csv(tmp_path / "latency_cuda.csv")
    assert df.error.iloc[0].startswith("not measured:") and "cuda" in df.error.iloc[0].lower()
    assert json.loads((tmp_path / "latency_cuda.json").read_text())["env"]["device"] == "cuda"
    assert devicecheck.main(["--device", "cpu", "--out", str(tmp_path), "--batches", "0,x"]) == 2


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_script_runs_on_the_cpu_and_says_what_it_skipped(tmp_path):
    out = tmp_path / "gc"
    env = {**os.environ, "QK_GPU_CHECK_SMALL": "1", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(out)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "env.json").read_text())["packages"]["torch"]
    df = pd.read_csv(out / "latency_cpu.csv")
    assert set(df["mode"]) == {"eager", "deployed"} and (df.median_s > 0).all()
    skipped = (out / "skipped.txt").read_text()
    if not torch.cuda.is_available():
        assert "device tests (QK_DEVICE=cuda): skipped: no CUDA device" in skipped
        assert "latency on CUDA: skipped" in skipped and "bench_metrics + bench_quantum on CUDA: skipped" in skipped
    assert "lightning.gpu" in skipped or (out / "bench_lightning_gpu.json").is_file()
