"""The ``bounds`` section's report part, built from ``bounds.csv`` alone: the verdict per form of the
bound, tightness by scenario, counterexamples with their witnesses, figures, the claim and the
comparable numbers.

Example:
    >>> df = pd.DataFrame({"kind": ["pair"] * 2, "viol_lipschitz": [False, False], "ratio_lipschitz": [0.5, 0.7]})
    >>> compare_metrics(df)[["metric", "value"]].values.tolist()
    [['rows', 2.0], ['violations lipschitz', 0.0], ['median lhs/B lipschitz', 0.6]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qkernels.bounds.check import ALL_BOUNDS, FALSE_BOUNDS, TRUE_BOUNDS
from qkernels.core.atomic import atomic_write_csv
from qkernels.suite.document import plots
from qkernels.suite.document.blocks import Block, Figure, Heading, Paragraph, Table
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections.base import Claim, metric_frame, metric_row
from qkernels.suite.speed.targets import TARGETS


def report_blocks(run: RunFolder, df: pd.DataFrame) -> list[Block]:
    """The ``bounds`` part of the report after its summary (also writes ``bounds_summary.csv``)."""
    pairs = df[df.kind == "pair"] if "kind" in df.columns else df.iloc[0:0]
    if pairs.empty:
        return [Paragraph("bounds.csv has no pair rows.")]
    blocks: list[Block] = [Paragraph(
        f"{len(pairs)} rows: {pairs.scenario.nunique()} scenarios, layers of {int(pairs.m.max())} × "
        f"{int(pairs.n.max())} at most, activations {', '.join(dict.fromkeys(pairs.activation))}, radii "
        f"{', '.join(f'{r:g}' for r in sorted(pairs.R.unique()))}. Definitions: docs/bounds.md.")]
    blocks += [Heading(3, "Verdict per form of the bound"), Table(verdict_table(pairs), (
        "A true bound must show 0 violations; one violating row (with its witness x) refutes a form."))]
    summary = summary_table(pairs)
    atomic_write_csv(run.path / "bounds_summary.csv", summary)
    short = summary[["scenario", "activation", "R", "rows", "viol_rate_paper_spectral", "viol_rate_paper_generous",
                     "true_violations", "median_ratio_lipschitz", "median_ratio_decomposed_2",
                     "median_ratio_paper_spectral"]]
    blocks += [Heading(3, "By scenario, activation and radius"), Table(short, (
        "Violation rates and median tightness lhs/B; min/5%/median/95%/max of lhs/B for every bound are in "
        "bounds_summary.csv."))]
    blocks += [Heading(3, "Counterexamples"), Table(counterexamples(pairs), (
        "The largest violations of the spectral-only forms; each witness x (column x of bounds.csv) attains "
        "the listed lhs."))]
    blocks += _figures(run, pairs)
    speed = df[df.kind == "speed"] if "kind" in df.columns else df.iloc[0:0]
    if not speed.empty:
        v = dict(zip(speed.param, speed.lhs))
        goal = TARGETS["bounds_1000"]
        ok = goal.met(v["est_seconds_1000_pairs"])
        blocks += [Heading(3, "Speed"), Paragraph(
            f"{int(v['pairs'])} pairs of 256 × 256 layers, tanh and ReLU, two radii: {v['seconds']:.1f} s, "
            f"{v['pairs_per_second']:.2f} pairs/s, so 1,000 pairs take {v['est_seconds_1000_pairs']:.0f} s "
            f"(goal: under {goal.target:g} s on 2 cores: {'met' if ok else 'MISSED'}).")]
    return blocks


def _figures(run: RunFolder, pairs: pd.DataFrame) -> list[Block]:
    out: list[Block] = []
    panels = [(b, pairs[b].to_numpy(), pairs.lhs.to_numpy()) for b in ("lipschitz", "decomposed_2", "paper_spectral")]
    path = run.figure("bounds_lhs_vs_bound.png")
    plots.lhs_vs_bound(panels, list(pairs.scenario), path)
    out.append(Figure(f"figures/{path.name}", (
        "lhs against bound on log axes (points above y = x violate the bound; spectral-only bounds of 0 are "
        "drawn at the left edge)")))
    t = pairs.groupby("scenario", sort=False)
    for b in ("decomposed_2", "paper_spectral"):
        r = pairs[f"ratio_{b}"].replace(np.inf, np.nan)
        g = r.groupby(pairs.scenario, sort=False)
        path = run.figure(f"bounds_tightness_{b}.png")
        plots.ranges(list(t.groups), g.quantile(0.05).to_numpy(), g.median().to_numpy(), g.quantile(0.95).to_numpy(),
                     f"lhs / {b}", f"Tightness of {b} by scenario (1 = tight, > 1 = violated)", path, logy=True)
        inf = sorted(pairs.scenario[np.isinf(pairs[f"ratio_{b}"])].unique())
        note = (f"; rows where the bound is 0 but lhs > 0 (ratio ∞) are left out: {', '.join(inf)}"
                if inf else "")
        out.append(Figure(f"figures/{path.name}", f"lhs / {b} by scenario: 5%, median and 95% over rows{note}"))
    return out


def claims(df: pd.DataFrame) -> list[Claim]:
    """The verdict on the ``equivalence`` claim, read as the suite's spectral-only form of Theorem 2.1.

    The claim is universal ("vanishing d_FS / W₂ implies functional closeness"), so one verified
    counterexample (a kept witness x whose gap exceeds the bound) refutes it; the provably true
    forms (:data:`TRUE_BOUNDS`) must hold in every row, else the checker itself is wrong and the
    verdict is inconclusive.
    """
    pairs = df[df.kind == "pair"] if "kind" in df.columns else df.iloc[0:0]
    if pairs.empty:
        return []
    true_v = int(pairs[[f"viol_{b}" for b in TRUE_BOUNDS]].to_numpy().sum())
    ps = pairs.viol_paper_spectral
    worst = pairs.loc[pairs.ratio_paper_spectral.replace(np.inf, 1e300).idxmax()]
    held = [b for b in TRUE_BOUNDS if not pairs[f"viol_{b}"].any()]
    if true_v:
        return [Claim("equivalence", "inconclusive",
                      f"{true_v} violations of provably true bounds: the left-hand-side search or the bounds are "
                      "wrong in this run", "bounds", f"{true_v} violations of provably true bounds (checker error)")]
    forms = (f"The forms that hold (0 violations in {len(pairs)} pairs): {', '.join(held)}; they add the "
             "misalignment of the singular frames (A_ij) or use ‖ΔW‖ itself (docs/theory.md).")
    if ps.any():
        return [Claim("equivalence", "refuted", (
            "What is refuted is the suite's spectral-only reading of Theorem 2.1 (the bound from d_FS / W₂ of the "
            f"singular-value states alone, `paper_spectral`): it fails in {int(ps.sum())}/{len(pairs)} pairs "
            f"({', '.join(sorted(pairs.scenario[ps].unique()))}); e.g. {worst.scenario} with {worst.activation}: "
            f"d_FS = {worst.d_fs:.2g} but the gap is {worst.lhs:.3g} at a kept witness x (a verified counterexample "
            f"refutes a universal claim). {forms}"), "bounds",
            f"spectral-only form violated in {int(ps.sum())}/{len(pairs)} pairs (e.g. {worst.scenario}: d_FS = "
            f"{worst.d_fs:.2g}, gap {worst.lhs:.3g}); corrected forms hold in {len(pairs)}/{len(pairs)}")]
    return [Claim("equivalence", "supported",
                  f"no violation of any form in {len(pairs)} pairs; the counterexample scenarios may be missing. {forms}",
                  "bounds", f"no violation in {len(pairs)} pairs")]


def verdict_table(pairs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for b in ALL_BOUNDS:
        r = pairs[f"ratio_{b}"].replace(np.inf, np.nan)
        v = int(pairs[f"viol_{b}"].sum())
        rows.append({"bound": b, "kind": "true" if b in TRUE_BOUNDS else "spectral-only", "rows": len(pairs),
                     "violations": v, "violation_rate": v / len(pairs), "median lhs/B": r.median(),
                     "max lhs/B": r.max(), "rows with B = 0 < lhs": int(np.isinf(pairs[f"ratio_{b}"]).sum()),
                     "verdict": ("holds" if v == 0 else "refuted") if b in FALSE_BOUNDS else
                     ("holds" if v == 0 else "VIOLATED (bug)")})
    return pd.DataFrame(rows)


def summary_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario × activation × R: rows, violation rate and lhs/B quantiles of every bound."""
    out = []
    for (s, a, R), g in pairs.groupby(["scenario", "activation", "R"], sort=False):
        row = {"scenario": s, "activation": a, "R": R, "rows": len(g),
               "true_violations": int(g[[f"viol_{b}" for b in TRUE_BOUNDS]].to_numpy().sum())}
        for b in ALL_BOUNDS:
            r = g[f"ratio_{b}"].replace(np.inf, np.nan)
            row[f"viol_rate_{b}"] = float(g[f"viol_{b}"].mean())
            for name, q in (("min", 0.0), ("p05", 0.05), ("median", 0.5), ("p95", 0.95), ("max", 1.0)):
                row[f"{name}_ratio_{b}"] = float(r.quantile(q)) if r.notna().any() else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def counterexamples(pairs: pd.DataFrame, per_bound: int = 8) -> pd.DataFrame:
    rows = []
    for b in FALSE_BOUNDS:
        v = pairs[pairs[f"viol_{b}"] & (pairs.x.fillna("") != "")]
        v = v.assign(_r=v[f"ratio_{b}"].replace(np.inf, 1e300)).sort_values("_r", ascending=False)
        v = v.drop_duplicates("scenario").head(per_bound)
        for r in v.itertuples():
            rows.append({"bound": b, "scenario": r.scenario, "pair": r.pair, "param": r.param,
                         "activation": r.activation, "R": r.R, "d_fs": r.d_fs, "w2_cum": r.w2_cum,
                         "lhs": r.lhs, "bound value": getattr(r, b), "A_ij": r.A_ij, "‖x‖": r.x_norm})
    return pd.DataFrame(rows)


