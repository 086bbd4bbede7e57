"""Each section's headline numbers with their noise, for ``qkernels report --compare``.

A section's ``compare_metrics(df)`` returns one row per metric (:data:`COMPARE_COLUMNS`):

* ``metric``: a stable name, the same in every run that measures it;
* ``value``: the number; ``lo``, ``hi``: its noise interval in this run;
* ``noise``: ``ci`` (a 95% interval from the replicates the CSV carries: seeds, shot runs),
  ``exact`` (a deterministic result of seeded work: any change beyond roundoff is real) or
  ``none`` (one measurement without replicates, e.g. a median timing: no noise estimate);
* ``n``: the replicates behind ``value``.

Example:
    >>> df = pd.DataFrame({"model": ["m"] * 3, "stage": ["oneshot"] * 3, "method": ["l1"] * 3,
    ...                    "sparsity": [0.5] * 3, "accuracy": [0.8, 0.82, 0.84]})
    >>> r = pruning_metrics(df).iloc[0]
    >>> r.metric, round(float(r.value), 3), r.noise, int(r.n)
    ('top-1 m oneshot l1 p=0.5', 0.82, 'ci', 3)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as _st

COMPARE_COLUMNS = ["metric", "value", "lo", "hi", "noise", "n"]


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float, int]:
    """``(mean, lo, hi, n)``: the Student-t interval of the mean of the finite values (NaN bounds for n < 2)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, math.nan, math.nan, 1
    half = float(_st.t.ppf(0.5 + level / 2, n - 1)) * float(v.std(ddof=1)) / math.sqrt(n)
    return m, m - half, m + half, n


def _row(metric: str, value: float, lo: float = math.nan, hi: float = math.nan, noise: str = "none",
         n: int = 1) -> dict:
    return {"metric": metric, "value": float(value), "lo": float(lo), "hi": float(hi), "noise": noise, "n": int(n)}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def pruning_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Top-1 accuracy per model × stage × method × sparsity: mean and t-interval over replicates."""
    need = {"model", "stage", "method", "sparsity", "accuracy"}
    if df.empty or not need <= set(df.columns):
        return _frame([])
    rows = []
    for (model, stage, method, sp), g in df.groupby(["model", "stage", "method", "sparsity"], sort=False):
        m, lo, hi, n = mean_interval(g.accuracy)
        name = f"top-1 {model} dense" if stage == "dense" else f"top-1 {model} {stage} {method} p={float(sp):g}"
        rows.append(_row(name, m, lo, hi, "ci" if n >= 2 else "none", n))
    return _frame(rows)


def quantum_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Noise-free shot estimates per estimator × shots: RMSE of F̂ and interval coverage (t-intervals over entries)."""
    need = {"kind", "estimator", "shots", "f_err", "noise_where", "covered"}
    if df.empty or not need <= set(df.columns):
        return _frame([])
    est = df[(df.kind == "estimate") & df.shots.notna() & (df.noise_where.astype(str) == "none")]
    rows = []
    for (e, S), g in est.groupby(["estimator", "shots"], sort=True):
        m, lo, hi, n = mean_interval(g.f_err.to_numpy(float) ** 2)
        root = lambda x: math.sqrt(max(x, 0.0)) if math.isfinite(x) else math.nan  # noqa: E731
        rows.append(_row(f"rmse_F {e} S={int(S)}", root(m), root(lo), root(hi), "ci" if n >= 2 else "none", n))
        cov = g.covered.astype(str).str.lower().isin(["true", "1", "1.0"]).astype(float)
        m, lo, hi, n = mean_interval(cov)
        rows.append(_row(f"coverage {e} S={int(S)}", m, lo, hi, "ci" if n >= 2 else "none", n))
    if {"metric", "value", "device"} <= set(df.columns):
        sp = df[(df.kind == "speed") & df.metric.isin(["speedup_rows", "speedup_statevector"])]
        for _, r in sp.iterrows():
            rows.append(_row(f"{r.metric} ({r.device})", r.value))
    return _frame(rows)


def bounds_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Per form of the bound: violations and median lhs/B (deterministic for a seed); checker speed."""
    if df.empty or "kind" not in df.columns:
        return _frame([])
    pairs = df[df.kind == "pair"]
    rows = [_row("rows", len(pairs), noise="exact")] if not pairs.empty else []
    for c in [c for c in pairs.columns if c.startswith("viol_")]:
        b = c[len("viol_"):]
        rows.append(_row(f"violations {b}", int(pairs[c].astype(str).str.lower().isin(["true", "1", "1.0"]).sum()),
                         noise="exact", n=len(pairs)))
        if f"ratio_{b}" in pairs.columns:
            r = pd.to_numeric(pairs[f"ratio_{b}"], errors="coerce").replace(np.inf, np.nan)
            rows.append(_row(f"median lhs/B {b}", r.median(), noise="exact", n=len(pairs)))
    speed = df[df.kind == "speed"]
    if not speed.empty and {"param", "lhs"} <= set(speed.columns):
        v = dict(zip(speed.param, speed.lhs))
        if "pairs_per_second" in v:
            rows.append(_row("checker pairs/s", v["pairs_per_second"]))
    return _frame(rows)


def metrics_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Median distance per model × granularity × metric (deterministic for a seed); speed-goal numbers."""
    if df.empty or not {"kind", "metric", "value"} <= set(df.columns):
        return _frame([])
    rows = []
    pairs = df[df.kind == "pair"]
    for (model, gran, metric), g in pairs.groupby(["model", "granularity", "metric"], sort=False):
        rows.append(_row(f"median {metric} {model}/{gran}", pd.to_numeric(g.value, errors="coerce").median(),
                         noise="exact", n=len(g)))
    speed = df[df.kind == "speed"]
    stat = speed["stat"].astype(str) if "stat" in speed.columns else pd.Series("", index=speed.index)
    speed = speed[stat.str.endswith("_s") | stat.str.startswith(("ratio", "speedup"))]
    for _, r in speed.iterrows():
        rows.append(_row(f"speed {r.metric} {r.stat}", r.value))
    return _frame(rows)


def latency_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Median latency and speed-up per model × backend × method × sparsity × batch (one timing each:
    no noise estimate; the report says so instead of flagging)."""
    need = {"kind", "model", "backend", "method", "sparsity", "batch", "median_s"}
    if df.empty or not need <= set(df.columns):
        return _frame([])
    rows = []
    timed = df[(df.kind == "model") & df.median_s.notna()]
    for _, r in timed.iterrows():
        tag = f"{r.model} {r.backend} {r.method} p={float(r.sparsity):g} b={int(r.batch)}"
        rows.append(_row(f"latency median_s {tag}", r.median_s))
        if "speedup" in timed.columns and pd.notna(r.get("speedup")) and r.method != "dense":
            rows.append(_row(f"speed-up {tag}", r.speedup))
    return _frame(rows)


__all__ = ["COMPARE_COLUMNS", "mean_interval", "pruning_metrics", "quantum_metrics", "bounds_metrics",
           "metrics_metrics", "latency_metrics"]
