"""The pre-declared primary endpoint of the ``qmfrg`` claim and how it is computed from ``pruning.csv``.

The claim: *QM-FRG pruning beats magnitude and random pruning at high sparsity.* Declared before
any measurement (and in docs/report.md):

- **method** ``qmfrg`` (the paper's form; our variants are secondary analyses);
- **baselines** ``l1``, ``l2``, ``random`` (magnitude and random pruning): a family of K = 3;
- **stage** ``oneshot`` (pruned, BatchNorm re-estimated, no fine-tuning), top-1 accuracy;
- **sparsities** ≥ 0.5 of the profile, every model of the run, **excluding cells at chance**: a
  (model, sparsity) cell where the best criterion's mean accuracy is below 2 × chance
  (chance per model: the ``chance`` column, else 1 / ``n_classes``, else 0.1; for pitch it is the
  share of the f0 range within ±50 cents) says nothing about criteria;
- **effect** per seed: the mean over the included cells of accuracy(qmfrg) − accuracy(baseline),
  paired on ``replicate`` (same dense model, same calibration draw); its standard error over seeds,
  plus the variance of the finite test set when the per-example column ``correct`` is present
  (seeds and test examples both sampled);
- **margin** 1 point (0.01): "refuted" means the corrected interval lies below +1 point for some
  baseline (worse, or equivalent within ±1 point);
- **decision** by :func:`qkernels.suite.verdict.decide` (Holm over the 3 baselines, 2.5% per
  direction).

Example:
    >>> import pandas as pd
    >>> rows = [{"model": "m", "stage": "oneshot", "method": meth, "sparsity": sp, "replicate": s,
    ...          "accuracy": acc + 0.01 * s + 0.003 * (s % 2) * (meth == "qmfrg")}
    ...         for meth, acc in (("qmfrg", 0.8), ("l1", 0.7), ("l2", 0.7), ("random", 0.5))
    ...         for sp in (0.5, 0.7) for s in range(10)]
    >>> pruning_decision(pd.DataFrame(rows)).verdict
    'supported'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qkernels.suite.stats import unpack_correct
from qkernels.suite.verdict import Comparison, Decision, decide, paired_comparison

#: chance level assumed when pruning.csv has no ``n_classes`` column
DEFAULT_CHANCE = 0.1


@dataclass(frozen=True)
class PruningEndpoint:
    """A pre-declared paired endpoint on ``pruning.csv`` (see the module docstring)."""

    method: str = "qmfrg"
    baselines: tuple[str, ...] = ("l1", "l2", "random")
    stage: str = "oneshot"
    min_sparsity: float = 0.5
    margin: float = 0.01
    chance_factor: float = 2.0
    models: tuple[str, ...] | None = None  # None: every model in the CSV

    def describe(self) -> str:
        models = ", ".join(self.models) if self.models else "every model of the run"
        return (f"Primary endpoint: {self.stage} top-1 of `{self.method}` minus each of "
                f"{', '.join(f'`{b}`' for b in self.baselines)}, averaged over the sparsities ≥ {self.min_sparsity:g} "
                f"and {models}, cells where the best criterion is below {self.chance_factor:g}× chance excluded; "
                f"paired over seeds; margin {100 * self.margin:g} point(s).")


#: the claim's primary endpoint
PRIMARY = PruningEndpoint()
#: the least replicates (paired seeds) a profile that decides the claim uses
MIN_DECIDING_SEEDS = 10


def chance_level(df: pd.DataFrame, model: str | None = None) -> float:
    """The metric's chance level of ``model`` (or the first model's) from the CSV: its ``chance``
    column, else 1 / ``n_classes``, else :data:`DEFAULT_CHANCE`.

    Example:
        >>> chance_level(pd.DataFrame({"model": ["a", "b"], "n_classes": [10, 0], "chance": [None, 0.02]}), "b")
        0.02
    """
    if model is not None and "model" in df.columns:
        df = df[df["model"] == model]
    if "chance" in df.columns:
        c = pd.to_numeric(df["chance"], errors="coerce").dropna()
        if len(c) and 0 < c.iloc[0] < 1:
            return float(c.iloc[0])
    if "n_classes" in df.columns:
        k = pd.to_numeric(df["n_classes"], errors="coerce").dropna()
        if len(k) and k.iloc[0] >= 2:
            return 1.0 / float(k.iloc[0])
    return DEFAULT_CHANCE


def cell_table(df: pd.DataFrame, ep: PruningEndpoint = PRIMARY) -> pd.DataFrame:
    """Per (model, sparsity) of the endpoint: the best criterion's mean top-1, chance, ``included``."""
    d = _rows(df, ep)
    cols = ["model", "sparsity", "best_method", "best_accuracy", "chance", "included"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    means = d.groupby(["model", "sparsity", "method"], sort=True).accuracy.mean().reset_index()
    rows = []
    for (model, sp), g in means.groupby(["model", "sparsity"], sort=True):
        chance = chance_level(df, model)
        best = g.loc[g.accuracy.idxmax()]
        rows.append({"model": model, "sparsity": float(sp), "best_method": best.method,
                     "best_accuracy": float(best.accuracy), "chance": chance,
                     "included": bool(best.accuracy >= ep.chance_factor * chance)})
    return pd.DataFrame(rows, columns=cols)


def with_replicate(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``replicate`` column (pairs are matched on it): ``seed`` stands in when it is absent."""
    if "replicate" not in df.columns and "seed" in df.columns:
        return df.assign(replicate=df["seed"])
    return df


def _rows(df: pd.DataFrame, ep: PruningEndpoint) -> pd.DataFrame:
    df = with_replicate(df)
    need = {"model", "method", "sparsity", "replicate", "accuracy"}
    if df.empty or not need <= set(df.columns):
        return df.iloc[0:0]
    d = df[df["stage"] == ep.stage] if "stage" in df.columns else df
    d = d[pd.to_numeric(d["sparsity"], errors="coerce") >= ep.min_sparsity - 1e-9]
    if ep.models is not None:
        d = d[d["model"].isin(ep.models)]
    return d.assign(accuracy=pd.to_numeric(d["accuracy"], errors="coerce"),
                    sparsity=pd.to_numeric(d["sparsity"], errors="coerce").round(9))


def _testset_var(d: pd.DataFrame, method: str, baseline: str, cells: list[tuple], reps: list) -> float:
    """Variance of the endpoint's mean from the finite test set (0 when ``correct`` is absent)."""
    if "correct" not in d.columns:
        return 0.0
    key = ["model", "sparsity", "replicate"]
    a = d[d.method == method].drop_duplicates(key).set_index(key)["correct"]
    b = d[d.method == baseline].drop_duplicates(key).set_index(key)["correct"]
    groups: dict[tuple, list[np.ndarray]] = {}
    data_of = d.drop_duplicates("model").set_index("model")["data"] if "data" in d.columns else None
    for cell in cells:
        per_rep = []
        for r in reps:
            ca, cb = unpack_correct(a.get((*cell, r))), unpack_correct(b.get((*cell, r)))
            if ca is None or cb is None or len(ca) != len(cb):
                return 0.0
            per_rep.append(ca.astype(np.int8) - cb.astype(np.int8))
        gkey = (data_of.get(cell[0]) if data_of is not None else None, len(per_rep[0]))
        groups.setdefault(gkey, []).append(np.mean(per_rep, axis=0))
    total = 0.0
    n_cells = len(cells)
    for (_, n), per_cell in groups.items():
        if n < 2:
            return 0.0
        e = np.mean(per_cell, axis=0)  # cells of one test set share its examples
        total += (len(per_cell) / n_cells) ** 2 * float(e.var(ddof=1)) / n
    return total


def comparisons(df: pd.DataFrame, ep: PruningEndpoint = PRIMARY) -> tuple[list[Comparison], pd.DataFrame]:
    """The endpoint's family (one :class:`Comparison` per baseline) and its cell table."""
    d = _rows(df, ep)
    cells_t = cell_table(df, ep)
    inc = [(r.model, r.sparsity) for r in cells_t.itertuples() if r.included]
    fam = []
    for b in ep.baselines:
        label = f"{ep.method} − {b}"
        piv = d[d.method.isin([ep.method, b])].pivot_table(index="replicate", columns=["method", "model", "sparsity"],
                                                             values="accuracy", aggfunc="mean")
        if ep.method not in piv.columns.get_level_values(0) or b not in piv.columns.get_level_values(0):
            fam.append(Comparison(label, math.nan, math.nan, math.nan, 0,
                                  f"`{ep.method}` or `{b}` not in the run at these sparsities"))
            continue
        cells = [c for c in inc if (ep.method, *c) in piv.columns and (b, *c) in piv.columns]
        if not cells:
            fam.append(Comparison(label, math.nan, math.nan, math.nan, 0, "no cell above chance"))
            continue
        diff = pd.concat([piv[(ep.method, *c)] - piv[(b, *c)] for c in cells], axis=1).dropna()
        reps = list(diff.index)
        tv = _testset_var(d, ep.method, b, cells, reps) if reps else 0.0
        fam.append(paired_comparison(label, diff.mean(axis=1).to_numpy(), tv,
                                     note=f"{len(cells)} cells, {len(reps)} seeds" + (", test-set variance added"
                                                                                     if tv > 0 else "")))
    return fam, cells_t


def pruning_decision(df: pd.DataFrame, ep: PruningEndpoint = PRIMARY) -> Decision:
    """The verdict of endpoint ``ep`` from the rows of ``pruning.csv``."""
    fam, cells_t = comparisons(df, ep)
    excl = cells_t[~cells_t.included] if len(cells_t) else cells_t
    what = ep.describe()
    if len(excl):
        what += " Excluded at chance: " + ", ".join(
            f"{r.model} p={r.sparsity:g} (best {r.best_method} {r.best_accuracy:.3f})" for r in excl.itertuples()) + "."
    n = max((c.n for c in fam), default=0)
    if 0 < n < MIN_DECIDING_SEEDS:
        what += (f" Only {n} paired seeds (a deciding profile uses ≥ {MIN_DECIDING_SEEDS}): the rule keeps its error "
                 "rates, but its power is low (see the calibration table).")
    return decide(fam, margin=ep.margin, scale=100, unit=" pts", what=what)


def family_table(d: Decision) -> pd.DataFrame:
    """A decision's family as the report shows it: points, simultaneous intervals, Holm p-values."""
    f = d.family
    if f.empty:
        return f
    return pd.DataFrame({"comparison": f.comparison, "Δ top-1 (pts)": 100 * f.estimate,
                         "simultaneous 95% interval (pts)": [f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"
                                                             for lo, hi in zip(f.lo, f.hi)],
                         "seeds": f.n, "Holm p (Δ > 0)": f.p_positive_holm,
                         "Holm p (Δ < margin)": f.p_below_margin_holm, "data": f.note})


__all__ = ["PruningEndpoint", "family_table", "PRIMARY", "MIN_DECIDING_SEEDS", "DEFAULT_CHANCE", "chance_level", "with_replicate", "cell_table",
           "comparisons", "pruning_decision"]
