"""The report part and the claims row of the functional claim (:mod:`.functional` holds its decision).

The part: the candidate chosen on the calibration split, its verdict against every baseline, the
issue's goal one-shot and fine-tuned with every candidate against the best baseline of each cell,
merge against drop, the selection check against the reconstructed baselines, and, in runs with the
deciding profile's seeds, the error rates of the rule with the choice included (simulated,
:func:`~.functional.simulate_false_support`).
The quantum version's table is added by :mod:`.report`.

Example:
    >>> import pandas as pd
    >>> functional_claim(pd.DataFrame({"model": ["m"], "stage": ["oneshot"], "method": ["l1"], "sparsity": [0.5],
    ...                                "replicate": [0], "accuracy": [0.5]})).verdict
    'not measured'
"""

from __future__ import annotations

import pandas as pd

from qkernels.suite.document.blocks import Block, Heading, Paragraph, Table, badge
from qkernels.suite.sections.base import Claim
from qkernels.suite.sections.pruning.endpoint import MIN_DECIDING_SEEDS, family_table
from qkernels.suite.sections.pruning.functional import SPARSITIES as FUNCTIONAL_SPARSITIES
from qkernels.suite.sections.pruning.functional import (
    choose_candidate,
    functional_decision,
    goal_summary,
    goal_table,
    selection_check,
    simulate_false_support,
)
from qkernels.suite.sections.pruning.plan import FUNCTIONAL_CANDIDATES
from qkernels.suite.stats import compare_methods

#: anchor of the functional claim's part
FUNCTIONAL_ANCHOR = "pruning-functional"
#: the rule's simulated settings: (shared model-quality sd, true effect of one candidate), both in accuracy units
RULE_SETTINGS = ((0.0, 0.0), (0.02, 0.0), (0.05, 0.0), (0.02, 0.03))
#: simulated sweeps per setting
RULE_SIMS = 400


def functional_claim(pr: pd.DataFrame) -> Claim:
    """The verdict on the ``functional`` claim (:mod:`.functional`), with the issue's goal in the evidence."""
    f = functional_decision(pr)
    if f is None:
        return Claim("functional", "not measured", "no functional candidate or no baseline of the claim at p = 0.5 "
                     "and 0.7 in this run's pruning.csv (profile standard or functional)", FUNCTIONAL_ANCHOR)
    chosen = choose_candidate(pr)[0]
    goals = " ".join(goal_summary(pr, chosen, st)[1] for st in ("oneshot", "finetuned") if (pr.stage == st).any())
    return Claim("functional", f.verdict, f.evidence + " " + goals, FUNCTIONAL_ANCHOR, f.headline)


