"""The functional claim: *a functional spectral criterion beats the best baseline* (beyond the paper).

Declared before measuring (docs/pruning.md, "The functional claim"):

- **candidates**: the functional QM-FRG criteria of :data:`FUNCTIONAL_CANDIDATES` (activation,
  whitened and filter states, with and without merges, and the subspace criterion ``qmfrg-span``);
- **choice on the calibration split**: the candidate with the highest mean one-shot metric on the
  calibration split (``calib_accuracy``), averaged over the models and the sparsities 0.5 and 0.7.
  The test split plays no part in the choice. A CSV without ``calib_accuracy`` uses the
  pre-declared :data:`DEFAULT_CANDIDATE`;
- **baselines**: every baseline of :data:`FUNCTIONAL_BASELINES` in the run (magnitude, random,
  FPGM, BN scale, Taylor, the data-aware activation and ThiNet criteria, and the strongest forms
  ``<baseline>-ls-kept`` with the same least-squares reconstruction as the merged candidates);
- **endpoint**: one-shot test metric of the chosen candidate minus each baseline, averaged over
  the models and p ∈ {0.5, 0.7}, cells at chance excluded, paired over seeds; Holm over the
  baselines, margin 1 point (:func:`~qkernels.suite.sections.pruning.endpoint.pruning_decision`):
  supported = ahead of every baseline, so of the best one;
- **goal** (the issue's, reported beside the verdict): ahead of the best baseline of each cell by
  ≥ 1 point at p = 0.5 and 0.7 on at least two models, with the simultaneous (Bonferroni over the
  table's comparisons) 95% interval excluding 0.

Example:
    >>> import pandas as pd
    >>> rows = [{"model": "m", "stage": "oneshot", "method": meth, "sparsity": sp, "replicate": r,
    ...          "accuracy": acc + 0.001 * r, "calib_accuracy": acc}
    ...         for meth, acc in (("qmfrg-span", 0.9), ("qmfrg-act", 0.8), ("l1", 0.7)) for sp in (0.5, 0.7)
    ...         for r in range(10)]
    >>> choose_candidate(pd.DataFrame(rows))[0]
    'qmfrg-span'
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as _st

from qkernels.suite.sections.pruning.endpoint import PruningEndpoint, cell_table, pruning_decision, with_replicate
from qkernels.suite.sections.pruning.plan import FUNCTIONAL_BASELINES, FUNCTIONAL_CANDIDATES
from qkernels.suite.verdict import Decision

#: the sparsities of the claim and of the goal
SPARSITIES = (0.5, 0.7)
#: the candidate when the CSV has no calibration-split metric (declared before any measurement)
DEFAULT_CANDIDATE = "qmfrg-span"
#: the goal: lead over the best baseline (points), on at least this many models
GOAL_POINTS, GOAL_MODELS = 0.01, 2


def _at(df: pd.DataFrame, stage: str = "oneshot") -> pd.DataFrame:
    d = with_replicate(df).reset_index(drop=True)
    if d.empty or not {"method", "sparsity", "stage"} <= set(d.columns):
        return d.iloc[0:0]
    sp = pd.to_numeric(d.sparsity, errors="coerce").round(9)
    keep = sp.isin([round(s, 9) for s in SPARSITIES]) & (d.stage == stage)
    return d[keep].assign(sparsity=sp[keep])


def candidates_in(df: pd.DataFrame) -> list[str]:
    """The functional candidates present at the claim's sparsities (one-shot rows)."""
    present = set(_at(df).method)
    return [c for c in FUNCTIONAL_CANDIDATES if c in present]


def baselines_in(df: pd.DataFrame) -> list[str]:
    """The claim's baselines present at its sparsities (one-shot rows)."""
    present = set(_at(df).method)
    return [b for b in FUNCTIONAL_BASELINES if b in present]


def choose_candidate(df: pd.DataFrame) -> tuple[str | None, pd.DataFrame, str]:
    """``(chosen, table, how)``: the candidate with the best mean calibration-split metric over the cells
    every candidate has, the table of those means, and a sentence on how it was chosen."""
    d = _at(df)
    cands = candidates_in(df)
    if not cands:
        return None, pd.DataFrame(columns=["candidate", "calibration metric (mean)", "cells"]), "no candidate in the run"
    if "calib_accuracy" not in d.columns or pd.to_numeric(d.calib_accuracy, errors="coerce").notna().sum() == 0:
        chosen = DEFAULT_CANDIDATE if DEFAULT_CANDIDATE in cands else cands[0]
        return chosen, pd.DataFrame(columns=["candidate", "calibration metric (mean)", "cells"]), (
            f"no calibration-split metric in this CSV: the pre-declared default `{chosen}`")
    d = d[d.method.isin(cands)].assign(calib_accuracy=pd.to_numeric(d.calib_accuracy, errors="coerce"))
    cell = d.groupby(["method", "model", "sparsity"]).calib_accuracy.mean().unstack("method")
    cell = cell.dropna(axis=0, how="any")
    if cell.empty:
        chosen = DEFAULT_CANDIDATE if DEFAULT_CANDIDATE in cands else cands[0]
        return chosen, pd.DataFrame(columns=["candidate", "calibration metric (mean)", "cells"]), (
            f"no cell where every candidate has a calibration metric: the pre-declared default `{chosen}`")
    means = cell.mean(axis=0)
    table = pd.DataFrame({"candidate": means.index, "calibration metric (mean)": means.to_numpy(),
                          "cells": len(cell)}).sort_values("calibration metric (mean)", ascending=False)
    chosen = str(table.candidate.iloc[0])
    return chosen, table.reset_index(drop=True), (
        f"chosen on the calibration split: `{chosen}` has the best mean one-shot calibration metric over "
        f"{len(cell)} cells (models × p ∈ {{{', '.join(f'{s:g}' for s in SPARSITIES)}}})")


