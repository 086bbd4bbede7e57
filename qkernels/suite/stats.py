"""Statistics of a pruning sweep: confidence intervals over seeds, and method-vs-baseline verdicts.

All functions read the long-format rows of ``pruning.csv`` (one row per model × method ×
sparsity × seed × stage) and nothing else, so a report can be rebuilt from the CSV.

- :func:`t_interval`: mean and half-width of the two-sided Student-t interval (95% by default).
- :func:`mean_interval`: the same interval as ``(mean, lo, hi, n)``, for the headline numbers of
  ``qkernels report --compare``.
- :func:`summarize`: mean ± CI of a column per group (e.g. accuracy per method × sparsity).
- :func:`compare_methods`: method A against each baseline at every sparsity ≥ a threshold, on
  **paired** differences (same seed = same dense model and calibration batch), with a t-interval
  of the mean difference; ``better``/``worse`` when the interval excludes 0, else ``tie``.
- :func:`comparison_verdict`: the claim "A beats the baselines at high sparsity" from those rows:
  *supported* when A is significantly better than every baseline at half or more of the high
  sparsities and never significantly worse; *refuted* when some baseline is significantly better
  than A at half or more of them, or A never beats it while losing at least once; *inconclusive*
  otherwise.

Example:
    >>> import pandas as pd
    >>> rows = [{"model": "m", "stage": "oneshot", "method": meth, "sparsity": 0.7, "replicate": s,
    ...          "accuracy": acc + 0.01 * s} for meth, acc in (("a", 0.8), ("b", 0.6)) for s in range(3)]
    >>> cmp = compare_methods(pd.DataFrame(rows), "a", ["b"])
    >>> cmp[["baseline", "diff", "outcome"]].to_dict("records")
    [{'baseline': 'b', 'diff': 0.2, 'outcome': 'better'}]
    >>> comparison_verdict(cmp)[0]
    'supported'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float, int]:
    """``(mean, half_width, n)`` of the Student-t interval; half_width is NaN for n < 2."""
    v = np.asarray([x for x in np.asarray(values, dtype=float) if np.isfinite(x)])
    n = len(v)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(v.mean())
    if n < 2:
        return mean, math.nan, 1
    sem = float(v.std(ddof=1)) / math.sqrt(n)
    return mean, float(_st.t.ppf(0.5 + level / 2, n - 1)) * sem, n


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float, int]:
    """``(mean, lo, hi, n)``: the Student-t interval of the mean of the finite values (NaN bounds for n < 2).

    Example:
        >>> m, lo, hi, n = mean_interval([1.0, 2.0, 3.0, float("nan")])
        >>> m, n, round(lo, 3), round(hi, 3)
        (2.0, 3, -0.484, 4.484)
    """
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


def summarize(df: pd.DataFrame, by: Sequence[str], value: str = "accuracy", level: float = 0.95) -> pd.DataFrame:
    """Per group of ``by``: ``mean``, ``half`` (CI half-width), ``lo``, ``hi``, ``n`` of ``value``."""
    rows = []
    for key, g in df.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        mean, half, n = t_interval(g[value].to_numpy(), level)
        rows.append({**dict(zip(by, key)), "mean": mean, "half": half, "lo": mean - half, "hi": mean + half, "n": n})
    return pd.DataFrame(rows, columns=[*by, "mean", "half", "lo", "hi", "n"])


def compare_methods(
    df: pd.DataFrame,
    method: str,
    baselines: Sequence[str],
    *,
    min_sparsity: float = 0.5,
    stage: str = "oneshot",
    value: str = "accuracy",
    pair_on: str = "replicate",
    level: float = 0.95,
) -> pd.DataFrame:
    """Paired comparison of ``method`` against each of ``baselines`` (see the module docstring).

    One row per model × sparsity ≥ ``min_sparsity`` × baseline present in ``df``, with
    ``mean_method``, ``mean_baseline``, ``diff`` (mean paired difference), ``lo``/``hi`` (its
    t-interval), ``n`` (pairs) and ``outcome``.
    """
    cols = ["model", "stage", "sparsity", "method", "baseline", "mean_method", "mean_baseline", "diff", "lo", "hi",
            "n", "outcome"]
    if df.empty or "method" not in df.columns:
        return pd.DataFrame(columns=cols)
    d = df[(df["stage"] == stage) & (df["sparsity"] >= min_sparsity - 1e-9)] if "stage" in df.columns else \
        df[df["sparsity"] >= min_sparsity - 1e-9]
    rows = []
    for (model, sp), g in d.groupby(["model", "sparsity"], sort=True):
        a = g[g["method"] == method].groupby(pair_on)[value].mean()
        if a.empty:
            continue
        for b in baselines:
            bb = g[g["method"] == b].groupby(pair_on)[value].mean()
            common = a.index.intersection(bb.index)
            if len(common) == 0:
                continue
            diff = (a[common] - bb[common]).to_numpy()
            mean, half, n = t_interval(diff, level)
            lo, hi = mean - half, mean + half
            outcome = "better" if n >= 2 and lo > 0 else "worse" if n >= 2 and hi < 0 else "tie"
            rows.append({"model": model, "stage": stage, "sparsity": float(sp), "method": method, "baseline": b,
                         "mean_method": float(a[common].mean()), "mean_baseline": float(bb[common].mean()),
                         "diff": round(mean, 12), "lo": lo, "hi": hi, "n": n, "outcome": outcome})
    return pd.DataFrame(rows, columns=cols)


def comparison_verdict(cmp: pd.DataFrame) -> tuple[str, str]:
    """``(verdict, evidence)`` for "the method beats every baseline at high sparsity"."""
    if cmp.empty:
        return "inconclusive", "no comparable rows (the method or the baselines are missing at high sparsity)"
    method = cmp["method"].iloc[0]
    per = []
    supported, refuted = True, False
    for (model, b), g in cmp.groupby(["model", "baseline"], sort=False):
        k = len(g)
        wins, losses = int((g.outcome == "better").sum()), int((g.outcome == "worse").sum())
        need = math.ceil(k / 2)
        if not (wins >= need and losses == 0):
            supported = False
        if losses >= need or (wins == 0 and losses >= 1):
            refuted = True
        worst = g.loc[g["diff"].idxmin()]
        per.append(f"{model}: vs {b} better at {wins}/{k}, worse at {losses}/{k} sparsities "
                   f"(smallest Δ {worst['diff']:+.3f} [{worst['lo']:+.3f}, {worst['hi']:+.3f}] at p={worst['sparsity']:g})")
    verdict = "refuted" if refuted else "supported" if supported else "inconclusive"
    sps = ", ".join(f"{s:g}" for s in sorted(cmp["sparsity"].unique()))
    ev = (f"{method}, one-shot top-1 at sparsity {sps}, paired over seeds (95% t-interval of the difference): "
          + "; ".join(per))
    return verdict, ev


__all__ = ["t_interval", "mean_interval", "summarize", "compare_methods", "comparison_verdict"]
