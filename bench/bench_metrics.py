"""pytest-benchmark suites for the exact metrics and their speed goals (qkernels.suite.speed.goals).

Run them as benchmarks:  pytest bench --benchmark-json=bench.json
In CI they run once each as plain tests (--benchmark-disable) and still check their results.
On an accelerator pass --benchmark-timer=qkernels.hw.timing.sync_timer and set QK_DEVICE.
Ratios (ours vs torch.mm, vs the POT loops) come from the medians of the groups below; the POT
loops time a sample of pairs (extra_info has the sample size and the number of all pairs).
"""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from qkernels import extract_operators, operator_spectra, pairwise_fs, pairwise_w2_cumulative, spectrum
from qkernels.hw.timing import synchronize
from qkernels.nn.models import build_model
from qkernels.suite.speed.goals import pot_inputs, random_states, sample_pairs
from qkernels.suite.speed.targets import TARGETS

FS_N, FS_D = (TARGETS["fs_allpairs"].workload[k] for k in ("n", "d"))
W2_N, W2_D = (TARGETS["w2cum_vs_emd2"].workload[k] for k in ("n", "d"))
_T = {k: f"{TARGETS[k].target:g}" for k in ("fs_allpairs", "w2cum_vs_emd2_1d", "w2cum_vs_emd2", "spectra_resnet18")}


@pytest.fixture(scope="module")
def fs_states(qk_device):
    return random_states(FS_N, FS_D).to(qk_device)


@pytest.fixture(scope="module")
def w2_states():
    return random_states(W2_N, W2_D)


def _sync(fn, device):
    def run():
        out = fn()
        synchronize(device)
        return out
    return run


@pytest.mark.benchmark(group="fs_allpairs")
def bench_fs_allpairs_ours(benchmark, fs_states, qk_device):
    benchmark.extra_info.update(n=FS_N, d=FS_D, goal=f"within {_T['fs_allpairs']}x of torch.mm")
    D = benchmark(_sync(lambda: pairwise_fs(fs_states), qk_device))
    ref = (fs_states @ fs_states.T).abs().clamp(max=1).acos()
    off = ~torch.eye(FS_N, dtype=torch.bool, device=qk_device)
    assert float((D - ref)[off].abs().max()) < 1e-10
    assert float(D.diagonal().abs().max()) == 0.0


@pytest.mark.benchmark(group="fs_allpairs")
def bench_fs_allpairs_torch_mm(benchmark, fs_states, qk_device):
    benchmark.extra_info.update(n=FS_N, d=FS_D, reference=True)
    G = benchmark(_sync(lambda: torch.mm(fs_states, fs_states.T), qk_device))
    assert G.shape == (FS_N, FS_N)


@pytest.mark.benchmark(group="w2cum_allpairs")
def bench_w2cum_allpairs_ours(benchmark, w2_states):
    pairs = W2_N * (W2_N - 1) // 2
    goal = f">={_T['w2cum_vs_emd2_1d']}x emd2_1d loop, >={_T['w2cum_vs_emd2']}x emd2 loop"
    benchmark.extra_info.update(n=W2_N, d=W2_D, pairs=pairs, goal=goal)
    W = benchmark(lambda: pairwise_w2_cumulative(w2_states, squared=True))
    P, x = pot_inputs(w2_states)
    for i, j in [(0, 1), (5, 200), (100, 255)]:
        ref = ot.emd2_1d(x, x, P[i], P[j])
        assert abs(float(W[i, j]) - ref) <= 1e-12 * ref


def _pot_pairs(k: int) -> list[tuple[int, int]]:
    return sample_pairs(W2_N, k, np.random.default_rng(0))


@pytest.mark.benchmark(group="w2cum_allpairs")
def bench_w2cum_emd2_1d_loop_sample(benchmark, w2_states):
    pairs = _pot_pairs(200)
    benchmark.extra_info.update(sampled_pairs=len(pairs), all_pairs=W2_N * (W2_N - 1) // 2, reference=True,
                                note="scale the median by all_pairs/sampled_pairs")
    P, x = pot_inputs(w2_states)
    vals = benchmark(lambda: [ot.emd2_1d(x, x, P[i], P[j]) for i, j in pairs])
    assert all(v >= 0 for v in vals)


@pytest.mark.benchmark(group="w2cum_allpairs")
def bench_w2cum_emd2_loop_sample(benchmark, w2_states):
    pairs = _pot_pairs(2)
    benchmark.extra_info.update(sampled_pairs=len(pairs), all_pairs=W2_N * (W2_N - 1) // 2, reference=True,
                                note="scale the median by all_pairs/sampled_pairs")
    P, x = pot_inputs(w2_states)
    M = (x[:, None] - x[None, :]) ** 2
    vals = benchmark.pedantic(lambda: [ot.emd2(P[i], P[j], M) for i, j in pairs], rounds=3, iterations=1)
    W = pairwise_w2_cumulative(w2_states, squared=True)
    for (i, j), v in zip(pairs, vals):
        assert abs(float(W[i, j]) - v) <= 1e-10 * v


@pytest.fixture(scope="module")
def resnet18():
    return build_model("resnet18", seed=0)


@pytest.mark.benchmark(group="spectra_resnet18")
@pytest.mark.parametrize("granularity", ["layer", "filter"])
def bench_spectra_resnet18(benchmark, resnet18, granularity, qk_device):
    benchmark.extra_info.update(goal=f"layer + filter under {_T['spectra_resnet18']} s on 2 CPU cores")
    spectra = benchmark(_sync(lambda: operator_spectra(extract_operators(resnet18, granularity), device=qk_device),
                              qk_device))
    assert len(spectra) == (21 if granularity == "layer" else 5800)


@pytest.mark.benchmark(group="spectrum_routes")
@pytest.mark.parametrize("method", ["svd", "gram"])
def bench_spectrum_route_layer4(benchmark, method):
    A = torch.randn(513, 4609, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    s = benchmark(lambda: spectrum(A, method=method))
    ref = np.linalg.svd(A.numpy(), compute_uv=False)
    assert np.max(np.abs(s.numpy() - ref)) <= 1e-9 * ref[0]
