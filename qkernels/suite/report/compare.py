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

**Regressions** (``--fail-on-regression``): a metric regressed when it is flagged *changed* and
the change goes the worse way of its ``better`` direction (``higher``: it fell; ``lower``: it
rose; neutral metrics never regress). A claim's verdict regressed when it moved down
:data:`qkernels.suite.verdict.VERDICTS` (supported → inconclusive or refuted, inconclusive →
refuted); "not measured" on either side is reported, never a regression. The verdicts come from
each run's ``claims.csv``, or are recomputed from its CSVs when it has none.

Example:
    >>> flag(1.0, 0.9, 1.1, "ci", 1.5, 1.4, 1.6, "ci")
    'changed'
    >>> flag(1.0, 0.9, 1.1, "ci", 1.05, 0.95, 1.15, "ci")
    'within noise'
    >>> is_regression("changed", "higher", -0.1), is_regression("changed", "lower", -0.1)
    (True, False)
    >>> verdict_change("supported", "inconclusive"), verdict_change("refuted", "not measured")
    ('worse', 'not compared (not measured in this run)')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from qkernels.core.atomic import atomic_write_csv
from qkernels.core.errors import InputError
from qkernels.core.safeio import read_csv_limited
from qkernels.suite.document.blocks import Block, Heading, Paragraph, Table
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sectioncsv import read_section_csv
from qkernels.suite.sections import get_section, section_names
from qkernels.suite.verdict import VERDICTS

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


def is_regression(flag: str, better: str, change: float) -> bool:
    """Whether a metric got worse beyond noise: flagged ``changed`` and moved against ``better``."""
    if flag != "changed" or not _finite(change):
        return False
    return (better == "higher" and change < 0) or (better == "lower" and change > 0)


#: rank of the verdicts that can be compared, best first ("not measured" is not ranked)
_RANK = {v: i for i, v in enumerate(VERDICTS) if v != "not measured"}


def verdict_change(other: str, this: str) -> str:
    """``same``, ``better``, ``worse`` (down :data:`VERDICTS`), or why the two verdicts are not compared."""
    if this not in _RANK or other not in _RANK:
        side = "in either run" if this not in _RANK and other not in _RANK else (
            "in this run" if this not in _RANK else "in the other run")
        return f"not compared (not measured {side})"
    d = _RANK[this] - _RANK[other]
    return "same" if d == 0 else "worse" if d > 0 else "better"


def _better(r: pd.Series | None) -> str:
    v = r.get("better", "") if r is not None else ""
    return v if v in ("higher", "lower") else ""


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
                   "noise": (rb.noise if rb is not None else ra.noise), "better": _better(rb) or _better(ra)}
            for key, r in (("other", ra), ("this", rb)):
                row.update({key: r.value if r is not None else math.nan,
                            f"{key}_lo": r.lo if r is not None else math.nan,
                            f"{key}_hi": r.hi if r is not None else math.nan})
            if ra is None or rb is None:
                row.update(change=math.nan, rel_change=math.nan,
                           flag="only in this run" if ra is None else "only in the other run", regression=False)
            else:
                ch = float(rb.value) - float(ra.value)
                row.update(change=ch, rel_change=ch / abs(ra.value) if _finite(ra.value) and ra.value != 0 else math.nan,
                           flag=flag(ra.value, ra.lo, ra.hi, ra.noise, rb.value, rb.lo, rb.hi, rb.noise))
                row["regression"] = is_regression(row["flag"], row["better"], ch)
            rows.append(row)
    return pd.DataFrame(rows, columns=COMPARE_CSV_COLUMNS), notes


#: the columns of compare.csv
COMPARE_CSV_COLUMNS = ["section", "metric", "noise", "other", "other_lo", "other_hi", "this", "this_lo", "this_hi",
                       "change", "rel_change", "flag", "better", "regression"]
#: the columns of compare_claims.csv
CLAIMS_COMPARE_COLUMNS = ["claim_id", "claim", "section", "other", "this", "change", "regression"]


