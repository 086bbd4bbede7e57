"""The pruning section end to end on a tiny profile: rows, report, figures, claims, resume, cache."""

from __future__ import annotations

import pandas as pd
import pytest

from qkernels.suite.runner import run
from qkernels.suite.sections import SectionContext, get_section
from qkernels.suite.sections.pruning import plan as sec
from qkernels.suite.sweeps import pruning as sweep

TINY = sweep.SweepConfig(
    data="digits", data_options=(("n_calib", 64), ("n_test", 96), ("n_train", 128), ("size", 16)),
    models=(sweep.ModelSetup("r", "resnet18_small", (("width", 0.0625),), sweep.TrainSetup(epochs=1, batch_size=64)),
            sweep.ModelSetup("mlp", "mlp", (("hidden", (16,)),), sweep.TrainSetup(epochs=1, batch_size=64))),
    sparsities=(0.3, 0.7), replicates=2, bn_images=64, taylor_images=32, finetune_epochs=0.5,
    finetune_sparsities=(0.7,), eval_batch=64, quantum_shots=(16,), quantum_sparsities=(0.7,))
KEY = ["model", "method", "stage", "sparsity", "replicate", "control"]


@pytest.fixture()
def tiny(monkeypatch, tmp_path):
    monkeypatch.setitem(sec.PROFILES, "quick", TINY)
    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "cache"))
    sweep.clear_memory_cache()
    yield TINY
    sweep.clear_memory_cache()


@pytest.fixture()
def counting(monkeypatch):
    """Counts dense trainings (sweep.train is called for dense models and fine-tuning)."""
    calls = []
    real = sweep.train

    def wrapped(*a, **k):
        calls.append(k.get("desc", ""))
        return real(*a, **k)

    monkeypatch.setattr(sweep, "train", wrapped)
    return calls


def _dense_trainings(calls):
    return [c for c in calls if c.startswith("train ")]


def test_plan_units_and_keys(tiny):
    ctx = SectionContext(run=None, profile="quick", device="cpu", seed=0)
    units = get_section("pruning").plan(ctx)
    keys = [u.key for u in units]
    # 2 models x 2 replicates dense; resnet: 6 baselines + 3 QM-FRG, mlp: 5 (no BN) + 3 x 2 sparsities x 2 replicates
    # and the quantum variant: 2 models x 1 shot budget x 1 sparsity x 2 replicates
    # and the block level: the resnet (removable residual blocks) x 2 replicates
    # and the mlp's controls (2 controls x 2 replicates) and cross-architecture units (2 replicates)
    assert len(keys) == len(set(keys)) == 4 + (9 + 8) * 2 * 2 + 4 + 2 + 4 + 2
    assert "blocks:r:r1" in keys and "blocks:mlp:r0" not in keys
    assert "control:mlp:negative:r1" in keys and "control:r:positive:r0" not in keys
    assert "cross:mlp:vit_tiny_p1:r1" in keys
    assert "prune:r:qmfrg-aligned:0.7:r1" in keys and "prune:mlp:qmfrg-merge:0.3:r0" in keys
    assert "prune:r:qmfrg-quantum-s16:0.7:r1" in keys
    assert "dense:r:r0" in keys and "prune:r:taylor:0.7:r1" in keys and "prune:mlp:bn_scale:0.3:r0" not in keys
    assert [u.key for u in get_section("pruning").plan(ctx)] == keys  # stable


