"""pytest-benchmark suite: the speed goal of the functional QM-FRG states (issue 16).

Speed goal ``functional_act_vs_taylor`` (qkernels.suite.speed.targets): one-shot ``qmfrg-act`` on
the standard-width ResNet-18 (ImageNet stem, 224 x 224) with 256 calibration images takes at most
3x the time of ``taylor`` on the same images, same threads. Both are whole :func:`prune` calls
timed in this process, alternating: ``qmfrg-act`` includes its statistics pass
(:func:`~qkernels.pruning.activations.channel_moments`: one forward pass over the 256 images with
hooks accumulating every layer's float64 moments) and the scoring of every group; ``taylor``
includes its gradients (a forward and a backward pass over the same batches). extra_info carries
both times, ``call_ratio`` (the goal: whole calls), ``prune_ratio`` (``prune_time_s``: without
the model copy and the MAC counts) and the scoring times (``score_time_s``: the groups' scores
alone, after the statistics or gradients), and whether the goal is met. The goal is reported, not
asserted: wall-clock ratios on a shared machine say little.

As a benchmark (``pytest bench/bench_functional.py --benchmark-json=FILE``) the workload is the
goal's (``TARGETS["functional_act_vs_taylor"].workload``), in batches of 32 images, two
alternating rounds (``QK_BENCH_FUNCTIONAL_ROUNDS`` to change). As a plain test in CI
(``--benchmark-disable``) a 1/8-width small-stem ResNet-18 on 16 x 16 inputs with 16 images runs
once and the ratio is recorded, not checked.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
import torch

from qkernels.nn.models import build_model
from qkernels.pruning import prune
from qkernels.suite.speed.targets import TARGETS

GOAL = TARGETS["functional_act_vs_taylor"]
#: timed in this order in every round (the reference first)
METHODS = ("taylor", "qmfrg-act")


def calibration_batches(images: int, image: int, classes: int, batch: int, seed: int = 0):
    """``images`` random inputs (3 x image x image) with labels, in batches of at most ``batch``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, images, batch):
        n = min(batch, images - start)
        out.append((torch.randn(n, 3, image, image, generator=g), torch.randint(0, classes, (n,), generator=g)))
    return out


def measure_act_vs_taylor(arch: str = "resnet18", image: int = 224, images: int = 256, width: float | None = None,
                          rounds: int = 2, batch: int = 32, sparsity: float = 0.5) -> dict:
    """Median times of whole ``prune(model, "taylor" | "qmfrg-act", ..., calib=...)`` calls and their ratios."""
    model = build_model(arch, **({"width": width} if width is not None else {}))
    calib = calibration_batches(images, image, model.fc.out_features, batch)
    x = calib[0][0][:1]
    prune(model, "l1", sparsity, x)  # warm-up: first tracing, allocator
    times: dict[str, list[tuple[float, float, float]]] = {m: [] for m in METHODS}
    rec: dict[str, dict] = {}
    for _ in range(rounds):
        for name in METHODS:
            t0 = time.perf_counter()
            _, rec[name] = prune(model, name, sparsity, x, calib=calib, seed=0)
            times[name].append((time.perf_counter() - t0, rec[name]["prune_time_s"], rec[name]["score_time_s"]))
    med = {k: [statistics.median(t[i] for t in v) for i in range(3)] for k, v in times.items()}
    act, tay = med["qmfrg-act"], med["taylor"]
    return {"act_call_s": act[0], "act_prune_s": act[1], "act_score_s": act[2],
            "taylor_call_s": tay[0], "taylor_prune_s": tay[1], "taylor_score_s": tay[2],
            "call_ratio": act[0] / tay[0], "prune_ratio": act[1] / tay[1],
            "rounds": rounds, "threads": torch.get_num_threads(), "images": images, "image": image,
            "batch": batch, "sparsity": sparsity, "model": arch if width is None else f"{arch} w{width:g}",
            "macs_before": rec["taylor"]["macs_before"], "macs_after": rec["taylor"]["macs_after"],
            "same_macs": rec["taylor"]["macs_after"] == rec["qmfrg-act"]["macs_after"]}


@pytest.mark.benchmark(group="pruning-goal")
def bench_functional_act_within_3x_of_taylor(benchmark):
    """Speed goal ``functional_act_vs_taylor``: qmfrg-act (statistics pass + scoring) vs taylor (gradients)."""
    full = not benchmark.disabled
    if full:
        w = GOAL.workload
        kw = {"image": w["image"], "images": w["images"], "sparsity": w["sparsity"],
              "rounds": int(os.environ.get("QK_BENCH_FUNCTIONAL_ROUNDS", "2"))}
    else:
        kw = {"arch": "resnet18_small", "image": 16, "width": 0.125, "images": 16, "batch": 8, "rounds": 1}
    holder = {}
    benchmark.pedantic(lambda: holder.update(r=measure_act_vs_taylor(**kw)), rounds=1, iterations=1)
    r = holder["r"]
    benchmark.extra_info.update(goal=f"qmfrg-act / taylor <= {GOAL.target:g} (whole prune() call)",
                                goal_met=bool(GOAL.met(r["call_ratio"])), full_size=full, **r)
    assert r["same_macs"]
    assert r["act_call_s"] > 0 and r["taylor_call_s"] > 0