def functional_part(pr: pd.DataFrame) -> list[Block]:
    """The functional claim: the candidate chosen on the calibration split, its verdict against every baseline,
    every candidate against the best baseline per cell (one-shot and fine-tuned), and the selection check."""
    f = functional_decision(pr)
    if f is None:
        return []
    chosen, sel, how = choose_candidate(pr)
    out: list[Block] = [Heading(3, "The functional claim: a functional spectral criterion against the best baseline",
                                anchor=FUNCTIONAL_ANCHOR), Paragraph(
        f"Verdict: {badge(f.verdict)} — {f.headline}. Beyond the paper (docs/pruning.md, \"The functional claim\"): "
        "QM-FRG on functional states (activation, whitened and filter states, docs/theory.md) with and without "
        "merges, and the subspace criterion `qmfrg-span`. The candidate is " + how + "; the test split plays no part "
        "in the choice. Endpoint: its one-shot test metric minus each baseline's (including the data-aware "
        "`activation` and `thinet`, and the `-ls-kept` baselines, with the same least-squares "
        "reconstruction), averaged over the models and p ∈ {"
        + ", ".join(f"{s:g}" for s in FUNCTIONAL_SPARSITIES) + "}, cells at chance excluded, paired over seeds; Holm "
        "over the baselines, margin 1 point.")]
    if len(sel):
        out.append(Table(sel, "The choice: mean one-shot metric of each candidate on the calibration split"))
    if not f.family.empty:
        out.append(Table(family_table(f), "The functional endpoint's comparisons (chosen candidate − each baseline)"))
    for stage in ("oneshot", "finetuned"):
        t = goal_table(pr, stage)
        if t.empty:
            continue
        met, text = goal_summary(pr, chosen, stage)
        out.append(Paragraph(f"**Goal ({'one-shot' if stage == 'oneshot' else 'fine-tuned'}):** {text}"))
        out.append(Table(t, f"Every candidate against the best baseline of each cell ({stage}); intervals "
                            "simultaneous over the table's rows (Bonferroni)"))
    md = merge_vs_drop(pr)
    if len(md):
        out.append(Table(md, "Merge against drop at equal MACs: each merged functional criterion minus the same state "
                             "without merge (paired over seeds; mean Δ and 95% t-interval in points, per model and p)"))
    sc = selection_check(pr)
    if len(sc):
        out.append(Table(sc, "Does the selection matter once the merge is the same? Merged candidates against the "
                             "baselines with the same least-squares reconstruction (mean one-shot Δ over the claim's "
                             "cells)"))
    seeds = int(pr.replicate.nunique()) if "replicate" in pr.columns else 0
    # the rule's error rates depend on the rule, not on the run: shown where a deciding profile runs (≥ 10 seeds),
    # which keeps the quick profile's report fast
    return out + (rule_part() if seeds >= MIN_DECIDING_SEEDS else [])


def merge_vs_drop(pr: pd.DataFrame) -> pd.DataFrame:
    """``qmfrg-<state>-<merge>`` against ``qmfrg-<state>``, one-shot and fine-tuned, per model × sparsity."""
    rows = []
    present = set(pr.method)
    for merged in FUNCTIONAL_CANDIDATES:
        parts = merged.split("-")
        if len(parts) < 3 or merged == "qmfrg-span":
            continue
        base = "-".join(parts[:2])
        if merged not in present or base not in present:
            continue
        for stage in ("oneshot", "finetuned"):
            g = compare_methods(pr, merged, [base], min_sparsity=min(FUNCTIONAL_SPARSITIES), stage=stage)
            for r in g.itertuples():
                rows.append({"merged": merged, "drop": base, "stage": stage, "model": r.model, "p": r.sparsity,
                             "Δ (pts)": 100 * r.diff, "95% (pts)": f"[{100 * r.lo:+.2f}, {100 * r.hi:+.2f}]",
                             "seeds": r.n})
    return pd.DataFrame(rows)


def rule_part(sims: int = RULE_SIMS) -> list[Block]:
    """How often the functional rule errs with the choice on the calibration split included (simulated)."""
    rows = []
    for model_sd, effect in RULE_SETTINGS:
        r = simulate_false_support(model_sd=model_sd, effect=effect, sims=sims, seed=1)
        rows.append({"model quality sd (pts)": 100 * model_sd, "true effect of one candidate (pts)": 100 * effect,
                     "supported": r["false_supported"], "refuted": r["refuted"], "sweeps": sims,
                     "95% upper bound when 0": r["upper95"] if r["supported_count"] == 0 else None})
    return [Table(pd.DataFrame(rows), (
        "Error rates of the functional rule, the choice included: 9 candidates and 11 baselines that do not differ "
        "(or one candidate better by the effect), 8 cells, 10 seeds; each pruned model has its own quality shared "
        "by the calibration and test splits (the source of selection bias) and 1 point of split noise; chosen on "
        "calibration, decided on test by the claim's rule. With effect 0, supported is a false verdict (goal ≤ "
        "2.5%); with +3 points it is the power"))]


__all__ = ["FUNCTIONAL_ANCHOR", "RULE_SETTINGS", "RULE_SIMS", "functional_claim", "functional_part", "merge_vs_drop",
           "rule_part"]
