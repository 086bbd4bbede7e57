"""The qmfrg claim's primary endpoint: cells at chance, pairing, the test-set variance, and the
verdict read back from claims.csv of `qkernels report` on synthetic pruning.csv files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from qkernels.suite.cli import main
from qkernels.suite.sections.pruning.endpoint import PRIMARY, cell_table, comparisons, pruning_decision
from qkernels.suite.stats import pack_correct

METHODS = ("qmfrg", "l1", "l2", "random")


def sweep(effect=0.0, seeds=10, noise=0.02, means=None, rng=None, at_chance_bonus=0.0, stage="oneshot"):
    """Synthetic pruning.csv rows with the documented columns: every criterion at the cell mean plus a seed
    effect and noise; qmfrg gets +effect in the cells above chance and +at_chance_bonus in the others."""
    rng = rng or np.random.default_rng(0)
    means = means or {("mlp", 0.5): 0.66, ("mlp", 0.7): 0.5, ("mlp", 0.9): 0.25, ("resnet", 0.5): 0.3,
                      ("resnet", 0.7): 0.11, ("resnet", 0.9): 0.1}
    rows = []
    for (model, sp), m in means.items():
        for r in range(seeds):
            shared = rng.normal(0, 0.02)
            for meth in METHODS:
                bonus = (effect if m >= 0.2 else at_chance_bonus) if meth == "qmfrg" else 0.0
                rows.append({"model": model, "arch": model, "data": "digits", "method": meth, "stage": stage,
                             "sparsity": sp, "replicate": r, "seed": 100 + r,
                             "accuracy": float(np.clip(m + shared + rng.normal(0, noise) + bonus, 0, 1)),
                             "n_test": 6000, "n_classes": 10})
    return pd.DataFrame(rows)


def test_cells_at_chance_are_excluded_and_cannot_decide():
    df = sweep(effect=0.0, at_chance_bonus=0.08)
    cells = cell_table(df)
    assert cells.set_index(["model", "sparsity"]).included.to_dict() == {
        ("mlp", 0.5): True, ("mlp", 0.7): True, ("mlp", 0.9): True, ("resnet", 0.5): True,
        ("resnet", 0.7): False, ("resnet", 0.9): False}
    d = pruning_decision(df)
    assert d.verdict != "supported" and "Excluded at chance: resnet p=0.7" in d.evidence
    # without the exclusion the same wins at chance would count
    from dataclasses import replace
    assert pruning_decision(df, replace(PRIMARY, chance_factor=0.0)).family.estimate.min() > 0.01


def test_seed_pairs_when_replicate_is_absent():
    df = sweep(effect=0.08)
    assert pruning_decision(df.drop(columns=["replicate"])).verdict == pruning_decision(df).verdict == "supported"


def test_chance_comes_from_n_classes():
    df = sweep().assign(n_classes=2)  # chance 0.5: only the 0.66 cell is above 2x chance... none is (>= 1.0)
    assert not cell_table(df).included.any()
    assert pruning_decision(df).verdict == "not measured"


def test_large_effect_is_supported_and_null_is_not():
    rng = np.random.default_rng(5)
    assert pruning_decision(sweep(effect=0.08, rng=rng)).verdict == "supported"
    nulls = [pruning_decision(sweep(effect=0.0, rng=rng, noise=0.03)).verdict for _ in range(40)]
    assert "supported" not in nulls
    worse = pruning_decision(sweep(effect=-0.05, rng=rng))
    assert worse.verdict == "refuted" and worse.family.hi.max() < 0


def test_unpaired_replicates_are_dropped_and_three_seeds_say_so():
    df = sweep(effect=0.08, seeds=3)
    d = pruning_decision(df)
    assert "Only 3 paired seeds" in d.evidence
    fam, _ = comparisons(df[~((df.method == "l1") & (df.replicate == 2))])
    assert {c.label: c.n for c in fam} == {"qmfrg − l1": 2, "qmfrg − l2": 3, "qmfrg − random": 3}


def test_per_example_results_add_the_test_set_variance():
    rng = np.random.default_rng(2)
    df = sweep(effect=0.02, seeds=4)
    n = 500
    truth = rng.random(n) < 0.6
    cells = []
    for r in df.itertuples():
        flip = rng.random(n) < 0.1
        cells.append(pack_correct(truth ^ flip))
    with_ex = df.assign(correct=cells)
    a, _ = comparisons(df)
    b, _ = comparisons(with_ex)
    assert all(y.se > x.se for x, y in zip(a, b)) and all("test-set variance" in y.note for y in b)
    # one seed: only the test-set variance is left, normal reference
    one, _ = comparisons(with_ex[with_ex.replicate == 0])
    assert all(c.n == 1 and c.df == np.inf and np.isfinite(c.se) for c in one)
    assert pruning_decision(df[df.replicate == 0]).verdict == "not measured"


@pytest.mark.parametrize("effect,expect", [(0.10, {"supported"}), (0.0, {"inconclusive", "refuted"}),
                                           (-0.10, {"refuted"})])
def test_qkernels_report_reads_the_verdict_from_pruning_csv_alone(tmp_path, capsys, effect, expect):
    run = tmp_path / "run"
    run.mkdir()
    sweep(effect=effect, rng=np.random.default_rng(7), noise=0.03).to_csv(run / "pruning.csv", index=False)
    (run / "env.json").write_text(json.dumps({"profile": "standard", "status": "complete"}))
    assert main(["report", str(run)]) == 0
    claims = pd.read_csv(run / "claims.csv")
    assert list(claims.columns) == ["claim_id", "claim", "section", "verdict", "headline", "evidence", "anchor"]
    assert claims.claim_id.is_unique
    row = claims.set_index("claim_id").loc["qmfrg"]
    assert row.verdict in expect and row.anchor == "pruning-verdict" and "qmfrg − " in row.headline
    html = (run / "report.html").read_text()
    assert f'class="verdict verdict-{row.verdict}"' in html and 'id="pruning-calibration"' in html
