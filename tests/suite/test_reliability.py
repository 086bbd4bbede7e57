"""Long-run health and reproducibility of ``qkernels run``.

* A device error (out of memory, a failed kernel) in one unit is recorded and the run goes on;
  ``--resume`` retries that unit. Any other exception still stops the run (tests/suite/test_runner.py).
* Memory does not grow when a section or a pruning unit is repeated many times in one process.
* The same seed gives identical CSVs for the sections with randomness (quantum shots, bounds
  scenarios and searches, pruning training and fine-tuning), timing columns aside.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch

from qkernels.hw.device_errors import describe, is_device_error
from qkernels.suite.runner import run
from qkernels.suite.sections.metrics import plan as metrics_section
from tests.suite.test_runner import TINY, _tiny_fs, _tiny_spectra, _tiny_w2  # noqa: E402


@pytest.fixture()
def tiny_metrics(monkeypatch):
    monkeypatch.setitem(metrics_section.PROFILES, "quick", TINY)
    monkeypatch.setattr(metrics_section, "measure_fs_allpairs", _tiny_fs)
    monkeypatch.setattr(metrics_section, "measure_w2cum_allpairs", _tiny_w2)
    monkeypatch.setattr(metrics_section, "measure_spectra_resnet18", _tiny_spectra)


# ---- device errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("exc, expected", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
    (RuntimeError("CUDA error: an illegal memory access was encountered"), True),
    (RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED"), True),
    (RuntimeError("NPU error, error code is 507011"), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
    (ValueError("out of memory"), False),  # only runtime errors come from device runtimes
    (KeyboardInterrupt(), False),
])
def test_is_device_error(exc, expected):
    assert is_device_error(exc) is expected


def test_describe_is_one_short_line():
    text = describe(RuntimeError("CUDA out of memory.\nTried to allocate " + "x" * 1000))
    assert text.startswith("RuntimeError: CUDA out of memory.") and "\n" not in text and len(text) <= 300


def test_a_device_error_costs_one_unit_and_resume_retries_it(tiny_metrics, tmp_path, monkeypatch):
    real = metrics_section.filter_stats

    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(metrics_section, "filter_stats", oom)
    out = run(out=tmp_path / "run", sections="metrics", progress=False)
    env = json.loads((out / "env.json").read_text())
    assert env["status"] == "complete" and env["unit_errors"] == 1
    errors = pd.read_csv(out / "metrics_errors.csv")
    assert errors.unit.tolist() == ["filters:mlp"] and "out of memory" in errors.error[0]
    df = pd.read_csv(out / "metrics.csv")
    assert (df.granularity == "filter").sum() == 0 and (df.kind == "pair").any()  # the other units' rows
    report = (out / "report.md").read_text()
    assert "failed on the device" in report and "filters:mlp" in report

    monkeypatch.setattr(metrics_section, "filter_stats", real)
    run(out=out, sections="metrics", progress=False, resume=True)
    env = json.loads((out / "env.json").read_text())
    assert env["unit_errors"] == 0 and not (out / "metrics_errors.csv").exists()
    df = pd.read_csv(out / "metrics.csv")
    assert (df.granularity == "filter").any()
    assert "failed on the device" not in (out / "report.md").read_text()


# ---- memory over a long sweep -------------------------------------------------------------------

def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


linux_only = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc (Linux)")


@linux_only
def test_memory_does_not_grow_over_repeated_runs(tiny_metrics, tmp_path):
    def once(i: int) -> None:
        run(out=tmp_path / f"run{i}", sections="metrics", progress=False)
        gc.collect()

    for i in range(3):  # warm-up: imports, caches, allocator pools
        once(i)
    before = _rss_bytes()
    for i in range(3, 15):
        once(i)
    growth = _rss_bytes() - before
    # 12 more runs; a leak of one run's data (models, spectra, frames) per run would exceed this
    assert growth < 40 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 12 runs"


@linux_only
def test_memory_does_not_grow_over_repeated_pruning():
    from qkernels.nn.models import build_model
    from qkernels.pruning import prune

    x = torch.zeros(1, 3, 16, 16)

    def once() -> None:
        model = build_model("resnet18_small", seed=0, width=0.125, num_classes=10)
        for method in ("l1", "qmfrg", "random"):
            prune(model, method, 0.5, x, seed=0)
            model = build_model("resnet18_small", seed=0, width=0.125, num_classes=10)
        gc.collect()

    for _ in range(3):
        once()
    before = _rss_bytes()
    for _ in range(15):
        once()
    growth = _rss_bytes() - before
    assert growth < 40 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 45 prunings"


# ---- reproducibility ----------------------------------------------------------------------------

_TIMING = re.compile(r"(^|_)(seconds|time|duration|elapsed|speed|ms|s)($|_)|per_entry|throughput|ops")


def _comparable(csv: Path) -> pd.DataFrame:
    df = pd.read_csv(csv)
    if "kind" in df.columns:
        df = df[df.kind != "speed"]
    keep = [c for c in df.columns if not _TIMING.search(c)]
    return df[keep].reset_index(drop=True)


def _twice(section: str, tmp_path: Path, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    a = run(out=tmp_path / "a", sections=section, progress=False, seed=seed)
    b = run(out=tmp_path / "b", sections=section, progress=False, seed=seed)
    return _comparable(a / f"{section}.csv"), _comparable(b / f"{section}.csv")


def test_bounds_same_seed_identical_csv(tmp_path, monkeypatch):
    from qkernels.suite.sections.bounds import plan as sec
    from tests.suite.sections.test_bounds import TINY as BOUNDS_TINY

    monkeypatch.setitem(sec.PROFILES, "quick", BOUNDS_TINY)
    a, b = _twice("bounds", tmp_path, seed=7)
    assert len(a) > 10
    pd.testing.assert_frame_equal(a, b)


def test_quantum_same_seed_identical_csv(tmp_path, monkeypatch):
    from qkernels.suite.sections.quantum import plan as sec
    from tests.suite.sections.test_quantum import TINY as QUANTUM_TINY

    monkeypatch.setitem(sec.PROFILES, "quick", QUANTUM_TINY)
    a, b = _twice("quantum", tmp_path, seed=4)
    assert len(a) > 10
    pd.testing.assert_frame_equal(a, b)


def test_pruning_same_seed_identical_csv(tmp_path, monkeypatch):
    from qkernels.suite.sections.pruning import plan as pruning_plan
    from qkernels.suite.sweeps import pruning as sweep
    from tests.suite.sections.test_pruning import TINY as PRUNING_TINY

    small = dataclasses.replace(PRUNING_TINY, models=PRUNING_TINY.models[1:], sparsities=(0.5,),
                                finetune_sparsities=(0.5,), quantum_sparsities=(0.5,))
    monkeypatch.setitem(pruning_plan.PROFILES, "quick", small)
    # a fresh cache for each run: both train their dense models from the seed
    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "cache_a"))
    sweep.clear_memory_cache()
    a = run(out=tmp_path / "a", sections="pruning", progress=False, seed=1)
    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "cache_b"))
    sweep.clear_memory_cache()
    b = run(out=tmp_path / "b", sections="pruning", progress=False, seed=1)
    sweep.clear_memory_cache()
    ca, cb = _comparable(a / "pruning.csv"), _comparable(b / "pruning.csv")
    assert len(ca) > 5 and "accuracy" in ca.columns
    pd.testing.assert_frame_equal(ca, cb)