def test_section_rows_report_and_claims(tiny, tmp_path, counting):
    out = run(sections="pruning", out=tmp_path / "run", progress=False, seed=1)
    df = pd.read_csv(out / "pruning.csv")
    assert set(sweep.BASE_COLUMNS) <= set(df.columns)
    assert set(df.columns) <= {c.strip() for k in sec.COLUMNS for c in k.split(",")}  # every column documented
    assert not df[df.stage != "block"].duplicated(KEY).any() and not df.duplicated(KEY + ["block"]).any()
    one = df[df.stage == "oneshot"]
    assert len(df[df.stage == "dense"]) == 4 and len(one) == 72
    assert len(df[df.stage == "finetuned"]) == 38 and set(df[df.stage == "finetuned"].sparsity) == {0.7}
    assert one.accuracy.between(0, 1).all() and (one.macs < one.macs_dense).all()
    # equal cost for every criterion at a sparsity
    assert one.groupby(["model", "sparsity"]).macs.nunique().eq(1).all()
    assert len(_dense_trainings(counting)) == 4 + 2  # and the partner ViT of the cross-architecture units
    md = (out / "report.md").read_text()
    part = md.split("## Structured pruning")[1]
    assert "top-1 one-shot" in part and "after fine-tuning" in part and "Pruning time" in part
    for model in ("r", "mlp"):
        for kind in ("sparsity", "macs"):
            name = f"pruning_acc_vs_{kind}_{model}.png"
            assert (out / "figures" / name).stat().st_size > 0 and f"figures/{name}" in md
    claims = md.split("## Claims of the paper")[1].split("\n## ")[0]
    assert "QM-FRG pruning beats magnitude and random pruning at high sparsity | not measured" not in claims
    qrows = [r for r in claims.splitlines() if r.startswith("| QM-FRG pruning beats")]
    # one row per claim: the primary endpoint's verdict with its headline and a link to the evidence
    assert len(qrows) == 1 and "qmfrg − " in qrows[0] and "(#pruning-verdict)" in qrows[0]
    assert any(f"**{v}**" in qrows[0] for v in ("supported", "refuted", "inconclusive", "not measured")), qrows
    # merge against drop and the variants are secondary analyses in the pruning part
    assert "Merge against drop" in part and "Secondary analyses" in part and "Calibration of the verdict rule" in part
    csv = pd.read_csv(out / "claims.csv")
    assert csv.claim_id.is_unique and "qmfrg − " in csv.set_index("claim_id").loc["qmfrg", "headline"]
    assert one.correct.str.startswith(f"{int(one.n_test.iloc[0])}:").all() and (one.n_classes == 10).all()
    assert "QM-FRG against the baselines" in part and "threshold τ chosen" in part
    quantum = one[one.method == "qmfrg-quantum-s16"]
    assert len(quantum) == 4 and (quantum.shots == 16).all()
    assert quantum.edge_agreement.between(0, 1).all() and quantum.kept_agreement.between(0, 1).all()
    assert "QM-FRG with quantum-estimated distances" in part
    bl = df[df.stage == "block"]
    assert len(bl) == 10 and set(bl.block) == {"layer1.0", "layer1.1", "layer2.1", "layer3.1", "layer4.1"}
    assert (bl.macs_frac < 1).all() and bl.block_distance.gt(0).all() and bl.accuracy.between(0, 1).all()
    assert "Block level: substitutable residual blocks" in part and (out / "figures" / "pruning_blocks_r.png").exists()
    assert "Spectral distance identifies substitutable operators across architectures |" in claims
    row = [r for r in claims.splitlines() if r.startswith("| Spectral distance identifies")][0]
    assert "vit_tiny_p1" in row  # the verdict: across architectures (the MLP and the one-patch ViT)
    ev = pd.read_csv(out / "claims.csv").set_index("claim_id").loc["cross_arch"]
    assert "mlp ← vit_tiny_p1" in ev.evidence and "Spearman" in ev.evidence  # the block level: secondary
    ctl = df[df.stage == "control"]
    assert len(ctl) == 2 * 2 * 7 and ctl.planted_found.between(0, 1).all() and ctl.agreement.between(0, 1).all()
    assert (ctl[(ctl.control == "positive") & (ctl.method == "qmfrg-aligned-merge")].planted_found == 1).all()
    assert (ctl[(ctl.control == "negative") & (ctl.method == "qmfrg")].planted_found == 1).all()
    cross = df[df.stage == "cross_arch"]
    assert len(cross) == 2 * 2 * 3 and set(cross.cross_source) == {"mlp", "vit_tiny_p1"}
    assert "Controls (checks of the instrument)" in part and "Cross-architecture substitution" in part
    assert "control: " not in claims  # checks of the instrument, not claims
    q = one[one.method == "qmfrg"]
    assert q.qmfrg_tau.notna().all() and one[one.method == "l1"].qmfrg_tau.isna().all()
    assert "±" in part


