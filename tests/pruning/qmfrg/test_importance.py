"""QM-FRG criteria through qkernels.pruning.prune: equal MACs, duplicates found, both modes, merge,
the quantum variant, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.models import build_model
from qkernels.pruning import get_method, keep_count, method_names, prune

X = torch.randn(16, 8)


def _mlp_with_duplicates(scale_second: float = 1.0) -> nn.Module:
    """A 8-6-3 MLP whose hidden neurons 3, 4, 5 repeat neurons 0, 1, 2 (neuron 4 scaled)."""
    torch.manual_seed(3)
    m = build_model("mlp", in_features=8, hidden=(6,), num_classes=3)
    lin = m.net[1]
    with torch.no_grad():
        lin.weight[3:] = lin.weight[:3]
        lin.bias[3:] = lin.bias[:3]
        lin.weight[4] *= scale_second
        lin.bias[4] *= scale_second
    return m.eval()


def _one_of_each_pair(removed) -> bool:
    return sorted(i % 3 for i in removed) == [0, 1, 2]


def test_registered_and_in_the_sweep():
    names = method_names(sweep_only=True)
    assert {"qmfrg", "qmfrg-aligned", "qmfrg-merge"} <= set(names) and "qmfrg-quantum" not in names
    assert not get_method("qmfrg").needs_data


@pytest.mark.parametrize("method", ["qmfrg", "qmfrg-aligned", "qmfrg-merge"])
def test_same_architecture_and_macs_as_the_baselines(method):
    m = build_model("resnet18_small", width=0.125)
    x = torch.zeros(1, 3, 16, 16)
    _, ref = prune(m, "l2", 0.5, x)
    calib = [(torch.randn(16, 3, 16, 16), torch.zeros(16, dtype=torch.long))]  # qmfrg-merge's least squares
    pm, rec = prune(m, method, 0.5, x, calib=calib)
    assert (rec["macs_after"], rec["params_after"], rec["channels_after"]) == \
           (ref["macs_after"], ref["params_after"], ref["channels_after"])
    assert torch.isfinite(pm(torch.randn(2, 3, 16, 16))).all()
    groups = rec["criterion"]["groups"]
    assert len(groups) == rec["groups"] and all(g["tau"] >= 0 and g["layers"] >= 1 for g in groups)


@pytest.mark.parametrize("method", ["qmfrg", "qmfrg-aligned"])
def test_exact_duplicates_are_the_channels_removed(method):
    m = _mlp_with_duplicates()
    pm, rec = prune(m, method, 0.5, X[:1])
    assert _one_of_each_pair(rec["removed"]["net.1"])
    assert rec["criterion"]["groups"][0]["tau"] == pytest.approx(0.0, abs=1e-7)


def test_spectral_form_calls_a_scaled_copy_redundant_and_aligned_does_not():
    m = _mlp_with_duplicates(scale_second=-1.0)  # neuron 4 = −neuron 1: same spectrum, other function
    _, rec = prune(m, "qmfrg", 0.9, X[:1], tau=1e-6)
    assert rec["channels_after"] == 3
    _, rec = prune(m, "qmfrg-aligned", 0.9, X[:1], tau=1e-6)
    assert rec["channels_after"] == 4 and 4 not in rec["removed"]["net.1"]


def test_threshold_mode_reports_the_sparsity_that_results():
    m = _mlp_with_duplicates()
    pm, rec = prune(m, "qmfrg", 0.9, X[:1], tau=0.0)
    assert rec["channels_after"] == 3 and rec["channel_sparsity"] == pytest.approx(0.5)
    assert rec["criterion"]["mode"] == "threshold" and rec["criterion"]["groups"][0]["clusters"] == 3
    _, rec = prune(m, "qmfrg", 0.9, X[:1], tau=10.0)  # everything redundant: the cap's minimum stays
    assert rec["channels_after"] == keep_count(6, 0.9) == 1
    _, rec = prune(m, "qmfrg", 0.5, X[:1], tau=10.0)
    assert rec["channels_after"] == keep_count(6, 0.5) == 3


def test_all_equal_states_keep_the_documented_minimum():
    torch.manual_seed(0)
    m = build_model("mlp", in_features=8, hidden=(10,), num_classes=3)
    with torch.no_grad():
        m.net[1].weight[:] = m.net[1].weight[0]
        m.net[1].bias[:] = m.net[1].bias[0]
    for p in (0.3, 0.95):
        _, rec = prune(m, "qmfrg", p, X[:1], tau=0.0)
        assert rec["channels_after"] == keep_count(10, p)


def test_one_channel_group_is_left_whole():
    m = build_model("mlp", in_features=8, hidden=(1, 4), num_classes=3)
    pm, rec = prune(m, "qmfrg", 0.5, X[:1])
    assert pm.net[1].out_features == 1 and pm.net[3].out_features == 2


def test_merge_keeps_the_function_of_duplicated_channels():
    m = _mlp_with_duplicates()
    ref = m(X)
    dropped, _ = prune(m, "qmfrg", 0.5, X[:1])
    calib = [(X, torch.zeros(len(X), dtype=torch.long))]
    merged, rec = prune(m, "qmfrg-merge", 0.5, X[:1], calib=calib)
    assert rec["criterion"]["merge"] == "ls" and rec["criterion"]["groups"][0]["folds"] == 3
    assert torch.allclose(merged(X), ref, atol=1e-5)
    assert not torch.allclose(dropped(X), ref, atol=1e-3)
    # the CLI's --merge: any QM-FRG method with merge=True (least squares) or merge="fold" (alpha = 1, data-free)
    merged2, _ = prune(m, "qmfrg-aligned", 0.5, X[:1], merge=True, calib=calib)
    assert torch.allclose(merged2(X), ref, atol=1e-5)
    folded, rec = prune(m, "qmfrg-aligned", 0.5, X[:1], merge="fold")
    assert rec["criterion"]["merge"] == "fold" and torch.allclose(folded(X), ref, atol=1e-5)
    with pytest.raises(InputError, match="calibration data"):
        prune(m, "qmfrg", 0.5, X[:1], merge=True)


def test_quantum_variant_analytic_equals_exact_and_shots_add_noise():
    m = _mlp_with_duplicates()
    _, exact = prune(m, "qmfrg", 0.5, X[:1])
    _, rec = prune(m, "qmfrg-quantum", 0.5, X[:1], shots=None)
    assert rec["removed"] == exact["removed"] and rec["criterion"]["metric"] == "quantum"
    _, rec = prune(m, "qmfrg-quantum", 0.5, X[:1], shots=200, seed=1)
    assert rec["channels_after"] == 3 and rec["criterion"]["groups"][0]["tau"] >= 0


@pytest.mark.parametrize("method, options, match", [
    ("qmfrg", {"tau": -0.1}, "tau"),
    ("qmfrg", {"tau": float("nan")}, "tau"),
    ("qmfrg-quantum", {"shots": 0}, "shots"),
    ("qmfrg-quantum", {"shots": 2.5}, "shots"),
    ("qmfrg", {"shots": 100}, "shots"),
    ("qmfrg", {"metric": "cosine"}, "metric"),
    ("qmfrg", {"layers": "in"}, "layers"),
    ("qmfrg", {"layers": "all", "tau": -1}, "tau"),
    ("qmfrg", {"threshold": 0.1}, "unknown QM-FRG option"),
])
def test_bad_options(method, options, match):
    with pytest.raises(InputError, match=match):
        prune(_mlp_with_duplicates(), method, 0.5, X[:1], **options)
