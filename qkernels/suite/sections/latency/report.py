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

import json
import math

import numpy as np
import pandas as pd

from qkernels.suite.document.blocks import Block, Figure, Heading, Paragraph, Table
from qkernels.suite.runfolder import RunFolder, safe_name
from qkernels.suite.sections.base import Claim, metric_frame, metric_row
from qkernels.suite.sections.latency import figures
from qkernels.suite.sections.latency.plan import HARDWARE, UNIFORM
from qkernels.suite.speed.targets import TARGETS
from qkernels.suite.verdict import Comparison, Decision, decide, paired_comparison

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
    dep = with_replicate(df, "deployed")
    df = with_replicate(df)
    if df.empty:
        return [Paragraph("latency.csv has no eager rows.")]
    reps = int(df.replicate.max()) + 1
    df0 = df[df.replicate == 0]  # the tables and figures of replicate 0; the claim's tests use every replicate
    m = df0[df0.kind == "model"]
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
    blocks += _deployed(dep, m)
    blocks += _hardware(run, df)
    blocks += _claim_blocks(df, reps)
    return blocks


def with_replicate(df: pd.DataFrame, mode: str | None = "eager") -> pd.DataFrame:
    """``df`` with a ``replicate`` column (0 where a CSV of an older run has none) and a ``mode`` column
    (``eager`` where it has none), keeping the rows of ``mode`` only (None: every row). Every test of
    the claim and the eager tables use the eager rows; :func:`deployed_rows` the deployed ones."""
    df = df.assign(mode=df["mode"].fillna("eager").astype(str)) if "mode" in df.columns else df.assign(mode="eager")
    if mode is not None:
        df = df[df["mode"] == mode]
    if "replicate" not in df.columns:
        return df.assign(replicate=0)
    return df.assign(replicate=pd.to_numeric(df.replicate, errors="coerce").fillna(0).astype(int))


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


def deployed_rows(df: pd.DataFrame, eager: pd.DataFrame | None = None) -> pd.DataFrame:
    """The speed goal in both modes: per model and batch ≥ GOAL_BATCH on the CPU, uniform pruning at
    GOAL_SPARSITY, the eager and the deployed efficiency (speed-up / MAC ratio), whether the deployed
    one meets the goal, and what deployment did (BN layers folded, channels_last, compiled, the
    largest output difference to the eager model on the test inputs)."""
    dep = with_replicate(df, "deployed") if eager is None else df
    if dep.empty:
        return pd.DataFrame()
    ev = goal_rows((with_replicate(df) if eager is None else eager).query("kind == 'model'"))
    cpu = dep.backend.astype(str) == "cpu"
    sel = dep[(dep.kind == "model") & (dep.method == UNIFORM) & np.isclose(dep.sparsity, GOAL_SPARSITY) & cpu
              & (dep.batch >= GOAL_BATCH) & dep.speedup.notna()]
    ref = dep[(dep.kind == "reference") & cpu & np.isclose(dep.sparsity, 0.0)]
    out = []
    for _, r in sel.iterrows():
        e = ev[(ev.model == r.model) & (ev.batch == r.batch)] if not ev.empty else ev
        diffs = pd.concat([ref[ref.model == r.model].deploy_max_abs_diff, sel[sel.model == r.model].deploy_max_abs_diff])
        out.append({"model": r.model, "batch": r.batch, "mac_ratio": r.mac_ratio,
                    "eager efficiency": float(e.efficiency.median()) if len(e) else np.nan,
                    "deployed speed-up": r.speedup, "deployed efficiency": r.efficiency,
                    "met": bool(r.efficiency >= GOAL_EFFICIENCY), "BN folded": r.get("bn_folded"),
                    "channels_last": r.get("channels_last"), "compiled": r.get("compiled"),
                    "max |Δ output|": float(diffs.astype(float).max())})
    return pd.DataFrame(out)


