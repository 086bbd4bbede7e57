"""Statistics of a pruning sweep: confidence intervals over seeds, and method-vs-baseline verdicts.

All functions read the long-format rows of ``pruning.csv`` (one row per model × method ×
sparsity × seed × stage) and nothing else, so a report can be rebuilt from the CSV.

- :func:`t_interval`: mean and half-width of the two-sided Student-t interval (95% by default).
- :func:`mean_interval`: the same interval as ``(mean, lo, hi, n)``, for the headline numbers of
  ``qkernels report --compare``.
- :func:`summarize`: mean ± CI of a column per group (e.g. accuracy per method × sparsity).
- :func:`compare_methods`: method A against each baseline at every sparsity ≥ a threshold, on
  **paired** differences (same seed = same dense model and calibration batch), with a t-interval
  of the mean difference (its variance plus the finite test set's when the per-example column
  ``correct`` is present: a pretrained network pruned by a deterministic criterion gives the same
  number for every seed, and its uncertainty is the test set's), its two-sided p-value and the
  Holm-adjusted p-value over all the rows of the call; ``better``/``worse`` when the Holm-adjusted p < 0.05, else ``tie``. These per-cell rows
  are secondary analyses: the claims are decided by :mod:`qkernels.suite.verdict` on pre-declared
  endpoints (e.g. :mod:`qkernels.suite.sections.pruning.endpoint`).
- :func:`pack_correct` / :func:`unpack_correct`: per-example correctness in one CSV cell.

Example:
    >>> import pandas as pd
    >>> rows = [{"model": "m", "stage": "oneshot", "method": meth, "sparsity": 0.7, "replicate": s,
    ...          "accuracy": acc + 0.01 * s} for meth, acc in (("a", 0.8), ("b", 0.6)) for s in range(3)]
    >>> cmp = compare_methods(pd.DataFrame(rows), "a", ["b"])
    >>> cmp[["baseline", "diff", "outcome"]].to_dict("records")
    [{'baseline': 'b', 'diff': 0.2, 'outcome': 'better'}]
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from qkernels.suite.verdict import holm


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
            "n", "p", "p_holm", "outcome"]
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
            n = len(diff)
            mean = float(np.mean(diff))
            var_t = _testset_var(g, method, b, list(common), pair_on, stage) if "correct" in g.columns else 0.0
            se = math.sqrt((float(np.var(diff, ddof=1)) / n if n >= 2 else 0.0) + var_t)
            dof = n - 1 if var_t == 0 else max(n - 1, 30)  # the test set's part is a sum over many examples
            if n < 2 and var_t == 0:
                p, lo, hi = math.nan, math.nan, math.nan
            elif se == 0:
                p, lo, hi = (0.0 if mean != 0 else 1.0), mean, mean
            else:
                q = float(_st.t.ppf(0.5 + level / 2, dof))
                p = float(2 * _st.t.sf(abs(mean) / se, dof))
                lo, hi = mean - q * se, mean + q * se
            rows.append({"model": model, "stage": stage, "sparsity": float(sp), "method": method, "baseline": b,
                         "mean_method": float(a[common].mean()), "mean_baseline": float(bb[common].mean()),
                         "diff": round(mean, 12), "lo": lo, "hi": hi, "n": n, "p": p})
    out = pd.DataFrame(rows, columns=cols)
    if len(out):
        out["p_holm"] = holm(out["p"].to_numpy())
        sig = out.p_holm < 1 - level
        out["outcome"] = np.where(sig & (out["diff"] > 0), "better", np.where(sig & (out["diff"] < 0), "worse", "tie"))
    return out


def _testset_var(g: pd.DataFrame, method: str, baseline: str, reps: list, pair_on: str, stage: str) -> float:
    """Variance, from the finite test set, of the mean over ``reps`` of the paired difference in one cell
    (the replicates share the test examples: the per-example differences are averaged over replicates
    first). 0 when a replicate lacks its per-example column."""
    d = g[g["stage"] == stage] if "stage" in g.columns else g
    a = d[d["method"] == method].drop_duplicates(pair_on).set_index(pair_on)["correct"]
    b = d[d["method"] == baseline].drop_duplicates(pair_on).set_index(pair_on)["correct"]
    per = []
    for r in reps:
        ca, cb = unpack_correct(a.get(r)), unpack_correct(b.get(r))
        if ca is None or cb is None or len(ca) != len(cb) or len(ca) < 2:
            return 0.0
        per.append(ca.astype(np.int8) - cb.astype(np.int8))
    e = np.mean(per, axis=0)
    return float(e.var(ddof=1)) / len(e)


def pack_correct(correct: Sequence[bool] | np.ndarray) -> str:
    """Per-example correctness as a compact text cell: ``"<n>:<base64 of the packed bits>"``.

    Example:
        >>> cell = pack_correct([True, False, True])
        >>> cell, unpack_correct(cell).tolist()
        ('3:oA==', [True, False, True])
    """
    c = np.asarray(correct, dtype=bool).ravel()
    return f"{len(c)}:" + base64.b64encode(np.packbits(c).tobytes()).decode("ascii")


def unpack_correct(cell: object) -> np.ndarray | None:
    """The boolean array of :func:`pack_correct`, or None for an empty or malformed cell."""
    if not isinstance(cell, str) or ":" not in cell:
        return None
    n, _, data = cell.partition(":")
    try:
        n = int(n)
        bits = np.unpackbits(np.frombuffer(base64.b64decode(data, validate=True), dtype=np.uint8))
    except (ValueError, TypeError):
        return None
    if n < 0 or len(bits) < n:
        return None
    return bits[:n].astype(bool)


__all__ = ["pack_correct", "unpack_correct", "t_interval", "mean_interval", "summarize", "compare_methods"]
