"""The ``latency`` section's report part, built from ``latency.csv`` alone: the speed-up table, the
speed-goal check (achieved speed-up ≥ 0.8 × MAC ratio at 50% sparsity and batch ≥ 8 on the CPU),
hardware-aware against uniform pruning at equal latency and at equal accuracy, figures
(:mod:`.figures`), the verdict on the "hardware" claim and the comparable numbers.

Example:
    >>> df = pd.DataFrame({"kind": ["model"], "model": ["m"], "backend": ["cpu"], "method": ["l1"],
    ...                    "sparsity": [0.5], "batch": [8], "median_s": [0.01], "speedup": [1.5]})
    >>> compare_metrics(df).metric.tolist()
    ['latency median_s m cpu l1 p=0.5 b=8', 'speed-up m cpu l1 p=0.5 b=8']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qkernels.suite.document.blocks import Block, Figure, Heading, Paragraph, Table
from qkernels.suite.runfolder import RunFolder, safe_name
from qkernels.suite.sections.base import Claim, metric_frame, metric_row
from qkernels.suite.sections.latency import figures
from qkernels.suite.sections.latency.plan import HARDWARE, UNIFORM
from qkernels.suite.speed.targets import TARGETS

#: the speed goal: achieved speed-up >= GOAL_EFFICIENCY x MAC ratio at GOAL_SPARSITY, batch >= GOAL_BATCH
_GOAL = TARGETS["latency_cpu_50"]
GOAL_SPARSITY, GOAL_BATCH, GOAL_EFFICIENCY = _GOAL.workload["sparsity"], _GOAL.workload["batch"], _GOAL.target
#: batch at which hardware-aware and uniform pruning are compared when the CSV has no cost rows
#: (otherwise: the batch of the cost table, at which their latencies were matched)
COMPARE_BATCH = 8


def compare_batch(df: pd.DataFrame) -> int:
    """The cost table's batch size (where latencies were matched), else :data:`COMPARE_BATCH`."""
    cost = df[df.kind == "cost"] if "kind" in df.columns else df.iloc[0:0]
    return int(cost.batch.iloc[0]) if len(cost) else COMPARE_BATCH


def report_blocks(run: RunFolder, df: pd.DataFrame) -> list[Block]:
    """The ``latency`` part of the report after its summary: speed-ups, the speed goal, hardware-aware
    against uniform pruning, figures."""
    blocks: list[Block] = []
    if df.empty or "kind" not in df.columns:
        return [Paragraph("latency.csv has no rows.")]
    m = df[df.kind == "model"]
    threads = ", ".join(f"{b}: {sorted(set(g.threads.dropna().astype(int)))}" for b, g in m.groupby("backend"))
    blocks.append(Paragraph(
        f"Backends {', '.join(dict.fromkeys(m.backend))}; threads {threads}; batch sizes "
        f"{', '.join(str(int(b)) for b in sorted(m.batch.unique()))}. Every speed-up is a ratio of medians measured "
        "in one unit (dense, uniform and hardware-aware models timed back to back). How timing is done: "
        "docs/latency.md."))
    errs = m[m.error.notna() & (m.error.astype(str) != "")]
    if not errs.empty:
        blocks.append(Table(errs[["model", "method", "sparsity", "backend", "batch", "error"]],
                            "Rows without a timing (the sweep went on)"))
    blocks += _speedups(run, m)
    blocks += _goal(m)
    blocks += _hardware(run, df)
    return blocks


def _speedups(run: RunFolder, m: pd.DataFrame) -> list[Block]:
    ok = m[(m.method != "dense") & m.speedup.notna()]
    if ok.empty:
        return []
    t = ok.pivot_table(index=["model", "backend", "method", "sparsity", "mac_ratio"], columns="batch",
                       values="speedup", aggfunc="median").reset_index()
    t.columns = [c if isinstance(c, str) else f"speed-up b={int(c)}" for c in t.columns]
    lat = m[(m.method == "dense")].groupby(["model", "backend", "batch"]).agg(
        median_ms=("median_s", lambda v: 1e3 * v.median()), p90_ms=("p90_s", lambda v: 1e3 * v.median()),
        p99_ms=("p99_s", lambda v: 1e3 * v.median()), n=("n", "median"),
        throughput=("throughput", "median")).reset_index()
    blocks: list[Block] = [Heading(3, "Dense latency"), Table(lat, "Dense models: latency (ms) and throughput "
                                                                   "(inputs/s)"),
                           Heading(3, "Achieved against ideal speed-up"),
                           Table(t, "Achieved speed-up (dense median / pruned median) at each batch size; "
                                    "mac_ratio is the ideal speed-up")]
    for backend, g in ok.groupby("backend"):
        path = run.figure(f"latency_speedup_{safe_name(backend)}.png")
        figures.speedup_figure(g, f"{backend}: achieved vs ideal speed-up", path, GOAL_EFFICIENCY)
        blocks.append(Figure(f"figures/{path.name}", f"{backend}: achieved speed-up against the MAC ratio, per "
                                                     "batch size (solid: ideal; dashed: 0.8 × ideal, the goal)"))
    return blocks


