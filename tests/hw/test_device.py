"""Results on the backend under test (QK_DEVICE, default cpu) equal those on the CPU.

Under tox's cuda/npu factors these run on that device, or skip with the reason when it is absent
(fail instead with QK_REQUIRE_DEVICE=1).
"""

from __future__ import annotations

import torch

from qkernels import extract_operators, operator_spectra, pairwise_fs, pairwise_w2_cumulative
from qkernels.hw.timing import synchronize, time_callable
from qkernels.nn.models import build_model
from qkernels.suite.speed.goals import random_states


def test_spectra_on_device_match_cpu(qk_device):
    model = build_model("resnet18_small", seed=3, width=0.25)
    ops = extract_operators(model, "filter")
    on_dev = operator_spectra(ops, device=qk_device)
    on_cpu = operator_spectra(ops, method="svd")
    worst = max(float((a - b).abs().max() / b[0]) for a, b in zip(on_dev, on_cpu))
    assert worst < 1e-9


def test_pairwise_on_device_match_cpu(qk_device):
    X = random_states(96, 17, seed=5)
    D = pairwise_fs(X.to(qk_device)).cpu()
    ref = (X @ X.T).abs().clamp(max=1).acos()
    off = ~torch.eye(96, dtype=torch.bool)
    assert float((D - ref)[off].abs().max()) < 1e-10
    W = pairwise_w2_cumulative(X.to(qk_device), squared=True).cpu()
    assert torch.allclose(W, pairwise_w2_cumulative(X, squared=True), rtol=1e-12, atol=1e-15)


def test_timer_synchronizes_device(qk_device):
    x = torch.randn(256, 256, device=qk_device)
    r = time_callable(lambda: x @ x, device=qk_device, repeat=3, warmup=1)
    synchronize(qk_device)
    assert r.n == 3 and all(t > 0 for t in r.times) and r.median <= max(r.times)
