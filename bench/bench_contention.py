"""pytest-benchmark suite: the headline kernels with and without a competing CPU load.

Speed goal (``contention`` in qkernels.suite.speed.targets): with one core taken by another
process (a plain Python loop spinning, started and stopped here by
:func:`qkernels.suite.speed.contention.competing_load`), each kernel is at most 2x slower than on
the quiet machine, with the library's thread policy (qkernels.core.threads). extra_info also
carries the slowdown with the policy switched off (every torch thread, as before the policy).

As a benchmark (``pytest bench/bench_contention.py --benchmark-json=FILE``) the full workloads run
in 3 alternating quiet/busy rounds. As plain tests in CI (``--benchmark-disable``) small workloads
run one round; their slowdown is recorded, not checked (a tiny kernel on a shared runner says
nothing), but the load must have been seen by the policy.
"""

from __future__ import annotations

import pytest

from qkernels.core.threads import _allowed_cores
from qkernels.suite.speed.contention import KERNELS, kernel, measure_contention
from qkernels.suite.speed.targets import TARGETS

GOAL = TARGETS["contention"]


@pytest.mark.benchmark(group="contention")
@pytest.mark.parametrize("name", KERNELS)
def bench_contention(benchmark, name):
    full = not benchmark.disabled
    fn = kernel(name, full=full)
    holder = {}

    def run():
        holder["on"] = measure_contention(fn, rounds=3 if full else 1)
        holder["off"] = measure_contention(fn, rounds=3 if full else 1, policy=False)

    benchmark.pedantic(run, rounds=1, iterations=1)
    on, off = holder["on"], holder["off"]
    benchmark.extra_info.update(kernel=name, full=full, slowdown=on["slowdown"], quiet_s=on["quiet_s"],
                                busy_s=on["busy_s"], slowdown_without_policy=off["slowdown"],
                                quiet_without_policy_s=off["quiet_s"], busy_without_policy_s=off["busy_s"],
                                torch_threads=on["torch_threads"], free_cores_quiet=on["free_cores_quiet"],
                                free_cores_busy=on["free_cores_busy"],
                                goal=f"busy / quiet <= {GOAL.target:g}", goal_met=bool(on["slowdown"] <= GOAL.target))
    assert on["quiet_s"] > 0 and on["busy_s"] > 0
    if _allowed_cores() >= 2:  # the spinning process is visible to the policy
        assert on["free_cores_busy"] < _allowed_cores()
