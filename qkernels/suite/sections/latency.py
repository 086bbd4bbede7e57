"""The ``latency`` section: how fast dense and pruned models run, against the MACs they save.

For every model of the profile and every backend of the run (the run's device, and the CPU too
when that is an accelerator) it times the dense model, uniform ``l1`` pruning and hardware-aware
pruning (``hw-l1``: per-group widths chosen from a cost table measured on that backend, see
:mod:`qkernels.pruning.hardware`) at each sparsity and batch size: median, p90 and p99 latency
with the number of timed calls, throughput, memory peak, threads and the cuDNN/TF32 flags
(:func:`qkernels.hw.latency.measure_latency`). The achieved speed-up (dense median / pruned median,
both measured in the same unit) is set against the ideal one, the MAC ratio. The report part,
built from ``latency.csv`` alone, has the speed-up table, the speed-goal check (achieved speed-up
≥ 0.8 × MAC ratio at 50% sparsity and batch ≥ 8 on the CPU), the hardware-aware against uniform
comparison at equal latency and at equal accuracy, figures, and the verdict on the "hardware"
claim. Units and profiles: :mod:`qkernels.suite.sections.latency_units`; docs/latency.md.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("latency").title
    'Latency of dense and pruned models'
"""

from __future__ import annotations

from functools import partial

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, NullFormatter  # noqa: E402
import pandas as pd  # noqa: E402

from qkernels.suite.document.plots import _save  # noqa: E402
from qkernels.suite.document.blocks import Block, Figure, Heading, Paragraph, Table  # noqa: E402
from qkernels.suite.runfolder import RunFolder  # noqa: E402
from qkernels.suite.sections import register  # noqa: E402
from qkernels.suite.sections.base import Claim, Section, SectionContext, Unit  # noqa: E402
from qkernels.suite.sections.latency_units import (
    HARDWARE,
    LATENCY_PROFILES,
    UNIFORM,
    backends_for,
    dense_unit,
    point_unit,
    seed0,
    table_key,
    table_unit,
)

#: the speed goal of the issue: achieved speed-up >= GOAL_EFFICIENCY x MAC ratio at GOAL_SPARSITY, batch >= GOAL_BATCH
GOAL_SPARSITY, GOAL_BATCH, GOAL_EFFICIENCY = 0.5, 8, 0.8
#: batch at which hardware-aware and uniform pruning are compared when the CSV has no cost rows
#: (otherwise: the batch of the cost table, at which their latencies were matched)
COMPARE_BATCH = 8


def compare_batch(df: pd.DataFrame) -> int:
    """The cost table's batch size (where latencies were matched), else :data:`COMPARE_BATCH`."""
    cost = df[df.kind == "cost"] if "kind" in df.columns else df.iloc[0:0]
    return int(cost.batch.iloc[0]) if len(cost) else COMPARE_BATCH

COLUMNS = {
    "kind": "model (a timed model), reference (the dense model re-timed inside a sparsity's unit) or cost "
            "(one row of a hardware-aware cost table)",
    "model, arch, weights": "model name, built-in architecture, trained (pruning section's checkpoint) or untrained",
    "method": "dense, l1 (uniform local pruning) or hw-l1 (hardware-aware widths, L1 scores)",
    "sparsity": "requested channel sparsity (0 for dense)",
    "backend, batch, threads": "device timed, batch size, torch intra-op threads",
    "n, median_s, p90_s, p99_s, min_s, mean_s": "timed calls and their statistics (seconds per forward pass)",
    "rounds": "interleaved rounds the n calls were split into (dense, uniform, hardware-aware alternating)",
    "throughput": "inputs per second at the median",
    "dense_median_s, speedup": "the dense model's median in the same unit and dense / this median",
    "mac_ratio, efficiency": "ideal speed-up (dense MACs / MACs) and speedup / mac_ratio",
    "macs, macs_dense, macs_frac, params, params_frac": "per-input MACs and parameters, and their fractions",
    "channels, channel_sparsity": "channels kept over the prunable groups and 1 − kept / dense",
    "accuracy, accuracy_dense": "top-1 on the test split after BN re-estimation (trained models only)",
    "peak_mem_bytes, mem_kind": "memory peak: the allocator's on accelerators, growth of the process peak on the CPU",
    "error": "empty, or why the row has no timing (e.g. out of memory); the sweep goes on",
    "keep, predicted_saving_s, target_saving_s, match_tries": "hw-l1: widths per group (JSON), the cost model's "
        "predicted saving of them, its prediction for uniform pruning (the first target), and the tries that matched "
        "the measured latency to the uniform model's (JSON list of [predicted-saving target, measured s])",
    "group, group_channels, group_keep, saving_s": "cost rows: group root, its channels, the candidate width and "
                                                   "the measured saving (median_s is that model's latency)",
    "cudnn_benchmark, cuda_matmul_tf32": "flags in force while timing",
}