def _deployed(dep: pd.DataFrame, eager_models: pd.DataFrame) -> list[Block]:
    t = deployed_rows(dep, eager_models) if not dep.empty else pd.DataFrame()
    if t.empty:
        return []
    met = int(t.met.sum())
    yes_no = {True: "yes", False: "no"}
    t = t.assign(met=t.met.map(yes_no), channels_last=t.channels_last.map(lambda v: yes_no.get(bool(v), v)))
    t = t.rename(columns={"mac_ratio": "MAC ratio", "eager efficiency": "eager eff.",
                          "deployed efficiency": "deployed eff."})
    return [Heading(3, "Deployed models on the CPU"), Table(t, (
        f"The same goal with every model deployed (BatchNorm folded into the layer before it where the graph "
        f"allows, channels_last for 2-D convolutions, inference mode; compiled where the column says so; "
        f"qkernels.hw.deploy): met in {met} of {len(t)} rows. max |Δ output| is the largest difference between "
        "the deployed and the eager model's outputs on the test inputs (dense and pruned models of the row).") )]


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
    m = df[(df.kind.isin(["model"])) & (df.batch == batch) & (df.weights == "trained") & (df.replicate == 0)]
    for (model, backend), g in m.groupby(["model", "backend"]):
        path = run.figure(f"latency_acc_vs_latency_{safe_name(model)}_{safe_name(backend)}.png")
        figures.accuracy_figure({method: _curve(g, method) for method in (UNIFORM, HARDWARE)},
                                g[g.method == "dense"][["median_s", "accuracy"]].dropna(),
                                f"{model} on {backend}: top-1 against latency (batch {batch})", path)
        out.append(Figure(f"figures/{path.name}", f"{model} on {backend}: accuracy (BN re-estimated, no "
                                                  "fine-tuning) against measured median latency"))
    return out


#: HTML anchor of the claim's tests in the latency part (the claims table links to it)
CLAIM_ANCHOR = "latency-hardware-claim"


def _claim_blocks(df: pd.DataFrame, reps: int) -> list[Block]:
    d1, d2 = speedup_decision(df), matched_decision(df)
    verdict, _, _ = hardware_verdict(df)
    out: list[Block] = [Heading(3, "The hardware claim: paired tests", anchor=CLAIM_ANCHOR), Paragraph(
        f"Pre-declared endpoint (docs/latency.md#the-hardware-claim): (1) pruned models are faster: uniform "
        f"`{UNIFORM}` pruning at p = {GOAL_SPARSITY:g}, batch ≥ {GOAL_BATCH}, log(dense / pruned) of per-round "
        f"medians paired within each interleaved round, over rounds and replicates, one comparison per model and "
        f"backend, margin log {SPEEDUP_MARGIN:g}; (2) hardware-aware against uniform at equal measured latency: Δ "
        f"top-1 (hw − uniform, same sparsity) at the points whose latencies match within {MATCH_TOL:.0%} at the "
        f"cost table's batch, trained models, averaged within each replicate and tested across replicates, margin "
        f"+{MATCH_MARGIN:g}. Replicates in this run: {reps}. Claim verdict: **{verdict}** (both parts must hold).")]
    for title, d in (("(1) speed-up", d1), ("(2) hardware-aware vs uniform at equal latency", d2)):
        if not d.family.empty:
            t = d.family[["comparison", "estimate", "lo", "hi", "n", "df", "p_positive_holm", "p_below_margin_holm",
                          "note"]].copy()
            if title.startswith("(1)"):
                for c in ("estimate", "lo", "hi"):
                    t[c] = np.exp(t[c])
                t = t.rename(columns={"estimate": "speed-up", "lo": "lo (simult. 95%)", "hi": "hi"})
            else:
                for c in ("estimate", "lo", "hi"):
                    t[c] = 100 * t[c]
                t = t.rename(columns={"estimate": "Δ top-1 (points)", "lo": "lo (simult. 95%)", "hi": "hi"})
            out.append(Table(t, f"{title}: {d.verdict}"))
        out.append(Paragraph(f"{title}: " + d.evidence))
    return out


def claims(df: pd.DataFrame) -> list[Claim]:
    """The verdict on the ``hardware`` claim (:func:`hardware_verdict`)."""
    if df.empty or "kind" not in df.columns:
        return []
    verdict, evidence, headline = hardware_verdict(df)
    return [Claim("hardware", verdict, evidence, CLAIM_ANCHOR, headline)]


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
    df = with_replicate(df)
    m = df[(df.kind.isin(["model", "reference"])) & (df.batch == batch) & (df.weights == "trained")]
    rows = []
    for (model, backend, rep), g in m.groupby(["model", "backend", "replicate"], sort=False):
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
            rows.append({"model": model, "backend": backend, "replicate": int(rep), "sparsity": r.sparsity,
                         "hw ms": 1e3 * r.median_s, "uniform ms": 1e3 * u.median_s.median() if len(u) else np.nan,
                         "hw top-1": r.accuracy, "uniform top-1": u.accuracy.median() if len(u) else np.nan,
                         "latency hw / uniform": r.median_s / u.median_s.median() if len(u) else np.nan,
                         "Δ top-1 same sparsity": r.accuracy - (u.accuracy.median() if len(u) else np.nan),
                         "Δ top-1 at equal latency": r.accuracy - acc_at,
                         "latency ratio at equal accuracy": lat_at / r.median_s})
    return pd.DataFrame(rows)


