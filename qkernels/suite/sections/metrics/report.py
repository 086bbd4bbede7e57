"""The ``metrics`` section's report part, built from ``metrics.csv`` alone: agreement with the
references, the speed goals, heat maps and ranges of the distances, and its comparable numbers.

Example:
    >>> df = pd.DataFrame({"kind": ["pair", "pair"], "model": ["m", "m"], "granularity": ["layer"] * 2,
    ...                    "metric": ["fs", "fs"], "value": [0.1, 0.3]})
    >>> compare_metrics(df).metric.tolist()
    ['median fs m/layer']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qkernels.suite.document import plots
from qkernels.suite.document.blocks import Block, Figure, Heading, Paragraph, Table
from qkernels.suite.runfolder import RunFolder, safe_name
from qkernels.suite.sections.base import metric_frame, metric_row
from qkernels.suite.speed.goals import GOALS


def report_blocks(run: RunFolder, df: pd.DataFrame) -> list[Block]:
    """The ``metrics`` part of the report after its summary: agreement, speed goals, figures, skipped modules."""
    blocks: list[Block] = []
    if df.empty or "kind" not in df.columns:
        return [Paragraph("metrics.csv has no rows.")]
    pairs = df[df.kind == "pair"]
    if not pairs.empty:
        blocks += [Heading(3, "Agreement with the references"), Table(_agreement(pairs), (
            "Largest error of each metric against its independent reference, over all checked pairs "
            "(w2cum: relative error on W₂²)."))]
    speed = df[df.kind == "speed"]
    if not speed.empty:
        blocks += [Heading(3, "Speed goals"), Table(speed_table(speed), (
            "Medians of repeated timings on this run's machine (env.json). POT loops are timed on a sample of "
            "pairs and scaled to all pairs."))]
    blocks += _figures(run, df)
    skipped = df[df.kind == "skipped"]
    if not skipped.empty:
        t = skipped[["model", "op_a", "note"]].rename(columns={"op_a": "module", "note": "why skipped"})
        blocks += [Heading(3, "Modules that are not operators"), Table(t.reset_index(drop=True))]
    return blocks


def _figures(run: RunFolder, df: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = []
    layer = df[(df.kind == "pair") & (df.granularity == "layer")]
    for model in dict.fromkeys(layer.model):
        sub = layer[layer.model == model]
        names = list(dict.fromkeys(list(sub.op_a) + list(sub.op_b)))
        for metric, label in (("fs", "d_FS (rad)"), ("w2cum", "W₂cum")):
            m = sub[sub.metric == metric]
            if m.empty:
                continue
            M = _square(m, names)
            path = run.figure(f"metrics_{metric}_{safe_name(model)}.png")
            plots.heatmap(M, names, f"{model}: layer-by-layer {label.split(' ')[0]}", path, label)
            blocks.append(Figure(f"figures/{path.name}", f"{model}: {label} between every pair of layer operators"))
    within = df[(df.kind == "within_layer") & (df.metric == "fs")]
    for model in dict.fromkeys(within.model):
        w = within[within.model == model].pivot_table(index="op_a", columns="stat", values="value", sort=False)
        if {"p05", "median", "p95", "nn_median"} <= set(w.columns):
            path = run.figure(f"metrics_filters_fs_{safe_name(model)}.png")
            plots.ranges(list(w.index), w["p05"].to_numpy(), w["median"].to_numpy(), w["p95"].to_numpy(),
                         "d_FS (rad)", f"{model}: d_FS among the filters of each layer", path,
                         extra=(w["nn_median"].to_numpy(), "median nearest-neighbour d_FS"))
            blocks.append(Figure(f"figures/{path.name}", (
                f"{model}: d_FS among the filters (output channels / neurons) of each layer; small nearest-"
                "neighbour distances mark candidate redundant filters")))
    if not layer.empty:
        piv = layer.pivot_table(index=["model", "op_a", "op_b"], columns="metric", values="value").reset_index()
        ok = (piv.fs > 0) & (piv.w2cum > 0) if {"fs", "w2cum"} <= set(piv.columns) else None
        if ok is not None and bool(ok.any()):
            path = run.figure("metrics_fs_vs_w2cum.png")
            xs = np.geomspace(max(float(piv.fs[ok].min()), 1e-6), float(piv.fs[ok].max()), 100)
            plots.scatter(piv.fs[ok].to_numpy(), piv.w2cum[ok].to_numpy(), "d_FS (rad)", "W₂cum",
                          "Layer pairs: d_FS against W₂cum", path, groups=list(piv.model[ok]), loglog=True,
                          curve=(xs, np.sqrt(np.sin(xs)), "bound √(sin d_FS)"))
            blocks.append(Figure(f"figures/{path.name}", (
                "d_FS against W₂cum for every layer pair: W₂cum ≤ √(sin d_FS) always, with no converse")))
    return blocks


def _square(m: pd.DataFrame, names: list[str]) -> np.ndarray:
    pos = {n: k for k, n in enumerate(names)}
    M = np.zeros((len(names), len(names)))
    for a, b, v in zip(m.op_a, m.op_b, m.value):
        M[pos[a], pos[b]] = M[pos[b], pos[a]] = v
    return M


def _agreement(pairs: pd.DataFrame) -> pd.DataFrame:
    g = pairs.groupby(["granularity", "metric", "reference"], sort=False)
    out = g.agg(pairs=("value", "size"), max_abs_err=("abs_err", "max"), max_rel_err=("rel_err", "max")).reset_index()
    return out


def speed_table(speed: pd.DataFrame) -> pd.DataFrame:
    """One row per speed goal: measured value, target, met or missed."""
    v = {(r.metric, r.stat): r.value for r in speed.itertuples()}
    rows = []

    def add(goal: str, measured: float, detail: str) -> None:
        desc, target, what = GOALS[goal]
        ok = measured <= target if "at most" in what else measured >= target
        bound = f"{what.split(' (')[0]} {'≤' if 'at most' in what else '≥'} {target:g}"
        rows.append({"goal": desc, "measured": measured, "target": bound, "met": "yes" if ok else "NO",
                     "details": detail})

    if ("fs_allpairs", "ratio") in v:
        add("fs_allpairs", v["fs_allpairs", "ratio"],
            f"ours {v['fs_allpairs', 'ours_s'] * 1e3:.1f} ms, torch.mm {v['fs_allpairs', 'mm_s'] * 1e3:.1f} ms")
    if ("w2cum_allpairs", "speedup_vs_emd2_1d") in v:
        w = lambda k: v["w2cum_allpairs", k]  # noqa: E731
        add("w2cum_vs_emd2_1d", w("speedup_vs_emd2_1d"),
            f"ours {w('ours_s'):.3f} s for {int(w('pairs'))} pairs; emd2_1d {w('emd2_1d_per_pair_s') * 1e6:.0f} µs/pair "
            f"({int(w('sampled_emd2_1d'))} sampled); max rel. err. on W₂² {w('max_rel_err_w2sq'):.1e}")
        add("w2cum_vs_emd2", w("speedup_vs_emd2"),
            f"emd2 {w('emd2_per_pair_s') * 1e3:.1f} ms/pair ({int(w('sampled_emd2'))} sampled)")
    if ("spectra_resnet18", "total_s") in v:
        add("spectra_resnet18", v["spectra_resnet18", "total_s"],
            f"{int(v['spectra_resnet18', 'operators'])} operators (layers + filters)")
    return pd.DataFrame(rows)


def compare_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Median distance per model × granularity × metric (deterministic for a seed); speed-goal numbers."""
    if df.empty or not {"kind", "metric", "value"} <= set(df.columns):
        return metric_frame([])
    rows = []
    pairs = df[df.kind == "pair"]
    for (model, gran, metric), g in pairs.groupby(["model", "granularity", "metric"], sort=False):
        rows.append(metric_row(f"median {metric} {model}/{gran}", pd.to_numeric(g.value, errors="coerce").median(),
                               noise="exact", n=len(g)))
    speed = df[df.kind == "speed"]
    stat = speed["stat"].astype(str) if "stat" in speed.columns else pd.Series("", index=speed.index)
    speed = speed[stat.str.endswith("_s") | stat.str.startswith(("ratio", "speedup"))]
    for _, r in speed.iterrows():
        better = "higher" if str(r.stat).startswith("speedup") else "lower"  # times (_s) and ratios to a reference
        rows.append(metric_row(f"speed {r.metric} {r.stat}", r.value, better=better))
    return metric_frame(rows)


__all__ = ["report_blocks", "speed_table", "compare_metrics"]
