"""The bounds section's in-distribution units on trained layers, on a tiny profile: rows, the
bound held with 0 violations, the identity attained, the report table, the verdict and the claim."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from qkernels.bounds.check import TRUE_BOUNDS
from qkernels.bounds.distribution import check_in_distribution, layer_operator, moments
from qkernels.nn.models import build_model
from qkernels.suite.runner import run
from qkernels.suite.sections import SectionContext, get_section
from qkernels.suite.sections.bounds import plan as sec
from qkernels.suite.sections.bounds import report as rep
from tests.suite.sections.test_bounds import TINY

ID_TINY = sec.InDistributionProfile(models=("lenet5-mnist",), inputs=12, max_rows=400, filter_pairs=6,
                                    noise=(1e-2,), ranks=(0.5,))


@pytest.fixture(scope="module")
def lenet_rows():
    return sec.in_distribution_rows("lenet5-mnist", ID_TINY, seed=5)


def test_rows_hold_the_bound_and_the_identity_attains_it(lenet_rows):
    df = lenet_rows
    ind = df[df.kind == "in_distribution"]
    assert set(ind.scenario) == {"in_distribution:lenet5-mnist"}
    assert set(ind.activation) == set(ID_TINY.activations)
    assert set(ind.pair_type) == {"filters", "copy", "noise", "lowrank"}  # lenet has no two same-shaped layers
    # one row per pair × activation; 6 filter pairs and 3 perturbations for each of the 4 layers
    assert len(ind) == ind.pair.nunique() * len(ID_TINY.activations) and ind.pair.nunique() == 4 * (6 + 3)
    assert set(ind.inputs) == {"conv1", "conv2", "linear1", "linear2"}
    assert not ind.viol_in_distribution.astype(bool).any()
    idn = ind[ind.activation == "identity"]
    np.testing.assert_allclose(idn.ratio_in_distribution, 1.0, rtol=1e-9)
    other = ind[ind.activation != "identity"]
    assert (other.ratio_in_distribution <= 1 + 1e-9).all() and (other.ratio_in_distribution < 1 - 1e-3).any()
    conv2 = ind[ind.inputs == "conv2"]
    assert (conv2.n == 32 * 9).all() and (conv2.samples == 400).all() and (ind.images == 12).all()
    np.testing.assert_allclose(ind.trace_term + ind.cross_term + ind.bias_term,
                               ind.in_distribution / ind.L ** 2, rtol=1e-12)


def test_a_row_is_reproduced_from_the_model_and_the_seed(lenet_rows):
    again = sec.in_distribution_rows("lenet5-mnist", ID_TINY, seed=5)
    pd.testing.assert_frame_equal(lenet_rows, again)
    # a filter pair of linear2 recomputed from the model by hand (12 input rows: none subsampled)
    net = build_model("lenet5-mnist")
    x = sec.calibration_inputs("lenet5-mnist", ID_TINY.inputs)
    X = sec.captured_inputs(net, x)["linear2"].double()
    W, b = layer_operator(net.linear2)
    row = lenet_rows[(lenet_rows.pair_type == "filters") & (lenet_rows.inputs == "linear2")
                     & (lenet_rows.activation == "tanh")].iloc[0]
    p, q = (int(s.split("[")[1].rstrip("]")) for s in (row.op_a, row.op_b))
    r = check_in_distribution(W[p:p + 1], b[p:p + 1], W[q:q + 1], b[q:q + 1], X, "tanh", stats=moments(X))
    assert r["lhs"] == pytest.approx(row.lhs, rel=1e-9) and r["bound"] == pytest.approx(row.in_distribution, rel=1e-9)


def test_crepe_has_layer_pairs_and_a_skipped_wide_layer():
    cfg = sec.InDistributionProfile(models=("crepe-tiny",), inputs=4, max_rows=128, filter_pairs=2, noise=(),
                                    copies=0, ranks=(), activations=("identity", "relu"))
    df = sec.in_distribution_rows("crepe-tiny", cfg, seed=1)
    ind = df[df.kind == "in_distribution"]
    layers = ind[ind.pair_type == "layers"]
    assert set(zip(layers.op_a, layers.op_b)) == {("conv3", "conv4"), ("conv4", "conv3")}
    assert not ind.viol_in_distribution.astype(bool).any()
    np.testing.assert_allclose(ind[ind.activation == "identity"].ratio_in_distribution, 1.0, rtol=1e-9)
    skipped = df[df.kind == "skipped"]
    assert list(skipped.op_a) == ["conv2"] and "max_features" in skipped.note.iloc[0]
    # filters of conv3, conv4 and conv5 share one shape: cross-layer filter pairs are candidates
    assert set(ind[ind.pair_type == "filters"].inputs) >= {"conv1", "conv3", "conv6", "classifier"}


def test_quick_plan_has_the_units_before_the_speed_unit():
    ctx = SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=0)
    keys = [u.key for u in sec.plan_units(ctx, sec.PROFILES["quick"])]
    assert keys[-3:] == ["in_distribution:lenet5-mnist", "in_distribution:crepe-tiny", "speed:bounds_256"]
    assert not any(k.startswith("in_distribution") for k in (u.key for u in sec.plan_units(ctx, TINY)))
    sec.check_profile(sec.PROFILES["quick"])


@pytest.fixture()
def section_run(monkeypatch, tmp_path):
    monkeypatch.setitem(sec.PROFILES, "quick", sec.BoundsProfile(**{**TINY.__dict__, "in_distribution": ID_TINY}))
    out = run(sections="bounds", out=tmp_path / "run", progress=False, seed=3)
    return out, pd.read_csv(out / "bounds.csv", keep_default_na=False, na_values=[""])


def test_report_table_verdict_and_claim(section_run):
    out, df = section_run
    assert set(df.kind) == {"pair", "in_distribution", "speed"}
    md = (out / "report.md").read_text()
    part = md.split("### In-distribution bound on trained layers")[1]
    assert "| lenet5-mnist | identity |" in part and "identity: max \\|lhs/B − 1\\|" in part
    verdict = md.split("### Verdict per form of the bound")[1].split("###")[0]
    assert "| in_distribution | true (mean over data) |" in verdict and "VIOLATED" not in verdict
    ev = pd.read_csv(out / "claims.csv").set_index("claim_id").loc["equivalence", "evidence"]
    n = int((df.kind == "in_distribution").sum())
    assert f"holds in {n}/{n} rows on trained layers (lenet5-mnist)" in ev
    table = rep.in_distribution_table(rep.kind_rows(df, "in_distribution"))
    assert (table.violations == 0).all() and set(table.activation) == set(ID_TINY.activations)
    ident = table[table.activation == "identity"]["identity: max |lhs/B − 1|"]
    assert (ident < 1e-9).all()
    metrics = get_section("bounds").compare_metrics(df).set_index("metric")
    assert metrics.loc["violations in_distribution", "value"] == 0
    assert metrics.loc["median lhs/B in_distribution identity", "value"] == pytest.approx(1.0, rel=1e-9)
    assert "violations lipschitz" in metrics.index


def test_claim_is_inconclusive_when_the_in_distribution_bound_fails():
    base = {"kind": "pair", "scenario": "s", "activation": "tanh", "d_fs": 0.1, "lhs": 2.0,
            "ratio_paper_spectral": 3.0, "viol_paper_spectral": True, **{f"viol_{b}": False for b in TRUE_BOUNDS}}
    bad = {"kind": "in_distribution", "scenario": "in_distribution:m", "activation": "relu", "pair": 0,
           "lhs": 2.0, "in_distribution": 1.0, "ratio_in_distribution": 2.0, "viol_in_distribution": True}
    (claim,) = get_section("bounds").claims(pd.DataFrame([base, bad]))
    assert claim.verdict == "inconclusive"
    (claim,) = get_section("bounds").claims(pd.DataFrame([base, {**bad, "viol_in_distribution": False}]))
    assert claim.verdict == "refuted" and "holds in 1/1 rows on trained layers (m)" in claim.evidence