def _goal(m: pd.DataFrame) -> list[Block]:
    g = goal_rows(m)
    if g.empty:
        return []
    met = int(g.met.sum())
    return [Heading(3, "Speed goal on the CPU"), Table(g, (
        f"Goal: achieved speed-up ≥ {GOAL_EFFICIENCY} × MAC ratio at sparsity {GOAL_SPARSITY:g}, batch ≥ "
        f"{GOAL_BATCH}, uniform pruning; met in {met} of {len(g)} rows. Small models are dominated by per-layer "
        "overhead (framework dispatch, memory-bound layers such as BatchNorm and ReLU, which do not shrink with "
        "the MACs), so their efficiency is lower than a large model's."))]


def _hardware(run: RunFolder, df: pd.DataFrame) -> list[Block]:
    cmp = compare_hardware(df)
    batch = compare_batch(df)
    out: list[Block] = [Heading(3, "Hardware-aware against uniform pruning")]
    if cmp.empty:
        return out + [Paragraph("No trained model with both uniform and hardware-aware rows.")]
    out.append(Table(cmp, (
        f"At batch {batch} (the hardware-aware widths were tuned until their measured latency matched the uniform "
        "model's at this batch): each hardware-aware point against the uniform curve (dense point included) "
        "interpolated at the same measured latency (Δ top-1 > 0: hardware-aware more accurate) and at the same "
        "accuracy (latency ratio > 1: hardware-aware faster). Empty where the point lies outside the uniform "
        "curve's range.")))
    m = df[(df.kind.isin(["model"])) & (df.batch == batch) & (df.weights == "trained")]
    for (model, backend), g in m.groupby(["model", "backend"]):
        path = run.figure(f"latency_acc_vs_latency_{safe_name(model)}_{safe_name(backend)}.png")
        figures.accuracy_figure({method: _curve(g, method) for method in (UNIFORM, HARDWARE)},
                                g[g.method == "dense"][["median_s", "accuracy"]].dropna(),
                                f"{model} on {backend}: top-1 against latency (batch {batch})", path)
        out.append(Figure(f"figures/{path.name}", f"{model} on {backend}: accuracy (BN re-estimated, no "
                                                  "fine-tuning) against measured median latency"))
    return out


def claims(df: pd.DataFrame) -> list[Claim]:
    """The verdict on the ``hardware`` claim (:func:`hardware_verdict`)."""
    if df.empty or "kind" not in df.columns:
        return []
    verdict, evidence = hardware_verdict(df)
    return [Claim("hardware", verdict, evidence, "latency")]


def goal_rows(m: pd.DataFrame) -> pd.DataFrame:
    """The speed-goal check: uniform pruning at GOAL_SPARSITY, batch >= GOAL_BATCH, on the CPU."""
    g = m[(m.backend.astype(str) == "cpu") & (m.method == UNIFORM) & np.isclose(m.sparsity, GOAL_SPARSITY)
          & (m.batch >= GOAL_BATCH) & m.speedup.notna()]
    if g.empty:
        return pd.DataFrame()
    out = g[["model", "batch", "threads", "mac_ratio", "speedup", "efficiency"]].copy()
    out["met"] = out.efficiency >= GOAL_EFFICIENCY
    return out.reset_index(drop=True)


def _curve(g: pd.DataFrame, method: str) -> pd.DataFrame:
    pts = g[g.method == method][["median_s", "accuracy"]]
    return pts.dropna().sort_values("median_s")


