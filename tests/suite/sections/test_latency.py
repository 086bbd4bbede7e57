"""The latency section on a tiny profile: rows, CSV columns, report, figures, claim, resume, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from qkernels.suite.cli import main
from qkernels.suite.runner import run
from qkernels.suite.sections import SectionContext, get_section
from qkernels.suite.sections.latency import plan as lu
from qkernels.suite.sections.latency import report as sec
from qkernels.suite.sections.latency import units
from qkernels.suite.sections.pruning import plan as pruning_plan
from qkernels.suite.sweeps import pruning as sweep

PRUNE = sweep.SweepConfig(
    data="digits", data_options=(("n_calib", 64), ("n_test", 96), ("n_train", 128), ("size", 16)),
    models=(sweep.ModelSetup("mlp", "mlp", (("hidden", (16,)),), sweep.TrainSetup(epochs=1, batch_size=64)),),
    sparsities=(0.5,), replicates=1, bn_images=64, taylor_images=32, eval_batch=64)
TINY = lu.LatencyProfile(
    pruning=PRUNE,
    models=(lu.LatencyModel("mlp", PRUNE.models[0], True),
            lu.LatencyModel("r@16", sweep.ModelSetup("r", "resnet18_small", (("width", 0.0625),)), False, 16)),
    sparsities=(0.5,), batch_sizes=(1, 8), warmup=1, min_repeat=3, max_repeat=3, budget_s=0.0, table_batch=8,
    table_budget_s=0.0, match_tries=2)


@pytest.fixture()
def tiny(monkeypatch, tmp_path):
    monkeypatch.setitem(pruning_plan.PROFILES, "quick", PRUNE)
    monkeypatch.setitem(lu.PROFILES, "quick", TINY)
    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "cache"))
    sweep.clear_memory_cache()
    yield TINY
    sweep.clear_memory_cache()


def test_plan_units(tiny):
    import torch

    ctx = SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=0)
    keys = [u.key for u in get_section("latency").plan(ctx)]
    assert keys == ["dense:mlp:cpu", "table:mlp:cpu", "point:mlp:0.5:cpu", "dense:r@16:cpu", "table:r@16:cpu",
                    "point:r@16:0.5:cpu"]


def test_replicates_add_point_units_of_trained_models_only(tiny, monkeypatch):
    import dataclasses

    import torch

    monkeypatch.setitem(lu.PROFILES, "quick", dataclasses.replace(TINY, replicates=3))
    ctx = SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=0)
    units_ = {u.key: u.run for u in get_section("latency").plan(ctx)}
    assert [k for k in units_ if k.endswith(("r1", "r2"))] == ["point:mlp:0.5:cpu:r1", "point:mlp:0.5:cpu:r2"]
    r1 = units_["point:mlp:0.5:cpu:r1"]
    assert r1.args[4] == sweep.replicate_seed(ctx.seed_for, 1) and r1.keywords["replicate"] == 1
    assert r1.keywords["table_seed"] == sweep.replicate_seed(ctx.seed_for, 0)
    assert r1.args[0].batch_sizes == (TINY.table_batch,)


def test_profiles_have_standard():
    from qkernels.suite import runner

    assert "standard" in runner.PROFILES
    assert {"quick", "standard", "full"} <= set(lu.PROFILES) and "standard" in get_section("quantum").profiles
    assert lu.PROFILES["standard"].sparsities == lu.PROFILES["quick"].sparsities
    assert lu.PROFILES["quick"].replicates == 3
    # the deciding profile times the standard pruning profile's models (trained here and pretrained) over
    # replicates 0-2: its timed units run one at a time, and 10 replicates would outlast the pruning sweep
    from qkernels.suite.sections.pruning.plan import PROFILES as PP

    assert lu.PROFILES["standard"].replicates == 3 and PP["standard"].replicates == 10
    assert lu.PROFILES["standard"].pruning is PP["standard"]
    names = [m.name for m in lu.PROFILES["standard"].models]
    assert {s.name for s in PP["standard"].models} <= set(names) and "crepe-tiny" in names
    assert not any(m.setup.pretrained for m in lu.PROFILES["quick"].models)  # quick stays within 10 minutes


def test_trained_models_are_the_pruning_sections_first_replicate(tiny):
    """The latency units seed their models like the pruning section's replicate 0 (same dense checkpoint)."""
    import torch

    ctx = SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=5)
    latency = {u.key: u.run for u in get_section("latency").plan(ctx)}
    pruning = {u.key: u.run for u in get_section("pruning").plan(ctx)}
    seed = sweep.replicate_seed(ctx.seed_for, 0)
    assert pruning["dense:mlp:r0"].args[3] == seed == ctx.seed_for("replicate:0")
    assert latency["dense:mlp:cpu"].args[2] == latency["table:mlp:cpu"].args[2] == seed
    assert latency["point:mlp:0.5:cpu"].args[4] == seed