def compare_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Per form of the bound: violations and median lhs/B (deterministic for a seed); checker speed."""
    if df.empty or "kind" not in df.columns:
        return metric_frame([])
    pairs = df[df.kind == "pair"]
    rows = [metric_row("rows", len(pairs), noise="exact")] if not pairs.empty else []
    for c in [c for c in pairs.columns if c.startswith("viol_")]:
        b = c[len("viol_"):]
        rows.append(metric_row(f"violations {b}",
                               int(pairs[c].astype(str).str.lower().isin(["true", "1", "1.0"]).sum()),
                               noise="exact", n=len(pairs), better="lower"))
        if f"ratio_{b}" in pairs.columns:
            r = pd.to_numeric(pairs[f"ratio_{b}"], errors="coerce").replace(np.inf, np.nan)
            rows.append(metric_row(f"median lhs/B {b}", r.median(), noise="exact", n=len(pairs)))
    speed = df[df.kind == "speed"]
    if not speed.empty and {"param", "lhs"} <= set(speed.columns):
        v = dict(zip(speed.param, speed.lhs))
        if "pairs_per_second" in v:
            rows.append(metric_row("checker pairs/s", v["pairs_per_second"], better="higher"))
    return metric_frame(rows)


__all__ = ["report_blocks", "claims", "compare_metrics", "verdict_table", "summary_table", "counterexamples"]
