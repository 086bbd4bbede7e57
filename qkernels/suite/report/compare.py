"""Compare two run folders metric by metric: ``qkernels report RUN --compare OTHER``.

Every section lists its headline numbers with their noise (``Section.compare_metrics``, in each
section's ``report`` module; the columns: :func:`qkernels.suite.sections.base.metric_row`). For
each metric in both runs the change is
``this − other`` (RUN minus OTHER) and it is flagged by this rule:

* both runs give a noise interval (95% interval over the replicates the CSVs carry): **changed**
  when the two intervals do not overlap, otherwise *within noise*;
* only one run gives an interval: **changed** when the other run's value lies outside it;
* neither does, and the metric is deterministic (``exact``: seeded results, counts):
  **changed** when ``|Δ| > 1e-6·max(|a|, |b|) + 1e-12`` (roundoff passes);
* otherwise (single timings without replicates): *no noise estimate*, never flagged.

Sections or metrics present on one side only are listed as such; an unreadable CSV is named.

Example:
    >>> flag(1.0, 0.9, 1.1, "ci", 1.5, 1.4, 1.6, "ci")
    'changed'
    >>> flag(1.0, 0.9, 1.1, "ci", 1.05, 0.95, 1.15, "ci")
    'within noise'
"""

from __future__ import annotations

import math

import pandas as pd

from qkernels.core.atomic import atomic_write_csv
from qkernels.suite.document.blocks import Block, Heading, Paragraph, Table
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sectioncsv import read_section_csv
from qkernels.suite.sections import get_section, section_names

EXACT_RTOL, EXACT_ATOL = 1e-6, 1e-12
#: rows of changed metrics shown per section in the report (all are in compare.csv)
MAX_SHOWN = 40

RULE = ("Change = this run − the other. Flag rule: where both runs give a 95% interval from their replicates, "
        "**changed** means the intervals do not overlap; where one run gives an interval, the other's value lies "
        "outside it; deterministic (seeded) numbers are changed when they differ by more than 1e-6 relative; single "
        "timings without replicates carry no noise estimate and are never flagged.")


def _finite(*xs: float) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


def flag(a: float, a_lo: float, a_hi: float, a_noise: str, b: float, b_lo: float, b_hi: float, b_noise: str) -> str:
    """The flag of one metric: ``a`` in the other run, ``b`` in this run (see the module docstring)."""
    if not _finite(a, b):
        return "not comparable (missing value)"
    ia, ib = _finite(a_lo, a_hi), _finite(b_lo, b_hi)
    if ia and ib:
        return "changed" if b_lo > a_hi or b_hi < a_lo else "within noise"
    if ia:
        return "changed" if not a_lo <= b <= a_hi else "within noise"
    if ib:
        return "changed" if not b_lo <= a <= b_hi else "within noise"
    if "exact" in (a_noise, b_noise):
        return "changed" if abs(b - a) > EXACT_RTOL * max(abs(a), abs(b)) + EXACT_ATOL else "within noise"
    return "no noise estimate"


def _metrics(run: RunFolder, name: str) -> tuple[pd.DataFrame | None, str]:
    r = read_section_csv(run, name)
    if r.state == "absent":
        return None, ""
    if not r.usable:
        return None, r.note
    try:
        m = get_section(name).compare_metrics(r.df)
    except Exception as exc:  # a section's bug must not lose the comparison of the others
        return None, f"{name}: its metrics could not be computed ({type(exc).__name__}: {exc})"
    return m, r.note


