"""The pruning section's checks of the instrument and its cross-architecture claim, from ``pruning.csv``.

- **Controls** (stage ``control``, :mod:`qkernels.suite.sweeps.controls`): channels planted into a
  trained model, exact/near copies (positive) and spectrum twins with another function
  (negative); :func:`control_decisions` gives each control's verdict against the outcome stated
  in :data:`EXPECTED` before it is run. They are checks, never claims of the paper.
- **Cross-architecture substitution** (stage ``cross_arch``, :mod:`qkernels.suite.sweeps.crossarch`):
  :func:`cross_arch_decision` and :func:`cross_arch_claims` decide the ``cross_arch`` claim; the
  block level within one architecture is a secondary analysis.
- :func:`pm_text` and :func:`values_interval`: the "mean ± half-width" cells of the pruning report.

Example:
    >>> pm_text(0.81234, 0.0123), pm_text(0.5, float("nan"))
    ('0.812 ± 0.012', '0.500')
    >>> cross_arch_decision(pd.DataFrame({"stage": ["oneshot"]})) is None
    True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from qkernels.suite.document.blocks import Block, Heading, Paragraph, Table
from qkernels.suite.sections.base import Claim
from qkernels.suite.sections.pruning.endpoint import PRIMARY
from qkernels.suite.stats import t_interval
from qkernels.suite.sweeps.controls import CONTROLS, paired_diffs, paired_values
from qkernels.suite.sweeps.crossarch import SUBSTITUTES, replicate_reductions
from qkernels.suite.verdict import Decision, decide, paired_comparison, worst


def values_interval(values) -> tuple[float, float, int]:
    """``(mean, half-width, n)`` of the 95% t-interval of ``values``."""
    return t_interval(np.asarray(values, dtype=float))


def pm_text(mean: float, half: float) -> str:
    """A "mean ± half-width" table cell (the mean alone without an interval; empty for no mean)."""
    if not np.isfinite(mean):
        return ""
    return f"{mean:.3f} ± {half:.3f}" if np.isfinite(half) else f"{mean:.3f}"


# ---- checks of the instrument (controls) ----------------------------------------------------------
#: stages of the controls and of the cross-architecture units (reported apart, never top-1 curves)
INSTRUMENT_STAGES = ("control", "cross_arch")
#: anchors of the controls' and the cross-architecture parts
CONTROLS_ANCHOR, CROSS_ANCHOR = "pruning-controls", "pruning-cross-arch"
#: the positive control's redundancy criterion (sees the whole operator; folds the removed twin in)
POSITIVE_CRITERION = "qmfrg-aligned-merge"
#: the negative control's criterion: the paper-form spectral criterion with merging
NEGATIVE_CRITERION = "qmfrg-merge"
#: margins of the controls' endpoints: planted pairs found beyond random (fraction), function kept / changed
#: (fraction of test predictions), top-1 (fraction; secondary)
FOUND_MARGIN, AGREE_MARGIN, CONTROL_ACC_MARGIN = 0.25, 0.01, 0.0025
#: what each control is expected to give, stated before it is run
EXPECTED = {
    "positive": ("supported", "a redundancy criterion finds the planted copies (beyond random) and keeps the planted "
                 "model's predictions better than l1, l2 and random removing the same number of channels"),
    "negative": ("supported", "the paper-form d_FS calls the spectrum twins redundant (finds them beyond random) "
                 "although merging them changes the function, unlike the removal of truly redundant copies: the "
                 "blind spot is detected"),
}


def control_decisions(df: pd.DataFrame) -> dict[tuple[str, str], Decision]:
    """The engine's verdict on each control, per model: ``(model, control) -> Decision`` (never a paper claim).

    * positive: (a) pairs found by :data:`POSITIVE_CRITERION` − by random, margin 25 points; (b) its prediction
      agreement with the planted model − that of each of l1, l2, random (Holm over the three), margin 1 point.
    * negative: (a) twins found by :data:`NEGATIVE_CRITERION` − by random, margin 25 points; (b) the predictions
      its merge flips in the negative control − those :data:`POSITIVE_CRITERION` flips in the positive control
      (the removal of truly redundant copies), margin 1 point.
    The verdict needs (a) and (b) (:func:`~qkernels.suite.verdict.worst`); all paired over replicates (same dense
    model). Secondary, never the verdict: :func:`control_secondary`.
    """
    if "stage" not in df.columns or "control" not in df.columns:
        return {}
    c = df[df.stage == "control"]
    out = {}
    for model in dict.fromkeys(c.model):
        for control in CONTROLS:
            if not ((c.model == model) & (c.control == control)).any():
                continue

            def v(ctl, meth, col):
                return paired_values(c, model, ctl, meth, col)

            crit = POSITIVE_CRITERION if control == "positive" else NEGATIVE_CRITERION
            what = "pairs" if control == "positive" else "twins"
            found = decide([paired_comparison(f"{what} found, {crit} − random",
                                              paired_diffs(v(control, crit, "planted_found"),
                                                           v(control, "random", "planted_found")))],
                           margin=FOUND_MARGIN, scale=100, unit=" points",
                           what=f"(a) planted {what} found (exactly one member removed).")
            if control == "positive":
                second = decide([paired_comparison(f"prediction agreement, {crit} − {b}", paired_diffs(
                    v(control, crit, "agreement"), v(control, b, "agreement"))) for b in PRIMARY.baselines],
                    margin=AGREE_MARGIN, scale=100, unit=" points",
                    what="(b) the planted model's test predictions kept after removing the planted count.")
            else:
                second = decide([paired_comparison(
                    f"flipped predictions, {crit} on the twins − {POSITIVE_CRITERION} on the copies",
                    paired_diffs(1 - v("negative", crit, "agreement"),
                                 1 - v("positive", POSITIVE_CRITERION, "agreement")))],
                    margin=AGREE_MARGIN, scale=100, unit=" points",
                    what="(b) function change (test predictions that differ from the planted model's).")
            verdict = worst([found.verdict, second.verdict])
            out[(model, control)] = Decision(verdict, f"{found.headline}; {second.headline}",
                                             f"{found.evidence} {second.evidence}",
                                             pd.concat([found.family, second.family], ignore_index=True))
    return out


def control_secondary(df: pd.DataFrame, model: str, control: str) -> str:
    """Secondary analyses of a control (never its verdict): top-1 against the baselines (positive), what the
    aligned criterion does with the twins (negative), the paper form on the copies (positive)."""
    c = df[(df.stage == "control") & (df.model == model)]

    def v(ctl, meth, col):
        return paired_values(c, model, ctl, meth, col)

    if control == "positive":
        d = decide([paired_comparison(f"top-1, {POSITIVE_CRITERION} − {b}", paired_diffs(
            v(control, POSITIVE_CRITERION, "accuracy"), v(control, b, "accuracy"))) for b in PRIMARY.baselines],
            margin=CONTROL_ACC_MARGIN, scale=100, unit=" points")
        paper = c[(c.control == "positive") & (c.method == NEGATIVE_CRITERION)]
        text = f"Secondary (not part of the verdict): top-1 after removing the planted count, {d.evidence}"
        if not paper.empty:
            text += (f" The paper-form `{NEGATIVE_CRITERION}` finds {paper.planted_found_a.mean():.0%} of the exact "
                     f"copies and {paper.planted_found_b.mean():.0%} of the near copies: a neuron's operator is a "
                     "1 × fan-in row, whose augmented matrix has two singular values, so d_FS reduces it to its norm "
                     "and bias, and natural neighbours can be as close as a near copy.")
        return text
    al = c[(c.control == "negative") & (c.method == "qmfrg-aligned")]
    return ("Secondary (not part of the verdict): `qmfrg-aligned`, which sees the singular vectors, removes a member of "
            f"{al.planted_found.mean():.0%} of the twin pairs." if not al.empty else "")


def controls_part(df: pd.DataFrame) -> list[Block]:
    """The report's "Controls (checks of the instrument)" subsection: a table and each control's verdict."""
    if "stage" not in df.columns or not (df.stage == "control").any() or "control" not in df.columns:
        return []
    c = df[df.stage == "control"]
    rows = []
    for (model, control, meth), g in c.groupby(["model", "control", "method"], sort=False):
        m, h, _ = values_interval(g.accuracy)
        rows.append({"model": model, "control": control, "criterion": meth, "planted k": int(g.planted.median()),
                     "pairs found": round(g.planted_found.mean(), 3), "found (a)": round(g.planted_found_a.mean(), 3),
                     "found (b)": round(g.planted_found_b.mean(), 3), "top-1": pm_text(m, h),
                     "Δ top-1 vs planted": round((g.accuracy - g.planted_accuracy).mean(), 4),
                     "prediction agreement": round(g.agreement.mean(), 4),
                     "logit change": round(g.logit_change.mean(), 4)})
    out: list[Block] = [Heading(3, "Controls (checks of the instrument)", anchor=CONTROLS_ANCHOR), Paragraph(
        "Not claims of the paper: checks that the suite can see what it measures (docs/pruning.md, \"Controls\"). "
        "Into each trained dense model k channels are planted in the first hidden layer (half its width), "
        "each a transformed copy of a source neuron, with the consumer weights of the pair split in half; then "
        "exactly k channels of that layer are pruned by each criterion, every other layer left whole. "
        "**Positive**: exact copies (a) and near copies (b, 1% noise): the function is unchanged, each pair is "
        "redundant. **Negative**: spectrum twins with another function: −w, −b (a) and permuted inputs w·Q (b), "
        "which the paper-form d_FS cannot tell from the source (d_FS = 0). Found = fraction of the k pairs of which "
        "exactly one member was removed; agreement = test predictions equal to the planted model's. Means over "
        f"{c.replicate.nunique()} replicates (top-1: ± 95% CI)."),
        Table(pd.DataFrame(rows), "Per control and criterion: planted pairs found, top-1 and function change "
                                  "against the planted model")]
    for (model, control), d in control_decisions(df).items():
        exp, what = EXPECTED[control]
        ok = "as expected" if d.verdict == exp else f"NOT as expected (expected {exp}): the check fails"
        out.append(Paragraph(f"**{model}, {control} control: {d.verdict}** ({ok}). Expected beforehand: {what}. "
                             f"{d.headline}. {d.evidence}"))
        sec = control_secondary(df, model, control)
        if sec:
            out.append(Paragraph(sec))
    return out


# ---- cross-architecture substitution: the cross_arch claim ------------------------------------------
#: margin of the cross_arch endpoint: the nearest substitute must reduce the output change by 10%
CROSS_MARGIN = 0.10


def cross_arch_decision(df: pd.DataFrame) -> Decision | None:
    """The cross_arch verdict: per direction (target ← source), the fractional reduction of the output change
    by the nearest-by-d_FS substitute against a random one, 1 − change(nearest)/change(random), one value per
    replicate (operators averaged within it); Holm over the directions, margin 10%. None without such rows."""
    red = replicate_reductions(df) if "stage" in df.columns and "substitute" in df.columns else pd.DataFrame()
    if red.empty:
        return None
    fam = [paired_comparison(f"{t} ← {s}", g.reduction.to_numpy())
           for (t, s), g in red.groupby(["model", "cross_source"], sort=False)]
    return decide(fam, margin=CROSS_MARGIN, scale=100, unit="%", what=(
        "Endpoint: two architectures trained on the same images (the MLP and a one-patch tiny ViT); each "
        "first-layer operator of one model (a functional of the whole image, in filter form) is replaced by its "
        "nearest operator of the other model by d_FS, or by a random one; the claimed effect is the fractional "
        "reduction of the relative logit change on calibration images, 1 − nearest/random, averaged over "
        "operators within a replicate and compared across replicates, in both directions."))


def _block_secondary(df: pd.DataFrame) -> str:
    """Within one architecture (secondary, never the verdict): per-replicate Spearman ρ between a block's d_FS
    to its nearest block and the top-1 its removal costs (blocks are repeated measures within a replicate)."""
    if "stage" not in df.columns or "block" not in df.columns:
        return ""
    bl, dense = df[df.stage == "block"], df[df.stage == "dense"]
    parts = []
    for model, g in bl.groupby("model", sort=False):
        d = dense[dense.model == model].set_index("replicate").accuracy
        rhos = []
        for _, gr in g.groupby("replicate"):
            drop = d.reindex(gr.replicate).to_numpy() - gr.accuracy.to_numpy()
            x = gr.block_distance.to_numpy()
            ok = np.isfinite(drop) & np.isfinite(x)
            if ok.sum() >= 3 and np.ptp(x[ok]) > 0 and np.ptp(drop[ok]) > 0:
                rhos.append(float(spearmanr(x[ok], drop[ok])[0]))
        if rhos:
            m, h, n = values_interval(rhos)
            parts.append(f"{model}: mean per-replicate Spearman ρ = {pm_text(m, h)} over {n} replicates "
                         f"({g.block.nunique()} blocks each)")
    return ("Secondary, within one architecture (never changes the verdict): residual-block removal, " + "; ".join(
        parts) + ".") if parts else ""


def cross_arch_claims(df: pd.DataFrame) -> list[Claim]:
    """The ``cross_arch`` claim from the cross-architecture substitution units (the block level is secondary)."""
    d = cross_arch_decision(df)
    sec = _block_secondary(df)
    if d is None:
        if not sec:
            return []
        return [Claim("cross_arch", "not measured", "No cross-architecture substitution rows (stage cross_arch) in "
                      "this pruning.csv. " + sec, "pruning")]
    return [Claim("cross_arch", d.verdict, " ".join(x for x in (d.evidence, sec) if x), CROSS_ANCHOR, d.headline)]


def cross_arch_part(df: pd.DataFrame) -> list[Block]:
    """The report's cross-architecture subsection: per direction and substitute, and the verdict."""
    if "stage" not in df.columns or not (df.stage == "cross_arch").any():
        return []
    c = df[df.stage == "cross_arch"]
    rows = []
    for (t, s), g in c.groupby(["model", "cross_source"], sort=False):
        for sub in SUBSTITUTES:
            gs = g[g.substitute == sub]
            if gs.empty:
                continue
            m, h, _ = values_interval(gs.output_change)
            rows.append({"target ← source": f"{t} ← {s}", "substitute": sub, "operators": int(gs.operators.median()),
                         "d_FS (mean)": round(gs.fs_distance.mean(), 4), "logit change": pm_text(m, h),
                         "flipped predictions": round(gs.flip_rate.mean(), 4),
                         "Spearman ρ (d_FS, change)": round(gs.spearman.mean(), 3)})
    out: list[Block] = [Heading(3, "Cross-architecture substitution", anchor=CROSS_ANCHOR), Paragraph(
        "Each first-layer operator of the target model is replaced, one at a time, by an operator of the other "
        "architecture: its nearest by d_FS, a random one, or the farthest (docs/pruning.md, \"Cross-architecture "
        "substitution\"). Logit change: mean over calibration images of ‖Δlogits‖ / mean ‖logits‖, then mean over "
        "operators (± 95% CI over replicates); Spearman ρ per replicate over all substitutions, then mean."),
        Table(pd.DataFrame(rows), "Output change of the target per substitute kind")]
    d = cross_arch_decision(df)
    if d is not None:
        out.append(Paragraph(f"**cross_arch: {d.verdict}**. {d.headline}. {d.evidence}"))
    sec = _block_secondary(df)
    if sec:
        out.append(Paragraph(sec))
    return out


__all__ = ["control_decisions", "control_secondary", "controls_part", "cross_arch_decision", "cross_arch_claims",
           "cross_arch_part", "pm_text", "values_interval", "INSTRUMENT_STAGES", "CONTROLS_ANCHOR", "CROSS_ANCHOR",
           "EXPECTED", "POSITIVE_CRITERION", "NEGATIVE_CRITERION", "CROSS_MARGIN"]