def test_interrupted_sweep_resumes_without_losing_or_duplicating_rows(tiny, tmp_path, counting, monkeypatch):
    full = run(sections="pruning", out=tmp_path / "full", progress=False, seed=2)
    expected = pd.read_csv(full / "pruning.csv")
    trained_once = len(_dense_trainings(counting))
    real = sweep.prune_rows
    n = {"calls": 0}

    def flaky(*a, **k):
        n["calls"] += 1
        if n["calls"] == 9:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(sec, "prune_rows", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(sections="pruning", out=tmp_path / "cut", progress=False, seed=2)
    assert not (tmp_path / "cut" / "pruning.csv").exists()
    parts = list((tmp_path / "cut" / ".parts" / "pruning").glob("*.csv"))
    assert len(parts) == 4 + 8
    sweep.clear_memory_cache()  # as a new process would
    monkeypatch.setattr(sec, "prune_rows", real)
    run(sections="pruning", out=tmp_path / "cut", progress=False, seed=2, resume=True)
    got = pd.read_csv(tmp_path / "cut" / "pruning.csv")
    assert not got.duplicated(KEY + ["block"]).any() and len(got) == len(expected)
    cols = ["accuracy", "macs", "params", "channel_sparsity"]
    pd.testing.assert_frame_equal(got[KEY + cols], expected[KEY + cols])  # deterministic, nothing lost
    assert len(_dense_trainings(counting)) == trained_once  # the dense models came from the cache
    dense = got[got.stage == "dense"]
    assert dense.cached.astype(str).isin(["True"]).all()


def test_report_survives_partial_csv(tiny, tmp_path):
    """A CSV with only dense rows, or without fine-tuned rows, still gives a report part."""
    section = get_section("pruning")
    df = pd.DataFrame([{c: None for c in sweep.BASE_COLUMNS}])
    df = df.assign(model="m", data="digits", method="dense", stage="dense", sparsity=0.0, replicate=0,
                   accuracy=0.9, macs=10, params=5, train_time_s=1.0, cached=False)
    from qkernels.suite.runfolder import RunFolder

    blocks = section.report(RunFolder(tmp_path), df)
    assert blocks and section.claims(df)[0].verdict == "not measured"
    assert section.report(RunFolder(tmp_path), pd.DataFrame())


def test_unit_counts_of_the_real_profiles():
    """The counts docs/pruning.md gives per profile and kind of unit (planning only: nothing runs)."""
    import collections

    from qkernels.suite.sections.pruning.plan import PROFILES, plan_units

    want = {"quick": {"dense": 12, "prune": 375, "blocks": 3, "control": 6, "cross": 3},
            "standard": {"dense": 40, "prune": 2600, "blocks": 10, "control": 20, "cross": 10},
            "full": {"dense": 70, "prune": 6030, "blocks": 20, "control": 20, "cross": 10}}
    for name, counts in want.items():
        units = plan_units(SectionContext(run=None, profile=name, device="cpu", seed=0), PROFILES[name])
        assert dict(collections.Counter(u.key.split(":")[0] for u in units)) == counts, name
        pretrained = [u for u in units if u.key.split(":")[1] in ("lenet5-mnist", "crepe-tiny", "crepe-full")]
        assert pretrained and all(u.checkpoints == () for u in pretrained)  # nothing to train or ship
