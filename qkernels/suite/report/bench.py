"""pytest-benchmark JSON in the report: per-group tables, machine and commit, speed goals.

``qkernels report RUN --bench-json FILE ...`` reads files written by
``pytest bench --benchmark-json=FILE``. For every benchmark the median, IQR (q3 − q1), p90 and
p99 are computed from the raw per-round times (``stats.data``; numpy's linear interpolation),
next to pytest-benchmark's own ops/s (1/mean). pytest-benchmark stores no p90/p99; when a file
lacks the raw data (``stats.data`` absent, e.g. written by ``--benchmark-save`` without
``--benchmark-save-data``), the median and IQR come from its summary and p90/p99 stay empty, and
the report says so.

The speed goals (:data:`BENCH_GOALS`, built from the one table of targets in
:mod:`qkernels.suite.speed.targets`) are ratios of benchmark medians; a goal is ``met`` or
``missed`` on the medians, and ``borderline`` is added when the range over the quartiles (the
ratio with the numerator at q1 and at q3 and the denominator at the other end) crosses the
target. A malformed file is named in the report and the other files still render.

Example:
    >>> b = {"group": "g", "name": "t", "stats": {"data": [1.0, 2.0, 3.0, 4.0], "ops": 0.4, "rounds": 4}}
    >>> row = benchmark_row(b)
    >>> row["median_s"], row["iqr_s"], round(row["p90_s"], 2)
    (2.5, 1.5, 3.7)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qkernels.core.atomic import atomic_write_csv
from qkernels.core.errors import InputError
from qkernels.core.safeio import check_size
from qkernels.suite.document.blocks import Block, Heading, Paragraph, Table
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.speed.targets import SPEED_GOALS, ExtraInfoBench, MedianBench


@dataclass(frozen=True)
class BenchGoal:
    """A speed goal read from benchmark medians.

    ``value`` is ``sum(medians of ours) / sum(scaled medians of reference)`` for ``ratio`` goals
    (at most ``target``), its inverse for ``speedup`` goals (at least ``target``), and the sum of
    the medians of ``ours`` in seconds for ``seconds`` goals (at most ``target``). A reference
    median is scaled to the whole workload by its ``extra_info``: ``scale``, or
    ``all_pairs / sampled_pairs``. ``requires`` lists extra_info values the ``ours`` benchmarks
    must carry for the goal's workload (otherwise the goal is "not applicable").
    """

    goal_id: str
    description: str
    kind: str  # "ratio" (at most), "speedup" (at least), "seconds" (at most)
    target: float
    ours: tuple[str, ...]
    reference: tuple[str, ...] = ()
    requires: dict = field(default_factory=dict)


def _bench_goals() -> tuple[BenchGoal, ...]:
    out = []
    for g in SPEED_GOALS:
        if isinstance(g.bench, MedianBench):
            kind = "seconds" if g.unit == "s" else "speedup" if g.direction == "at_least" else "ratio"
            out.append(BenchGoal(g.goal_id, g.bench_description, kind, g.target, g.bench.ours, g.bench.reference,
                                 {k: g.workload[k] for k in g.bench.requires}))
    return tuple(out)


#: The speed goals read from benchmark medians: built from the one table of targets,
#: :data:`qkernels.suite.speed.targets.SPEED_GOALS` (add a goal there, with its bench).
BENCH_GOALS: tuple[BenchGoal, ...] = _bench_goals()



@dataclass(frozen=True)
class ExtraGoal:
    """A speed goal that a benchmark computes itself and records in ``extra_info[key]`` (e.g. a ratio
    of two models timed in alternating rounds). Every benchmark whose name starts with ``prefix``
    is one case; ``at_least``/``at_most`` compares each case's value with ``target``."""

    goal_id: str
    description: str
    prefix: str
    key: str
    kind: str  # "at_least" or "at_most"
    target: float


#: Goals measured inside the benchmarks (their values are in extra_info), from the same table.
EXTRA_GOALS: tuple[ExtraGoal, ...] = tuple(
    ExtraGoal(g.goal_id, g.bench_description, g.bench.prefix, g.bench.key, g.direction, g.target)
    for g in SPEED_GOALS if isinstance(g.bench, ExtraInfoBench))

_TARGET = {"ratio": "≤ {:g}× the reference", "speedup": "≥ {:g}× faster", "seconds": "≤ {:g} s",
           "at_most": "≤ {:g}", "at_least": "≥ {:g}"}


