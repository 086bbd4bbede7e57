"""Deployed models (qkernels.hw.deploy): BN folding, channels_last, compile, and the numeric check."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qkernels.hw.deploy import deploy, fold_batchnorm, max_abs_difference
from qkernels.nn.models import build_model


def _randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=g))
            m.bias.data.copy_(torch.randn(n, generator=g))
    return model.eval()


def test_folding_is_exact_and_removes_every_bn_after_a_conv():
    model = _randomize_bn(build_model("resnet18_small", width=0.125, seed=0))
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    folded, n, err = fold_batchnorm(model)
    assert err == "" and n == n_bn
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(4, 3, 16, 16)
    assert max_abs_difference(model, folded, x) < 1e-5
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched


def test_linear_then_bn_folds_and_a_shared_conv_output_does_not():
    lin = _randomize_bn(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU()))
    f, n, _ = fold_batchnorm(lin)
    assert n == 1 and max_abs_difference(lin, f, torch.randn(3, 5)) < 1e-6

    class Shared(nn.Module):  # the conv output feeds the BN and a skip: folding would change the skip
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    m = _randomize_bn(Shared())
    f, n, _ = fold_batchnorm(m)
    assert n == 0 and isinstance(f.bn, nn.BatchNorm2d) and max_abs_difference(m, f, torch.randn(2, 2, 4, 4)) < 1e-6


def test_a_model_fx_cannot_trace_keeps_its_bn_and_says_why():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow
                x = -x
            return self.bn(self.conv(x))

    d, info = deploy(_randomize_bn(Branchy()), torch.randn(1, 1, 4, 4))
    assert info["bn_folded"] == 0 and "torch.fx could not trace" in info["fold_error"]
    assert isinstance(d.bn, nn.BatchNorm2d)


def test_deploy_channels_last_and_compile_failure_is_recorded(monkeypatch):
    model = _randomize_bn(build_model("resnet18_small", width=0.125, seed=1))
    x = torch.randn(2, 3, 16, 16)
    d, info = deploy(model, x)
    assert info["channels_last"] and info["compiled"] == "off" and info["bn_folded"] > 0
    assert d.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert max_abs_difference(model, d, x) < 1e-5

    def broken(*a, **k):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    d2, info2 = deploy(model, x, compile=True)
    assert info2["compiled"].startswith("no: RuntimeError: no compiler here")
    assert max_abs_difference(model, d2, x) < 1e-5
    mlp = build_model("mlp", in_features=12, hidden=(6,), num_classes=3)
    _, info3 = deploy(mlp, torch.randn(2, 12))
    assert not info3["channels_last"] and info3["bn_folded"] == 0


def test_max_abs_difference_sees_a_wrong_model():
    a, b = nn.Linear(3, 2).eval(), nn.Linear(3, 2).eval()
    with torch.no_grad():
        b.weight.copy_(a.weight)
        b.bias.copy_(a.bias + 0.5)
    assert max_abs_difference(a, b, torch.randn(4, 3)) == pytest.approx(0.5, abs=1e-6)