def endpoint_for(df: pd.DataFrame) -> tuple[PruningEndpoint | None, str]:
    """The claim's endpoint (the chosen candidate against every baseline present) and how it was chosen."""
    chosen, _, how = choose_candidate(df)
    base = baselines_in(df)
    if chosen is None or not base:
        return None, how if chosen is None else "no baseline of the claim in the run"
    return PruningEndpoint(method=chosen, baselines=tuple(base), stage="oneshot", min_sparsity=min(SPARSITIES)), how


def functional_decision(df: pd.DataFrame) -> Decision | None:
    """The verdict of the functional claim (None when it is not measured)."""
    ep, how = endpoint_for(df)
    if ep is None:
        return None
    dec = pruning_decision(_at(df), ep)
    return Decision(dec.verdict, dec.headline, f"Candidate {how}. " + dec.evidence, dec.family)


def goal_table(df: pd.DataFrame, stage: str = "oneshot", level: float = 0.95) -> pd.DataFrame:
    """Every candidate against the best baseline of each cell (model × p): the paired difference over seeds and
    its simultaneous interval (Bonferroni over the table's rows), and whether the cell meets the goal."""
    d = _at(df, stage)
    cols = ["model", "p", "candidate", "best baseline", "candidate mean", "baseline mean", "Δ (pts)",
            "simultaneous 95% (pts)", "seeds", "≥ 1 pt and > 0"]
    cands, base = candidates_in(df), baselines_in(df)
    if d.empty or not cands or not base:
        return pd.DataFrame(columns=cols)
    d = d.assign(accuracy=pd.to_numeric(d.accuracy, errors="coerce"))
    rows = []
    for (model, sp), g in d.groupby(["model", "sparsity"], sort=True):
        means = g[g.method.isin(base)].groupby("method").accuracy.mean()
        if means.empty:
            continue
        best = str(means.idxmax())
        b = g[g.method == best].groupby("replicate").accuracy.mean()
        for c in cands:
            a = g[g.method == c].groupby("replicate").accuracy.mean()
            common = a.index.intersection(b.index)
            if len(common) < 2:
                continue
            diff = (a[common] - b[common]).to_numpy()
            rows.append({"model": model, "p": float(sp), "candidate": c, "best baseline": best,
                         "candidate mean": float(a.mean()), "baseline mean": float(means[best]),
                         "_d": float(diff.mean()), "_se": float(diff.std(ddof=1) / math.sqrt(len(diff))),
                         "seeds": len(diff)})
    if not rows:
        return pd.DataFrame(columns=cols)
    k = len(rows)
    out = []
    for r in rows:
        q = float(_st.t.ppf(1 - (1 - level) / (2 * k), r["seeds"] - 1))
        lo, hi = r["_d"] - q * r["_se"], r["_d"] + q * r["_se"]
        out.append({**{c: r[c] for c in ("model", "p", "candidate", "best baseline", "candidate mean",
                                          "baseline mean", "seeds")},
                    "Δ (pts)": 100 * r["_d"], "simultaneous 95% (pts)": f"[{100 * lo:+.2f}, {100 * hi:+.2f}]",
                    "≥ 1 pt and > 0": bool(r["_d"] >= GOAL_POINTS and lo > 0), "_lo": lo})
    return pd.DataFrame(out)[cols + ["_lo"]].drop(columns="_lo")


