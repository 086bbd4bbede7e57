"""The ``quantum`` section: how close PennyLane-simulated kernels get to the exact d_FS, and at what cost.

Pairs of states come from the built-in models (layer operators of ResNet-18 and the tiny ViT,
filters of one ResNet-18 layer) and from random states at set Fubini–Study angles. For every
pair, estimator (swap test, compute-uncompute), device, mode and shot count (plus analytic) the
section records the exact fidelity and d_FS next to each estimate, its error, its 95%
Clopper–Pearson interval and whether that interval covers the exact value, the bias flag and the
time per entry. Noisy circuits (depolarizing after every gate or before measurement, on
default.mixed) show the error against noise; the shot planner's plans are checked against exact
binomial sums and real shot runs; the speed goals of :mod:`qkernels.suite.speed.quantum` are measured.
Definitions: docs/quantum.md.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("quantum").title
    'Quantum-kernel estimates of d_FS (PennyLane)'
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from qkernels.suite.document.blocks import Block, Figure, Heading, Paragraph, Table
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections import register
from qkernels.suite.sections.base import Claim, Section, SectionContext, Unit
from qkernels.suite.sections.quantum_units import (
    accuracy_unit,
    noise_unit,
    planner_unit,
    skipped_unit,
    source_name,
    speed_entry_unit,
    speed_goal_unit,
)

PROFILES: dict[str, dict] = {
    "quick": {
        "confidence": 0.95,
        "shots": (100, 1000, 10000),
        "repeats": 8,
        "estimators": ("swap", "compute_uncompute"),
        "random": {"qubits": (3, 6), "angles": (0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.55)},
        # (model, granularity, selector, count): selector None picks `count` operators evenly and pairs them
        # all; "same-shape" takes up to `count` pairs of layers with equal weight shapes; else a layer name
        # (its filters, picked evenly)
        "models": (("resnet18", "filter", "layer1.0.conv1", 6), ("vit_tiny", "layer", None, 8),
                   ("resnet18", "layer", None, 8), ("resnet18", "layer", "same-shape", 12)),
        "max_wires": 15,  # circuits with more wires run in statevector mode (same shot statistics)
        "devices": ("lightning.qubit", "lightning.kokkos", "lightning.gpu"),  # also run on random states, smallest q
        "noise": {"p": (0.0, 0.001, 0.01, 0.05), "where": ("gates", "measure"), "shots": 1000, "repeats": 4,
                  "sources": {"random:3": ("swap", "compute_uncompute"),
                              "resnet18/filter:layer1.0.conv1": ("compute_uncompute",)},
                  "angles": (0.05, 0.2, 0.7, 1.3)},
        "planner": {"eps": (0.1,), "delta": 0.05, "runs": 200, "d": (0.3, 0.8, 1.2, 1.5), "max_real_shots": 1e8},
        "speed": {"device": "default.qubit", "n": 64, "sample": 8, "repeat": 3, "qubits": (3, 4, 6, 8, 10),
                  "entry_sample": 6, "entry_sample_large": 3, "swap_pairs": 32, "swap_pairs_large": 2},
    },
    "full": {
        "confidence": 0.95,
        "shots": (100, 1000, 10000, 100000),
        "repeats": 32,
        "estimators": ("swap", "compute_uncompute"),
        "random": {"qubits": (2, 3, 4, 6, 8, 10), "angles": (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.55)},
        "models": (("resnet18", "filter", "layer1.0.conv1", 12), ("resnet18", "filter", "layer4.1.conv2", 8),
                   ("vit_tiny", "layer", None, 14), ("resnet18", "layer", None, 21),
                   ("resnet18", "layer", "same-shape", 40), ("resnet18_small", "layer", None, 12)),
        "max_wires": 21,
        "accuracy_devices": ("lightning.gpu", "lightning.qubit"),  # the first usable one runs the sources
        "devices": ("default.qubit", "lightning.qubit", "lightning.kokkos", "lightning.gpu"),
        "noise": {"p": (0.0, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1), "where": ("gates", "measure"), "shots": 10000,
                  "repeats": 16, "sources": {"random:3": ("swap", "compute_uncompute"),
                                             "random:4": ("compute_uncompute",), "random:6": ("compute_uncompute",),
                                             "resnet18/filter:layer1.0.conv1": ("compute_uncompute",)},
                  "angles": (0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3)},
        "planner": {"eps": (0.05, 0.1), "delta": 0.05, "runs": 1000, "d": (0.1, 0.3, 0.8, 1.2, 1.5),
                    "max_real_shots": 1e9},
        "speed": {"device": "default.qubit", "n": 64, "sample": 16, "repeat": 10, "qubits": (3, 4, 6, 8, 10),
                  "entry_sample": 16, "entry_sample_large": 6, "swap_pairs": 64, "swap_pairs_large": 8,
                  "extra_devices": ("lightning.qubit", "lightning.gpu")},
    },
}

COLUMNS: dict[str, str] = {
    "kind": "estimate (one kernel entry), plan (the shot planner checked), speed (a timing) or skipped (a device "
            "that is not usable here, with the reason in note)",
    "source": "where the pair comes from: random (random states at a set d_FS), <model>/<granularity> "
              "(operators of a built-in model), planner, speed",
    "pair": "index of the pair within its source",
    "op_a, op_b": "operator names (empty for random states)",
    "qubits": "qubits per state register q = ⌈log₂ N⌉ (after zero padding to a common N)",
    "wires": "wires of the circuit: 2q + 1 (swap test) or q (compute-uncompute)",
    "estimator": "swap or compute_uncompute",
    "device": "PennyLane device",
    "mode": "plain (one circuit per entry), rows (broadcast real circuits) or statevector (prepared states, one "
            "GEMM, shots drawn from the exact outcome distribution)",
    "noise_where": "none, gates (depolarizing after every gate) or measure (before measurement)",
    "noise_p": "depolarizing probability p (0 without noise)",
    "shots": "shots per entry; empty = analytic",
    "rep": "repetition of the same pair (independent shot runs)",
    "f_exact, d_exact": "closed-form fidelity |⟨a|b⟩|² and d_FS (qkernels.fs_distance)",
    "f_est, d_est": "the estimate F̂ and d̂ = arccos √clip(F̂, 0, 1)",
    "f_err, d_err": "f_est − f_exact, d_est − d_exact",
    "counts": "outcome-0 counts k (empty when analytic)",
    "f_lo, f_hi, d_lo, d_hi": "Clopper–Pearson interval at `confidence` for F and d_FS",
    "confidence": "level of the interval (0.95)",
    "covered": "d_lo ≤ d_exact ≤ d_hi (empty when analytic)",
    "bias_warning": "S·(1 − F̂) < 10: d̂ is biased low by more than a few percent",
    "seconds_per_entry": "wall time of the estimator call divided by its entries",
    "metric, value": "plan and speed rows: what is measured and its value (plan_shots, exact_worst_failure, "
                     "run_failure, exact_failure; speedup_rows, time_per_entry, ...)",
    "eps, delta, bound": "plan rows: target error, failure probability and the bound used",
    "runs": "plan rows (run_failure): real shot runs behind the failure rate",
    "note": "free text (units, sampling, skip reasons)",
}


@register
class QuantumSection(Section):
    name = "quantum"
    title = "Quantum-kernel estimates of d_FS (PennyLane)"
    summary = ("How close do PennyLane-simulated quantum kernels (swap test, compute-uncompute; amplitude-encoded "
               "operator states) get to the exact fidelity and Fubini–Study distance, for how many shots, qubits and "
               "how much depolarizing noise, and at what cost per kernel entry? Every estimate sits next to its exact "
               "value, its 95% Clopper–Pearson interval and a bias flag. Definitions: docs/quantum.md.")
    columns = COLUMNS

    def plan(self, ctx: SectionContext) -> list[Unit]:
        cfg = PROFILES[ctx.profile]
        sf = ctx.seed_for
        units: list[Unit] = []
        sources = [f"random:{q}" for q in cfg["random"]["qubits"]] + [source_name(m, g, sel)
                                                                       for m, g, sel, _ in cfg["models"]]
        from qkernels.quantum.devices import device_usable

        main = next((d for d in cfg.get("accuracy_devices", ("default.qubit",)) if device_usable(d)[0]),
                    "default.qubit")
        for source in sources:
            for est in cfg["estimators"]:  # rows mode, or statevector where circuits exceed max_wires
                units.append(Unit(f"acc:{source}:{est}:{main}", f"{source} {est}",
                                  partial(accuracy_unit, source, est, main, None, cfg, ctx.seed, sf)))
        small = f"random:{min(cfg['random']['qubits'])}"
        for est in cfg["estimators"]:
            for mode in ("plain", "statevector"):
                units.append(Unit(f"acc:{small}:{est}:default.qubit:{mode}", f"{small} {est} {mode}",
                                  partial(accuracy_unit, small, est, "default.qubit", mode, cfg, ctx.seed, sf)))
            for dev in cfg["devices"]:
                if device_usable(dev)[0] and dev != main:
                    units.append(Unit(f"acc:{small}:{est}:{dev}:rows", f"{small} {est} {dev}",
                                      partial(accuracy_unit, small, est, dev, "rows", cfg, ctx.seed, sf)))
        units.append(Unit("devices:skipped", "devices not usable here", partial(skipped_unit, tuple(cfg["devices"]))))
        for source, ests in cfg["noise"]["sources"].items():
            for est in ests:
                for where in cfg["noise"]["where"]:
                    units.append(Unit(f"noise:{source}:{est}:{where}", f"noise {source} {est} {where}",
                                      partial(noise_unit, source, est, where, cfg, ctx.seed, sf)))
        for est in cfg["estimators"]:
            for eps in cfg["planner"]["eps"]:
                units.append(Unit(f"plan:{est}:eps={eps:g}", f"planner {est} ε={eps:g}",
                                  partial(planner_unit, est, eps, cfg, sf(f"plan:{est}:{eps}"))))
        units.append(Unit("speed:goal", "speed goals at 8 qubits", partial(speed_goal_unit, cfg)))
        for dev in cfg["speed"].get("extra_devices", ()):
            if device_usable(dev)[0]:
                units.append(Unit(f"speed:goal:{dev}", f"speed goals at 8 qubits, {dev}",
                                  partial(speed_goal_unit, cfg, dev)))
        for q in cfg["speed"]["qubits"]:
            units.append(Unit(f"speed:entry:q={q}", f"time per entry, {q} qubits", partial(speed_entry_unit, q, cfg)))
        for dev in cfg["speed"].get("extra_devices", ()):
            if device_usable(dev)[0]:
                for q in cfg["speed"]["qubits"]:
                    units.append(Unit(f"speed:entry:{dev}:q={q}", f"time per entry, {dev}, {q} qubits",
                                      partial(speed_entry_unit, q, cfg, dev)))
        return units

    # ---- report -------------------------------------------------------------------------------
    def report(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        blocks: list[Block] = [Paragraph(self.summary)]
        if df.empty or "kind" not in df.columns:
            return blocks + [Paragraph("quantum.csv has no rows.")]
        est = df[df.kind == "estimate"]
        clean = est[est.noise_where == "none"]
        if not clean.empty:
            v = verdict_numbers(df)
            if v:
                blocks += [Paragraph(verdict_text(v))]
            blocks += [Heading(3, "Accuracy against shots"), Table(shots_table(clean), (
                "Noise-free estimates pooled over all sources, devices and modes. RMSE of F̂ against the theory "
                "√(mean Var F̂) (Var = (1−F²)/S swap, F(1−F)/S compute-uncompute); coverage of the 95% "
                "Clopper–Pearson intervals of d_FS; share of entries with the bias flag S(1−F̂) < 10."))]
            blocks += [Table(source_table(clean), (
                "By source at the largest shot count: median |d̂ − d_FS|, interval coverage and bias flags. Where "
                "pairs lie very close (small d_FS, e.g. layers of equal shape) S(1−F) is small and d̂ is biased "
                "towards 0."))]
            blocks += [Heading(3, "Analytic circuits against the closed form"), Table(analytic_table(clean), (
                "Largest |F̂ − F| and |d̂ − d_FS| of analytic (shots = None) runs, per device and mode."))]
        noisy = est[est.noise_where != "none"]
        if not noisy.empty:
            blocks += [Heading(3, "Accuracy against noise"), Table(noise_table(noisy), (
                "Depolarizing noise on default.mixed: mean bias F̂ − F of analytic runs, and the coverage of the 95% "
                "intervals (which cover the noisy circuit's value, not the exact one) at the listed shots."))]
        plan = df[df.kind == "plan"]
        if not plan.empty:
            blocks += [Heading(3, "Shot planner"), Table(planner_table(plan), (
                "Shots per entry for |d̂ − d_FS| ≤ ε with probability ≥ 1 − δ (Chernoff bound, worst case over d_FS; "
                "Hoeffding for comparison), the exact worst-case failure probability of that plan, and the failure "
                "rate of real shot runs at several d_FS."))]
        speed = df[df.kind == "speed"]
        if not speed.empty:
            blocks += [Heading(3, "Speed")] + speed_blocks(speed)
        skipped = df[df.kind == "skipped"]
        if not skipped.empty:
            blocks += [Paragraph("Devices not usable here: " + "; ".join(
                f"`{r.device}` ({r.note})" for r in skipped.itertuples()) + ".")]
        blocks += self._figures(run, df)
        return blocks

    def _figures(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        from qkernels.suite.sections import quantum_figures as figures
        from qkernels.quantum.estimation import BIAS_THRESHOLD, fs_bias

        out: list[Block] = []
        est = df[df.kind == "estimate"]
        clean = est[(est.noise_where == "none") & est.shots.notna()]
        if not clean.empty:
            t = shots_table(clean)
            series = {e: (g.shots.to_numpy(float), g.rmse_F.to_numpy(), g.theory_rmse_F.to_numpy(), g.rmse_d.to_numpy())
                      for e, g in t.groupby("estimator", sort=False)}
            path = run.figure("quantum_error_vs_shots.png")
            figures.error_vs_shots(series, path)
            out.append(Figure(f"figures/{path.name}", (
                "RMSE of the fidelity and d_FS estimates against shots per entry (noise-free, all sources); dashed: "
                "theory for F̂, dotted: a 1/√S reference")))
            measured, exact = {}, {}
            for e, g in clean.groupby("estimator", sort=False):
                g = g[g.d_exact > 0]
                x = g.shots.to_numpy(float) * (1 - g.f_exact.to_numpy())
                ok = x > 0
                if ok.sum() < 10:
                    continue
                bins = np.geomspace(x[ok].min(), x[ok].max() * 1.0001, 14)
                which = np.digitize(x[ok], bins)
                rel = (g.d_est.to_numpy()[ok] / g.d_exact.to_numpy()[ok]) - 1
                xs, ys = [], []
                for b in np.unique(which):
                    m = which == b
                    if m.sum() >= 5:
                        xs.append(float(np.exp(np.mean(np.log(x[ok][m])))))
                        ys.append(float(np.mean(rel[m])))
                measured[e] = (np.array(xs), np.array(ys))
                S = 1000
                F = 1 - np.geomspace(1e-3, 300, 60) / S
                exact[e] = ((1 - F) * S, fs_bias(F, S, e) / np.arccos(np.sqrt(F)))
            if measured:
                path = run.figure("quantum_bias.png")
                figures.bias_vs_budget(measured, exact, path, BIAS_THRESHOLD)
                out.append(Figure(f"figures/{path.name}", (
                    "Relative bias of d̂ = arccos √F̂ against S(1 − F): it depends on S(1 − F) only, and the flag "
                    "S(1 − F̂) < 10 marks where it exceeds a few percent")))
        noisy = est[(est.noise_where != "none") & est.shots.isna()]
        if not noisy.empty:
            series = {}
            for (e, w, src, q), g in noisy.groupby(["estimator", "noise_where", "source", "qubits"], sort=False):
                m = g.groupby("noise_p").f_err.apply(lambda s: float(np.mean(np.abs(s))))
                series[f"{e} {w} ({src}, {int(q)} qubits)"] = (m.index.to_numpy(float), m.to_numpy())
            refs = {}
            if not clean.empty:
                t = shots_table(clean)
                for S in (1000, 10000):
                    r = t[t.shots == S]
                    if not r.empty:
                        refs[f"shot-noise RMSE of F̂ at {S:,} shots"] = float(r.rmse_F.max())
            path = run.figure("quantum_error_vs_noise.png")
            figures.error_vs_noise(series, path, refs)
            out.append(Figure(f"figures/{path.name}", (
                "Mean |F̂ − F| of analytic noisy circuits (default.mixed) against the depolarizing probability, with "
                "the shot-noise level of noise-free runs for comparison")))
        sp = df[(df.kind == "speed") & (df.metric == "time_per_entry")]
        if not sp.empty:
            series = {}
            for (d, mode, e), g in sp.groupby(["device", "mode", "estimator"], sort=False):
                g = g.sort_values("qubits")
                series[f"{mode} {e} ({d})"] = (g.qubits.to_numpy(float), g.value.to_numpy(float))
            path = run.figure("quantum_time_per_entry.png")
            figures.time_per_entry(series, path)
            out.append(Figure(f"figures/{path.name}", "Seconds per kernel entry of a 64 x 64 matrix against qubits"))
        return out

    def compare_metrics(self, df: pd.DataFrame) -> pd.DataFrame:
        from qkernels.suite.sections.comparable import quantum_metrics

        return quantum_metrics(df)

    def claims(self, df: pd.DataFrame) -> list[Claim]:
        v = verdict_numbers(df)
        if not v:
            return []
        return [Claim("quantum", v["verdict"], verdict_text(v), "quantum")]


# ---- tables ---------------------------------------------------------------------------------------
def _var_F(f: np.ndarray, estimator: str, shots: np.ndarray) -> np.ndarray:
    f = np.clip(f, 0, 1)
    v = (1 - f * f) if estimator == "swap" else f * (1 - f)
    return v / shots


def shots_table(clean: pd.DataFrame) -> pd.DataFrame:
    """Per estimator and shot count: RMSE of F̂ and d̂, theory RMSE, coverage, bias flags."""
    s = clean[clean.shots.notna()]
    rows = []
    for (e, S), g in s.groupby(["estimator", "shots"], sort=True):
        S = int(S)
        var = _var_F(g.f_exact.to_numpy(float), e, np.full(len(g), S))
        rmse_F = float(np.sqrt(np.mean(g.f_err.to_numpy(float) ** 2)))
        rows.append({"estimator": e, "shots": S, "entries": len(g), "rmse_F": rmse_F,
                     "theory_rmse_F": float(np.sqrt(np.mean(var))),
                     "rmse_d": float(np.sqrt(np.mean(g.d_err.to_numpy(float) ** 2))),
                     "median_abs_d_err": float(np.median(np.abs(g.d_err))),
                     "coverage": float(g.covered.astype(float).mean()),
                     "bias_warnings": float(g.bias_warning.astype(float).mean())})
    return pd.DataFrame(rows)


def source_table(clean: pd.DataFrame) -> pd.DataFrame:
    s = clean[clean.shots.notna()]
    if s.empty:
        return pd.DataFrame()
    top = s[s.shots == s.shots.max()]
    rows = []
    for (src, e), g in top.groupby(["source", "estimator"], sort=False):
        rows.append({"source": src, "estimator": e, "qubits": int(g.qubits.max()), "mode": ", ".join(dict.fromkeys(g["mode"])),
                     "shots": int(g.shots.iloc[0]), "pairs": int(g.pair.nunique()), "median d_FS": float(g.d_exact.median()),
                     "median |d̂ − d|": float(np.median(np.abs(g.d_err))),
                     "median |d̂ − d|/d": float(np.median(np.abs(g.d_err) / g.d_exact.clip(lower=1e-300))),
                     "coverage": float(g.covered.astype(float).mean()),
                     "bias_warnings": float(g.bias_warning.astype(float).mean())})
    return pd.DataFrame(rows)


def analytic_table(clean: pd.DataFrame) -> pd.DataFrame:
    a = clean[clean.shots.isna()]
    rows = []
    for (d, m, e), g in a.groupby(["device", "mode", "estimator"], sort=False):
        rows.append({"device": d, "mode": m, "estimator": e, "entries": len(g),
                     "max |F̂ − F|": float(np.abs(g.f_err).max()), "max |d̂ − d|": float(np.abs(g.d_err).max()),
                     "seconds per entry": float(g.seconds_per_entry.median())})
    return pd.DataFrame(rows)


def noise_table(noisy: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (src, e, w, p), g in noisy.groupby(["source", "estimator", "noise_where", "noise_p"], sort=False):
        a, s = g[g.shots.isna()], g[g.shots.notna()]
        rows.append({"source": src, "estimator": e, "noise": w, "p": p, "qubits": int(g.qubits.max()),
                     "mean F̂ − F (analytic)": float(a.f_err.mean()) if len(a) else math.nan,
                     "mean d̂ − d (analytic)": float(a.d_err.mean()) if len(a) else math.nan,
                     "shots": int(s.shots.iloc[0]) if len(s) else None,
                     "coverage of exact d_FS": float(s.covered.astype(float).mean()) if len(s) else math.nan,
                     "seconds per entry": float(g.seconds_per_entry.median())})
    return pd.DataFrame(rows)


def planner_table(plan: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (e, eps), g in plan.groupby(["estimator", "eps"], sort=False):
        ps = g[g.metric == "plan_shots"]
        ch = ps[ps.bound == "chernoff"]
        ho = ps[ps.bound == "hoeffding"]
        runs = g[g.metric == "run_failure"]
        ex = g[g.metric == "exact_failure"]
        wf = g[g.metric == "exact_worst_failure"]
        rows.append({"estimator": e, "eps": eps, "delta": float(g.delta.iloc[0]),
                     "shots (Chernoff)": int(ch.value.iloc[0]) if len(ch) else None,
                     "worst d_FS": float(ch.d_exact.iloc[0]) if len(ch) else math.nan,
                     "shots (Hoeffding)": int(ho.value.iloc[0]) if len(ho) else None,
                     "exact worst failure": float(wf.value.iloc[0]) if len(wf) else math.nan,
                     "max failure of real runs": float(runs.value.max()) if len(runs) else math.nan,
                     "runs per d_FS": int(runs.runs.min()) if len(runs) else None,
                     "d_FS checked": ", ".join(f"{d:.3g}" for d in runs.d_exact),
                     "max exact failure there": float(ex.value.max()) if len(ex) else math.nan})
    return pd.DataFrame(rows)


def speed_blocks(speed: pd.DataFrame) -> list[Block]:
    from qkernels.suite.speed.quantum import GOALS

    blocks: list[Block] = []
    g = speed[speed.metric.isin(["speedup_rows", "speedup_statevector", "skm_est_s", "rows_s", "statevector_s",
                                 "max_abs_err_rows", "max_abs_err_statevector", "skm_calls_timed"])]
    if not g.empty:
        rows = []
        for dev, gd in g.groupby("device", sort=False):
            v = dict(zip(gd.metric, gd.value))
            for goal, key, t_key, err_key in (("rows_vs_skm", "speedup_rows", "rows_s", "max_abs_err_rows"),
                                              ("statevector_vs_skm", "speedup_statevector", "statevector_s",
                                               "max_abs_err_statevector")):
                desc, target, _ = GOALS[goal]
                ratio = v.get(key, math.nan)
                ok = ratio >= target and v.get(err_key, 1.0) <= 1e-12
                rows.append({"goal": desc, "device": dev, "target": f"≥ {target:,.0f}x, values equal to 1e-12",
                             "measured": f"{ratio:,.0f}x ({v.get(t_key, math.nan) * 1e3:.2f} ms vs "
                                         f"{v.get('skm_est_s', math.nan):.1f} s)",
                             "max |ΔF| vs baseline": v.get(err_key, math.nan), "met": "met" if ok else "MISSED"})
        note = str(g.note.iloc[0])
        blocks.append(Table(pd.DataFrame(rows), f"Medians on this run's machine (env.json); {note}."))
    te = speed[speed.metric == "time_per_entry"]
    if not te.empty:
        piv = te.assign(what=te["mode"].astype(str) + " " + te.estimator.astype(str) + " (" + te.device.astype(str) + ")")
        piv = piv.pivot_table(index="what", columns="qubits", values="value", sort=False)
        piv.columns = [f"{int(c)} qubits" for c in piv.columns]
        gemm = te[te["mode"] == "gemm"].set_index("qubits").value
        ratio_rows = []
        for what, r in piv.iterrows():
            ratio_rows.append({"mode": what, **{c: r[c] for c in piv.columns}})
        t = pd.DataFrame(ratio_rows)
        blocks.append(Table(t, "Seconds per kernel entry of a 64 x 64 matrix (see note column of quantum.csv for "
                               "sampled timings)."))
        if not gemm.empty:
            rel = []
            for what, r in piv.iterrows():
                if what.startswith("gemm"):
                    continue
                rel.append({"mode": what, **{f"{int(q)} qubits": r[f"{int(q)} qubits"] / gemm.get(q, math.nan)
                                             for q in gemm.index if f"{int(q)} qubits" in piv.columns}})
            blocks.append(Table(pd.DataFrame(rel), "The same, as multiples of the exact GEMM's time per entry."))
    return blocks


# ---- verdict --------------------------------------------------------------------------------------
def verdict_numbers(df: pd.DataFrame) -> dict:
    """The numbers behind the ``quantum`` claim, computed from quantum.csv alone."""
    if df.empty or "kind" not in df.columns:
        return {}
    est = df[df.kind == "estimate"]
    clean = est[est.noise_where == "none"] if not est.empty else est
    if clean.empty:
        return {}
    analytic = clean[clean.shots.isna()]
    shot = clean[clean.shots.notna()]
    v: dict = {"max_analytic_err": float(np.abs(analytic.f_err).max()) if len(analytic) else math.nan}
    t = shots_table(clean)
    slopes, ratios = {}, {}
    for e, g in t.groupby("estimator"):
        if len(g) >= 2:
            slopes[e] = float(np.polyfit(np.log(g.shots.to_numpy(float)), np.log(g.rmse_F.to_numpy()), 1)[0])
        ratios[e] = (float((g.rmse_F / g.theory_rmse_F).min()), float((g.rmse_F / g.theory_rmse_F).max()))
    v["slopes"], v["ratios"], v["table"] = slopes, ratios, t
    n = len(shot)
    v["coverage"] = float(shot.covered.astype(float).mean()) if n else math.nan
    v["coverage_n"] = n
    conf = float(shot.confidence.iloc[0]) if n else 0.95
    v["confidence"] = conf
    v["coverage_floor"] = conf - 3 * math.sqrt(conf * (1 - conf) / max(n, 1))
    models = shot[~shot.source.astype(str).str.startswith("random")]
    if len(models):
        top = models[models.shots == models.shots.max()]
        src = top.groupby("source").d_exact.median().idxmin()  # the model source with the closest pairs
        g = top[top.source == src]
        v["near_source"] = str(src)
        v["near_shots"] = int(g.shots.iloc[0])
        v["near_bias_share"] = float(g.bias_warning.astype(float).mean())
        v["near_median_d"] = float(g.d_exact.median())
        v["near_median_rel_err"] = float(np.median(np.abs(g.d_err) / g.d_exact.clip(lower=1e-300)))
        v["near_shots_needed"] = float(np.median(10.0 / (1.0 - g.f_exact.clip(upper=1 - 1e-16))))
    noisy = est[(est.noise_where != "none") & est.shots.isna()] if not est.empty else est
    if len(noisy):
        worst = noisy.groupby(["estimator", "noise_where", "noise_p"]).f_err.apply(lambda s: float(np.abs(s).mean()))
        v["noise"] = worst
    plan = df[df.kind == "plan"]
    if len(plan):
        v["plan_worst_exact"] = float(plan[plan.metric == "exact_worst_failure"].value.max())
        v["plan_worst_runs"] = float(plan[plan.metric == "run_failure"].value.max())
        v["plan_delta"] = float(plan.delta.max())
    ok_analytic = v["max_analytic_err"] <= 1e-9
    ok_slope = bool(slopes) and all(abs(s + 0.5) <= 0.15 for s in slopes.values())
    ok_ratio = bool(ratios) and all(0.7 <= lo and hi <= 1.3 for lo, hi in ratios.values())
    ok_cov = n > 0 and v["coverage"] >= v["coverage_floor"]
    bad = (v["max_analytic_err"] > 1e-6 or (bool(slopes) and any(abs(s + 0.5) > 0.25 for s in slopes.values()))
           or (n > 0 and v["coverage"] < conf - 5 * math.sqrt(conf * (1 - conf) / n)))
    v["verdict"] = "supported" if (ok_analytic and ok_slope and ok_ratio and ok_cov) else (
        "refuted" if bad else "inconclusive")
    return v


def verdict_text(v: dict) -> str:
    t = v["table"]
    parts = []
    for e, g in t.groupby("estimator", sort=False):
        rm = ", ".join(f"{r.rmse_F:.2g}" for r in g.itertuples())
        Ss = "/".join(f"{int(s):,}" for s in g.shots)
        slope = v["slopes"].get(e)
        parts.append(f"{e}: RMSE of F̂ {rm} at {Ss} shots (slope {slope:.2f} on log-log, theory −0.5; "
                     f"{v['ratios'][e][0]:.2f}–{v['ratios'][e][1]:.2f}× the binomial theory)" if slope is not None else
                     f"{e}: RMSE of F̂ {rm} at {Ss} shots")
    text = (f"**{v['verdict']}**: analytic circuits equal the closed form to {v['max_analytic_err']:.1e}; "
            + "; ".join(parts)
            + f"; the 95% intervals cover the exact d_FS in {v['coverage']:.1%} of {v['coverage_n']:,} shot runs "
              f"(floor {v['coverage_floor']:.1%}).")
    if "near_source" in v:
        text += (f" Caveat: the closest operator pairs ({v['near_source']}, median d_FS {v['near_median_d']:.2g}) are "
                 f"hard: at {v['near_shots']:,} shots {v['near_bias_share']:.0%} of their estimates carry the bias flag "
                 f"S(1−F̂) < 10 and the median relative error of d̂ is {v['near_median_rel_err']:.0%}; resolving them "
                 f"needs S ≳ 10/(1−F) ≈ {v['near_shots_needed']:.2g} shots per entry.")
    if "noise" in v:
        nz = v["noise"]
        top = nz.groupby(level=[0, 1]).max()
        text += " Depolarizing noise (analytic runs) shifts F̂ by up to " + ", ".join(
            f"{val:.2g} ({e}, {w})" for (e, w), val in top.items()) + f" at p = {nz.index.get_level_values(2).max():g}."
    if "plan_worst_exact" in v:
        text += (f" Shot plans keep the exact failure probability at ≤ {v['plan_worst_exact']:.3g} and real runs "
                 f"at ≤ {v['plan_worst_runs']:.3g} (target δ = {v['plan_delta']:g}).")
    return text


__all__ = ["QuantumSection", "PROFILES", "COLUMNS",
           "shots_table", "analytic_table", "noise_table", "planner_table", "verdict_numbers", "verdict_text"]
