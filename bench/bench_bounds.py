"""pytest-benchmark suite for the bound checker's speed goal.

Goal (``bounds_1000`` of qkernels.suite.speed.targets): 1,000 pairs of 256 x 256 layers with tanh
and ReLU at two radii in under 2 minutes on 2 cores. As a benchmark
(``pytest bench/bench_bounds.py --benchmark-json=FILE``) it runs the 1,000 pairs; as a plain test
in CI (``--benchmark-disable``) it checks 20 pairs. extra_info carries the pair count, so
pairs/s = pairs / median.
"""

from __future__ import annotations

import pytest
import torch

from qkernels.bounds.check import TRUE_BOUNDS, SearchConfig, check_bounds_batch
from qkernels.bounds.scenarios import generate
from qkernels.suite.speed.targets import TARGETS

GOAL = TARGETS["bounds_1000"]


@pytest.mark.benchmark(group="bounds")
def bench_bounds_256(benchmark):
    n = GOAL.workload["n"]
    pairs = 20 if benchmark.disabled else GOAL.workload["pairs"]
    ps = generate("independent", n, pairs, seed=0)
    st = lambda a: torch.stack([getattr(p, a) for p in ps])  # noqa: E731
    Wi, bi, Wj, bj = st("Wi"), st("bi"), st("Wj"), st("bj")
    benchmark.extra_info.update(pairs=pairs, n=n, activations="tanh,relu", radii="1,4",
                                goal=f"{GOAL.workload['pairs']} pairs in under {GOAL.target:g} s")
    rows = benchmark.pedantic(lambda: check_bounds_batch(Wi, bi, Wj, bj, ("tanh", "relu"), (1.0, 4.0), SearchConfig()),
                              rounds=1, iterations=1)
    assert len(rows) == 4 * pairs
    assert not any(r[f"viol_{b}"] for r in rows for b in TRUE_BOUNDS)
