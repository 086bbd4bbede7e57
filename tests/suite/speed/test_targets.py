"""The speed goals are stated once (qkernels.suite.speed.targets) and every reader uses that number.

A target stated a second time fails here: each goal id has one definition, the ``GOALS`` dicts
and benchmark ingestion are views of the one table, ingestion flips from met to missed exactly at
the table's target, and no reader (speed modules, benchmark ingestion, bench/*.py) writes a
goal's number as a literal of its own.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from qkernels.suite.report.bench import BENCH_GOALS, EXTRA_GOALS, benchmark_row, extra_goal_rows, goal_rows
from qkernels.suite.speed import goals as metric_goals
from qkernels.suite.speed import qmfrg as qmfrg_goals
from qkernels.suite.speed import quantum as quantum_goals
from qkernels.suite.speed.targets import (
    SPEED_GOALS,
    TARGETS,
    ExtraInfoBench,
    MedianBench,
    SpeedGoal,
    legacy_goals,
    target,
)

ROOT = Path(__file__).resolve().parents[3]
#: files that read the targets and must not state one themselves
READERS = sorted([*(ROOT / "qkernels" / "suite" / "speed").glob("*.py"),
                  ROOT / "qkernels" / "suite" / "report" / "bench.py", *(ROOT / "bench").glob("*.py"),
                  *(ROOT / "qkernels" / "suite" / "sections").rglob("report.py")])
TABLE = ROOT / "qkernels" / "suite" / "speed" / "targets.py"


def _table_calls() -> list[ast.Call]:
    tree = ast.parse(TABLE.read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "SpeedGoal"]


def test_each_goal_id_is_defined_exactly_once():
    ids = [g.goal_id for g in SPEED_GOALS]
    assert len(ids) == len(set(ids)), f"goal ids defined twice: {sorted({i for i in ids if ids.count(i) > 1})}"
    # and in the source too (a second SpeedGoal(...) with the same id outside SPEED_GOALS would not show above)
    src_ids = [c.args[0].value for c in _table_calls()]
    assert sorted(src_ids) == sorted(ids)
    assert set(TARGETS) == set(ids) and all(TARGETS[i] is g for i, g in zip(ids, SPEED_GOALS))


def test_goal_fields_are_well_formed():
    for g in SPEED_GOALS:
        assert g.direction in ("at_most", "at_least") and g.unit in ("x", "s")
        assert math.isfinite(g.target) and g.target > 0 and g.description and g.bench_description
        assert target(g.goal_id) == g.target
        if isinstance(g.bench, MedianBench):
            assert set(g.bench.requires) <= set(g.workload)
    with pytest.raises(ValueError):
        SpeedGoal("x", "metrics", "x", 1.0, "below", "x", "q")
    with pytest.raises(TypeError):
        TARGETS["fs_allpairs"].workload["n"] = 1  # read-only


def test_goals_dicts_are_views_of_the_table():
    for module, area in ((metric_goals, "metrics"), (quantum_goals, "quantum"), (qmfrg_goals, "qmfrg")):
        assert module.GOALS == legacy_goals(area)
        assert module.GOALS, area
        for gid, (desc, tgt, what) in module.GOALS.items():
            g = TARGETS[gid]
            assert (desc, tgt, what) == (g.description, g.target, g.what)


def test_bench_ingestion_uses_the_table():
    median = {g.goal_id: g for g in SPEED_GOALS if isinstance(g.bench, MedianBench)}
    extra = {g.goal_id: g for g in SPEED_GOALS if isinstance(g.bench, ExtraInfoBench)}
    assert {b.goal_id for b in BENCH_GOALS} == set(median)
    assert {e.goal_id for e in EXTRA_GOALS} == set(extra)
    for b in BENCH_GOALS:
        g = median[b.goal_id]
        assert (b.target, b.description, b.ours, b.reference) == (g.target, g.bench_description, g.bench.ours,
                                                                  g.bench.reference)
        assert b.requires == {k: g.workload[k] for k in g.bench.requires}
        assert b.kind == ("seconds" if g.unit == "s" else "speedup" if g.direction == "at_least" else "ratio")
    for e in EXTRA_GOALS:
        g = extra[e.goal_id]
        assert (e.target, e.kind, e.prefix, e.key) == (g.target, g.direction, g.bench.prefix, g.bench.key)


def _bench(name: str, t: float, **extra) -> dict:
    return benchmark_row({"group": "g", "name": name, "extra_info": extra, "stats": {"data": [t] * 3, "rounds": 3}})


@pytest.mark.parametrize("goal", [g for g in SPEED_GOALS if g.bench is not None], ids=lambda g: g.goal_id)
def test_ingestion_flips_at_the_table_target(goal):
    """Values 0.1% on either side of the table's target are met / missed as its direction says."""
    for factor in (0.999, 1.001):
        value = goal.target * factor
        if isinstance(goal.bench, ExtraInfoBench):
            rows = [{"name": goal.bench.prefix + ("x]" if goal.bench.prefix.endswith("[") else ""),
                     "extra_info": {goal.bench.key: value}}]
            status = extra_goal_rows(rows)[0]["status"]
        else:
            req = {k: goal.workload[k] for k in goal.bench.requires}
            if goal.unit == "s":
                share = value / len(goal.bench.ours)
                rows = [_bench(n, share, **req) for n in goal.bench.ours]
            else:  # ours = 1 s in total; the reference makes the ratio (or speed-up) equal `value`
                ref = value if goal.direction == "at_least" else 1 / value
                rows = [_bench(n, 1 / len(goal.bench.ours), **req) for n in goal.bench.ours]
                rows += [_bench(n, ref / len(goal.bench.reference)) for n in goal.bench.reference]
            g = goal_rows(rows)
            status = g.set_index("goal").loc[goal.bench_description, "status"]
        met = status == "met" or status.startswith("met ")
        assert met == goal.met(value), (goal.goal_id, factor, status)


def _numbers(node: ast.AST) -> list[float]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and type(n.value) in (int, float)]


@pytest.mark.parametrize("path", READERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_readers_state_no_target_of_their_own(path):
    """No constant named *GOAL*/*TARGET* bound to a literal number, no goal record built from literal numbers."""
    if path == TABLE:
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            if any(n == n.upper() and ("GOAL" in n or "TARGET" in n) for n in names) and node.value is not None \
                    and _numbers(node.value):
                bad.append(f"line {node.lineno}: {', '.join(names)} = literal {_numbers(node.value)}")
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("SpeedGoal", "BenchGoal", "ExtraGoal") \
                and _numbers(node):
            bad.append(f"line {node.lineno}: {node.func.id}(...) with literal numbers")
    assert not bad, f"{path.relative_to(ROOT)} states a speed target itself (use qkernels.suite.speed.targets): {bad}"