def compare_runs(this: RunFolder, other: RunFolder) -> tuple[pd.DataFrame, list[str]]:
    """``(table, notes)``: one row per section × metric with both values, intervals, change and flag."""
    rows: list[dict] = []
    notes: list[str] = []
    for name in section_names():
        b, note_b = _metrics(this, name)
        a, note_a = _metrics(other, name)
        if a is None or b is None:
            for side, m, why in (("the other run", a, note_a), ("this run", b, note_b)):
                if m is None and (why or a is not None or b is not None):
                    notes.append(f"`{name}` is missing in {side} ({why or f'no {name}.csv'}); it is not compared.")
            continue
        for n in (note_a, note_b):
            if n:
                notes.append(f"`{name}`: {n}")
        ma, mb = a.set_index("metric"), b.set_index("metric")
        for metric in list(dict.fromkeys([*mb.index, *ma.index])):
            ra = ma.loc[metric] if metric in ma.index else None
            rb = mb.loc[metric] if metric in mb.index else None
            if isinstance(ra, pd.DataFrame):
                ra = ra.iloc[0]
            if isinstance(rb, pd.DataFrame):
                rb = rb.iloc[0]
            row = {"section": name, "metric": metric,
                   "noise": (rb.noise if rb is not None else ra.noise)}
            for key, r in (("other", ra), ("this", rb)):
                row.update({key: r.value if r is not None else math.nan,
                            f"{key}_lo": r.lo if r is not None else math.nan,
                            f"{key}_hi": r.hi if r is not None else math.nan})
            if ra is None or rb is None:
                row.update(change=math.nan, rel_change=math.nan,
                           flag="only in this run" if ra is None else "only in the other run")
            else:
                ch = float(rb.value) - float(ra.value)
                row.update(change=ch, rel_change=ch / abs(ra.value) if _finite(ra.value) and ra.value != 0 else math.nan,
                           flag=flag(ra.value, ra.lo, ra.hi, ra.noise, rb.value, rb.lo, rb.hi, rb.noise))
            rows.append(row)
    cols = ["section", "metric", "noise", "other", "other_lo", "other_hi", "this", "this_lo", "this_hi", "change",
            "rel_change", "flag"]
    return pd.DataFrame(rows, columns=cols), notes


def _run_row(label: str, run: RunFolder) -> dict:
    try:
        env = run.read_env()
    except Exception:  # noqa: BLE001 - an unreadable env.json only loses this row's details
        env = {}
    env = env if isinstance(env, dict) else {}
    git = env.get("git") or {}
    commit = str(git.get("commit") or "")[:10] + (" (dirty)" if git.get("dirty") else "")
    return {"run": label, "folder": str(run.path), "commit": commit, "profile": env.get("profile", ""),
            "device": env.get("device", ""), "cpu": env.get("cpu", ""),
            "torch": (env.get("packages") or {}).get("torch", ""), "start (UTC)": env.get("start", "")}


def _pm(v: float, lo: float, hi: float) -> str:
    if not _finite(v):
        return ""
    return f"{v:.4g} [{lo:.4g}, {hi:.4g}]" if _finite(lo, hi) else f"{v:.4g}"


def compare_blocks(this: RunFolder, other: RunFolder) -> list[Block]:
    """The report part comparing ``this`` run with ``other``; also writes ``compare.csv`` in ``this``."""
    table, notes = compare_runs(this, other)
    info = pd.DataFrame([_run_row("this", this), _run_row("other", other)])
    blocks: list[Block] = [Heading(2, f"Comparison with {other.path.name}", anchor="comparison"),
                           Table(info, caption="The two runs (from their env.json)"), Paragraph(RULE)]
    if len(set(info.profile)) > 1:
        blocks.append(Paragraph(f"**Note:** the profiles differ ({' vs '.join(map(str, info.profile))}): "
                                "workloads differ, so many changes are expected."))
    blocks += [Paragraph(f"**Problem:** {n}" if "missing" in n or "could not" in n else n) for n in notes]
    if table.empty:
        blocks.append(Paragraph("No section has comparable metrics in both runs."))
        return blocks
    atomic_write_csv(this.path / "compare.csv", table)
    counts = table.groupby("section", sort=False).flag.value_counts().unstack(fill_value=0).reset_index()
    blocks.append(Table(counts, caption="Metrics per section and flag"))
    for name, g in table.groupby("section", sort=False):
        shown = g if len(g) <= MAX_SHOWN else g[g.flag != "within noise"]
        shown = shown.sort_values("flag", key=lambda s: s != "changed", kind="stable").head(MAX_SHOWN)
        title = get_section(name).title
        blocks.append(Heading(3, f"{title}: changes", anchor=f"comparison-{name}"))
        if shown.empty:
            blocks.append(Paragraph(f"All {len(g)} metrics are within noise."))
            continue
        blocks.append(Table(pd.DataFrame({
            "metric": shown.metric, "noise": shown.noise,
            "other": [_pm(*x) for x in zip(shown.other, shown.other_lo, shown.other_hi)],
            "this": [_pm(*x) for x in zip(shown.this, shown.this_lo, shown.this_hi)],
            "change": shown.change, "relative": shown.rel_change, "flag": shown.flag}).reset_index(drop=True)))
        if len(shown) < len(g):
            blocks.append(Paragraph(f"{len(shown)} of {len(g)} metrics shown (changed first); all are in `compare.csv`."))
    return blocks


__all__ = ["flag", "compare_runs", "compare_blocks", "RULE", "EXACT_RTOL", "EXACT_ATOL"]
