"""pytest-benchmark suite: wall time of one-shot structured pruning per criterion.

As a benchmark (``pytest bench/bench_pruning.py --benchmark-json=FILE``) it prunes the
standard-width ResNet-18 (ImageNet stem, 224 x 224 tracing input) by half with every registered
criterion: dependency-graph tracing, scoring, channel removal (Taylor: plus one backward pass on
8 images). As a plain test in CI (``--benchmark-disable``) it prunes a 1/8-width small-stem
ResNet-18 on 16 x 16 inputs. extra_info carries the MACs and parameters before and after.
"""

from __future__ import annotations

import pytest
import torch

from qkernels.nn.models import build_model
from qkernels.pruning import method_names, prune


@pytest.mark.benchmark(group="pruning")
@pytest.mark.parametrize("method", method_names(sweep_only=True))
def bench_prune_resnet18(benchmark, method):
    if benchmark.disabled:
        model, shape, name = build_model("resnet18_small", width=0.125), (3, 16, 16), "resnet18_small w0.125"
    else:
        model, shape, name = build_model("resnet18"), (3, 224, 224), "resnet18"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, *shape, generator=g)
    y = torch.randint(0, model.fc.out_features, (8,), generator=g)
    holder = {}

    def run():
        holder["out"] = prune(model, method, 0.5, x[:1], calib=[(x, y)], seed=0)

    benchmark.pedantic(run, rounds=1 if benchmark.disabled else 3, iterations=1)
    pm, rec = holder["out"]
    benchmark.extra_info.update(model=name, sparsity=0.5, macs_before=rec["macs_before"], macs_after=rec["macs_after"],
                                params_before=rec["params_before"], params_after=rec["params_after"],
                                prune_time_s=rec["prune_time_s"])
    assert rec["channel_sparsity"] == pytest.approx(0.5, abs=0.02)
    assert pm(x[:2]).shape == (2, model.fc.out_features)


@pytest.mark.benchmark(group="pruning-goal")
def bench_qmfrg_within_3x_of_l2(benchmark):
    """Speed goal (issue: QM-FRG): one-shot qmfrg on ResNet-18, 224 x 224, at most 3x L2 magnitude.

    Both criteria are timed in this process, alternating (qkernels.suite.speed.qmfrg); the ratio of the
    whole prune() calls is the goal, the ratio of prune_time_s (without the model copy and the MAC
    counts) is reported beside it. In CI (--benchmark-disable) a 1/8-width model runs once and the
    ratio is recorded, not checked: timings of a tiny model on a shared runner say nothing.
    """
    from qkernels.suite.speed.qmfrg import measure_qmfrg_vs_l2
    from qkernels.suite.speed.targets import TARGETS

    full = not benchmark.disabled
    kw = {} if full else {"arch": "resnet18_small", "image": 16, "width": 0.125, "rounds": 1}
    holder = {}
    benchmark.pedantic(lambda: holder.update(r=measure_qmfrg_vs_l2(**kw)), rounds=1, iterations=1)
    r = holder["r"]
    target = TARGETS["qmfrg_vs_l2"].target
    benchmark.extra_info.update(goal=f"qmfrg / l2 <= {target:g} (whole prune() call)", **r)
    assert r["same_macs"]
    if full:
        assert r["call_ratio"] <= target, f"qmfrg took {r['call_ratio']:.2f}x the time of l2 pruning"


@pytest.mark.benchmark(group="pruning-goal")
def bench_qmfrg_aligned_within_3x_of_l2(benchmark):
    """Speed goal ``qmfrg_aligned_vs_l2``: one-shot qmfrg-aligned on ResNet-18, 224 x 224, at most 3x L2.

    Measured like plain qmfrg (alternating rounds, whole prune() calls). Reported, never asserted: the
    all-pairs misalignment is exact (an n x n eigenvalue problem per channel pair), and on 2 cores the
    goal is missed (see docs/qmfrg.md). In CI a 1/8-width model runs once.
    """
    from qkernels.suite.speed.qmfrg import measure_qmfrg_vs_l2
    from qkernels.suite.speed.targets import TARGETS

    full = not benchmark.disabled
    kw = {} if full else {"arch": "resnet18_small", "image": 16, "width": 0.125, "rounds": 1}
    holder = {}
    benchmark.pedantic(lambda: holder.update(r=measure_qmfrg_vs_l2(method="qmfrg-aligned", **kw)), rounds=1,
                       iterations=1)
    r = holder["r"]
    target = TARGETS["qmfrg_aligned_vs_l2"].target
    benchmark.extra_info.update(goal=f"qmfrg-aligned / l2 <= {target:g} (whole prune() call)", method="qmfrg-aligned",
                                goal_met=bool(r["call_ratio"] <= target), **r)
    assert r["same_macs"]
