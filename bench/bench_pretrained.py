"""pytest-benchmark suite: one pruning unit of the pretrained crepe-tiny, on one core.

The quick profile prunes crepe-tiny at a few points and the standard profile at 40 per replicate,
so one unit must take seconds: prune (l1, p = 0.5), re-estimate BatchNorm on 256 calibration
frames, evaluate raw pitch accuracy on the profiles' 400 hard test frames, one torch thread (the
profiles' setting). The goal (``crepe_tiny_unit``) is in :mod:`qkernels.suite.speed.targets`. As a
plain test in CI (``--benchmark-disable``) it runs once on 64 test frames and checks the result,
not the time.
"""

from __future__ import annotations

import time

import pytest

from qkernels.core.errors import InputError
from qkernels.nn.data import load_data
from qkernels.nn.models import build_model
from qkernels.nn.training import evaluate, recalibrate_bn
from qkernels.pruning import prune
from qkernels.suite.speed.targets import TARGETS
from qkernels.suite.sweeps.pruning import torch_threads


@pytest.mark.benchmark(group="pretrained")
def bench_crepe_tiny_prune_and_evaluate(benchmark):
    try:
        dense = build_model("crepe-tiny")
    except InputError as exc:  # pragma: no cover - installed by models.txt
        pytest.skip(str(exc))
    n_test = 64 if benchmark.disabled else 400
    data = load_data("tones", n_train=8, n_calib=256, n_test=n_test)
    x = data.example_inputs()
    out = {}

    def unit():
        t0 = time.perf_counter()
        with torch_threads(1):
            pm, rec = prune(dense, "l1", 0.5, x)
            recalibrate_bn(pm, data.calib)
            ev = evaluate(pm, data.test)
        out.update(seconds=time.perf_counter() - t0, acc=ev["accuracy"], macs=rec["macs_after"] / rec["macs_before"])

    benchmark.pedantic(unit, rounds=1 if benchmark.disabled else 3, iterations=1)
    goal = TARGETS["crepe_tiny_unit"]
    benchmark.extra_info.update(seconds=out["seconds"], accuracy=out["acc"], macs_frac=out["macs"], threads=1,
                                n_test=n_test, goal=goal.target, goal_met=goal.met(out["seconds"]))
    assert 0.0 <= out["acc"] <= 1.0 and 0.2 < out["macs"] < 0.5
