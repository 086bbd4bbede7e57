"""Compare two pytest-benchmark JSON files: ``qkernels report RUN --bench-json NEW --compare-bench OLD``.

For every benchmark in both files (matched by ``fullname``, else ``name``) the row gives the ratio
of medians NEW/OLD and, when both files carry at least :data:`MIN_ROUNDS` raw rounds
(``stats.data``), a two-sided Mann–Whitney U test on them, as asv does:

* **regression**: p < :data:`ALPHA` and ratio > ``threshold`` (default :data:`THRESHOLD`, 1.10);
* **improvement**: p < :data:`ALPHA` and ratio < 1/``threshold``;
* otherwise *within noise* (p ≥ α) or *below threshold* (significant, but a smaller change).

Without raw rounds (a file saved without ``--benchmark-save-data``), with fewer than
:data:`MIN_ROUNDS` rounds, or with so few that the exact test cannot reach p < α (3 against 3:
the smallest two-sided p is 0.1), the row says "ratio only" and only a ratio beyond
:data:`RATIO_ONLY_THRESHOLD` (1.5, or ``threshold`` if larger) counts: one timing per side
carries no noise estimate, so a 10% change on it is not evidence.

The machines are compared first (:data:`MACHINE_KEYS` of ``machine_info``): if they differ, no
timing is compared and nothing is a regression; the report and the command say why.

Example:
    >>> mi = {"node": "box", "cpu": {"brand_raw": "Toy", "count": 2}}
    >>> old = {"machine_info": mi, "benchmarks": [{"name": "t", "stats": {"data": [1.0, 1.1, 0.9, 1.0, 1.05]}}]}
    >>> new = {"machine_info": mi, "benchmarks": [{"name": "t", "stats": {"data": [2.0, 2.1, 1.9, 2.0, 2.05]}}]}
    >>> r = compare_bench(new, old)
    >>> r.table.result.tolist(), round(float(r.table.ratio[0]), 2), r.same_machine
    (['regression'], 2.0, True)
    >>> compare_bench(new, {**old, "machine_info": {**mi, "node": "other"}}).table.result.tolist()
    ['not compared (different machine)']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qkernels.core.atomic import atomic_write_csv
from qkernels.suite.document.blocks import Block, Heading, Paragraph, Table
from qkernels.suite.report.bench import benchmark_row, load_bench_json, machine_row
from qkernels.suite.runfolder import RunFolder

#: default ratio of medians NEW/OLD above which a significant slow-down is a regression
THRESHOLD = 1.10
#: ratio above which a benchmark without a usable rank test (no raw rounds, too few) is a regression
RATIO_ONLY_THRESHOLD = 1.5
#: significance level of the two-sided Mann–Whitney U test
ALPHA = 0.05
#: raw rounds each file needs for the rank test
MIN_ROUNDS = 3
#: the fields of ``machine_info`` that must agree for timings to be compared
MACHINE_KEYS = ("node", "processor", "machine", "python_version", "cpu.brand_raw", "cpu.count")
#: the columns of bench_compare.csv
BENCH_COMPARE_COLUMNS = ["name", "group", "old_median_s", "new_median_s", "ratio", "old_rounds", "new_rounds",
                         "p_value", "test", "result"]


def _field(info: dict, key: str) -> object:
    v: object = info
    for k in key.split("."):
        v = v.get(k) if isinstance(v, dict) else None
    return v


def machine_differences(new: dict, old: dict) -> list[str] | None:
    """The :data:`MACHINE_KEYS` on which the two files' ``machine_info`` differ; ``None`` if a file has none.

    Example:
        >>> machine_differences({"machine_info": {"node": "a"}}, {"machine_info": {"node": "b"}})
        ["node: 'a' vs 'b'"]
    """
    mn, mo = new.get("machine_info"), old.get("machine_info")
    if not isinstance(mn, dict) or not isinstance(mo, dict):
        return None
    return [f"{k}: {_field(mn, k)!r} vs {_field(mo, k)!r}" for k in MACHINE_KEYS if _field(mn, k) != _field(mo, k)]


def _raw(b: dict) -> np.ndarray:
    data = (b.get("stats") or {}).get("data")
    if not isinstance(data, list):
        return np.array([])
    x = np.asarray([v if isinstance(v, (int, float)) else math.nan for v in data], dtype=float)
    return x[np.isfinite(x)]


def _min_p(n: int, m: int) -> float:
    """The smallest two-sided p-value of the exact Mann–Whitney test with ``n`` and ``m`` rounds."""
    if n + m > 100:  # C(n+m, n) > 1e29: far below any level (and too large for a float)
        return 0.0
    return min(1.0, 2.0 / math.comb(n + m, n))


def _judge(ratio: float, p: float, threshold: float) -> str:
    if not math.isfinite(ratio):
        return "not comparable (missing median)"
    if math.isfinite(p):
        if p >= ALPHA:
            return "within noise"
        return "regression" if ratio > threshold else "improvement" if ratio < 1 / threshold else "below threshold"
    limit = max(RATIO_ONLY_THRESHOLD, threshold)
    return "regression" if ratio > limit else "improvement" if ratio < 1 / limit else "below threshold"


def bench_row(new: dict, old: dict, threshold: float = THRESHOLD) -> dict:
    """One benchmark in both files: medians, ratio NEW/OLD, the rank test (or "ratio only") and the result."""
    rn, ro = benchmark_row(new), benchmark_row(old)
    xn, xo = _raw(new), _raw(old)
    ratio = rn["median_s"] / ro["median_s"] if ro["median_s"] > 0 else math.nan
    p = math.nan
    if xn.size == 0 or xo.size == 0:
        test = "no raw rounds: ratio only"
    elif min(xn.size, xo.size) < MIN_ROUNDS:
        test = f"fewer than {MIN_ROUNDS} rounds: ratio only"
    elif _min_p(xn.size, xo.size) >= ALPHA:
        test = f"too few rounds for p < {ALPHA:g}: ratio only"
    else:
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(xn, xo, alternative="two-sided").pvalue)
        test = "mann-whitney"
    return {"name": new.get("fullname") or new["name"], "group": new.get("group") or "(no group)",
            "old_median_s": ro["median_s"], "new_median_s": rn["median_s"], "ratio": ratio,
            "old_rounds": ro["rounds"], "new_rounds": rn["rounds"], "p_value": p, "test": test,
            "result": _judge(ratio, p, threshold)}


@dataclass
class BenchComparison:
    """Two pytest-benchmark files compared: one row per benchmark (:data:`BENCH_COMPARE_COLUMNS`)."""

    table: pd.DataFrame
    #: False when :func:`machine_differences` found differences (then nothing is compared)
    same_machine: bool
    machine_diffs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    threshold: float = THRESHOLD

    @property
    def regressions(self) -> pd.DataFrame:
        return self.table[self.table.result == "regression"]

    def regression_lines(self) -> list[str]:
        return [f"{r.name}: median {r.old_median_s:.4g} s -> {r.new_median_s:.4g} s ({r.ratio:.3g}x; "
                + (f"Mann-Whitney p = {r.p_value:.2g})" if math.isfinite(r.p_value) else f"{r.test})")
                for r in self.regressions.itertuples()]

    def counts(self) -> str:
        t = self.table
        both = t[~t.result.str.startswith("only in")]
        return (f"{len(both)} benchmarks compared, {int((t.result == 'improvement').sum())} improvement(s), "
                f"threshold {self.threshold:g}x")

    def summary(self) -> str:
        """One line: the regressions, or why nothing was compared."""
        if not self.same_machine:
            return "not compared: different machine (" + "; ".join(self.machine_diffs) + ")"
        n_reg = len(self.regressions)
        return f"{n_reg} regression(s) ({self.counts()})" if n_reg else f"no regression ({self.counts()})"


def _key(b: dict) -> str:
    return b.get("fullname") or b["name"]


def compare_bench(new: dict, old: dict, threshold: float = THRESHOLD) -> BenchComparison:
    """Compare the benchmarks of ``new`` with ``old`` (both loaded by :func:`~qkernels.suite.report.bench.load_bench_json`)."""
    diffs = machine_differences(new, old)
    notes = [] if diffs is not None else ["a file has no machine_info: the machines could not be checked"]
    same = not diffs
    by_old = {_key(b): b for b in old["benchmarks"]}
    by_new = {_key(b): b for b in new["benchmarks"]}
    rows = []
    for k, bn in by_new.items():
        if k not in by_old:
            rn = benchmark_row(bn)
            rows.append({"name": k, "group": rn["group"], "new_median_s": rn["median_s"], "new_rounds": rn["rounds"],
                         "test": "", "result": "only in new"})
        elif same:
            rows.append(bench_row(bn, by_old[k], threshold))
        else:
            r = bench_row(bn, by_old[k], threshold)
            rows.append({**r, "ratio": math.nan, "p_value": math.nan, "test": "",
                         "result": "not compared (different machine)"})
    for k, bo in by_old.items():
        if k not in by_new:
            ro = benchmark_row(bo)
            rows.append({"name": k, "group": ro["group"], "old_median_s": ro["median_s"], "old_rounds": ro["rounds"],
                         "test": "", "result": "only in old"})
    return BenchComparison(pd.DataFrame(rows, columns=BENCH_COMPARE_COLUMNS), same, diffs or [], notes, threshold)


def load_pair(new: str | Path, old: str | Path) -> tuple[dict, dict]:
    """Both files loaded; raises :class:`~qkernels.core.errors.InputError` naming the bad one."""
    from qkernels.core.errors import InputError

    out = []
    for opt, f in (("--bench-json", new), ("--compare-bench", old)):
        if not Path(f).is_file():
            raise InputError(f"{opt}: file {str(f)!r} does not exist")
        data, problem = load_bench_json(Path(f))
        if problem:
            raise InputError(f"{opt}: {problem}")
        out.append(data)
    return out[0], out[1]


def bench_compare_blocks(run: RunFolder, new: Path, old: Path, threshold: float = THRESHOLD) -> list[Block]:
    """The report part comparing two pytest-benchmark files; also writes ``bench_compare.csv`` in the run folder."""
    dn, do = load_pair(new, old)
    r = compare_bench(dn, do, threshold)
    blocks: list[Block] = [
        Heading(2, f"Benchmark comparison with {Path(old).name}", anchor="bench-compare"),
        Table(pd.DataFrame([{"side": "new", **machine_row(Path(new), dn)}, {"side": "old", **machine_row(Path(old), do)}]),
              caption="The two files"),
        Paragraph(f"Ratio = median new / median old. A **regression** is a ratio above {threshold:g} with a two-sided "
                  f"Mann–Whitney U test on the raw rounds at p below {ALPHA:g} (both files with at least {MIN_ROUNDS} "
                  f"rounds); an **improvement** a ratio below 1/{threshold:g} at p below {ALPHA:g}. Without usable raw "
                  f"rounds only the ratio is used, and only a ratio above {max(RATIO_ONLY_THRESHOLD, threshold):g} "
                  "counts.")]
    blocks += [Paragraph(f"**Note:** {n}.") for n in r.notes]
    if not r.same_machine:
        blocks.append(Paragraph("**Different machine:** " + "; ".join(r.machine_diffs)
                                + ". Timings are not compared across machines, so nothing here is a regression."))
    reg = r.regressions
    blocks.append(Paragraph(f"{len(reg)} regression(s): " + ", ".join(f"`{n}`" for n in reg.name) + "."
                            if len(reg) else f"No regression ({r.counts()})."
                            if r.same_machine else "No timing was compared."))
    shown = r.table.sort_values("result", key=lambda s: s.map({"regression": 0, "improvement": 1}).fillna(2),
                                kind="stable")
    blocks.append(Table(shown.reset_index(drop=True), caption="Every benchmark (times in seconds)", id="bench-compare-table"))
    atomic_write_csv(run.path / "bench_compare.csv", r.table)
    blocks.append(Paragraph("All rows are in `bench_compare.csv`."))
    return blocks


__all__ = ["compare_bench", "bench_row", "machine_differences", "bench_compare_blocks", "load_pair",
           "BenchComparison", "THRESHOLD", "RATIO_ONLY_THRESHOLD", "ALPHA", "MIN_ROUNDS", "MACHINE_KEYS",
           "BENCH_COMPARE_COLUMNS"]