#: a hardware-aware point counts as latency-matched to the uniform one when their medians differ by at most this
MATCH_TOL = 0.05
#: part (2): the smallest gain in top-1 that counts as "better than uniform" (refuted below it)
MATCH_MARGIN = 0.01
#: part (1): the smallest speed-up that counts as a real gain (refuted below it)
SPEEDUP_MARGIN = 1.1
#: top-1 of chance (the profiles' data: digits, 10 classes); points where both models are within 2x of it are
#: excluded from part (2)
CHANCE_TOP1 = 0.1


def _rounds(v) -> list[float]:
    if isinstance(v, str) and v.startswith("["):
        return [float(x) for x in json.loads(v)]
    return []


def speedup_decision(df: pd.DataFrame) -> Decision:
    """Part (1): uniform pruning at GOAL_SPARSITY, batch ≥ GOAL_BATCH is faster than dense. Per model and
    backend, the log speed-ups of the per-round medians (dense reference and pruned model timed in the same
    round), averaged over the batch sizes of a round, are the paired observations over rounds and replicates."""
    df = with_replicate(df)
    what = (f"Speed-up of uniform pruning at p = {GOAL_SPARSITY:g}, batch ≥ {GOAL_BATCH} (estimates: log of dense / "
            "pruned per-round medians, paired within rounds; observations: rounds × replicates).")
    need = {"kind", "method", "sparsity", "batch", "median_s"}
    if df.empty or not need <= set(df.columns):
        return decide([], margin=math.log(SPEEDUP_MARGIN), what=what)
    big = df.batch >= GOAL_BATCH
    pr = df[big & np.isclose(pd.to_numeric(df.sparsity), GOAL_SPARSITY) & (df.kind == "model")
            & (df.method == UNIFORM)]
    ref = df[big & (df.kind == "reference")]
    fam: list[Comparison] = []
    for (model, backend), g in pr.groupby(["model", "backend"], sort=False):
        obs: dict[tuple[int, int], list[float]] = {}
        for r in g.itertuples():
            if not (r.median_s > 0 and r.dense_median_s > 0):
                continue
            # the dense model re-timed in the same unit: its median is this row's dense_median_s
            d = ref[(ref.model == model) & (ref.backend == backend) & (ref.batch == r.batch)
                    & (ref.replicate == r.replicate) & np.isclose(ref.median_s, r.dense_median_s, rtol=1e-9, atol=0)]
            a = _rounds(d.iloc[0].get("round_median_s")) if len(d) else []
            b = _rounds(getattr(r, "round_median_s", None))
            if a and len(a) == len(b):
                for k, (x, y) in enumerate(zip(a, b)):
                    obs.setdefault((int(r.replicate), k), []).append(math.log(x / y))
            else:  # no per-round medians (an older CSV): the unit's ratio of medians, one observation
                obs.setdefault((int(r.replicate), -int(r.batch)), []).append(math.log(r.dense_median_s / r.median_s))
        reps = {k[0] for k in obs}
        fam.append(paired_comparison(f"{model} ({backend})", [float(np.mean(v)) for v in obs.values()],
                                     note=f"{len(obs)} rounds over {len(reps)} replicate(s)"))
    return decide(fam, margin=math.log(SPEEDUP_MARGIN), what=what)


def matched_points(df: pd.DataFrame) -> pd.DataFrame:
    """The points of part (2): hardware-aware points of trained models whose measured latency matches the
    uniform model's within MATCH_TOL, both above 2x chance, with Δ top-1 (hw − uniform, same sparsity)."""
    cmp = compare_hardware(df)
    if cmp.empty:
        return cmp
    ok = (cmp["latency hw / uniform"] - 1).abs() <= MATCH_TOL
    above = cmp[["hw top-1", "uniform top-1"]].max(axis=1) >= 2 * CHANCE_TOP1
    return cmp.assign(matched=ok, above_chance=above)


