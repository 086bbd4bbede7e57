"""pytest-benchmark suite: the calibration study of the qmfrg verdict rule.

Simulated sweeps of the deciding profile's shape (two models, sparsities 0.5/0.7/0.9 with one cell
at chance, 4 criteria, 10 paired seeds, 3 points of noise per criterion and seed) under the null
and under effects of +1, +3 and +8 points, each decided by the rule. extra_info carries the
verdict rates; the goals (false verdicts ≤ 5%, power ≥ 80% at +3 points) are checked. As a plain
test in CI (``--benchmark-disable``) it runs 300 sweeps per effect; as a benchmark 2,000.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from qkernels.suite.sections.pruning.calibration import calibrate, default_shape
from qkernels.suite.sections.pruning.endpoint import MIN_DECIDING_SEEDS


@pytest.mark.benchmark(group="verdicts")
def bench_calibration_of_the_pruning_verdict(benchmark):
    sims = 300 if benchmark.disabled else 2000
    shape = replace(default_shape(MIN_DECIDING_SEEDS), noise_sd=0.03)
    holder = {}

    def run():
        holder["t"] = calibrate(shape, sims=sims, seed=11)

    benchmark.pedantic(run, rounds=1, iterations=1)
    t = holder["t"].set_index("effect_points")
    benchmark.extra_info.update(sims=sims, seeds=MIN_DECIDING_SEEDS, noise_sd=shape.noise_sd,
                                **{f"{k}_at_{e:g}pts": float(t.loc[e, k]) for e in t.index
                                   for k in ("supported", "refuted", "inconclusive")})
    assert t.loc[0.0, "false_verdict"] <= 0.05 and t.loc[1.0, "false_verdict"] <= 0.05
    assert t.loc[3.0, "supported"] >= 0.8
