"""One-shot pruning: channels really go, residual couplings hold, sparsity and cost semantics,
the registry, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.models import build_model
from qkernels.pruning import check_sparsity, get_method, keep_count, method_names, prune, register_method
from qkernels.pruning.registry import unregister_method

X16 = torch.randn(2, 3, 16, 16)


@pytest.fixture(scope="module")
def resnet():
    return build_model("resnet18_small", width=0.25, num_classes=10)


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_channels_are_removed_and_the_model_runs(resnet):
    pm, rec = prune(resnet, "l2", 0.5, X16[:1])
    assert pm.conv1.out_channels == 8 and pm.layer4[1].conv2.out_channels == 64 and pm.fc.in_features == 64
    assert _n_params(pm) == rec["params_after"] < 0.3 * _n_params(resnet)
    assert rec["params_before"] == _n_params(resnet)
    assert pm(X16).shape == (2, 10)
    assert rec["channel_sparsity"] == 0.5 and rec["channels_after"] * 2 == rec["channels_before"]
    assert rec["macs_after"] < 0.3 * rec["macs_before"] and rec["prune_time_s"] > 0
    assert resnet.conv1.out_channels == 16  # the input model is untouched


def test_residual_streams_stay_consistent(resnet):
    pm, rec = prune(resnet, "random", 0.3, X16[:1], seed=2)
    # every conv adding into a residual stream keeps the same channels, downsample included
    assert pm.conv1.out_channels == pm.layer1[0].conv2.out_channels == pm.layer1[1].conv2.out_channels
    assert pm.layer2[0].downsample[0].out_channels == pm.layer2[0].conv2.out_channels == pm.layer2[1].conv2.out_channels
    for layer in (pm.layer1, pm.layer2, pm.layer3, pm.layer4):
        for block in layer:
            assert block.conv2.in_channels == block.conv1.out_channels == block.bn1.num_features
    assert torch.isfinite(pm(X16)).all()
    # the stream's removed indices are the same in every layer of the group
    stream = [k for k in rec["removed"] if k in ("conv1", "layer1.0.conv2", "layer1.1.conv2")]
    assert len(stream) == 1  # one group, reported once


def test_pruned_channels_are_the_dropped_ones(resnet):
    pm, rec = prune(resnet, "l1", 0.5, X16[:1])
    gone = rec["removed"]["layer1.0.conv1"]
    kept = [i for i in range(16) if i not in gone]
    stream = [i for i in range(16) if i not in rec["removed"]["conv1"]]  # the residual stream's group
    assert len(kept) == len(stream) == 8
    assert torch.equal(pm.layer1[0].conv1.weight, resnet.layer1[0].conv1.weight[kept][:, stream])
    assert torch.equal(pm.layer1[0].conv2.weight, resnet.layer1[0].conv2.weight[stream][:, kept])
    assert torch.equal(pm.layer1[0].bn1.running_mean, resnet.layer1[0].bn1.running_mean[kept])


def test_every_method_gives_the_same_architecture_and_macs(resnet):
    recs = {}
    calib = [(X16, torch.tensor([1, 2]))]
    for m in method_names():
        pm, rec = prune(resnet, m, 0.4, X16[:1], calib=calib, seed=1)
        recs[m] = (rec["macs_after"], rec["params_after"], rec["channels_after"])
        assert pm(X16).shape == (2, 10)
    assert len(set(recs.values())) == 1


@pytest.mark.parametrize("arch,kwargs,x", [
    ("mlp", {"in_features": 768, "hidden": (32, 16)}, X16),
    ("vit_tiny", {"image_size": 16}, X16),
    ("resnet18", {"width": 0.125, "num_classes": 7}, torch.randn(1, 3, 64, 64)),
])
def test_other_models(arch, kwargs, x):
    model = build_model(arch, **kwargs)
    n_out = model(x).shape[-1]
    pm, rec = prune(model, "l1", 0.5, x[:1])
    assert pm(x).shape[-1] == n_out  # the classifier's outputs are never pruned
    assert rec["params_after"] < rec["params_before"] and rec["groups"] >= 1
    if arch == "mlp":
        assert [pm.net[1].out_features, pm.net[3].out_features, pm.net[5].in_features] == [16, 8, 8]
    if arch == "vit_tiny":  # the MLP hidden widths go, attention and the residual width stay
        assert pm.blocks[0].mlp[0].out_features == 64 and pm.blocks[0].attn.embed_dim == 64


def test_sparsity_rule_never_removes_a_whole_group():
    assert keep_count(8, 0.9) == 1 and keep_count(8, 0.3) == 5 and keep_count(10, 0.1) == 9
    assert keep_count(10, 0.7) == 3  # no float round-off: 10 * 0.3 = 2.9999999999999996
    model = build_model("resnet18_small", width=0.0625)  # 4-channel stem
    pm, rec = prune(model, "l1", 0.9, X16[:1])
    assert min(m.out_channels for m in pm.modules() if isinstance(m, nn.Conv2d)) >= 1
    assert pm(X16).shape == (2, 10)


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.1, 1.5, math.nan, math.inf, True, "0.5", None])
def test_sparsity_outside_the_open_interval(bad, resnet):
    with pytest.raises(InputError, match="sparsity"):
        check_sparsity(bad)
    with pytest.raises(InputError, match="sparsity"):
        prune(resnet, "l1", bad, X16[:1])


def test_unknown_method(resnet):
    with pytest.raises(InputError, match="unknown pruning method 'magic'.*l1"):
        prune(resnet, "magic", 0.5, X16[:1])


def test_ignored_layers(resnet):
    pm, _ = prune(resnet, "l1", 0.5, X16[:1], ignored_layers=[resnet.layer1[0].conv1, "layer2.0.conv1"])
    assert pm.layer1[0].conv1.out_channels == 16 and pm.layer2[0].conv1.out_channels == 32
    assert pm.layer1[1].conv1.out_channels == 8
    with pytest.raises(InputError, match="no such module"):
        prune(resnet, "l1", 0.5, X16[:1], ignored_layers=["nope"])


def test_register_a_criterion_in_one_call(resnet):
    class LastFirst:
        """Keeps the first channels: scores decrease with the index."""

        def __call__(self, group):
            n = len(group[0].idxs)
            return torch.arange(n, 0, -1).float()

    register_method("keep_first", lambda ctx: LastFirst(), "test criterion", sweep=False)
    try:
        assert "keep_first" in method_names() and "keep_first" not in method_names(sweep_only=True)
        pm, rec = prune(resnet, "keep_first", 0.5, X16[:1])
        assert rec["removed"]["layer1.0.conv1"] == list(range(8, 16))
        assert torch.equal(pm.layer1[0].conv1.weight, resnet.layer1[0].conv1.weight[:8, :8])
        with pytest.raises(ValueError, match="already registered"):
            register_method("keep_first", lambda ctx: LastFirst(), "again")
    finally:
        unregister_method("keep_first")
    assert "keep_first" not in method_names()
    assert get_method("l1").description


def test_bad_criterion_output_is_an_internal_error(resnet):
    register_method("broken", lambda ctx: (lambda group: torch.ones(3)), "wrong length", sweep=False)
    try:
        with pytest.raises(RuntimeError, match="broken"):
            prune(resnet, "broken", 0.5, X16[:1])
    finally:
        unregister_method("broken")


def test_prune_options_equal_the_keyword_arguments(resnet):
    from qkernels import PruneOptions

    kw = dict(seed=3, round_to=4, ignored_layers=["layer2.0.conv1"])
    _, a = prune(resnet, "random", 0.5, X16[:1], **kw)
    _, b = prune(resnet, "random", 0.5, X16[:1], PruneOptions(**kw))
    _, c = prune(resnet, "random", 0.5, X16[:1], PruneOptions(seed=9, round_to=4), seed=3,
                 ignored_layers=["layer2.0.conv1"])
    assert a["removed"] == b["removed"] == c["removed"] and "layer2.0.conv1" not in a["removed"]
    assert all(len(v) % 4 == 0 for v in a["removed"].values())
    o = PruneOptions(criterion={"tau": 0.1}).updated(merge=True, seed=2)
    assert o.seed == 2 and o.criterion == {"tau": 0.1, "merge": True}
    assert PruneOptions().updated() == PruneOptions()
    with pytest.raises(Exception):
        o.seed = 5  # frozen  # type: ignore[misc]
    with pytest.raises(InputError, match="PruneOptions"):
        prune(resnet, "l1", 0.5, X16[:1], {"seed": 1})  # type: ignore[arg-type]


def test_criterion_options_by_keyword_or_in_prune_options():
    from qkernels import PruneOptions

    m = build_model("mlp", in_features=8, hidden=(6,), num_classes=3)
    x = torch.randn(1, 8)
    _, a = prune(m, "qmfrg", 0.9, x, tau=0.5, merge="fold")
    _, b = prune(m, "qmfrg", 0.9, x, PruneOptions(criterion={"tau": 0.5, "merge": "fold"}))
    assert a["criterion"] == b["criterion"] and a["criterion"]["mode"] == "threshold" and a["criterion"]["merge"]


def test_the_criterion_hooks_are_protocols(resnet):
    from qkernels.pruning import BeforeRemovalHook, Criterion, GroupKeepHook, RecordHook

    seen = []

    class Hooked:
        def __call__(self, group):
            return torch.arange(len(group[0].idxs), 0, -1).float()

        def group_keep(self, group, n, keep):
            return n if n > 16 else keep  # wide groups stay whole

        def before_removal(self, pruning_group):
            seen.append(len(pruning_group))

        def record(self):
            return {"removals": len(seen)}

    h = Hooked()
    assert all(isinstance(h, P) for P in (Criterion, GroupKeepHook, BeforeRemovalHook, RecordHook))
    assert not isinstance(lambda g: None, GroupKeepHook)
    register_method("hooked", lambda ctx: h, "test hooks", sweep=False)
    try:
        pm, rec = prune(resnet, "hooked", 0.5, X16[:1])
    finally:
        unregister_method("hooked")
    assert seen and rec["criterion"] == {"removals": len(seen)} == {"removals": rec["groups"]}
    assert all(pm.get_submodule(name).out_channels == 8 for name in rec["removed"])
    assert pm.layer3[0].conv1.out_channels == resnet.layer3[0].conv1.out_channels  # kept whole by group_keep