def extra_goal_rows(rows: list[dict], goals: tuple[ExtraGoal, ...] = EXTRA_GOALS) -> list[dict]:
    """Each :class:`ExtraGoal` with cases present: the worst case's value, the range, met in k of n.

    Example:
        >>> r = [{"name": "bench_speed_goal[a]", "extra_info": {"efficiency": 0.9}},
        ...      {"name": "bench_speed_goal[b]", "extra_info": {"efficiency": 0.7}}]
        >>> extra_goal_rows(r)[0]["status"]
        'missed in 1 of 2 cases (met in 1)'
    """
    out = []
    for g in goals:
        vals = [_num(r["extra_info"].get(g.key)) for r in rows if r["name"].startswith(g.prefix)]
        vals = [v for v in vals if math.isfinite(v)]
        if not vals:
            continue
        met = sum(v >= g.target if g.kind == "at_least" else v <= g.target for v in vals)
        worst = min(vals) if g.kind == "at_least" else max(vals)
        status = "met" if met == len(vals) else f"missed in {len(vals) - met} of {len(vals)} cases (met in {met})"
        out.append({"goal": g.description, "target": _TARGET[g.kind].format(g.target), "value": worst,
                    "range (quartiles)": f"cases: {min(vals):.4g} to {max(vals):.4g}", "status": status})
    return out


def load_bench_json(path: Path) -> tuple[dict | None, str | None]:
    """``(data, None)`` for a usable pytest-benchmark JSON file, ``(None, why)`` otherwise."""
    try:
        check_size(path)  # refuses files over the result-size limit before reading them
    except InputError as exc:
        return None, f"{Path(path).name}: {exc}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return None, f"{Path(path).name} is not readable JSON ({type(exc).__name__}: {exc})"
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        return None, f"{Path(path).name} is not a pytest-benchmark JSON file (no 'benchmarks' list)"
    bad = [i for i, b in enumerate(data["benchmarks"])
           if not isinstance(b, dict) or not isinstance(b.get("name"), str) or not isinstance(b.get("stats"), dict)]
    if bad:
        return None, (f"{Path(path).name}: benchmark entries {bad[:5]} lack a name or stats "
                      "(not a pytest-benchmark file, or damaged)")
    return data, None


