"""Calibration of the ``qmfrg`` verdict rule: how often it is wrong, on simulated sweeps of the real shape.

A simulated sweep has the shape of a real one (models, sparsities, criteria, seeds, the baselines'
mean accuracy per cell, the chance level) and its noise: every criterion's top-1 at a (model,
sparsity, seed) is the cell mean + a seed effect shared by all criteria (the dense model and the
calibration draw) + an independent part of standard deviation ``noise_sd``, both estimated from
the real ``pruning.csv`` (:func:`shape_from`). Under the **null** every criterion has the cell mean;
under an effect of +δ the endpoint's method gets +δ in every cell above chance. Each simulated
sweep is decided by :func:`qkernels.suite.sections.pruning.endpoint.pruning_decision` — the same
code that decides the real run — and the verdicts are counted.

False verdicts: "supported" when the true effect is ≤ 0 (goal ≤ 5%; the rule allows 2.5%), "refuted"
when the true effect is ≥ the margin (goal ≤ 5%). Power: "supported" at +3 points (goal ≥ 80% with
the deciding profile's seeds). Under the null, "refuted" is a correct verdict (the method is not
better by the margin), reported as its own rate.

Example:
    >>> shape = default_shape(replicates=10)
    >>> t = calibrate(shape, effects=(0.0, 0.08), sims=40, seed=1)
    >>> t[["effect_points", "sims"]].to_dict("records")
    [{'effect_points': 0.0, 'sims': 40}, {'effect_points': 8.0, 'sims': 40}]
    >>> bool(t.supported.iloc[1] > 0.9), bool(t.supported.iloc[0] < 0.2)
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qkernels.suite.sections.pruning.endpoint import (
    PRIMARY,
    PruningEndpoint,
    chance_level,
    pruning_decision,
    with_replicate,
)
from qkernels.suite.verdict import verdict_of

#: the effects (accuracy points / 100) the calibration is run at
EFFECTS = (0.0, 0.01, 0.03, 0.08)
#: simulated sweeps per effect in the report's calibration table
SIMS = 400
#: noise when there is no real sweep to estimate it from (a typical SD of one criterion's top-1 over seeds)
DEFAULT_NOISE_SD = 0.02


@dataclass(frozen=True)
class SweepShape:
    """What a simulated sweep copies from a real one."""

    models: tuple[str, ...]
    sparsities: tuple[float, ...]
    methods: tuple[str, ...]
    replicates: int
    cell_means: tuple[tuple[str, float, float], ...]  # (model, sparsity, mean top-1 of the baselines)
    noise_sd: float
    seed_sd: float
    n_classes: int = 10
    #: (model, chance) where a model's chance is not 1 / n_classes (e.g. pitch accuracy)
    chances: tuple[tuple[str, float], ...] = ()

    def chance_of(self, model: str) -> float:
        return dict(self.chances).get(model, 1.0 / self.n_classes)

    def describe(self) -> str:
        return (f"{len(self.models)} model(s) × {len(self.sparsities)} sparsities ≥ {min(self.sparsities):g} × "
                f"{len(self.methods)} criteria × {self.replicates} seeds; noise SD {100 * self.noise_sd:.2f} pts "
                f"per criterion and seed (+ {100 * self.seed_sd:.2f} pts shared by the criteria of a seed)")


def default_shape(replicates: int = 10, ep: PruningEndpoint = PRIMARY) -> SweepShape:
    """The quick profile's shape (two models, sparsities 0.5/0.7/0.9, one cell at chance) with default noise."""
    means = (("mlp", 0.5, 0.66), ("mlp", 0.7, 0.48), ("mlp", 0.9, 0.24), ("resnet", 0.5, 0.25),
             ("resnet", 0.7, 0.11), ("resnet", 0.9, 0.10))
    return SweepShape(("mlp", "resnet"), (0.5, 0.7, 0.9), (ep.method, *ep.baselines), replicates, means,
                      DEFAULT_NOISE_SD, 0.01)


