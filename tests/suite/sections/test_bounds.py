"""The bounds section end to end, on a tiny profile: rows, witnesses, verdicts, report, resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qkernels.bounds.check import FALSE_BOUNDS, TRUE_BOUNDS, SearchConfig, witness_gap
from qkernels.bounds.scenarios import GENERATORS, generate
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.runner import run
from qkernels.suite.sections import SectionContext, get_section
from qkernels.suite.sections.bounds import plan as sec

TINY = sec.BoundsProfile(n=6, count=3, activations=("identity", "tanh", "relu"), radii=(1.0, 3.0),
                         search=SearchConfig(samples=256, restarts=6, steps=30), speed_pairs=2)


@pytest.fixture()
def tiny(monkeypatch):
    monkeypatch.setitem(sec.PROFILES, "quick", TINY)
    return TINY


@pytest.fixture()
def bounds_run(tiny, tmp_path):
    out = run(sections="bounds", out=tmp_path / "run", progress=False, seed=3)
    return out, pd.read_csv(out / "bounds.csv", keep_default_na=False, na_values=[""])


def test_rows_cover_every_scenario_activation_and_radius(bounds_run):
    _, df = bounds_run
    pairs = df[df.kind == "pair"]
    assert set(pairs.scenario) == set(GENERATORS)
    per = pairs.groupby(["scenario", "activation", "R"]).size()
    assert len(per) == len(GENERATORS) * 3 * 2
    for col in ["lhs", "lhs_sample", "lhs_ascent", "S_aff", "A_ij", "d_fs", "w2_cum"] + \
            [f"ratio_{b}" for b in TRUE_BOUNDS + FALSE_BOUNDS]:
        assert col in df.columns


def test_no_true_bound_violated_and_spectral_form_refuted(bounds_run):
    _, df = bounds_run
    pairs = df[df.kind == "pair"]
    for b in TRUE_BOUNDS:
        assert not pairs[f"viol_{b}"].astype(bool).any(), b
    for s in ("negation", "permutation", "rotation"):
        assert pairs[pairs.scenario == s].viol_paper_spectral.astype(bool).all(), s


def test_every_kept_witness_attains_its_lhs(bounds_run):
    out, df = bounds_run
    pairs = df[(df.kind == "pair") & df.x.notna() & (df.x != "")]
    assert len(pairs) >= len(GENERATORS)  # worst rows of every group keep their x
    ctx = SectionContext(run=RunFolder(out), profile="quick", device=None, seed=3)
    cache = {}
    for r in pairs.itertuples():
        if r.scenario not in cache:
            cache[r.scenario] = generate(r.scenario, TINY.n, TINY.count, ctx.seed_for(r.scenario))
        p = cache[r.scenario][int(r.pair)]
        x = np.array([float(t) for t in r.x.split()])
        assert np.linalg.norm(x) <= r.R * (1 + 1e-12)
        gap = witness_gap((p.Wi, p.bi), (p.Wj, p.bj), r.activation, x)
        assert gap == pytest.approx(r.lhs, rel=1e-9, abs=1e-12)


def test_report_has_verdicts_summary_counterexamples_and_claim(bounds_run):
    out, _ = bounds_run
    md = (out / "report.md").read_text()
    assert "Verdict per form of the bound" in md and "Counterexamples" in md
    claims = md.split("## Claims of the paper")[1].split("##")[0]
    assert "Theorem 2.1) | **refuted** | spectral-only form violated in" in claims and "corrected forms hold" in claims
    ev = pd.read_csv(out / "claims.csv").set_index("claim_id").loc["equivalence", "evidence"]
    assert "spectral-only reading of Theorem 2.1" in ev and "forms that hold" in ev and "lipschitz" in ev
    summary = pd.read_csv(out / "bounds_summary.csv")
    assert {"min_ratio_lipschitz", "p05_ratio_decomposed_2", "max_ratio_paper_spectral"} <= set(summary.columns)
    assert (summary.true_violations == 0).all()
    for name in ("bounds_lhs_vs_bound.png", "bounds_tightness_decomposed_2.png", "bounds_tightness_paper_spectral.png"):
        assert (out / "figures" / name).stat().st_size > 0
        assert f"figures/{name}" in md


def test_resume_redoes_only_missing_scenarios(tiny, tmp_path, monkeypatch):
    out = run(sections="bounds", out=tmp_path / "r", progress=False)
    first = pd.read_csv(out / "bounds.csv")
    sink = RunFolder(out).sink("bounds")
    (sink.folder / "DONE").unlink()
    (out / "bounds.csv").unlink()
    from qkernels.suite.runfolder import part_filename
    (sink.folder / part_filename("scenario:scale")).unlink()
    calls = []
    orig = sec.scenario_rows
    monkeypatch.setattr(sec, "scenario_rows", lambda s, c, seed: calls.append(s) or orig(s, c, seed))
    run(sections="bounds", out=out, progress=False, resume=True)
    again = pd.read_csv(out / "bounds.csv")
    assert calls == ["scale"]
    keep = lambda d: d[d.kind == "pair"].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(keep(first), keep(again))


def test_claim_is_inconclusive_when_a_true_bound_fails():
    df = pd.DataFrame([{"kind": "pair", "scenario": "s", "activation": "tanh", "d_fs": 0.1, "lhs": 2.0,
                        "ratio_paper_spectral": 3.0, "viol_paper_spectral": True,
                        **{f"viol_{b}": b == "lipschitz" for b in TRUE_BOUNDS}}])
    (claim,) = get_section("bounds").claims(df)
    assert claim.verdict == "inconclusive"
