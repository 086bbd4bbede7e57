"""The speed goal of QM-FRG: one-shot ``qmfrg`` within 3x the time of L2 magnitude pruning
(target in :mod:`qkernels.suite.speed.targets`).

Workload (issue: QM-FRG): the standard-width ResNet-18 (ImageNet stem) traced with one 224 x 224
image, pruned at p = 0.5. Both criteria are timed in the same process, alternating, so a busy
machine slows both alike; the ratio of medians is reported for the whole :func:`prune` call
(copy, two MAC counts, tracing, scoring, removal) and for ``prune_time_s`` (tracing, scoring,
removal only).

Example:
    >>> r = measure_qmfrg_vs_l2("resnet18_small", image=16, width=0.125, rounds=1)
    >>> sorted(r)[:3], r["call_ratio"] > 0
    (['call_ratio', 'l2_call_s', 'l2_prune_s'], True)
"""

from __future__ import annotations

import statistics
import time

import torch

from qkernels.suite.speed.targets import legacy_goals

#: goal id -> (description, target ratio, what the ratio is): the ``qmfrg`` goal of
#: :data:`qkernels.suite.speed.targets.SPEED_GOALS`, where the target is stated.
GOALS: dict[str, tuple[str, float, str]] = legacy_goals("qmfrg")


def measure_qmfrg_vs_l2(arch: str = "resnet18", image: int = 224, width: float | None = None, rounds: int = 3,
                        sparsity: float = 0.5, method: str = "qmfrg") -> dict:
    """Median times of ``prune(model, "l2")`` and ``prune(model, method)`` and their ratios."""
    from qkernels.nn.models import build_model
    from qkernels.pruning import prune

    model = build_model(arch, **({"width": width} if width is not None else {}))
    x = torch.randn(1, 3, image, image, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[tuple[float, float]]] = {"l2": [], method: []}
    prune(model, "l2", sparsity, x)  # warm-up (first tracing, allocator)
    rec = {}
    for _ in range(rounds):
        for name in times:
            t0 = time.perf_counter()
            _, rec[name] = prune(model, name, sparsity, x)
            times[name].append((time.perf_counter() - t0, rec[name]["prune_time_s"]))
    med = {k: (statistics.median(t for t, _ in v), statistics.median(p for _, p in v)) for k, v in times.items()}
    return {"l2_call_s": med["l2"][0], "l2_prune_s": med["l2"][1], "qmfrg_call_s": med[method][0],
            "qmfrg_prune_s": med[method][1], "call_ratio": med[method][0] / med["l2"][0],
            "prune_ratio": med[method][1] / med["l2"][1], "rounds": rounds, "threads": torch.get_num_threads(),
            "macs_before": rec["l2"]["macs_before"], "macs_after": rec["l2"]["macs_after"],
            "same_macs": rec["l2"]["macs_after"] == rec[method]["macs_after"]}


__all__ = ["GOALS", "measure_qmfrg_vs_l2"]
