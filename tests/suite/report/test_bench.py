"""pytest-benchmark JSON ingestion: statistics from the raw data, goals, machine/commit, bad files."""

from __future__ import annotations

import json
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
