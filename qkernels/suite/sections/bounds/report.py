"""The ``bounds`` section's report part, built from ``bounds.csv`` alone: the verdict per form of the
bound, tightness by scenario, counterexamples with their witnesses, figures, the in-distribution
bound on trained layers, the claim and the comparable numbers.

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

#: the bound on the mean squared gap over data (rows of kind ``in_distribution``)
IN_DISTRIBUTION = "in_distribution"


def _truth(col: pd.Series) -> pd.Series:
    """A flag column as bools, however the CSV stored it (True/False, 1/0, with blanks on other rows)."""
    return col.astype(str).str.strip().str.lower().isin(["true", "1", "1.0"])


def kind_rows(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The rows of one ``kind`` with their ``viol_*`` flags as bools.

    Example:
        >>> df = pd.DataFrame({"kind": ["pair", "in_distribution"], "viol_x": [True, None]})
        >>> kind_rows(df, "pair").viol_x.tolist(), len(kind_rows(df, "speed"))
        ([True], 0)
    """
    if df.empty or "kind" not in df.columns:
        return df.iloc[0:0]
    out = df[df.kind == kind].copy()
    for c in [c for c in out.columns if c.startswith("viol_")]:
        out[c] = _truth(out[c]).to_numpy()
    return out


def _model(scenario: str) -> str:
    return scenario.split(":", 1)[1] if ":" in scenario else scenario


def report_blocks(run: RunFolder, df: pd.DataFrame) -> list[Block]:
    """The ``bounds`` part of the report after its summary (also writes ``bounds_summary.csv``)."""
    pairs = kind_rows(df, "pair")
    ind = kind_rows(df, IN_DISTRIBUTION)
    if pairs.empty:
        return in_distribution_blocks(df) or [Paragraph("bounds.csv has no pair rows.")]
    blocks: list[Block] = [Paragraph(
        f"{len(pairs)} rows: {pairs.scenario.nunique()} scenarios, layers of {int(pairs.m.max())} × "
        f"{int(pairs.n.max())} at most, activations {', '.join(dict.fromkeys(pairs.activation))}, radii "
        f"{', '.join(f'{r:g}' for r in sorted(pairs.R.unique()))}. Definitions: docs/bounds.md.")]
    blocks += [Heading(3, "Verdict per form of the bound"), Table(verdict_table(pairs, ind), (
        "A true bound must show 0 violations; one violating row (with its witness x) refutes a form. "
        "in_distribution bounds the mean squared gap over calibration data on trained layers (below)."))]
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
    blocks += in_distribution_blocks(df)
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


def in_distribution_blocks(df: pd.DataFrame) -> list[Block]:
    """The in-distribution part: per model × activation and per model × pair type (empty without such rows)."""
    ind = kind_rows(df, IN_DISTRIBUTION)
    if ind.empty:
        return []
    skipped = kind_rows(df, "skipped")
    skipped = skipped[skipped.scenario.astype(str).str.startswith(IN_DISTRIBUTION)] if not skipped.empty else skipped
    left_out = "; ".join(f"{_model(r.scenario)} {r.op_a} ({r.note})" for r in skipped.itertuples()) \
        if not skipped.empty and "note" in skipped.columns else ""
    images = ", ".join(f"{_model(s)}: {int(g.images.max())}" for s, g in ind.groupby("scenario", sort=False))
    text = ("E‖Φᵢ(x) − Φⱼ(x)‖² ≤ L²(tr(ΔW Σ ΔWᵀ) + 2Δbᵀ ΔW μ + ‖Δb‖²) = L²‖ΔŴ Σ̂^{1/2}‖_F², with x the inputs "
            "each trained layer sees on calibration data (conv layers as linear maps on patch rows) and μ, Σ "
            "their mean and second moment: pairs of same-shaped filters and layers, and each layer against "
            "perturbed copies of itself (docs/theory.md#in-distribution). Calibration inputs per model: "
            f"{images}." + (f" Left out: {left_out}." if left_out else ""))
    return [Heading(3, "In-distribution bound on trained layers"), Paragraph(text),
            Table(in_distribution_table(ind), (
                "A true bound: 0 violations. With σ = identity the bound is an equality (attained): the last "
                "column is max |lhs/B − 1| over the identity rows with B > 0.")),
            Table(in_distribution_types(ind), "Median lhs/B by pair type (the bound's slack for each σ).")]