def goal_summary(df: pd.DataFrame, candidate: str | None, stage: str = "oneshot") -> tuple[bool, str]:
    """Whether ``candidate`` meets the goal in ``stage`` and a sentence with the numbers."""
    t = goal_table(df, stage)
    if candidate is None or t.empty:
        return False, "goal not measured (no candidate or no baseline at p = 0.5 and 0.7)"
    t = t[t.candidate == candidate]
    met_models = [m for m, g in t.groupby("model") if len(g) == len(SPARSITIES) and bool(g["≥ 1 pt and > 0"].all())]
    cells = "; ".join(f"{r['model']} p={r['p']:g}: {r['Δ (pts)']:+.2f} {r['simultaneous 95% (pts)']} pts vs "
                      f"{r['best baseline']}" for _, r in t.iterrows())
    met = len(met_models) >= GOAL_MODELS
    return met, (f"goal {'met' if met else 'missed'} ({stage}): `{candidate}` is ≥ 1 point ahead of the best baseline "
                 f"with the simultaneous interval above 0 at both p = 0.5 and 0.7 on {len(met_models)} model(s) "
                 f"({', '.join(met_models) or 'none'}; needed {GOAL_MODELS}). Cells: {cells}.")


def selection_check(df: pd.DataFrame) -> pd.DataFrame:
    """Every candidate against the same reconstruction applied to baselines (``<baseline>-ls-kept``): does the
    selection matter once the merge is the same? Mean one-shot differences over the claim's cells."""
    d = _at(df)
    recon = [b for b in baselines_in(df) if b.endswith("-ls-kept")]
    cands = [c for c in candidates_in(df) if c.endswith(("-ls-kept", "span"))]
    if d.empty or not recon or not cands:
        return pd.DataFrame(columns=["candidate", "baseline", "mean Δ (pts)", "cells"])
    cells = [(r.model, r.sparsity) for r in cell_table(d).itertuples() if r.included]
    m = d.assign(accuracy=pd.to_numeric(d.accuracy, errors="coerce")).groupby(["method", "model", "sparsity"]) \
        .accuracy.mean()
    rows = []
    for c in cands:
        for b in recon:
            diffs = [m.get((c, *cell), np.nan) - m.get((b, *cell), np.nan) for cell in cells]
            diffs = [x for x in diffs if np.isfinite(x)]
            if diffs:
                rows.append({"candidate": c, "baseline": b, "mean Δ (pts)": 100 * float(np.mean(diffs)),
                             "cells": len(diffs)})
    return pd.DataFrame(rows)


def simulate_false_support(candidates: int = 9, baselines: int = 11, cells: int = 8, seeds: int = 10,
                           model_sd: float = 0.02, split_sd: float = 0.01, sims: int = 400,
                           seed: int = 0, effect: float = 0.0) -> dict:
    """How often the functional rule says *supported* when nothing differs, with the choice on the
    calibration split included.

    Every method's one-shot result in a (cell, seed) is μ + q + e: q ~ N(0, ``model_sd``²) is the pruned
    model's own quality, shared by its calibration and test metrics (the source of selection bias), e the
    split's noise, N(0, ``split_sd``²), independent. The candidate with the best mean calibration metric is
    chosen, then decided against every baseline on the test metric by the claim's rule. Returns the rates of
    ``supported`` and ``refuted`` (refuted is correct here: no method is better by the margin), and the
    Monte-Carlo standard error (with 0 supported, ``upper95`` = 1 − 0.05^(1/sims) bounds the rate).
    ``effect`` > 0 makes the first candidate truly better by that much (then ``false_supported`` is the power).

    Example:
        >>> r = simulate_false_support(sims=50)
        >>> 0.0 <= r["false_supported"] <= 1.0 and r["sims"] == 50
        True
    """
    from qkernels.suite.verdict import paired_comparison, verdict_of

    rng = np.random.default_rng(seed)
    k = candidates + baselines
    supported = refuted = 0
    for _ in range(sims):
        q = rng.normal(0.0, model_sd, (k, cells, seeds))
        q[0] += effect
        calib = q + rng.normal(0.0, split_sd, q.shape)
        test = q + rng.normal(0.0, split_sd, q.shape)
        chosen = int(np.argmax(calib[:candidates].mean(axis=(1, 2))))
        fam = [paired_comparison("", (test[chosen] - test[candidates + b]).mean(axis=0)) for b in range(baselines)]
        v = verdict_of(np.array([c.estimate for c in fam]), np.array([c.se for c in fam]),
                       np.array([c.df for c in fam]), GOAL_POINTS)
        supported += v == "supported"
        refuted += v == "refuted"
    p = supported / sims
    return {"false_supported": p, "supported_count": supported, "upper95": 1 - 0.05 ** (1 / sims),
            "refuted": refuted / sims, "mc_se": math.sqrt(p * (1 - p) / sims), "effect": effect,
            "sims": sims, "candidates": candidates, "baselines": baselines, "cells": cells, "seeds": seeds,
            "model_sd": model_sd, "split_sd": split_sd}


__all__ = ["SPARSITIES", "DEFAULT_CANDIDATE", "GOAL_POINTS", "GOAL_MODELS", "candidates_in", "baselines_in",
           "choose_candidate", "endpoint_for", "functional_decision", "goal_table", "goal_summary", "selection_check",
           "simulate_false_support"]
