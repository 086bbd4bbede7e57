"""Per-group widths in prune(), candidate widths, the greedy allocation and the cost table."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.nn.models import build_model
from qkernels.pruning.hardware import (
    CostTable,
    allocate,
    candidate_widths,
    group_importance,
    hardware_aware_keep,
    measure_cost_table,
    uniform_keep,
)
from qkernels.pruning.prune import prunable_groups, prune

X16 = torch.zeros(1, 3, 16, 16)


@pytest.fixture(scope="module")
def resnet():
    return build_model("resnet18_small", width=0.125)


def test_group_keep_sets_each_group_and_others_follow_uniform(resnet):
    groups = prunable_groups(resnet, X16)
    pm, rec = prune(resnet, "l1", 0.5, X16, group_keep={"layer1.0.conv1": 3, "layer4.0.conv1": 64})
    assert pm.layer1[0].conv1.out_channels == 3
    assert pm.layer4[0].conv1.out_channels == 64  # kept whole
    assert pm.layer2[0].conv1.out_channels == groups["layer2.0.conv1"] // 2
    assert pm(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
    assert rec["channels_after"] == sum(uniform_keep(groups, 0.5).values()) - 4 + 3 + 32


def test_round_to_gives_channel_multiples(resnet):
    pm, rec = prune(resnet, "l1", 0.7, X16, round_to=4)
    after = prunable_groups(pm, X16)
    assert all(k % 4 == 0 for k in after.values()), after
    base = prunable_groups(resnet, X16)
    assert after == uniform_keep(base, 0.7, round_to=4)


@pytest.mark.parametrize("kw, match", [
    ({"group_keep": {"nope": 2}}, "names no prunable group"),
    ({"group_keep": {"conv1": 0}}, "channel count"),
    ({"round_to": 0}, "round_to"),
    ({"round_to": 2.5}, "round_to"),
])
def test_bad_group_options(resnet, kw, match):
    with pytest.raises(InputError, match=match):
        prune(resnet, "l1", 0.5, X16, **kw)


def test_prunable_groups_match_channel_removal(resnet):
    groups = prunable_groups(resnet, X16)
    assert groups["conv1"] == 8 and groups["layer4.0.conv1"] == 64
    pm, rec = prune(resnet, "l1", 0.5, X16)
    assert rec["channels_before"] == sum(groups.values())


@given(n=st.integers(1, 300), fr=st.lists(st.floats(0.01, 0.99), min_size=1, max_size=4), r=st.sampled_from([None, 1, 4, 8]))
@settings(max_examples=60, deadline=None)
def test_candidate_widths_properties(n, fr, r):
    ws = candidate_widths(n, fr, r)
    assert ws[0] == n and list(ws) == sorted(set(ws), reverse=True)
    for w in ws[1:]:
        assert 1 <= w < n and (r in (None, 1) or w % r == 0)


def test_candidate_widths_bad_fraction():
    with pytest.raises(InputError):
        candidate_widths(8, (1.0,))


def _brute_force(table, imp, target):
    """Least importance lost among configurations whose predicted saving reaches target."""
    best = None
    groups = list(table.groups)
    for combo in itertools.product(*(table.widths[g] for g in groups)):
        keep = dict(zip(groups, combo))
        if table.predict_saving(keep) + 1e-12 < target:
            continue
        lost = sum(sum(imp[g][: table.groups[g] - k]) for g, k in keep.items())
        best = lost if best is None else min(best, lost)
    return best


@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_allocate_reaches_target_and_is_near_optimal_on_concave_tables(data):
    # concave savings and convex losses: the greedy on ratios is optimal up to one step
    groups = {f"g{i}": 8 for i in range(data.draw(st.integers(1, 3)))}
    widths = {g: (8, 6, 4, 2) for g in groups}
    lat, imp = {}, {}
    for g in groups:
        steps = sorted(data.draw(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3)), reverse=True)
        lat[g] = (10.0, 10 - steps[0], 10 - steps[0] - steps[1], 10 - sum(steps))
        raw = sorted(data.draw(st.lists(st.floats(0.01, 1.0), min_size=8, max_size=8)))
        imp[g] = tuple(v / sum(raw) for v in raw)
    table = CostTable("cpu", 8, 10.0, groups, widths, lat)
    target = data.draw(st.floats(0.0, 1.0)) * sum(table.savings(g)[-1] for g in groups)
    keep = allocate(table, imp, target)
    assert table.predict_saving(keep) >= target - 1e-9
    lost = sum(sum(imp[g][: 8 - k]) for g, k in keep.items())
    opt = _brute_force(table, imp, target)
    assert lost >= opt - 1e-9
    assert lost <= opt + max(max(sum(imp[g][:6]) for g in groups), 1e-9) + 1e-9


def test_allocate_prefers_the_group_that_buys_time():
    table = CostTable("cpu", 8, 1.0, {"slow": 8, "free": 8}, {"slow": (8, 4), "free": (8, 4)},
                      {"slow": (1.0, 0.5), "free": (1.0, 1.0)})
    imp = {g: (0.125,) * 8 for g in table.groups}
    assert allocate(table, imp, 0.4) == {"slow": 4, "free": 8}
    assert allocate(table, imp, 0.0) == {"slow": 8, "free": 8}
    # an unreachable target narrows whatever saves time, then stops
    assert allocate(table, imp, 5.0) == {"slow": 4, "free": 8}


def test_savings_are_clipped_and_monotone():
    t = CostTable("cpu", 1, 1.0, {"a": 8}, {"a": (8, 6, 4, 2)}, {"a": (1.0, 1.2, 0.7, 0.8)})
    assert t.savings("a") == (0.0, 0.0, pytest.approx(0.3), pytest.approx(0.3))
    assert t.predict_saving({"a": 5}) == 0.0 and t.predict_saving({"a": 4}) == pytest.approx(0.3)
    assert set(t.to_frame().columns) >= {"group", "keep", "latency_s", "saving_s"}


def test_group_importance_shares_sum_to_one(resnet):
    imp = group_importance(resnet, X16, "l1")
    assert set(imp) == set(prunable_groups(resnet, X16))
    for shares in imp.values():
        assert sum(shares) == pytest.approx(1.0) and list(shares) == sorted(shares)


def test_cost_table_and_hardware_keep_on_a_tiny_model():
    m = build_model("mlp", in_features=48, hidden=(32, 16))
    table = measure_cost_table(m, (48,), batch=4, fractions=(0.5,), budget_s=0.0, min_repeat=3, max_repeat=3,
                               threads=1)
    assert table.widths == {"net.3": (16, 8), "net.1": (32, 16)}
    assert all(len(v) == 2 and v[0] == table.dense_s for v in table.latency_s.values())
    keep, info = hardware_aware_keep(m, (48,), 0.5, table=table)
    assert set(keep) == set(table.groups) and info["predicted_saving_s"] >= info["target_saving_s"] - 1e-15
    pm, _ = prune(m, "l1", 0.5, torch.zeros(1, 48), group_keep=keep)
    assert pm(torch.zeros(3, 48)).shape == (3, 10)


def test_hardware_aware_prune_matches_uniform_latency_structure():
    from qkernels.pruning.hardware import hardware_aware_prune

    m = build_model("mlp", in_features=48, hidden=(32, 16))
    pm, rec = hardware_aware_prune(m, 0.5, torch.zeros(1, 48), batch=4, budget_s=0.0, match_tries=2, threads=1)
    h = rec["hardware_aware"]
    assert 1 <= len(h["tries"]) <= 2 and set(h["keep"]) == {"net.1", "net.3"}
    assert pm.net[1].out_features == h["keep"]["net.1"] and pm.net[3].out_features == h["keep"]["net.3"]
    assert rec["uniform_macs"] < rec["macs_before"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("imgs")
    for k, c in enumerate(("red", "green", "blue")):
        (root / c).mkdir()
        for i in range(12):
            rgb = [20 + i] * 3
            rgb[k] = 200 + i
            Image.new("RGB", (8, 8), tuple(rgb)).save(root / c / f"{i}.png")
    return root


def test_cli_prune_hardware_aware_and_round_to(capsys, folder, tmp_path, monkeypatch):
    from qkernels.pruning import load_pruned
    from qkernels.suite.cli import main
    from qkernels.suite.sweeps import pruning as sweep

    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "cache"))
    sweep.clear_memory_cache()
    out = tmp_path / "hw.safetensors"
    rc = main(["prune", "mlp", "--method", "l1", "--sparsity", "0.5", "--data", f"folder:{folder}", "--size", "8",
               "--epochs", "1", "--hardware-aware", "--round-to", "4", "--latency-batch", "4", "--out", str(out),
               "--no-progress", "--threads", "1"])
    stdout, err = capsys.readouterr()
    assert rc == 0, err
    assert "hardware-aware on cpu at batch 4" in stdout
    model, _ = load_pruned(out)
    widths = [l.out_features for l in model.net if isinstance(l, torch.nn.Linear)][:-1]
    assert all(w % 4 == 0 for w in widths), widths
    for bad, match in ((["--round-to", "0"], "round-to"), (["--latency-batch", "0"], "latency-batch")):
        rc = main(["prune", "mlp", "--method", "l1", "--sparsity", "0.5", "--data", f"folder:{folder}", *bad])
        assert rc == 2 and match in capsys.readouterr().err
    sweep.clear_memory_cache()