def in_distribution_table(ind: pd.DataFrame) -> pd.DataFrame:
    """Per model × activation: pairs, violations, min/median/max lhs/B and, for σ = identity, max |lhs/B − 1|.

    Example:
        >>> ind = pd.DataFrame({"scenario": ["in_distribution:m"] * 2, "activation": ["identity", "relu"],
        ...                     "pair": [0, 0], "in_distribution": [2.0, 2.0], "ratio_in_distribution": [1.0, 0.5],
        ...                     "viol_in_distribution": [False, False]})
        >>> in_distribution_table(ind)[["model", "activation", "pairs", "violations"]].values.tolist()
        [['m', 'identity', 1, 0], ['m', 'relu', 1, 0]]
    """
    rows = []
    for (s, a), g in ind.groupby(["scenario", "activation"], sort=False):
        r = pd.to_numeric(g.ratio_in_distribution, errors="coerce").replace(np.inf, np.nan)
        pos = pd.to_numeric(g.in_distribution, errors="coerce") > 0
        rows.append({"model": _model(s), "activation": a, "pairs": int(g.pair.nunique()),
                     "violations": int(_truth(g.viol_in_distribution).sum()), "min lhs/B": r.min(),
                     "median lhs/B": r.median(), "max lhs/B": r.max(),
                     "identity: max |lhs/B − 1|": float((r[pos] - 1).abs().max()) if a == "identity" and pos.any()
                     else float("nan")})
    return pd.DataFrame(rows)


def in_distribution_types(ind: pd.DataFrame) -> pd.DataFrame:
    """Per model × pair type: pairs and the median lhs/B of each activation other than the identity."""
    ind = ind.assign(model=ind.scenario.map(_model),
                     r=pd.to_numeric(ind.ratio_in_distribution, errors="coerce").replace(np.inf, np.nan))
    acts = [a for a in dict.fromkeys(ind.activation) if a != "identity"]
    rows = []
    for (m, t), g in ind.groupby(["model", "pair_type"], sort=False):
        row = {"model": m, "pair type": t, "pairs": int(g.pair.nunique())}
        row.update({f"median lhs/B {a}": g.r[g.activation == a].median() for a in acts})
        rows.append(row)
    return pd.DataFrame(rows)


def claims(df: pd.DataFrame) -> list[Claim]:
    """The verdict on the ``equivalence`` claim, read as the suite's spectral-only form of Theorem 2.1.

    The claim is universal ("vanishing d_FS / W₂ implies functional closeness"), so one verified
    counterexample (a kept witness x whose gap exceeds the bound) refutes it; the provably true
    forms (:data:`TRUE_BOUNDS`, and the in-distribution bound on trained layers) must hold in every
    row, else the checker itself is wrong and the verdict is inconclusive.
    """
    pairs = kind_rows(df, "pair")
    if pairs.empty:
        return []
    ind = kind_rows(df, IN_DISTRIBUTION)
    ind_v = int(ind[f"viol_{IN_DISTRIBUTION}"].sum()) if not ind.empty else 0
    true_v = int(pairs[[f"viol_{b}" for b in TRUE_BOUNDS]].to_numpy().sum()) + ind_v
    ps = pairs.viol_paper_spectral
    worst = pairs.loc[pairs.ratio_paper_spectral.replace(np.inf, 1e300).idxmax()]
    held = [b for b in TRUE_BOUNDS if not pairs[f"viol_{b}"].any()]
    in_dist = "" if ind.empty else (
        f" The in-distribution bound E‖Φᵢ − Φⱼ‖² ≤ L²‖ΔŴ Σ̂^{{1/2}}‖_F² holds in {len(ind) - ind_v}/{len(ind)} rows "
        f"on trained layers ({', '.join(_model(s) for s in dict.fromkeys(ind.scenario))}) with calibration data.")
    if true_v:
        return [Claim("equivalence", "inconclusive",
                      f"{true_v} violations of provably true bounds: the left-hand-side search or the bounds are "
                      "wrong in this run", "bounds", f"{true_v} violations of provably true bounds (checker error)")]
    forms = (f"The forms that hold (0 violations in {len(pairs)} pairs): {', '.join(held)}; they add the "
             f"misalignment of the singular frames (A_ij) or use ‖ΔW‖ itself (docs/theory.md).{in_dist}")
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