def run_claims(run: RunFolder) -> tuple[pd.DataFrame | None, str]:
    """``(claims, note)``: the run's ``claims.csv``, or its claims recomputed from its CSVs when it has none
    (or it is unreadable); ``(None, why)`` when neither works."""
    path = run.path / "claims.csv"
    why = "it has no claims.csv"
    if path.is_file():
        try:
            df = read_csv_limited(path)
            if {"claim_id", "verdict"} <= set(df.columns):
                return df, ""
            why = "its claims.csv lacks the claim_id/verdict columns"
        except InputError as exc:
            why = f"its claims.csv could not be read ({exc})"
    from qkernels.suite.report.build import claims_frame  # build imports this module lazily

    try:
        return claims_frame(run), f"{why}: its verdicts were recomputed from its CSVs"
    except Exception as exc:  # noqa: BLE001 - the metrics are still compared
        return None, f"{why}, and its verdicts could not be recomputed ({type(exc).__name__}: {exc})"


def compare_claims(this: RunFolder, other: RunFolder) -> tuple[pd.DataFrame, list[str]]:
    """``(table, notes)``: one row per claim with both verdicts, their change and whether it is a regression."""
    notes: list[str] = []
    got = {}
    for side, run in (("this run", this), ("the other run", other)):
        df, note = run_claims(run)
        if note:
            notes.append(f"Verdicts of {side}: {note}." if df is not None
                         else f"The verdicts could not be compared: {side}: {note}.")
        got[side] = df
    a, b = got["the other run"], got["this run"]
    if a is None or b is None:
        return pd.DataFrame(columns=CLAIMS_COMPARE_COLUMNS), notes
    a = a.drop_duplicates("claim_id").set_index("claim_id")
    b = b.drop_duplicates("claim_id").set_index("claim_id")
    rows = []
    for cid in dict.fromkeys([*b.index, *a.index]):
        ra = a.loc[cid] if cid in a.index else None
        rb = b.loc[cid] if cid in b.index else None
        va = str(ra.verdict) if ra is not None else "not measured"
        vb = str(rb.verdict) if rb is not None else "not measured"
        src = rb if rb is not None else ra
        change = verdict_change(va, vb)
        rows.append({"claim_id": cid, "claim": str(src.get("claim", cid)), "section": str(src.get("section", "")),
                     "other": va, "this": vb, "change": change, "regression": change == "worse"})
    return pd.DataFrame(rows, columns=CLAIMS_COMPARE_COLUMNS), notes


@dataclass
class RunComparison:
    """The comparison of two runs: the metrics (:func:`compare_runs`), the verdicts (:func:`compare_claims`)."""

    metrics: pd.DataFrame
    verdicts: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def metric_regressions(self) -> pd.DataFrame:
        return self.metrics[self.metrics.regression.astype(bool)]

    @property
    def verdict_regressions(self) -> pd.DataFrame:
        return self.verdicts[self.verdicts.regression.astype(bool)]

    def regression_lines(self) -> list[str]:
        """One line per regression (the command prints them on stderr)."""
        lines = [f"{r.section}: {r.metric}: {_pm(r.other, r.other_lo, r.other_hi)} -> "
                 f"{_pm(r.this, r.this_lo, r.this_hi)} ({r.better} is better; changed beyond noise)"
                 for r in self.metric_regressions.itertuples()]
        lines += [f"verdict of claim {r.claim_id!r} ({r.section}): {r.other} -> {r.this}"
                  for r in self.verdict_regressions.itertuples()]
        return lines

    @property
    def comparable(self) -> bool:
        """Whether anything was compared: a metric in both runs or a claim with a verdict in both."""
        m = self.metrics
        return bool((~m.flag.str.startswith("only in")).any() or self.verdicts.change.isin(
            ["same", "better", "worse"]).any())

    def counts(self) -> str:
        m = self.metrics[~self.metrics.flag.str.startswith("only in")]
        return (f"{len(m)} metrics compared, {int((m.flag == 'changed').sum())} changed; "
                f"{int(self.verdicts.change.isin(['same', 'better', 'worse']).sum())} verdicts compared")

    def summary(self) -> str:
        """One line: the number of regressions and what was compared."""
        n_m, n_v = len(self.metric_regressions), len(self.verdict_regressions)
        compared = self.counts()
        if n_m + n_v == 0:
            return f"no regression ({compared})"
        return f"{n_m + n_v} regression(s): {n_m} metric(s), {n_v} verdict(s) ({compared})"