def matched_decision(df: pd.DataFrame) -> Decision:
    """Part (2): Δ top-1 at equal measured latency, averaged within each replicate over its matched points
    and tested across replicates; with one replicate the points themselves (df of points of one model)."""
    pts = matched_points(df)
    what = (f"Hardware-aware vs uniform at equal measured latency (within {MATCH_TOL:.0%}, batch {compare_batch(df)}): "
            "Δ top-1, hw − uniform at the same sparsity, trained models, one-shot after BN re-estimation.")
    if pts.empty:
        return decide([], margin=MATCH_MARGIN, what=what + " No trained model with both uniform and hardware-aware "
                                                           "rows.")
    use = pts[pts.matched & pts.above_chance]
    n_all, n_m, n_c = len(pts), int(pts.matched.sum()), int((pts.matched & ~pts.above_chance).sum())
    what += (f" {n_m} of {n_all} points matched; {n_c} of them excluded (both models below 2× chance, "
             f"{2 * CHANCE_TOP1:g}).")
    d = use["Δ top-1 same sparsity"].dropna()
    reps = sorted(use.replicate.unique())
    if len(reps) >= 2:
        per = use.groupby("replicate")["Δ top-1 same sparsity"].mean()
        c = paired_comparison("hw − uniform, mean over matched points per replicate", per.to_numpy(),
                              note=f"{len(per)} replicates, {len(d)} points")
    else:
        c = paired_comparison("hw − uniform, matched points", d.to_numpy(),
                              note=f"{len(d)} points of one replicate: df are those of points of one model each, "
                                   "not of independent replicates")
    return decide([c], margin=MATCH_MARGIN, what=what, unit=" points", scale=100)


def hardware_verdict(df: pd.DataFrame) -> tuple[str, str, str]:
    """The "hardware" claim: both (1) :func:`speedup_decision` and (2) :func:`matched_decision` must hold.
    Refuted if either part is refuted; supported only if both are; inconclusive otherwise (also when one
    part is not measured). Returns (verdict, evidence, headline)."""
    d1, d2 = speedup_decision(df), matched_decision(df)
    v = [d1.verdict, d2.verdict]
    if all(x == "not measured" for x in v):
        verdict = "not measured"
    elif "refuted" in v:
        verdict = "refuted"
    elif all(x == "supported" for x in v):
        verdict = "supported"
    else:
        verdict = "inconclusive"
    lead = d1 if (d1.verdict == "refuted" and d2.verdict != "refuted") or not d2.headline else d2
    if lead is d1 and d1.headline:
        c = d1.family.loc[d1.family.estimate.idxmin()] if d1.verdict != "refuted" else \
            d1.family.loc[d1.family.p_below_margin_holm.idxmin()]
        headline = f"speed-up {c.comparison}: {math.exp(c.estimate):.2f}x [{math.exp(c.lo):.2f}, {math.exp(c.hi):.2f}]"
    else:
        headline = f"Δ top-1 at equal latency, {d2.headline}" if d2.headline else ""
    evidence = f"(1) {d1.evidence} (2) {d2.evidence}"
    return verdict, evidence, headline


def compare_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Median latency and speed-up per model × backend × method × sparsity × batch (one timing each:
    no noise estimate; the report says so instead of flagging)."""
    need = {"kind", "model", "backend", "method", "sparsity", "batch", "median_s"}
    if df.empty or not need <= set(df.columns):
        return metric_frame([])
    rows = []
    df = with_replicate(df)
    timed = df[(df.kind == "model") & df.median_s.notna() & (df.replicate == 0)]
    for _, r in timed.iterrows():
        tag = f"{r.model} {r.backend} {r.method} p={float(r.sparsity):g} b={int(r.batch)}"
        rows.append(metric_row(f"latency median_s {tag}", r.median_s, better="lower"))
        if "speedup" in timed.columns and pd.notna(r.get("speedup")) and r.method != "dense":
            rows.append(metric_row(f"speed-up {tag}", r.speedup, better="higher"))
    dep = with_replicate(df, "deployed")
    for _, r in dep[(dep.kind == "model") & dep.speedup.notna() & (dep.replicate == 0)].iterrows():
        tag = f"{r.model} {r.backend} {r.method} p={float(r.sparsity):g} b={int(r.batch)}"
        rows.append(metric_row(f"deployed speed-up {tag}", r.speedup, better="higher"))
    return metric_frame(rows)


__all__ = ["report_blocks", "claims", "compare_metrics", "compare_batch", "goal_rows", "compare_hardware",
           "hardware_verdict", "speedup_decision", "deployed_rows", "matched_points", "matched_decision", "with_replicate",
           "GOAL_SPARSITY", "GOAL_BATCH", "GOAL_EFFICIENCY", "COMPARE_BATCH", "MATCH_TOL", "MATCH_MARGIN",
           "SPEEDUP_MARGIN", "CHANCE_TOP1", "CLAIM_ANCHOR"]