def verdict_table(pairs: pd.DataFrame, ind: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per form of the bound (the in-distribution bound last, from its own rows ``ind``)."""
    rows = []
    for b in ALL_BOUNDS:
        r = pairs[f"ratio_{b}"].replace(np.inf, np.nan)
        v = int(pairs[f"viol_{b}"].sum())
        rows.append({"bound": b, "kind": "true" if b in TRUE_BOUNDS else "spectral-only", "rows": len(pairs),
                     "violations": v, "violation_rate": v / len(pairs), "median lhs/B": r.median(),
                     "max lhs/B": r.max(), "rows with B = 0 < lhs": int(np.isinf(pairs[f"ratio_{b}"]).sum()),
                     "verdict": ("holds" if v == 0 else "refuted") if b in FALSE_BOUNDS else
                     ("holds" if v == 0 else "VIOLATED (bug)")})
    if ind is not None and not ind.empty:
        r = pd.to_numeric(ind.ratio_in_distribution, errors="coerce")
        v = int(_truth(ind.viol_in_distribution).sum())
        rows.append({"bound": IN_DISTRIBUTION, "kind": "true (mean over data)", "rows": len(ind), "violations": v,
                     "violation_rate": v / len(ind), "median lhs/B": r.replace(np.inf, np.nan).median(),
                     "max lhs/B": r.replace(np.inf, np.nan).max(), "rows with B = 0 < lhs": int(np.isinf(r).sum()),
                     "verdict": "holds" if v == 0 else "VIOLATED (bug)"})
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
    for c in [c for c in pairs.columns if c.startswith("viol_") and c != f"viol_{IN_DISTRIBUTION}"]:
        b = c[len("viol_"):]
        rows.append(metric_row(f"violations {b}",
                               int(pairs[c].astype(str).str.lower().isin(["true", "1", "1.0"]).sum()),
                               noise="exact", n=len(pairs), better="lower"))
        if f"ratio_{b}" in pairs.columns:
            r = pd.to_numeric(pairs[f"ratio_{b}"], errors="coerce").replace(np.inf, np.nan)
            rows.append(metric_row(f"median lhs/B {b}", r.median(), noise="exact", n=len(pairs)))
    ind = kind_rows(df, IN_DISTRIBUTION)
    if not ind.empty and {f"viol_{IN_DISTRIBUTION}", f"ratio_{IN_DISTRIBUTION}"} <= set(ind.columns):
        r = pd.to_numeric(ind[f"ratio_{IN_DISTRIBUTION}"], errors="coerce").replace(np.inf, np.nan)
        rows.append(metric_row(f"violations {IN_DISTRIBUTION}", int(ind[f"viol_{IN_DISTRIBUTION}"].sum()),
                               noise="exact", n=len(ind), better="lower"))
        for a in dict.fromkeys(ind.activation):
            rows.append(metric_row(f"median lhs/B {IN_DISTRIBUTION} {a}", r[ind.activation == a].median(),
                                   noise="exact", n=int((ind.activation == a).sum())))
    speed = df[df.kind == "speed"]
    if not speed.empty and {"param", "lhs"} <= set(speed.columns):
        v = dict(zip(speed.param, speed.lhs))
        if "pairs_per_second" in v:
            rows.append(metric_row("checker pairs/s", v["pairs_per_second"], better="higher"))
    return metric_frame(rows)


__all__ = ["report_blocks", "claims", "compare_metrics", "verdict_table", "summary_table", "counterexamples",
           "kind_rows", "in_distribution_blocks", "in_distribution_table", "in_distribution_types", "IN_DISTRIBUTION"]