def compare(this: RunFolder, other: RunFolder) -> RunComparison:
    """Metrics and verdicts of ``this`` run against ``other`` (writes nothing)."""
    metrics, notes = compare_runs(this, other)
    verdicts, vnotes = compare_claims(this, other)
    return RunComparison(metrics, verdicts, notes + vnotes)


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
    result = compare(this, other)
    table, notes = result.metrics, result.notes
    info = pd.DataFrame([_run_row("this", this), _run_row("other", other)])
    blocks: list[Block] = [Heading(2, f"Comparison with {other.path.name}", anchor="comparison"),
                           Table(info, caption="The two runs (from their env.json)"), Paragraph(RULE)]
    if len(set(info.profile)) > 1:
        blocks.append(Paragraph(f"**Note:** the profiles differ ({' vs '.join(map(str, info.profile))}): "
                                "workloads differ, so many changes are expected."))
    blocks += [Paragraph(f"**Problem:** {n}" if "missing" in n or "could not" in n else n) for n in notes]
    blocks += _regression_blocks(result)
    if not result.verdicts.empty:
        atomic_write_csv(this.path / "compare_claims.csv", result.verdicts)
    if table.empty:
        blocks.append(Paragraph("No section has comparable metrics in both runs."))
        return blocks
    atomic_write_csv(this.path / "compare.csv", table)
    counts = table.groupby("section", sort=False).flag.value_counts().unstack(fill_value=0)
    counts["regressions"] = table.groupby("section", sort=False).regression.sum().astype(int)
    blocks.append(Table(counts.reset_index(), caption="Metrics per section and flag"))
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
            "change": shown.change, "relative": shown.rel_change, "flag": shown.flag,
            "better": shown.better, "regression": ["yes" if r else "" for r in shown.regression]}).reset_index(drop=True)))
        if len(shown) < len(g):
            blocks.append(Paragraph(f"{len(shown)} of {len(g)} metrics shown (changed first); all are in `compare.csv`."))
    return blocks


GATE_RULE = ("A **regression** is a metric flagged changed whose change goes the worse way (lower where higher is "
             "better, higher where lower is better; neutral metrics and timings without replicates never count), or a "
             "claim whose verdict got worse (supported → inconclusive or refuted, inconclusive → refuted; "
             "\"not measured\" on one side is shown, not counted). `--fail-on-regression` exits with status 1 on one.")


def _regression_blocks(result: RunComparison) -> list[Block]:
    """The "Regressions" table (metrics and verdicts that got worse) and the verdicts of both runs."""
    blocks: list[Block] = [Heading(3, "Regressions", anchor="comparison-regressions"), Paragraph(GATE_RULE)]
    rows = [{"kind": "metric", "section": r.section, "what": r.metric, "other": _pm(r.other, r.other_lo, r.other_hi),
             "this": _pm(r.this, r.this_lo, r.this_hi), "better": r.better}
            for r in result.metric_regressions.itertuples()]
    rows += [{"kind": "verdict", "section": r.section, "what": r.claim, "other": r.other, "this": r.this, "better": ""}
             for r in result.verdict_regressions.itertuples()]
    if rows:
        blocks.append(Table(pd.DataFrame(rows), caption=f"{len(rows)} regression(s)", id="regressions"))
    else:
        blocks.append(Paragraph(f"No regression: {result.counts()}."))
    if not result.verdicts.empty:
        v = result.verdicts
        blocks.append(Table(pd.DataFrame({"claim": v.claim, "section": v.section, "other": v.other, "this": v.this,
                                          "change": v.change}), caption="Verdicts of the two runs"))
    return blocks


__all__ = ["flag", "compare_runs", "compare_blocks", "compare_claims", "compare", "run_claims", "is_regression",
           "verdict_change", "RunComparison", "RULE", "GATE_RULE", "EXACT_RTOL", "EXACT_ATOL", "COMPARE_CSV_COLUMNS",
           "CLAIMS_COMPARE_COLUMNS"]