def test_backends_include_cpu_next_to_an_accelerator():
    import torch

    assert lu.backends_for(SectionContext(None, "quick", torch.device("cpu"), 0)) == ["cpu"]
    assert lu.backends_for(SectionContext(None, "quick", torch.device("cuda"), 0)) == ["cuda", "cpu"]


def test_section_end_to_end_and_resume(tiny, tmp_path, monkeypatch):
    out = run(sections="latency", out=tmp_path / "run", progress=False)
    df = pd.read_csv(out / "latency.csv")
    assert set(df.kind) == {"model", "reference", "cost"}
    assert set(df["mode"]) == {"eager", "deployed"}
    dep = df[(df["mode"] == "deployed")]
    # deployed: the point unit's dense reference, l1 and hw-l1, each checked against its eager self
    assert sorted(dep.groupby(["model", "kind", "method"]).size().items()) == [
        (("mlp", "model", "hw-l1"), 2), (("mlp", "model", "l1"), 2), (("mlp", "reference", "dense"), 2),
        (("r@16", "model", "hw-l1"), 2), (("r@16", "model", "l1"), 2), (("r@16", "reference", "dense"), 2)]
    assert (dep.deploy_max_abs_diff < 1e-4).all() and set(dep.compiled) == {"off"}
    assert (dep[dep.model == "r@16"].bn_folded > 0).all() and dep[dep.model == "r@16"].channels_last.all()
    assert (dep[dep.model == "mlp"].bn_folded == 0).all() and not dep[dep.model == "mlp"].channels_last.any()
    assert np.allclose(dep[dep.kind == "model"].efficiency, dep[dep.kind == "model"].speedup
                       / dep[dep.kind == "model"].mac_ratio)
    full = df
    df = df[df["mode"] == "eager"]
    m = df[df.kind == "model"]
    # dense rows at every batch, and l1 + hw-l1 at the sparsity, for both models
    assert sorted(m.groupby(["model", "method"]).size().items()) == [
        (("mlp", "dense"), 2), (("mlp", "hw-l1"), 2), (("mlp", "l1"), 2),
        (("r@16", "dense"), 2), (("r@16", "hw-l1"), 2), (("r@16", "l1"), 2)]
    assert (m.n == 3).all() and m.error.isna().all() and (m.replicate == 0).all()
    timed = m[m.round_median_s.notna()]
    assert all(len(json.loads(v)) == r for v, r in zip(timed.round_median_s, timed.rounds))
    assert m[m.method != "dense"].round_median_s.notna().all()
    assert (m.p99_s >= m.median_s).all() and np.allclose(m.throughput, m.batch / m.median_s)
    assert np.allclose(m.speedup, m.dense_median_s / m.median_s)
    assert np.allclose(m.efficiency, m.speedup / m.mac_ratio)
    uni = m[m.method == "l1"]
    assert (uni.macs < uni.macs_dense).all() and np.allclose(uni.channel_sparsity, 0.5, atol=0.05)
    assert m[m.model == "mlp"].accuracy.notna().all() and m[m.model == "r@16"].accuracy.isna().all()
    hw = m[m.method == "hw-l1"]
    keep = json.loads(hw.keep.iloc[0])
    assert keep and all(isinstance(v, int) for v in keep.values())
    assert 1 <= len(json.loads(hw.match_tries.iloc[0])) <= 2
    cost = df[df.kind == "cost"]
    assert {"group", "group_channels", "group_keep", "saving_s"} <= set(cost.columns) and (cost.saving_s >= 0).all()
    assert (out / "figures" / "latency_speedup_cpu.png").is_file()
    assert (out / "figures" / "latency_acc_vs_latency_mlp_cpu.png").is_file()
    report = (out / "report.md").read_text()
    assert "Latency of dense and pruned models" in report and "Speed goal on the CPU" in report
    assert "Deployed models on the CPU" in report
    assert "Hardware-aware pruning gives real latency gains" in report
    assert f'<a id="{sec.CLAIM_ANCHOR}"></a>' in report and "The hardware claim: paired tests" in report

    # resume: a lost point unit is redone alone; the cost table comes back from its part file
    parts = out / ".parts" / "latency"
    victim = next(p for p in parts.iterdir() if p.name.startswith("point") and "mlp" in p.name)
    victim.unlink()
    (out / "latency.csv").unlink()
    calls = []
    real = units._table_unit
    monkeypatch.setattr(units, "_table_unit", lambda *a, **k: calls.append(a) or real(*a, **k))
    run(sections="latency", out=out, resume=True, progress=False)
    df2 = pd.read_csv(out / "latency.csv")
    assert len(df2) == len(full) and calls == []