def compare_hardware(df: pd.DataFrame, batch: int | None = None) -> pd.DataFrame:
    """Hardware-aware points against the uniform curve at equal latency and at equal accuracy."""
    batch = compare_batch(df) if batch is None else batch
    m = df[(df.kind.isin(["model", "reference"])) & (df.batch == batch) & (df.weights == "trained")]
    rows = []
    for (model, backend), g in m.groupby(["model", "backend"], sort=False):
        dense = g[g.method == "dense"][["median_s", "accuracy"]].dropna()
        uni = pd.concat([_curve(g, UNIFORM), dense.median().to_frame().T if not dense.empty else dense])
        uni = uni.dropna().sort_values("median_s")
        hw = g[(g.method == HARDWARE) & g.kind.eq("model")]
        if len(uni) < 2 or hw.empty:
            continue
        ul, ua = uni.median_s.to_numpy(float), uni.accuracy.to_numpy(float)
        for r in hw.itertuples():
            acc_at = np.interp(r.median_s, ul, ua) if ul[0] <= r.median_s <= ul[-1] else np.nan
            order = np.argsort(ua)
            lat_at = np.interp(r.accuracy, ua[order], ul[order]) if ua.min() <= r.accuracy <= ua.max() else np.nan
            u = g[(g.method == UNIFORM) & np.isclose(g.sparsity, r.sparsity)]
            rows.append({"model": model, "backend": backend, "sparsity": r.sparsity,
                         "hw ms": 1e3 * r.median_s, "uniform ms": 1e3 * u.median_s.median() if len(u) else np.nan,
                         "hw top-1": r.accuracy, "uniform top-1": u.accuracy.median() if len(u) else np.nan,
                         "latency hw / uniform": r.median_s / u.median_s.median() if len(u) else np.nan,
                         "Δ top-1 same sparsity": r.accuracy - (u.accuracy.median() if len(u) else np.nan),
                         "Δ top-1 at equal latency": r.accuracy - acc_at,
                         "latency ratio at equal accuracy": lat_at / r.median_s})
    return pd.DataFrame(rows)


#: a hardware-aware point counts as latency-matched to the uniform one when their medians differ by at most this
MATCH_TOL = 0.05
#: fewest latency-matched points for a supported / refuted verdict
MIN_MATCHED = 3


def hardware_verdict(df: pd.DataFrame) -> tuple[str, str]:
    """The "hardware" claim: pruned models run measurably faster, and hardware-aware widths beat
    uniform ones at equal measured latency: over the points whose latency matched the uniform
    model's within :data:`MATCH_TOL` (at least :data:`MIN_MATCHED` of them), mean Δ top-1 > +0.01:
    supported; < −0.01, or no real speed-up: refuted; otherwise inconclusive."""
    m = df[df.kind == "model"]
    g = m[(m.method == UNIFORM) & np.isclose(m.sparsity, GOAL_SPARSITY) & (m.batch >= GOAL_BATCH)]
    if g.speedup.dropna().empty:
        return "not measured", f"no uniform rows at sparsity {GOAL_SPARSITY:g}, batch ≥ {GOAL_BATCH}"
    sp = float(g.speedup.median())
    cmp = compare_hardware(df)
    if cmp.empty:
        d = r = pd.Series(dtype=float)
        n_all = 0
    else:
        matched = cmp[(cmp["latency hw / uniform"] - 1).abs() <= MATCH_TOL]
        d = matched["Δ top-1 same sparsity"].dropna()
        r = cmp["latency ratio at equal accuracy"].dropna()
        n_all = len(cmp)
    text = (f"uniform p={GOAL_SPARSITY:g}, batch ≥ {GOAL_BATCH}: median speed-up {sp:.2f}x "
            f"(MAC ratio {float(g.mac_ratio.median()):.2f}x); hardware-aware vs uniform at equal measured latency "
            f"(within {MATCH_TOL:.0%}; {len(d)} of {n_all} points): mean Δ top-1 {d.mean():+.3f}; median latency "
            f"ratio at equal accuracy {(r.median() if len(r) else np.nan):.2f} over {len(r)} points (one replicate, "
            "no fine-tuning)")
    if sp < 1.1:
        return "refuted", "pruning gave no real speed-up: " + text
    if len(d) < MIN_MATCHED:
        return "inconclusive", f"too few latency-matched points (need {MIN_MATCHED}): " + text
    if d.mean() > 0.01:
        return "supported", text
    if d.mean() < -0.01:
        return "refuted", text
    return "inconclusive", text


def compare_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Median latency and speed-up per model × backend × method × sparsity × batch (one timing each:
    no noise estimate; the report says so instead of flagging)."""
    need = {"kind", "model", "backend", "method", "sparsity", "batch", "median_s"}
    if df.empty or not need <= set(df.columns):
        return metric_frame([])
    rows = []
    timed = df[(df.kind == "model") & df.median_s.notna()]
    for _, r in timed.iterrows():
        tag = f"{r.model} {r.backend} {r.method} p={float(r.sparsity):g} b={int(r.batch)}"
        rows.append(metric_row(f"latency median_s {tag}", r.median_s, better="lower"))
        if "speedup" in timed.columns and pd.notna(r.get("speedup")) and r.method != "dense":
            rows.append(metric_row(f"speed-up {tag}", r.speedup, better="higher"))
    return metric_frame(rows)


__all__ = ["report_blocks", "claims", "compare_metrics", "compare_batch", "goal_rows", "compare_hardware",
           "hardware_verdict", "GOAL_SPARSITY", "GOAL_BATCH", "GOAL_EFFICIENCY", "COMPARE_BATCH", "MATCH_TOL",
           "MIN_MATCHED"]
