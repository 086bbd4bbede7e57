"""pytest-benchmark suite: the pruning section on a 2-worker local Dask cluster against one process.

One benchmark runs the pruning section twice on the same machine, in one session: sequentially
(``--cluster none``) and on ``--cluster local:2``, each from an empty checkpoint cache (so the dense
trainings count), and checks that the two CSVs are identical apart from the measured-time columns.
As a benchmark it runs the quick profile's pruning section (goal: cluster wall time ≤ 0.6× the
sequential one on 2 cores); as a plain test in CI (``--benchmark-disable``) a tiny sweep of the
same shape. extra_info carries both wall times, their ratio and whether the goal is met. With
``$QK_BENCH_RUNS`` set, the two run folders are kept there (``sequential/`` and ``local2/``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from qkernels.suite.engine.spec import usable_cores
from qkernels.suite.runner import run
from qkernels.suite.sections.pruning import plan as pruning_plan
from qkernels.suite.speed.targets import TARGETS
from qkernels.suite.sweeps.pruning import ModelSetup, SweepConfig, TrainSetup

pytest.importorskip("distributed", reason="the dist extra (dask, distributed) is not installed")

#: the goal: cluster / sequential wall time on 2 cores (stated in qkernels.suite.speed.targets)
GOAL = TARGETS["scaleout_local2"]
TINY = SweepConfig(
    data="digits", data_options=(("n_calib", 200), ("n_test", 300), ("n_train", 600), ("size", 8)),
    models=(ModelSetup("mlp", "mlp", (("hidden", (16,)),), TrainSetup(epochs=1, lr=0.05, batch_size=64)),),
    methods=("l1", "random", "qmfrg"), sparsities=(0.3, 0.5), replicates=2, bn_images=64, taylor_images=32)


def _without_times(path: Path) -> str:
    df = pd.read_csv(path)
    return df.drop(columns=[c for c in df.columns if c.endswith("_time_s")]).to_csv(index=False)


def _timed_run(folder: Path, cluster: str) -> float:
    old = os.environ.get("QK_CACHE_DIR")
    os.environ["QK_CACHE_DIR"] = str(folder / "cache")  # an empty cache: dense training is part of the work
    try:
        t0 = time.perf_counter()
        run(sections="pruning", out=folder / "run", progress=False, cluster=cluster)
        return time.perf_counter() - t0
    finally:
        if old is None:
            os.environ.pop("QK_CACHE_DIR", None)
        else:
            os.environ["QK_CACHE_DIR"] = old
        shutil.rmtree(folder / "cache", ignore_errors=True)


@pytest.mark.benchmark(group="scale-out")
def bench_pruning_section_local_cluster_vs_sequential(benchmark, monkeypatch):
    if benchmark.disabled:
        monkeypatch.setitem(pruning_plan.PROFILES, "quick", TINY)
    keep = os.environ.get("QK_BENCH_RUNS")
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="qk-scaleout-"))
    for sub in ("sequential", "local2"):
        shutil.rmtree(base / sub, ignore_errors=True)
    times = {}

    def both():
        times["sequential"] = _timed_run(base / "sequential", "none")
        times["local2"] = _timed_run(base / "local2", "local:2")

    benchmark.pedantic(both, rounds=1, iterations=1)
    ratio = times["local2"] / times["sequential"]
    benchmark.extra_info.update(profile="tiny" if benchmark.disabled else "quick", cores=usable_cores(),
                                sequential_s=round(times["sequential"], 2), local2_s=round(times["local2"], 2),
                                ratio=round(ratio, 3), goal=GOAL.target, goal_met=bool(GOAL.met(ratio)))
    seq, clu = base / "sequential" / "run", base / "local2" / "run"
    assert _without_times(clu / "pruning.csv") == _without_times(seq / "pruning.csv")
    if not keep:
        shutil.rmtree(base, ignore_errors=True)
