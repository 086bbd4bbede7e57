"""pytest-benchmark JSON ingestion: statistics from the raw data, goals, machine/commit, bad files."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkernels.suite.cli import main
from qkernels.suite.report.bench import (
    BENCH_GOALS,
    EXTRA_GOALS,
    BenchGoal,
    ExtraGoal,
    benchmark_row,
    extra_goal_rows,
    goal_rows,
    load_bench_json,
)
from qkernels.suite.report.benchcompare import BENCH_COMPARE_COLUMNS, compare_bench, machine_differences
from qkernels.suite.report.build import build_report
from qkernels.suite.runfolder import RunFolder

SAMPLE = Path(__file__).resolve().parents[3] / "reports" / "sample" / "bench.json"


def _bench(name, data, group="g", **extra):
    return {"group": group, "name": name, "extra_info": extra,
            "stats": {"data": list(data), "ops": 1 / float(np.mean(data)), "rounds": len(data)}}


def _file(path: Path, benchmarks, commit="abc1234567890", dirty=False) -> Path:
    path.write_text(json.dumps({
        "machine_info": {"node": "box", "python_version": "3.11.7", "cpu": {"brand_raw": "Toy CPU", "count": 2}},
        "commit_info": {"id": commit, "dirty": dirty, "branch": "main"}, "benchmarks": benchmarks,
        "datetime": "2026-01-01T00:00:00", "version": "5.3.1"}))
    return path


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(1e-6, 10.0, allow_nan=False), min_size=2, max_size=60))
def test_row_statistics_match_statistics_module(data):
    row = benchmark_row(_bench("t", data))
    q = statistics.quantiles(data, n=100, method="inclusive")  # linear interpolation, independent code
    assert row["median_s"] == pytest.approx(statistics.median(data), rel=1e-12, abs=1e-15)
    assert row["iqr_s"] == pytest.approx(q[74] - q[24], rel=1e-9, abs=1e-12)
    assert row["p90_s"] == pytest.approx(q[89], rel=1e-9, abs=1e-12)
    assert row["p99_s"] == pytest.approx(q[98], rel=1e-9, abs=1e-12)
    assert row["rounds"] == len(data) and row["source"] == "raw"


def test_row_without_raw_data_uses_summary_and_leaves_percentiles_empty():
    b = {"group": "g", "name": "t", "stats": {"median": 2.0, "q1": 1.0, "q3": 4.0, "ops": 0.5, "rounds": 7}}
    row = benchmark_row(b)
    assert (row["median_s"], row["iqr_s"], row["rounds"], row["source"]) == (2.0, 3.0, 7, "summary")
    assert np.isnan(row["p90_s"]) and np.isnan(row["p99_s"])


def _rows(*benches):
    return [benchmark_row(b) for b in benches]


def test_goal_kinds_scaling_and_status():
    goals = (BenchGoal("r", "ratio goal", "ratio", 3.0, ("ours",), ("ref",)),
             BenchGoal("s", "speedup goal", "speedup", 1000.0, ("fast",), ("slow_sample",)),
             BenchGoal("t", "seconds goal", "seconds", 2.0, ("a", "b")),
             BenchGoal("w", "workload goal", "seconds", 9.0, ("a",), (), {"pairs": 1000}),
             BenchGoal("m", "absent goal", "seconds", 1.0, ("nope",)))
    rows = _rows(_bench("ours", [0.2] * 5), _bench("ref", [0.1] * 5),
                 _bench("fast", [0.001] * 3), _bench("slow_sample", [0.03] * 3, sampled_pairs=2, all_pairs=100),
                 _bench("a", [0.5, 0.6, 0.7], pairs=20), _bench("b", [1.6, 1.7, 1.8]))
    g = goal_rows(rows, goals).set_index("goal")
    assert g.loc["ratio goal", "value"] == pytest.approx(2.0) and g.loc["ratio goal", "status"] == "met"
    assert g.loc["speedup goal", "value"] == pytest.approx(0.03 * 50 / 0.001)  # 1500x, scaled by 100/2
    assert g.loc["speedup goal", "status"] == "met"
    assert g.loc["seconds goal", "value"] == pytest.approx(0.6 + 1.7)
    assert g.loc["seconds goal", "status"].startswith("missed")
    assert g.loc["workload goal", "status"].startswith("not applicable")
    assert "absent goal" not in g.index


def test_goal_borderline_when_quartiles_cross_the_target():
    goal = (BenchGoal("r", "ratio goal", "ratio", 3.0, ("ours",), ("ref",)),)
    rows = _rows(_bench("ours", [0.25, 0.29, 0.30, 0.31, 0.35]), _bench("ref", [0.1] * 5))
    st_ = goal_rows(rows, goal).status.iloc[0]
    assert st_.startswith("met") and "borderline" in st_  # median ratio 2.9, q3 ratio 3.1


def test_sample_bench_json_goals_from_the_medians():
    data, problem = load_bench_json(SAMPLE)
    assert problem is None
    rows = [benchmark_row(b) for b in data["benchmarks"]]
    g = goal_rows(rows).set_index("goal")
    present = {b["name"] for b in data["benchmarks"]}
    expected = [x for x in BENCH_GOALS if set(x.ours + x.reference) <= present]
    extra = [x for x in EXTRA_GOALS if any(n.startswith(x.prefix) for n in present)]
    assert len(g) == len(expected) + len(extra) > 0
    med = {b["name"]: float(np.median(b["stats"]["data"])) for b in data["benchmarks"]}
    fs = next(x for x in BENCH_GOALS if x.goal_id == "fs_allpairs")
    if fs in expected:
        assert g.loc[fs.description, "value"] == pytest.approx(med[fs.ours[0]] / med[fs.reference[0]])
    for status in g.status:
        assert status.split()[0] in {"met", "missed", "not"}


def test_extra_goals_count_cases_from_extra_info():
    rows = [{"name": f"bench_speed_goal[{i}]", "extra_info": {"efficiency": e}} for i, e in enumerate([0.9, 0.79, 1.1])]
    rows.append({"name": "bench_qmfrg_within_3x_of_l2", "extra_info": {"call_ratio": 1.96}})
    rows.append({"name": "bench_other", "extra_info": {"efficiency": 0.1}})  # not a case of either goal
    out = {r["goal"]: r for r in extra_goal_rows(rows)}
    lat = out[next(g.description for g in EXTRA_GOALS if g.goal_id == "latency_cpu_50")]
    assert lat["value"] == 0.79 and lat["status"] == "missed in 1 of 3 cases (met in 2)"
    qm = out[next(g.description for g in EXTRA_GOALS if g.goal_id == "qmfrg_vs_l2")]
    assert qm["value"] == 1.96 and qm["status"] == "met"
    goal = ExtraGoal("x", "x", "b[", "t", "at_most", 1.0)
    assert extra_goal_rows([{"name": "b[1]", "extra_info": {"t": "nan"}}], (goal,)) == []


@pytest.mark.parametrize("content,why", [
    ("{truncated", "not readable JSON"),
    ('{"benchmarks": 3}', "not a pytest-benchmark JSON file"),
    ('{"benchmarks": [{"name": "x"}]}', "lack a name or stats"),
    ("[]", "not a pytest-benchmark JSON file"),
])
def test_malformed_files_are_named_and_the_rest_renders(tmp_path, content, why):
    run = tmp_path / "run"
    run.mkdir()
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = _file(tmp_path / "good.json", [_bench("bench_fs_allpairs_ours", [0.2, 0.21, 0.22], group="fs_allpairs"),
                                          _bench("bench_fs_allpairs_torch_mm", [0.1] * 3, group="fs_allpairs")])
    md = build_report(RunFolder(run), bench_json=[bad, good])[0].read_text(encoding="utf-8")
    assert "**Problem:** bad.json" in md and why in md
    assert "### Group `fs_allpairs`" in md and "Toy CPU" in md and "abc1234567" in md
    assert "| all-pairs d_FS, 4096 states x 64, vs torch.mm of that shape | ≤ 3× the reference | 2.1 |" in md
    csv = pd.read_csv(run / "bench_summary.csv")
    assert set(csv.name) == {"bench_fs_allpairs_ours", "bench_fs_allpairs_torch_mm"}
    assert csv.set_index("name").loc["bench_fs_allpairs_ours", "median_s"] == pytest.approx(0.21)


def test_two_files_get_a_file_column_and_goals_per_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    a = _file(tmp_path / "cpu.json", [_bench("bench_fs_allpairs_ours", [0.2] * 3), _bench("bench_fs_allpairs_torch_mm", [0.1] * 3)])
    b = _file(tmp_path / "gpu.json", [_bench("bench_fs_allpairs_ours", [0.5] * 3), _bench("bench_fs_allpairs_torch_mm", [0.1] * 3)],
              commit="def", dirty=True)
    md = build_report(RunFolder(run), bench_json=[a, b])[0].read_text(encoding="utf-8")
    assert "| cpu.json | all-pairs d_FS" in md and "| gpu.json | all-pairs d_FS" in md
    assert "| 5 |" in md and "missed" in md and "def (dirty)" in md


def test_missing_raw_data_is_reported(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    f = _file(tmp_path / "b.json", [{"group": "g", "name": "t", "stats": {"median": 1.0, "q1": 0.5, "q3": 1.5}}])
    md = build_report(RunFolder(run), bench_json=[f])[0].read_text(encoding="utf-8")
    assert "carry no raw per-round data" in md


def test_cli_bench_json(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "env.json").write_text("{}")
    bad = tmp_path / "bad.json"
    bad.write_text("nope")
    assert main(["report", str(run), "--bench-json", str(bad)]) == 0
    assert "bad.json is not readable JSON" in (run / "report.md").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["report", str(run), "--bench-json", str(tmp_path / "absent.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_json_over_the_size_limit_is_named_not_read(tmp_path, monkeypatch):
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"benchmarks": [], "pad": "x" * 5000}))
    monkeypatch.setenv("QK_MAX_RESULT_BYTES", "1000")
    data, why = load_bench_json(p)
    assert data is None and "limit" in why and why.startswith("big.json")


# ---- --compare-bench: two pytest-benchmark files, rank test + ratio, machine check --------------
def _times(median: float, n: int = 12, seed: int = 7) -> list[float]:
    """``n`` rounds around ``median`` with 2% noise (the same rounds for the same arguments)."""
    return list(median * (1 + np.random.default_rng(seed).normal(0, 0.02, n)))


def _doc(benchmarks, node="box", **machine):
    mi = {"node": node, "processor": "", "machine": "x86_64", "python_version": "3.11.7",
          "cpu": {"brand_raw": "Toy CPU", "count": 2}, **machine}
    return {"machine_info": mi, "commit_info": {"id": "abc"}, "benchmarks": benchmarks}


def _results(new, old, **kw):
    return compare_bench(new, old, **kw).table.set_index("name").result.to_dict()


def test_bench_compare_rank_test_and_threshold():
    old = _doc([_bench("slow", _times(1.0)), _bench("fast", _times(1.0)), _bench("same", _times(1.0)),
                _bench("bit", _times(1.0)), _bench("gone", _times(1.0))])
    new = _doc([_bench("slow", _times(1.3, seed=1)), _bench("fast", _times(0.7, seed=2)), _bench("same", _times(1.0)),
                _bench("bit", _times(1.05, seed=3)), _bench("added", _times(1.0))])
    r = compare_bench(new, old)
    assert list(r.table.columns) == BENCH_COMPARE_COLUMNS and r.same_machine
    assert _results(new, old) == {"slow": "regression", "fast": "improvement", "same": "within noise",
                                  "bit": "below threshold", "added": "only in new", "gone": "only in old"}
    t = r.table.set_index("name")
    assert t.loc["slow", "ratio"] == pytest.approx(1.3, rel=0.05) and t.loc["slow", "p_value"] < 1e-4
    assert t.loc["slow", "test"] == "mann-whitney"
    # a 5% slow-down is significant with 12 rounds: it counts only with a threshold below it
    assert _results(new, old, threshold=1.02)["bit"] == "regression"
    assert r.regression_lines()[0].startswith("slow: median") and "1 regression(s)" in r.summary()


def test_bench_compare_identical_files_have_no_regression():
    doc = _doc([_bench("a", _times(1.0)), _bench("b", [2.0] * 5)])
    r = compare_bench(doc, doc)
    assert r.regressions.empty and set(r.table.result) == {"within noise"}
    assert (r.table.ratio == 1.0).all() and r.summary().startswith("no regression")


def test_bench_compare_the_sample_file_with_itself_and_slowed_down():
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))  # up to 15,735 rounds per benchmark
    r = compare_bench(sample, sample)
    assert r.same_machine and r.regressions.empty and len(r.table) == len(sample["benchmarks"])
    slow = json.loads(json.dumps(sample))
    for b in slow["benchmarks"]:
        b["stats"]["data"] = [2 * x for x in b["stats"]["data"]]
    t = compare_bench(slow, sample).table
    assert set(t.result) == {"regression"} and np.allclose(t.ratio, 2.0)


def test_bench_compare_without_usable_rounds_uses_the_ratio_only():
    def summary(name, median):
        return {"group": "g", "name": name, "stats": {"median": median, "q1": median, "q3": median, "rounds": 5}}

    old = _doc([summary("x", 1.0), summary("y", 1.0), _bench("few", [1.0, 1.0]), _bench("three", [1.0, 1.1, 0.9])])
    new = _doc([summary("x", 1.3), summary("y", 2.0), _bench("few", [2.0, 2.0]), _bench("three", [3.0, 3.1, 2.9])])
    t = compare_bench(new, old).table.set_index("name")
    assert t.loc["x", "test"] == "no raw rounds: ratio only" and t.loc["x", "result"] == "below threshold"
    assert t.loc["y", "result"] == "regression" and math.isnan(t.loc["y", "p_value"])
    assert t.loc["few", "test"].startswith("fewer than 3 rounds") and t.loc["few", "result"] == "regression"
    # 3 against 3 rounds: the exact test cannot reach p < 0.05 (its smallest p is 0.1), so the ratio decides
    assert t.loc["three", "test"].startswith("too few rounds") and t.loc["three", "result"] == "regression"


def test_bench_compare_different_machine_is_not_compared():
    old = _doc([_bench("slow", _times(1.0))])
    new = _doc([_bench("slow", _times(3.0))], node="other", cpu={"brand_raw": "Big CPU", "count": 64})
    r = compare_bench(new, old)
    assert not r.same_machine and r.regressions.empty
    assert r.table.result.tolist() == ["not compared (different machine)"] and math.isnan(r.table.ratio[0])
    assert "node: 'other' vs 'box'" in r.summary() and "cpu.count: 64 vs 2" in r.summary()
    assert machine_differences(new, new) == [] and machine_differences({}, old) is None


def test_cli_compare_bench_exit_codes_and_outputs(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "env.json").write_text("{}")
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_doc([_bench("t", _times(1.0)), _bench("u", _times(1.0))])))
    same = tmp_path / "same.json"
    same.write_text(old.read_text())
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(_doc([_bench("t", _times(1.5)), _bench("u", _times(1.0))])))
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(_doc([_bench("t", _times(1.5))], node="ci-42")))
    args = ["report", str(run), "--compare-bench", str(old), "--fail-on-regression", "--bench-json"]

    capsys.readouterr()
    assert main([*args, str(same)]) == 0
    assert "no regression" in capsys.readouterr().err
    assert main([*args, str(slow)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("qkernels: regression: t: median") and "1 regression(s)" in err[-1]
    csv = pd.read_csv(run / "bench_compare.csv")
    assert list(csv.columns) == BENCH_COMPARE_COLUMNS and csv.set_index("name").result["t"] == "regression"
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "## Benchmark comparison with old.json" in md and "1 regression(s): `t`" in md
    assert main([*args, str(slow), "--bench-threshold", "2"]) == 0  # a 1.5x slow-down under a 2x threshold
    capsys.readouterr()
    assert main([*args, str(elsewhere)]) == 0  # another machine: reported, never a regression
    assert "different machine (node: 'ci-42' vs 'box')" in capsys.readouterr().err
    assert "**Different machine:**" in (run / "report.md").read_text(encoding="utf-8")

    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    for extra, match in [([str(same), str(slow)], "exactly one --bench-json"),
                         ([str(bad)], "not a pytest-benchmark JSON file"),
                         ([str(slow), "--bench-threshold", "0.9"], "ratio above 1"),
                         ([str(tmp_path / "absent.json")], "does not exist")]:
        capsys.readouterr()
        assert main([*args, *extra]) == 2, extra
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("qkernels: error:") and match in lines[0], lines