def shape_from(df: pd.DataFrame, replicates: int | None = None, ep: PruningEndpoint = PRIMARY) -> SweepShape | None:
    """The shape and noise of the real sweep in ``df`` (None when it has no endpoint rows).

    ``noise_sd`` is the pooled residual SD of a two-way (criterion × seed) decomposition of the top-1 of
    the endpoint's criteria in each cell above chance (what paired differences do not cancel);
    ``seed_sd`` the SD of the seed means around the cell mean (shared by the criteria of a seed).
    """
    df = with_replicate(df)
    need = {"model", "method", "sparsity", "replicate", "accuracy"}
    if df.empty or not need <= set(df.columns):
        return None
    d = df[df["stage"] == ep.stage] if "stage" in df.columns else df
    family = (ep.method, *ep.baselines)
    d = d[(pd.to_numeric(d.sparsity, errors="coerce") >= ep.min_sparsity - 1e-9) & d.method.isin(family)]
    if d.empty:
        return None
    chances = {str(m): chance_level(df, m) for m in d.model.unique()}
    chance = chance_level(df)
    piv = d.pivot_table(index=["model", "sparsity", "replicate"], columns="method", values="accuracy", aggfunc="mean")
    means, ss, dof, seed_terms = [], 0.0, 0, []
    for (model, sp), g in piv.groupby(level=[0, 1], sort=True):
        base = [b for b in ep.baselines if b in g.columns]
        cm = float(np.nanmean(g[base].to_numpy())) if base else float(np.nanmean(g.to_numpy()))
        means.append((str(model), float(sp), cm))
        x = g.dropna().to_numpy()
        if g.to_numpy().max(initial=0) < ep.chance_factor * chances[str(model)] or x.shape[0] < 2 or x.shape[1] < 2:
            continue
        r = x - x.mean(axis=0, keepdims=True) - x.mean(axis=1, keepdims=True) + x.mean()
        ss += float((r ** 2).sum())
        dof += (x.shape[0] - 1) * (x.shape[1] - 1)
        seed_terms.append(float(x.mean(axis=1).var(ddof=1)))
    noise = float(np.sqrt(ss / dof)) if dof else DEFAULT_NOISE_SD
    seed_sd = float(np.sqrt(max(0.0, np.mean(seed_terms) - noise ** 2 / len(family)))) if seed_terms else 0.01
    reps = int(replicates or d.replicate.nunique())
    k = int(round(1 / chance)) if chance > 0 else 10
    return SweepShape(tuple(dict.fromkeys(m for m, _, _ in means)), tuple(sorted({s for _, s, _ in means})),
                      family, reps, tuple(means), noise, seed_sd, k,
                      tuple((m, c) for m, c in chances.items() if abs(c - 1.0 / k) > 1e-12))


def _draw(shape: SweepShape, effect: float, rng: np.random.Generator, ep: PruningEndpoint) -> np.ndarray:
    """Simulated top-1, shape (cells, methods, seeds), in the order of ``shape.cell_means`` and ``shape.methods``."""
    chance = np.array([shape.chance_of(model) for model, _, _ in shape.cell_means])
    means = np.array([m for _, _, m in shape.cell_means])
    n_c, n_m, n_s = len(means), len(shape.methods), shape.replicates
    shared = rng.normal(0.0, shape.seed_sd, size=(n_c, 1, n_s))
    own = rng.normal(0.0, shape.noise_sd, size=(n_c, n_m, n_s))
    bonus = np.zeros((n_c, n_m, 1))
    if ep.method in shape.methods:
        bonus[means >= ep.chance_factor * chance, shape.methods.index(ep.method), 0] = effect
    return np.clip(means[:, None, None] + shared + own + bonus, 0.0, 1.0)