def _num(x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v


def benchmark_row(b: dict) -> dict:
    """One benchmark's row: median, IQR, p90, p99 from the raw data (or the summary), ops/s."""
    s = b.get("stats") or {}
    raw = s.get("data")
    data = np.asarray([_num(x) for x in raw], dtype=float) if isinstance(raw, list) else np.array([])
    data = data[np.isfinite(data)]
    if data.size:
        q1, med, q3, p90, p99 = np.percentile(data, [25, 50, 75, 90, 99])
        src = "raw"
    else:
        q1, med, q3 = _num(s.get("q1")), _num(s.get("median")), _num(s.get("q3"))
        p90 = p99 = math.nan
        src = "summary"
    return {"group": b.get("group") or "(no group)", "name": b["name"], "rounds": int(data.size) if data.size
            else int(_num(s.get("rounds")) if math.isfinite(_num(s.get("rounds"))) else 0),
            "median_s": float(med), "iqr_s": float(q3 - q1), "q1_s": float(q1), "q3_s": float(q3),
            "p90_s": float(p90), "p99_s": float(p99), "ops_per_s": _num(s.get("ops")), "source": src,
            "extra_info": b.get("extra_info") if isinstance(b.get("extra_info"), dict) else {}}


def _scale(info: dict) -> float:
    if "scale" in info and math.isfinite(_num(info["scale"])):
        return _num(info["scale"])
    if "all_pairs" in info and "sampled_pairs" in info and _num(info["sampled_pairs"]) > 0:
        return _num(info["all_pairs"]) / _num(info["sampled_pairs"])
    return 1.0


def goal_rows(rows: list[dict], goals: tuple[BenchGoal, ...] = BENCH_GOALS) -> pd.DataFrame:
    """Each goal whose benchmarks are present: value on medians, IQR range, met/missed."""
    by = {r["name"]: r for r in rows}
    out = []
    for g in goals:
        names = g.ours + g.reference
        if not all(n in by for n in names):
            continue
        ours = [by[n] for n in g.ours]
        unmet = {k: v for k, v in g.requires.items() if any(r["extra_info"].get(k) != v for r in ours)}
        if unmet:
            out.append({"goal": g.description, "target": _TARGET[g.kind].format(g.target), "value": math.nan,
                        "range (quartiles)": "", "status": f"not applicable (workload is not {unmet})"})
            continue

        def tot(rs: list[dict], key: str, scaled: bool) -> float:
            return float(sum(r[key] * (_scale(r["extra_info"]) if scaled else 1.0) for r in rs))

        refs = [by[n] for n in g.reference]
        if g.kind == "seconds":
            v, lo, hi = tot(ours, "median_s", False), tot(ours, "q1_s", False), tot(ours, "q3_s", False)
        else:
            num = [tot(ours, k, False) for k in ("median_s", "q1_s", "q3_s")]
            den = [tot(refs, k, True) for k in ("median_s", "q1_s", "q3_s")]
            v, lo, hi = num[0] / den[0], num[1] / den[2], num[2] / den[1]
            if g.kind == "speedup":
                v, lo, hi = 1 / v, 1 / hi, 1 / lo
        ok = v >= g.target if g.kind == "speedup" else v <= g.target
        status = "met" if ok else "missed"
        if math.isfinite(lo) and math.isfinite(hi) and lo <= g.target <= hi:
            status += " (borderline: the quartile range crosses the target)"
        out.append({"goal": g.description, "target": _TARGET[g.kind].format(g.target), "value": v,
                    "range (quartiles)": f"{lo:.4g} to {hi:.4g}", "status": status})
    out += extra_goal_rows(rows)
    return pd.DataFrame(out, columns=["goal", "target", "value", "range (quartiles)", "status"])


def machine_row(path: Path, data: dict) -> dict:
    """Machine and commit of one file."""
    m = data.get("machine_info") if isinstance(data.get("machine_info"), dict) else {}
    c = data.get("commit_info") if isinstance(data.get("commit_info"), dict) else {}
    cpu = m.get("cpu") if isinstance(m.get("cpu"), dict) else {}
    commit = str(c.get("id") or "")[:10]
    return {"file": path.name, "node": m.get("node", ""), "cpu": cpu.get("brand_raw", m.get("processor", "")),
            "cores": cpu.get("count", ""), "python": m.get("python_version", ""),
            "commit": commit + (" (dirty)" if c.get("dirty") else ""), "branch": c.get("branch", ""),
            "datetime": data.get("datetime", ""), "pytest-benchmark": data.get("version", "")}


def benchmark_blocks(run: RunFolder, files: list[Path]) -> list[Block]:
    """The report part for pytest-benchmark files; also writes ``bench_summary.csv`` in the run folder."""
    blocks: list[Block] = [Heading(2, "Benchmarks (pytest-benchmark)", anchor="benchmarks"), Paragraph(
        "Per-round times from pytest-benchmark JSON. Median, IQR (q3 − q1), p90 and p99 are computed from the raw "
        "per-round data (linear interpolation; with few rounds p90/p99 approach the maximum); ops/s is "
        "pytest-benchmark's 1/mean. The speed goals are ratios of medians.")]
    rows: list[dict] = []
    machines = []
    for f in files:
        data, problem = load_bench_json(f)
        if problem:
            blocks.append(Paragraph(f"**Problem:** {problem}; this file is left out."))
            continue
        machines.append(machine_row(f, data))
        for b in data["benchmarks"]:
            rows.append({"file": f.name, **benchmark_row(b)})
    if machines:
        blocks.append(Table(pd.DataFrame(machines), caption="Machine and commit of each file"))
    if not rows:
        blocks.append(Paragraph("No benchmark could be read."))
        return blocks
    df = pd.DataFrame(rows)
    no_raw = df[df.source == "summary"]
    if not no_raw.empty:
        blocks.append(Paragraph(
            f"{len(no_raw)} benchmark(s) carry no raw per-round data (`stats.data`), so their p90/p99 are empty and "
            "their median and IQR are pytest-benchmark's summary: write the JSON with `--benchmark-json` "
            "(or `--benchmark-save-data` with `--benchmark-save`) to keep the raw data."))
    per_file = [goal_rows([r for r in rows if r["file"] == f]).assign(file=f) for f in dict.fromkeys(df.file)]
    goals = pd.concat(per_file, ignore_index=True)
    goals = goals[["file", *goals.columns[:-1]]] if df.file.nunique() > 1 else goals.drop(columns="file")
    if not goals.empty:
        blocks.append(Heading(3, "Speed goals", anchor="bench-goals"))
        blocks.append(Table(goals, caption="Goals of the issues, from the benchmark medians", id="bench-goals-table"))
    cols = ["name", "rounds", "median_s", "iqr_s", "p90_s", "p99_s", "ops_per_s"]
    multi = df.file.nunique() > 1
    for grp, g in df.groupby("group", sort=False):
        blocks.append(Heading(3, f"Group `{grp}`", anchor=f"bench-{_anchor(str(grp))}"))
        blocks.append(Table(g[(["file"] if multi else []) + cols].reset_index(drop=True)))
    csv = df.drop(columns=["extra_info"]).assign(extra_info=[json.dumps(e, sort_keys=True) for e in df.extra_info])
    atomic_write_csv(run.path / "bench_summary.csv", csv)
    blocks.append(Paragraph("All rows are in `bench_summary.csv` (times in seconds)."))
    return blocks


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text.lower())


__all__ = ["BenchGoal", "BENCH_GOALS", "ExtraGoal", "EXTRA_GOALS", "load_bench_json", "benchmark_row", "goal_rows",
           "extra_goal_rows", "machine_row", "benchmark_blocks"]
