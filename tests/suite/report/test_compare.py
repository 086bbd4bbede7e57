"""Run-to-run comparison: the flag rule, per-section metrics with noise, missing sections."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from qkernels.suite.cli import main
from qkernels.suite.report.build import build_report
from qkernels.suite.report.compare import compare_runs, flag
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections import get_section
from qkernels.suite.sections.base import COMPARE_COLUMNS
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
