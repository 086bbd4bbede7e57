"""Run-to-run comparison: the flag rule, per-section metrics with noise, missing sections."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from qkernels.suite.cli import main
from qkernels.suite.report.build import build_report
from qkernels.suite.report.compare import (
    CLAIMS_COMPARE_COLUMNS,
    COMPARE_CSV_COLUMNS,
    compare,
    compare_claims,
    compare_runs,
    flag,
    is_regression,
    verdict_change,
)
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections import get_section
from qkernels.suite.sections.base import COMPARE_COLUMNS, Claim, metric_row
from qkernels.suite.sections.quantum.report import compare_metrics as quantum_metrics
from qkernels.suite.stats import mean_interval

NAN = math.nan


@pytest.mark.parametrize("args,expected", [
    ((1.0, 0.9, 1.1, "ci", 1.2, 1.11, 1.3, "ci"), "changed"),  # disjoint intervals
    ((1.0, 0.9, 1.1, "ci", 1.2, 1.1, 1.3, "ci"), "within noise"),  # touching
    ((1.0, 0.9, 1.1, "ci", 1.2, NAN, NAN, "none"), "changed"),  # value outside the other's interval
    ((1.0, NAN, NAN, "none", 1.05, 0.9, 1.1, "ci"), "within noise"),
    ((3.0, NAN, NAN, "exact", 3.0 + 1e-9, NAN, NAN, "exact"), "within noise"),  # roundoff
    ((3.0, NAN, NAN, "exact", 3.01, NAN, NAN, "exact"), "changed"),
    ((0.0, NAN, NAN, "exact", 1.0, NAN, NAN, "exact"), "changed"),
    ((0.5, NAN, NAN, "none", 5.0, NAN, NAN, "none"), "no noise estimate"),
    ((NAN, NAN, NAN, "none", 5.0, NAN, NAN, "none"), "not comparable (missing value)"),
])
def test_flag_rule(args, expected):
    assert flag(*args) == expected


def test_mean_interval_matches_scipy():
    from scipy import stats

    x = np.array([0.81, 0.79, 0.86, 0.83])
    m, lo, hi, n = mean_interval(x)
    ref = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert (m, n) == (pytest.approx(x.mean()), 4) and (lo, hi) == pytest.approx(ref)
    assert math.isnan(mean_interval([1.0])[1]) and mean_interval([])[3] == 0


def _pruning(shift: float = 0.0, seeds: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [{"model": "m", "stage": "dense", "method": "dense", "sparsity": 0.0, "replicate": r,
             "accuracy": 0.9 + rng.normal(0, 0.005)} for r in range(seeds)]
    for method, base in (("l1", 0.7), ("random", 0.5)):
        for r in range(seeds):
            rows.append({"model": "m", "stage": "oneshot", "method": method, "sparsity": 0.5, "replicate": r,
                         "accuracy": base + (shift if method == "l1" else 0.0) + rng.normal(0, 0.005)})
    return pd.DataFrame(rows)


def _run(path, pruning: pd.DataFrame | None = None, env: dict | None = None) -> RunFolder:
    path.mkdir(parents=True, exist_ok=True)
    if pruning is not None:
        pruning.to_csv(path / "pruning.csv", index=False)
    (path / "env.json").write_text(json.dumps(env or {"profile": "quick", "git": {"commit": "abcdef1234567"}}))
    return RunFolder(path)


def test_pruning_shift_is_flagged_and_noise_is_not(tmp_path):
    other = _run(tmp_path / "a", _pruning())
    this = _run(tmp_path / "b", _pruning(shift=-0.2))
    table, notes = compare_runs(this, other)
    t = table.set_index("metric")
    assert t.loc["top-1 m oneshot l1 p=0.5", "flag"] == "changed"
    assert t.loc["top-1 m oneshot l1 p=0.5", "change"] == pytest.approx(-0.2, abs=0.02)
    assert t.loc["top-1 m oneshot random p=0.5", "flag"] == "within noise"
    assert t.loc["top-1 m dense", "flag"] == "within noise"
    assert notes == []


def test_sections_and_metrics_on_one_side_only(tmp_path):
    other = _run(tmp_path / "a", _pruning())
    extra = _pruning()
    extra = pd.concat([extra, extra[extra.method == "l1"].assign(method="fpgm")], ignore_index=True)
    this = _run(tmp_path / "b", extra)
    (this.path / "bounds.csv").write_text("kind,scenario,viol_x,ratio_x\npair,s,False,0.5\n")
    (other.path / "quantum.csv").write_bytes(b"\xff\xfe" * 8)
    table, notes = compare_runs(this, other)
    assert table.set_index("metric").loc["top-1 m oneshot fpgm p=0.5", "flag"] == "only in this run"
    text = " ".join(notes)
    assert "`bounds` is missing in the other run" in text
    assert "`quantum` is missing in the other run" in text and "could not be read" in text


def test_report_part_and_cli(tmp_path, capsys):
    other = _run(tmp_path / "a", _pruning(), env={"profile": "full"})
    this = _run(tmp_path / "b", _pruning(shift=0.1))
    assert main(["report", str(this.path), "--compare", str(other.path)]) == 0
    md = (this.path / "report.md").read_text(encoding="utf-8")
    assert "## Comparison with a" in md and "the profiles differ" in md and "Flag rule" in md
    assert "| top-1 m oneshot l1 p=0.5 | ci |" in md and "| changed |" in md
    csv = pd.read_csv(this.path / "compare.csv")
    assert set(csv.flag) >= {"changed", "within noise"}
    capsys.readouterr()
    assert main(["report", str(this.path), "--compare", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_every_section_returns_the_compare_columns_on_empty_input():
    for name in ("metrics", "quantum", "bounds", "pruning"):
        m = get_section(name).compare_metrics(pd.DataFrame())
        assert list(m.columns) == COMPARE_COLUMNS and m.empty


def test_quantum_rmse_interval_contains_the_rmse():
    rng = np.random.default_rng(0)
    err = rng.normal(0, 0.01, 500)
    df = pd.DataFrame({"kind": "estimate", "estimator": "swap", "shots": 1000.0, "noise_where": "none",
                       "f_err": err, "covered": rng.random(500) < 0.95})
    r = quantum_metrics(df).set_index("metric")
    row = r.loc["rmse_F swap S=1000"]
    assert row.value == pytest.approx(np.sqrt(np.mean(err ** 2)))
    assert row.lo < row.value < row.hi and row.noise == "ci"
    assert 0.9 < r.loc["coverage swap S=1000", "value"] < 1.0


def test_compare_with_itself_flags_nothing(tmp_path):
    run = _run(tmp_path / "a", _pruning())
    table, _ = compare_runs(run, run)
    assert (table.flag == "within noise").all()
    build_report(run, compare=run.path)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_val = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(_val, _val, _val, _val, _val, _val)
def test_flag_is_symmetric_and_changed_iff_intervals_are_disjoint(a, da, wa, b, db, wb):
    a_lo, a_hi = a - abs(da), a + abs(wa)
    b_lo, b_hi = b - abs(db), b + abs(wb)
    f = flag(a, a_lo, a_hi, "ci", b, b_lo, b_hi, "ci")
    assert f == flag(b, b_lo, b_hi, "ci", a, a_lo, a_hi, "ci")
    assert (f == "changed") == (b_lo > a_hi or b_hi < a_lo)


def test_latency_metrics_one_row_per_timed_model():
    from qkernels.suite.sections.latency.report import compare_metrics as latency_metrics

    df = pd.DataFrame({"kind": ["model", "model", "cost"], "model": ["m"] * 3, "backend": ["cpu"] * 3,
                       "method": ["dense", "l1", "l1"], "sparsity": [0.0, 0.5, 0.5], "batch": [8, 8, 8],
                       "median_s": [0.02, 0.01, 0.5], "speedup": [1.0, 2.0, None]})
    out = latency_metrics(df)
    assert out.metric.tolist() == ["latency median_s m cpu dense p=0 b=8", "latency median_s m cpu l1 p=0.5 b=8",
                                   "speed-up m cpu l1 p=0.5 b=8"]
    assert out.value.tolist() == [0.02, 0.01, 2.0] and set(out.noise) == {"none"}
    assert latency_metrics(pd.DataFrame()).empty


# ---- regression gating (--fail-on-regression) ---------------------------------------------------


@pytest.mark.parametrize("flag_,better,change,expected", [
    ("changed", "higher", -0.1, True), ("changed", "higher", 0.1, False),
    ("changed", "lower", 0.1, True), ("changed", "lower", -0.1, False),
    ("changed", "", -0.1, False),  # neutral metrics never regress
    ("within noise", "higher", -0.1, False), ("no noise estimate", "lower", 5.0, False),
    ("changed", "higher", NAN, False),
])
def test_regression_is_a_change_in_the_worse_direction(flag_, better, change, expected):
    assert is_regression(flag_, better, change) is expected


@pytest.mark.parametrize("other,this,expected", [
    ("supported", "inconclusive", "worse"), ("supported", "refuted", "worse"), ("inconclusive", "refuted", "worse"),
    ("refuted", "supported", "better"), ("inconclusive", "inconclusive", "same"),
    ("supported", "not measured", "not compared (not measured in this run)"),
    ("not measured", "refuted", "not compared (not measured in the other run)"),
])
def test_verdict_change_follows_the_verdict_order(other, this, expected):
    assert verdict_change(other, this) == expected


def test_metric_row_direction_is_checked():
    assert metric_row("x", 1.0)["better"] == ""
    with pytest.raises(ValueError, match="better"):
        metric_row("x", 1.0, better="up")


def test_direction_decides_what_a_regression_is(tmp_path):
    base = _run(tmp_path / "base", _pruning())
    worse = _run(tmp_path / "worse", _pruning(shift=-0.2))
    better = _run(tmp_path / "better", _pruning(shift=+0.2))
    down, up = compare(worse, base), compare(better, base)
    key = "top-1 m oneshot l1 p=0.5"
    assert down.metrics.set_index("metric").loc[key, ["flag", "better", "regression"]].tolist() == [
        "changed", "higher", True]
    # the same size of change the other way is flagged too, but is no regression: the direction matters
    assert up.metrics.set_index("metric").loc[key, ["flag", "regression"]].tolist() == ["changed", False]
    assert up.metric_regressions.empty and list(down.metric_regressions.metric) == [key]
    assert "1 regression(s): 1 metric(s), 0 verdict(s)" in down.summary()
    assert compare(base, base).summary().startswith("no regression")


def test_quantum_error_rising_is_a_regression_and_falling_is_not():
    rng = np.random.default_rng(0)

    def df(scale):
        return pd.DataFrame({"kind": "estimate", "estimator": "swap", "shots": 1000.0, "noise_where": "none",
                             "f_err": rng.normal(0, scale, 300), "covered": rng.random(300) < 0.95})

    a, b = quantum_metrics(df(0.01)).set_index("metric"), quantum_metrics(df(0.03)).set_index("metric")
    row = "rmse_F swap S=1000"
    assert a.loc[row, "better"] == "lower" and a.loc["coverage swap S=1000", "better"] == "higher"
    f = flag(a.loc[row, "value"], a.loc[row, "lo"], a.loc[row, "hi"], "ci",
             b.loc[row, "value"], b.loc[row, "lo"], b.loc[row, "hi"], "ci")
    assert f == "changed"
    assert is_regression(f, "lower", b.loc[row, "value"] - a.loc[row, "value"])
    assert not is_regression(f, "lower", a.loc[row, "value"] - b.loc[row, "value"])


def _claims_csv(run: RunFolder, **verdicts: str) -> None:
    pd.DataFrame([{"claim_id": c, "claim": f"claim {c}", "section": "pruning", "verdict": v, "headline": "",
                   "evidence": "", "anchor": ""} for c, v in verdicts.items()]).to_csv(run.path / "claims.csv",
                                                                                         index=False)


def test_verdicts_compared_from_claims_csv(tmp_path):
    other, this = _run(tmp_path / "a"), _run(tmp_path / "b")
    _claims_csv(other, qmfrg="supported", hardware="inconclusive", quantum="refuted", cross_arch="supported")
    _claims_csv(this, qmfrg="refuted", hardware="supported", quantum="not measured", cross_arch="supported")
    table, notes = compare_claims(this, other)
    assert list(table.columns) == CLAIMS_COMPARE_COLUMNS and notes == []
    t = table.set_index("claim_id")
    assert t.change.to_dict() == {"qmfrg": "worse", "hardware": "better", "cross_arch": "same",
                                  "quantum": "not compared (not measured in this run)"}
    assert t.regression.to_dict() == {"qmfrg": True, "hardware": False, "quantum": False, "cross_arch": False}
    lines = compare(this, other).regression_lines()
    assert lines == ["verdict of claim 'qmfrg' (pruning): supported -> refuted"]


def test_verdicts_recomputed_when_claims_csv_is_absent(tmp_path):
    other, this = _run(tmp_path / "a", _pruning()), _run(tmp_path / "b", _pruning())
    _claims_csv(this, qmfrg="not measured")
    table, notes = compare_claims(this, other)
    assert any("no claims.csv" in n and "recomputed" in n for n in notes)
    assert set(table.claim_id) >= {"qmfrg", "equivalence"} and not table.regression.any()


def test_cli_fail_on_regression_exit_codes(tmp_path, capsys):
    base = _run(tmp_path / "base", _pruning())
    same = _run(tmp_path / "same", _pruning())
    worse = _run(tmp_path / "worse", _pruning(shift=-0.2))
    better = _run(tmp_path / "better", _pruning(shift=+0.2))
    capsys.readouterr()
    assert main(["report", str(same.path), "--compare", str(base.path), "--fail-on-regression"]) == 0
    assert "no regression" in capsys.readouterr().err
    assert main(["report", str(better.path), "--compare", str(base.path), "--fail-on-regression"]) == 0
    capsys.readouterr()
    assert main(["report", str(worse.path), "--compare", str(base.path), "--fail-on-regression"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("qkernels: regression: pruning: top-1 m oneshot l1 p=0.5:") and "Traceback" not in err
    assert "1 regression(s)" in err[-1] and len(err) == 2
    # without the flag the same comparison reports and exits 0
    assert main(["report", str(worse.path), "--compare", str(base.path)]) == 0
    csv = pd.read_csv(worse.path / "compare.csv")
    assert list(csv.columns) == COMPARE_CSV_COLUMNS and csv.regression.sum() == 1
    md = (worse.path / "report.md").read_text(encoding="utf-8")
    assert "### Regressions" in md and "| metric | pruning | top-1 m oneshot l1 p=0.5 |" in md
    assert "### Regressions" in (better.path / "report.md").read_text(encoding="utf-8")


def test_cli_verdict_regression_exits_1(tmp_path, capsys, monkeypatch):
    from qkernels.suite.sections import get_section

    other, this = _run(tmp_path / "a", _pruning()), _run(tmp_path / "b", _pruning())
    _claims_csv(other, qmfrg="supported")
    monkeypatch.setattr(type(get_section("pruning")), "claims",
                        lambda self, df: [Claim("qmfrg", "inconclusive", "planted", "pruning")])
    capsys.readouterr()
    assert main(["report", str(this.path), "--compare", str(other.path), "--fail-on-regression"]) == 1
    err = capsys.readouterr().err
    assert "qkernels: regression: verdict of claim 'qmfrg'" in err and "supported -> inconclusive" in err
    assert "| verdict | pruning |" in (this.path / "report.md").read_text(encoding="utf-8")
    assert pd.read_csv(this.path / "compare_claims.csv").set_index("claim_id").loc["qmfrg", "regression"]


@pytest.mark.parametrize("args,match", [
    (["--fail-on-regression"], "needs --compare"),
    (["--compare", "{empty}", "--fail-on-regression"], "not a qkernels run folder"),
    (["--compare", "{nocommon}", "--fail-on-regression"], "nothing to compare"),
    (["--bench-threshold", "1.2"], "needs --compare-bench"),
    (["--compare-bench", "{nope}.json", "--bench-json", "{nope}.json"], "does not exist"),
])
def test_cli_gating_bad_input_exits_2_with_one_line(tmp_path, capsys, args, match):
    this = _run(tmp_path / "this", _pruning())
    (tmp_path / "empty").mkdir()
    nocommon = _run(tmp_path / "nocommon")
    (nocommon.path / "bounds.csv").write_text("kind,scenario\nspeed,s\n")
    (this.path / "claims.csv").unlink(missing_ok=True)
    fmt = {"empty": tmp_path / "empty", "nocommon": nocommon.path, "nope": tmp_path / "nope"}
    capsys.readouterr()
    rc = main(["report", str(this.path), *[a.format(**fmt) for a in args]])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qkernels: error:") and match in err[0], err