@register
class LatencySection(Section):
    name = "latency"
    title = "Latency of dense and pruned models"
    summary = ("Median, p90 and p99 forward latency, throughput and memory of dense, uniformly pruned and hardware-aware "
               "pruned models on every backend of the run, the achieved speed-up against the MAC ratio, and "
               "hardware-aware against uniform pruning at equal latency and at equal accuracy.")
    columns = COLUMNS

    def plan(self, ctx: SectionContext) -> list[Unit]:
        cfg = LATENCY_PROFILES[ctx.profile]
        seed = seed0(ctx)
        units = []
        for backend in backends_for(ctx):
            for lm in cfg.models:
                units.append(Unit(f"dense:{lm.name}:{backend}", f"dense {lm.name} {backend}",
                                  partial(dense_unit, cfg, lm, seed, backend)))
                units.append(Unit(table_key(lm, backend), f"cost table {lm.name} {backend}",
                                  partial(table_unit, cfg, lm, seed, backend)))
                for sp in cfg.sparsities:
                    units.append(Unit(f"point:{lm.name}:{sp:g}:{backend}", f"{lm.name} p={sp:g} {backend}",
                                      partial(point_unit, ctx, cfg, lm, sp, backend)))
        return units

    # ---- report ---------------------------------------------------------------------------------
    def report(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        blocks: list[Block] = [Paragraph(self.summary)]
        if df.empty or "kind" not in df.columns:
            return blocks + [Paragraph("latency.csv has no rows.")]
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
        blocks += self._speedups(run, m)
        blocks += self._goal(m)
        blocks += self._hardware(run, df)
        return blocks

    def _speedups(self, run: RunFolder, m: pd.DataFrame) -> list[Block]:
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
            path = run.figure(f"latency_speedup_{_safe(backend)}.png")
            _speedup_figure(g, f"{backend}: achieved vs ideal speed-up", path)
            blocks.append(Figure(f"figures/{path.name}", f"{backend}: achieved speed-up against the MAC ratio, per "
                                                         "batch size (solid: ideal; dashed: 0.8 × ideal, the goal)"))
        return blocks

    def _goal(self, m: pd.DataFrame) -> list[Block]:
        g = goal_rows(m)
        if g.empty:
            return []
        met = int(g.met.sum())
        return [Heading(3, "Speed goal on the CPU"), Table(g, (
            f"Goal: achieved speed-up ≥ {GOAL_EFFICIENCY} × MAC ratio at sparsity {GOAL_SPARSITY:g}, batch ≥ "
            f"{GOAL_BATCH}, uniform pruning; met in {met} of {len(g)} rows. Small models are dominated by per-layer "
            "overhead (framework dispatch, memory-bound layers such as BatchNorm and ReLU, which do not shrink with "
            "the MACs), so their efficiency is lower than a large model's."))]

    def _hardware(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
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
            path = run.figure(f"latency_acc_vs_latency_{_safe(model)}_{_safe(backend)}.png")
            _accuracy_figure(g, f"{model} on {backend}: top-1 against latency (batch {batch})", path)
            out.append(Figure(f"figures/{path.name}", f"{model} on {backend}: accuracy (BN re-estimated, no "
                                                      "fine-tuning) against measured median latency"))
        return out

    def compare_metrics(self, df: pd.DataFrame) -> pd.DataFrame:
        from qkernels.suite.sections.comparable import latency_metrics

        return latency_metrics(df)

    def claims(self, df: pd.DataFrame) -> list[Claim]:
        if df.empty or "kind" not in df.columns:
            return []
        verdict, evidence = hardware_verdict(df)
        return [Claim("hardware", verdict, evidence, "latency")]


# ---- computations from the CSV ------------------------------------------------------------------
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


# ---- figures ------------------------------------------------------------------------------------
def _speedup_figure(g: pd.DataFrame, title: str, path) -> None:
    models = list(dict.fromkeys(g.model))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4.2), squeeze=False)
    markers = {UNIFORM: "o", HARDWARE: "^"}
    batches = sorted(g.batch.unique())
    colors = {b: plt.cm.viridis(i / max(1, len(batches) - 1)) for i, b in enumerate(batches)}
    for ax, model in zip(axes[0], models):
        s = g[g.model == model]
        hi = float(max(s.mac_ratio.max(), s.speedup.max())) * 1.08
        ax.plot([1, hi], [1, hi], "k-", lw=1, label="ideal (MAC ratio)")
        ax.plot([1, hi], [GOAL_EFFICIENCY, GOAL_EFFICIENCY * hi], "k--", lw=1, label=f"{GOAL_EFFICIENCY} × ideal")
        for (method, batch), t in s.groupby(["method", "batch"]):
            ax.scatter(t.mac_ratio, t.speedup, marker=markers.get(method, "s"), s=34, alpha=0.85,
                       color=colors[batch], label=f"{method} b={int(batch)}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("ideal speed-up (dense MACs / MACs)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("achieved speed-up (dense / pruned median)")
    axes[0][0].legend(fontsize=7, ncol=1)
    fig.suptitle(title)
    _save(fig, path)


def _accuracy_figure(g: pd.DataFrame, title: str, path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for method, style in ((UNIFORM, "o-"), (HARDWARE, "^-")):
        c = _curve(g, method)
        ax.plot(1e3 * c.median_s, c.accuracy, style, label=method)
    d = g[g.method == "dense"][["median_s", "accuracy"]].dropna()
    if not d.empty:
        ax.scatter([1e3 * d.median_s.median()], [d.accuracy.median()], marker="*", s=120, c="k", label="dense")
    ax.set_xlabel("median latency (ms)")
    ax.set_ylabel("top-1 accuracy (one-shot, BN re-estimated)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in str(name))


__all__ = ["LatencySection", "COLUMNS", "goal_rows", "compare_hardware", "hardware_verdict"]