def test_unavailable_backend_is_exit_2(capsys):
    assert main(["run", "--sections", "latency", "--device", "npu", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert "npu" in err and "Traceback" not in err


def _frame(rows):
    base = {"kind": "model", "weights": "trained", "backend": "cpu", "batch": 8, "error": ""}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_goal_rows_and_comparison_from_synthetic_rows():
    df = _frame([
        {"model": "a", "method": "dense", "sparsity": 0.0, "median_s": 1.0, "accuracy": 0.9, "speedup": 1.0,
         "mac_ratio": 1.0, "efficiency": 1.0, "threads": 1},
        {"model": "a", "method": "l1", "sparsity": 0.5, "median_s": 0.5, "accuracy": 0.5, "speedup": 2.0,
         "mac_ratio": 4.0, "efficiency": 0.5, "threads": 1},
        {"model": "a", "method": "hw-l1", "sparsity": 0.5, "median_s": 0.5, "accuracy": 0.7, "speedup": 2.0,
         "mac_ratio": 2.0, "efficiency": 1.0, "threads": 1},
    ])
    g = sec.goal_rows(df)
    assert list(g.met) == [False] and g.efficiency.iloc[0] == 0.5
    cmp = sec.compare_hardware(df)
    assert cmp["Δ top-1 at equal latency"].iloc[0] == pytest.approx(0.2)
    # uniform curve (0.5 s, 0.5) .. (1 s, 0.9): accuracy 0.7 is reached at 0.75 s
    assert cmp["latency ratio at equal accuracy"].iloc[0] == pytest.approx(1.5)
    assert list(cmp.replicate) == [0]


def _sweep(speedup=2.0, gain=0.05, replicates=3, rounds=3, models="abc", hw_latency=1.0, acc_uni=0.6, seed=0,
           noise=0.01):
    """latency.csv rows of a sweep at p = 0.5 (and 0.3), batch 8: per model and replicate one point unit
    (dense reference, uniform, hardware-aware) with per-round medians; the hardware-aware model runs at
    ``hw_latency`` x the uniform one's latency and is ``gain`` more accurate (plus noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in models:
        for r in range(replicates):
            for sp in (0.3, 0.5):
                dense = 0.01 * np.exp(rng.normal(0, noise, rounds))
                uni = dense / speedup * np.exp(rng.normal(0, noise, rounds))
                hw = uni * hw_latency * np.exp(rng.normal(0, noise, rounds))
                a_u = acc_uni + rng.normal(0, 0.02)
                common = {"model": m, "replicate": r, "weights": "trained", "backend": "cpu", "batch": 8, "error": ""}
                for kind, method, t, acc, s_ in (("reference", "dense", dense, 0.9, 0.0), ("model", "l1", uni, a_u, sp),
                                                 ("model", "hw-l1", hw, a_u + gain + rng.normal(0, 0.005), sp)):
                    rows.append({**common, "kind": kind, "method": method, "sparsity": s_, "median_s": np.median(t),
                                 "dense_median_s": np.median(dense), "speedup": np.median(dense) / np.median(t),
                                 "accuracy": acc, "round_median_s": json.dumps(list(t)), "mac_ratio": 4.0})
    return pd.DataFrame(rows)


def test_speedup_part_is_a_paired_test_over_rounds_and_replicates():
    d = sec.speedup_decision(_sweep())
    assert d.verdict == "supported" and len(d.family) == 3 and set(d.family.n) == {9}  # 3 rounds x 3 replicates
    assert sec.speedup_decision(_sweep(speedup=1.0, noise=0.005)).verdict == "refuted"  # no real gain
    assert sec.speedup_decision(_sweep(speedup=1.3, noise=0.5)).verdict == "inconclusive"  # too noisy to tell
    # an older CSV without per-round medians: the unit's ratio of medians, one observation per replicate
    old = _sweep().drop(columns=["round_median_s"])
    assert set(sec.speedup_decision(old).family.n) == {3}


def test_matched_part_tests_across_replicates():
    d = sec.matched_decision(_sweep(gain=0.05))
    assert d.verdict == "supported" and int(d.family.n.iloc[0]) == 3 and "3 replicates" in d.family.note.iloc[0]
    assert sec.matched_decision(_sweep(gain=-0.05)).verdict == "refuted"
    assert sec.matched_decision(_sweep(gain=0.0)).verdict == "refuted"  # equivalent within the 1-point margin
    one = sec.matched_decision(_sweep(gain=0.05, replicates=1))
    assert "one replicate" in one.family.note.iloc[0] and int(one.family.n.iloc[0]) == 6  # 2 points x 3 models
    # points where both models are at chance level are excluded
    chance = sec.matched_decision(_sweep(acc_uni=0.1, gain=0.0))
    assert chance.verdict == "not measured" and "excluded" in chance.evidence
    # hardware-aware models 20% slower: no latency-matched points
    assert sec.matched_decision(_sweep(hw_latency=1.2)).verdict == "not measured"


def test_claim_needs_both_parts():
    verdict, text, headline = sec.hardware_verdict(_sweep())
    assert verdict == "supported" and "Δ top-1" in headline and "(1)" in text and "(2)" in text
    assert sec.hardware_verdict(_sweep(gain=-0.05))[0] == "refuted"
    assert sec.hardware_verdict(_sweep(speedup=1.0, noise=0.005))[0] == "refuted"
    assert sec.hardware_verdict(_sweep(hw_latency=1.2))[0] == "inconclusive"  # part 2 not measured
    assert sec.hardware_verdict(_sweep(gain=0.05, replicates=1))[0] in ("supported", "inconclusive")
    claim = get_section("latency").claims(_sweep())[0]
    assert claim.anchor == sec.CLAIM_ANCHOR and claim.headline and claim.verdict == "supported"
    df = _sweep()
    assert sec.hardware_verdict(df[df.method != "l1"])[0] == "not measured"


def test_report_survives_an_empty_csv(tmp_path):
    from qkernels.suite.runfolder import RunFolder

    blocks = get_section("latency").report(RunFolder(tmp_path), pd.DataFrame())
    assert blocks and get_section("latency").claims(pd.DataFrame()) == []