def _frame(shape: SweepShape, acc: np.ndarray, ep: PruningEndpoint) -> pd.DataFrame:
    rows = [{"model": model, "stage": ep.stage, "method": meth, "sparsity": sp, "replicate": r,
             "accuracy": float(acc[c, m, r]), "n_classes": shape.n_classes, "chance": shape.chance_of(model)}
            for c, (model, sp, _) in enumerate(shape.cell_means) for r in range(shape.replicates)
            for m, meth in enumerate(shape.methods)]
    return pd.DataFrame(rows)


def simulate(shape: SweepShape, effect: float, rng: np.random.Generator, ep: PruningEndpoint = PRIMARY) -> pd.DataFrame:
    """One simulated ``pruning.csv`` (the endpoint's columns) of ``shape`` with true effect ``effect``."""
    return _frame(shape, _draw(shape, effect, rng, ep), ep)


def fast_verdict(shape: SweepShape, acc: np.ndarray, ep: PruningEndpoint = PRIMARY) -> str:
    """The verdict :func:`pruning_decision` gives on ``_frame(shape, acc)``, computed on the array
    (same exclusion, same paired differences, same rule; checked equal in the tests)."""
    chance = np.array([shape.chance_of(model) for model, _, _ in shape.cell_means])
    best = acc.mean(axis=2).max(axis=1)
    inc = best >= ep.chance_factor * chance
    if not inc.any() or acc.shape[2] < 2 or ep.method not in shape.methods:
        return "not measured"
    i = shape.methods.index(ep.method)
    est, se, df = [], [], []
    for b in ep.baselines:
        if b not in shape.methods:
            continue
        d = (acc[inc, i, :] - acc[inc, shape.methods.index(b), :]).mean(axis=0)
        est.append(d.mean())
        se.append(d.std(ddof=1) / np.sqrt(len(d)))
        df.append(len(d) - 1)
    return verdict_of(np.array(est), np.array(se), np.array(df), ep.margin)


def calibrate(shape: SweepShape, effects=EFFECTS, sims: int = SIMS, seed: int = 0,
              ep: PruningEndpoint = PRIMARY, exact: bool = False) -> pd.DataFrame:
    """Verdict rates of the rule on ``sims`` simulated sweeps per effect (deterministic for a seed).

    Columns: ``effect_points``, ``sims``, ``seeds``, ``supported``, ``refuted``, ``inconclusive``,
    ``false_verdict`` (supported at effect ≤ 0, refuted at effect ≥ margin, else NaN) and ``mc_se`` (its
    Monte-Carlo standard error). ``exact``: decide each sweep through its pruning.csv frame with
    :func:`pruning_decision` instead of :func:`fast_verdict` (same verdicts, ~50× slower).
    """
    rows = []
    for e in effects:
        rng = np.random.default_rng([seed, int(round(1e4 * e))])
        counts = {"supported": 0, "refuted": 0, "inconclusive": 0, "not measured": 0}
        for _ in range(sims):
            acc = _draw(shape, e, rng, ep)
            v = pruning_decision(_frame(shape, acc, ep), ep).verdict if exact else fast_verdict(shape, acc, ep)
            counts[v] += 1
        rate = {k: v / sims for k, v in counts.items()}
        false = rate["supported"] if e <= 0 else rate["refuted"] if e >= ep.margin - 1e-12 else np.nan
        rows.append({"effect_points": 100 * e, "sims": sims, "seeds": shape.replicates,
                     "supported": rate["supported"], "refuted": rate["refuted"],
                     "inconclusive": rate["inconclusive"], "false_verdict": false,
                     "mc_se": float(np.sqrt(false * (1 - false) / sims)) if np.isfinite(false) else np.nan})
    return pd.DataFrame(rows)


__all__ = ["EFFECTS", "SIMS", "DEFAULT_NOISE_SD", "SweepShape", "default_shape", "shape_from", "simulate",
           "fast_verdict", "calibrate"]
