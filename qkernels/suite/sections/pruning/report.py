"""The ``pruning`` section's report part, built from ``pruning.csv`` alone: accuracy tables (mean ± 95%
t-interval over replicates), the accuracy-vs-sparsity and accuracy-vs-MACs curves with confidence
bands (the paper's Figure 1, measured), costs, pruning times, the block level, the verdict on the
claim that QM-FRG beats magnitude and random pruning at high sparsity (its primary endpoint,
:mod:`.endpoint`; the secondary analyses; every cell with Holm and McNemar; the calibration of the
rule, :mod:`.calibration`), and the comparable numbers. The controls and the cross-architecture
claim are in :mod:`.instruments`.

Example:
    >>> df = pd.DataFrame({"model": ["m"] * 3, "stage": ["oneshot"] * 3, "method": ["l1"] * 3,
    ...                    "sparsity": [0.5] * 3, "accuracy": [0.8, 0.82, 0.84]})
    >>> r = compare_metrics(df).iloc[0]
    >>> r.metric, round(float(r.value), 3), r.noise, int(r.n)
    ('top-1 m oneshot l1 p=0.5', 0.82, 'ci', 3)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from qkernels.pruning.registry import methods as registered_methods
from qkernels.suite.document import plots
from qkernels.suite.document.blocks import Block, Figure, Heading, Paragraph, Table, badge
from qkernels.suite.runfolder import RunFolder, safe_name
from qkernels.suite.sections.base import Claim, metric_frame, metric_row
from qkernels.suite.sections.pruning.calibration import SIMS, calibrate, shape_from
from qkernels.suite.sections.pruning.endpoint import (
    MIN_DECIDING_SEEDS,
    PRIMARY,
    PruningEndpoint,
    cell_table,
    family_table,
    pruning_decision,
)
from qkernels.suite.sections.pruning.functional_report import functional_claim, functional_part
from qkernels.suite.sections.pruning.instruments import (
    EXPECTED,
    INSTRUMENT_STAGES,
    NEGATIVE_CRITERION,
    POSITIVE_CRITERION,
    control_decisions,
    control_secondary,
    controls_part,
    cross_arch_claims,
    cross_arch_decision,
    cross_arch_part,
    pm_text,
    values_interval,
)
from qkernels.suite.sections.pruning.plan import FUNCTIONAL_CANDIDATES, FUNCTIONAL_QUANTUM, QUANTUM_METHOD
from qkernels.suite.stats import compare_methods, mean_interval, summarize, unpack_correct
from qkernels.suite.verdict import holm, mcnemar_exact

#: the baselines of the "qmfrg" claim (its primary endpoint's)
CLAIM_BASELINES = PRIMARY.baselines
#: the other baselines QM-FRG is compared with (a row of its own in the claims table)
OTHER_BASELINES = ("fpgm", "bn_scale", "taylor")
#: merge against drop: (merged variant, the variant it is compared with)
MERGE_PAIR = ("qmfrg-merge", "qmfrg")
#: stages of pruned models (``dense`` and ``block`` rows are reported apart)
PRUNE_STAGES = ("oneshot", "finetuned")
#: sparsities at which "high sparsity" claims are judged
HIGH_SPARSITY = 0.5
#: anchors of the verdict and calibration parts
VERDICT_ANCHOR, CALIBRATION_ANCHOR = "pruning-verdict", "pruning-calibration"


def report_blocks(run: RunFolder, df: pd.DataFrame) -> list[Block]:
    """The ``pruning`` part of the report after its summary: dense models, per-model tables and curves,
    pruning times, each criterion against random, QM-FRG against the baselines, the block level."""
    blocks: list[Block] = []
    if df.empty or "stage" not in df.columns:
        return [Paragraph("pruning.csv has no rows.")]
    dense = df[df.stage == "dense"]
    pr = df[df.stage.isin(PRUNE_STAGES)]
    blocks_df = df[df.stage == "block"]
    reps = int(df.replicate.nunique()) if "replicate" in df.columns else 0
    data = ", ".join(dict.fromkeys(df.data.astype(str))) if "data" in df.columns else "?"
    blocks.append(Paragraph(
        f"Data `{data}`; models {', '.join(dict.fromkeys(df.model))}; "
        f"criteria {', '.join(dict.fromkeys(pr.method))}; sparsities "
        f"{', '.join(f'{s:g}' for s in sorted(pr.sparsity.unique()))}; {reps} replicates (seeds). Intervals are "
        "95% Student-t intervals over replicates. Definitions, the data set and the profiles: docs/pruning.md."))
    if not dense.empty:
        ds = summarize(dense, ["model"])
        def col(name: str, m: str):
            v = dense[dense.model == m][name].dropna() if name in dense.columns else ()
            return v.iloc[0] if len(v) else None

        blocks += [Heading(3, "Dense models"), Table(pd.DataFrame({
            "model": ds.model,
            "data": [col("data", m) for m in ds.model],
            "metric": [col("metric", m) or "top-1 accuracy" for m in ds.model],
            "dense": [pm_text(m, h) for m, h in zip(ds["mean"], ds["half"])], "replicates": ds.n,
            "test-set 95% (replicate 0, Wilson)": [_test_interval(dense[dense.model == m]) for m in ds.model],
            "chance": [_chance_of(df, m) for m in ds.model],
            "weights": ["pretrained (its authors')" if str(col("pretrained", m)) in ("True", "true", "1") else
                        "trained here" for m in ds.model],
            "MACs (M)": [dense[dense.model == m].macs.mean() / 1e6 for m in ds.model],
            "params (k)": [dense[dense.model == m].params.mean() / 1e3 for m in ds.model],
            "train time (s)": [dense[dense.model == m].train_time_s.median() for m in ds.model],
            "from cache": [int(dense[dense.model == m].cached.astype(str).isin(["True", "true", "1"]).sum())
                           for m in ds.model]}),
            "The dense models on their test splits (mean ± 95% CI over replicates; a pretrained model is the same "
            "network in every replicate, so its interval over replicates is 0: the test-set interval beside it is "
            "its uncertainty)")]
    blocks += _safe("the verdict", _verdict_part, run, pr)
    blocks += _safe("the functional claim", functional_part, pr)
    blocks += _safe("the functional claim's quantum version", _quantum, pr, FUNCTIONAL_QUANTUM, "qmfrg-act")
    for model in dict.fromkeys(pr.model):
        blocks += _safe(f"the part of {model}", _model_part, run, model, pr[pr.model == model],
                        dense[dense.model == model])
    blocks += _safe("the pruning times", _times, pr)
    blocks += _safe("the comparison with random", _versus_random, pr)
    blocks += _safe("the QM-FRG tables", _qmfrg, pr)
    blocks += _safe("the block level", _blocks, run, blocks_df, dense)
    blocks += _safe("the controls", controls_part, df)
    blocks += _safe("the cross-architecture substitution", cross_arch_part, df)
    return blocks


def _test_interval(d: pd.DataFrame) -> str:
    """The Wilson 95% interval of the first replicate's dense accuracy over its test inputs (the uncertainty of a
    pretrained model's number, whose replicates are the same network)."""
    from qkernels.quantum.estimation import proportion_interval

    d = d.sort_values("replicate") if "replicate" in d.columns else d
    if d.empty or "n_test" not in d.columns or not np.isfinite(pd.to_numeric(d.n_test, errors="coerce")).any():
        return ""
    n, acc = int(d.n_test.iloc[0]), float(d.accuracy.iloc[0])
    lo, hi = proportion_interval(np.array([round(acc * n)]), n, 0.95, "wilson")
    return f"{acc:.4f} [{lo[0]:.4f}, {hi[0]:.4f}] (n = {n})"


def _chance_of(df: pd.DataFrame, model: str) -> float:
    from qkernels.suite.sections.pruning.endpoint import chance_level

    return chance_level(df, model)


def _metric_of(pr: pd.DataFrame) -> str:
    """The metric the rows of one model measure (top-1 accuracy unless the CSV says otherwise)."""
    if "metric" in pr.columns:
        m = pr.metric.dropna().astype(str)
        if len(m):
            return m.iloc[0]
    return "top-1 accuracy"


def _label_free(run: RunFolder, model: str, pr: pd.DataFrame) -> list[Block]:
    """Closeness of every pruned model to its dense model on the test inputs, without labels."""
    if "dense_agreement" not in pr.columns or pr.dense_agreement.isna().all():
        return []
    out: list[Block] = []
    rows = []
    for (stage, meth), g in pr.groupby(["stage", "method"], sort=False):
        row = {"stage": stage, "method": meth}
        for sp, h in g.groupby("sparsity", sort=True):
            m, hw, _ = values_interval(pd.to_numeric(h.dense_agreement, errors="coerce").dropna())
            row[f"agree p={sp:g}"] = pm_text(m, hw)
            row[f"dist p={sp:g}"] = float(pd.to_numeric(h.output_distance, errors="coerce").mean())
        rows.append(row)
    out.append(Table(pd.DataFrame(rows), f"{model}: label-free closeness to the dense model on the test inputs — "
                     "agreement of the predictions (mean ± 95% CI) and relative output distance ‖f_pruned − f_dense‖ "
                     "/ ‖f_dense‖ (mean)"))
    panels = []
    for stage in [s for s in PRUNE_STAGES if (pr.stage == s).any()]:
        curves = {}
        for meth, g in pr[pr.stage == stage].groupby("method", sort=False):
            g = g.assign(accuracy=pd.to_numeric(g.dense_agreement, errors="coerce"))
            sm = summarize(g, ["sparsity"])
            curves[meth] = (sm.sparsity.to_numpy(), sm["mean"].to_numpy(), sm["lo"].to_numpy(), sm["hi"].to_numpy())
        panels.append(("one-shot + BN re-estimation" if stage == "oneshot" else "fine-tuned", curves))
    path = run.figure(f"pruning_agreement_{safe_name(model)}.png")
    plots.curves_with_bands(panels, "requested channel sparsity p", "agreement with the dense model",
                            f"{model}: agreement with the dense model", path, palette=list(registered_methods()))
    out.append(Figure(f"figures/{path.name}", f"{model}: fraction of test inputs on which the pruned model predicts "
                                              "what the dense model does (mean and 95% CI band over replicates)"))
    return out


def _safe(what: str, part, *args) -> list[Block]:
    """One part of the report; a CSV that lacks its columns loses that part only, said in one line."""
    try:
        return part(*args)
    except (KeyError, AttributeError, ValueError) as exc:
        return [Paragraph(f"**Problem:** {what} could not be built from this pruning.csv ({type(exc).__name__}: "
                          f"{exc}); the documented columns are in docs/sections.md.")]


def _blocks(run: RunFolder, bl: pd.DataFrame, dense: pd.DataFrame) -> list[Block]:
    """Block level: which blocks the metric calls substitutable, and what removing each costs."""
    if bl.empty or "block" not in bl.columns:
        return []
    out: list[Block] = [Heading(3, "Block level: substitutable residual blocks"), Paragraph(
        "The QM-FRG graph over whole residual blocks with an identity shortcut (docs/qmfrg.md): each block's "
        "state is the spectrum of its two convolutions with BatchNorm folded in; `nearest` is the closest other "
        "block in d_FS and `rank` the single-linkage order (0 = retired first, the most redundant). Removing a "
        "block replaces it by the identity; BatchNorm statistics are re-estimated, no fine-tuning.")]
    rows = []
    for (model, name), g in bl.groupby(["model", "block"], sort=False):
        m, h, _ = values_interval(g.accuracy)
        d = dense[dense.model == model].accuracy.mean() if not dense.empty else np.nan
        rows.append({"model": model, "block": name, "d_FS to nearest": g.block_distance.mean(),
                     "nearest": g.block_nearest.mode().iloc[0], "rank (median)": g.block_rank.median(),
                     "top-1 without it": pm_text(m, h), "Δ top-1 vs dense": m - d,
                     "MACs left": g.macs_frac.mean()})
    out.append(Table(pd.DataFrame(rows), "Per block, means over replicates (top-1: ± 95% CI)"))
    for model, g in bl.groupby("model", sort=False):
        d = dense[dense.model == model].set_index("replicate").accuracy
        drop = d.reindex(g.replicate).to_numpy() - g.accuracy.to_numpy()
        path = run.figure(f"pruning_blocks_{safe_name(model)}.png")
        plots.scatter(g.block_distance.to_numpy(), drop, "d_FS to the nearest other block",
                      "top-1 lost by removing the block", f"{model}: block distance against removal cost", path,
                      groups=list(g.block))
        out.append(Figure(f"figures/{path.name}", f"{model}: each removable block's d_FS to its nearest block "
                                                  "against the accuracy its removal costs (one point per replicate)"))
    return out


def _model_part(run: RunFolder, model: str, pr: pd.DataFrame, dense: pd.DataFrame) -> list[Block]:
    metric = _metric_of(pr)
    short = "top-1" if metric.startswith("top-1") else metric.split(" (")[0]
    out: list[Block] = [Heading(3, f"{model}")]
    cost = pr[pr.stage == "oneshot"].groupby("sparsity").agg(
        channel_sparsity=("channel_sparsity", "mean"), macs_frac=("macs_frac", "mean"),
        params_frac=("params_frac", "mean"), macs_M=("macs", lambda v: v.mean() / 1e6),
        params_k=("params", lambda v: v.mean() / 1e3)).reset_index()
    stages = [s for s in ("oneshot", "finetuned") if (pr.stage == s).any()]
    for stage in stages:
        sub = pr[pr.stage == stage]
        s = summarize(sub, ["method", "sparsity"])
        sps = sorted(s.sparsity.unique())
        rows = []
        for meth in dict.fromkeys(s.method):
            row = {"method": meth}
            for sp in sps:
                hit = s[(s.method == meth) & (s.sparsity == sp)]
                row[f"p={sp:g}"] = pm_text(hit["mean"].iloc[0], hit["half"].iloc[0]) if len(hit) else ""
            rows.append(row)
        what = "one-shot (BN re-estimated, no training)" if stage == "oneshot" else \
            f"after fine-tuning ({sub.finetune_epochs.median():.2g} epochs)"
        out.append(Table(pd.DataFrame(rows), f"{model}: {short} {what}, mean ± 95% CI over replicates"))
    out.append(Table(cost.rename(columns={"macs_M": "MACs (M)", "params_k": "params (k)"}),
                     f"{model}: cost at each requested sparsity (identical for every criterion: local pruning "
                     "keeps the same number of channels per group)"))
    ref = None
    if not dense.empty:
        m, h, _ = values_interval(dense.accuracy)
        ref = (m, m - h, m + h, "dense")
    for xcol, xlabel, fname, cap in (
            ("channel_sparsity", "channel sparsity (fraction of prunable channels removed)", "sparsity",
             f"{short} against channel sparsity"),
            ("macs_frac", "MACs remaining (fraction of the dense model)", "macs", f"{short} against remaining MACs")):
        panels = []
        for stage in stages:
            sub = pr[pr.stage == stage]
            curves = {}
            for meth, g in sub.groupby("method", sort=False):
                s = summarize(g, ["sparsity"])
                x = g.groupby("sparsity")[xcol].mean().reindex(s.sparsity).to_numpy()
                curves[meth] = (x, s["mean"].to_numpy(), s["lo"].to_numpy(), s["hi"].to_numpy())
            panels.append(("one-shot + BN re-estimation" if stage == "oneshot" else "fine-tuned", curves))
        path = run.figure(f"pruning_acc_vs_{fname}_{safe_name(model)}.png")
        plots.curves_with_bands(panels, xlabel, metric, f"{model}: {cap}", path, reference=ref,
                                invert_x=(xcol == "macs_frac"), palette=list(registered_methods()))
        out.append(Figure(f"figures/{path.name}", f"{model}: {cap} (mean and 95% CI band over replicates; dashed: "
                                                  "dense model)"))
    return out + _label_free(run, model, pr)


def _times(pr: pd.DataFrame) -> list[Block]:
    one = pr[pr.stage == "oneshot"]
    if one.empty:
        return []
    t = one.groupby(["model", "method"], sort=False).agg(**{
        "prune s (median)": ("prune_time_s", "median"), "prune s (max)": ("prune_time_s", "max"),
        "scoring s (median)": ("score_time_s", "median"), "BN re-estimation s": ("recal_time_s", "median"),
        "evaluation s": ("eval_time_s", "median")}).reset_index()
    ft = pr[pr.stage == "finetuned"]
    if not ft.empty:
        t = t.merge(ft.groupby(["model", "method"]).finetune_time_s.median().rename("fine-tuning s")
                    .reset_index(), on=["model", "method"], how="left")
    return [Heading(3, "Pruning time"), Table(t, (
        "Wall time per pruning in seconds, medians over sparsities and replicates (the max includes first-call "
        "warm-up): prune = criterion set-up (Taylor: gradients on the calibration batch) + dependency-graph "
        "tracing + scoring + channel removal. Shared machines make these noisy."))]


def _versus_random(pr: pd.DataFrame) -> list[Block]:
    rows = []
    for model in dict.fromkeys(pr.model):
        for stage in ("oneshot", "finetuned"):
            for meth in dict.fromkeys(pr.method):
                if meth == "random":
                    continue
                g = compare_methods(pr[pr.model == model], meth, ["random"], min_sparsity=0.0, stage=stage)
                if g.empty:
                    continue
                rows.append({"model": model, "stage": stage, "method": meth, "sparsities": len(g),
                             "better": int((g.outcome == "better").sum()), "tie": int((g.outcome == "tie").sum()),
                             "worse": int((g.outcome == "worse").sum()),
                             "mean Δ top-1": float(g["diff"].mean())})
    if not rows:
        return []
    return [Heading(3, "Each criterion against random pruning"), Table(pd.DataFrame(rows), (
        "Over all sparsities: paired differences over replicates; better/worse = the 95% interval of the "
        "difference excludes 0. Random pruning is the floor any criterion should clear."))]


def _qmfrg(pr: pd.DataFrame) -> list[Block]:
    """QM-FRG variants against every baseline at high sparsity, and merge against drop."""
    functional = set(FUNCTIONAL_CANDIDATES)  # reported in the functional claim's part
    qm = [m for m in dict.fromkeys(pr.method) if str(m).startswith("qmfrg") and m not in functional
          and not str(m).startswith(FUNCTIONAL_QUANTUM)]
    if not qm:
        return []
    base = [m for m in dict.fromkeys(pr.method) if m in (*CLAIM_BASELINES, *OTHER_BASELINES)]
    rows = []
    for model in dict.fromkeys(pr.model):
        for stage in ("oneshot", "finetuned"):
            for meth in qm:
                others = base + ([MERGE_PAIR[1]] if meth == MERGE_PAIR[0] or meth.startswith(QUANTUM_METHOD)
                                 else [])
                g = compare_methods(pr[pr.model == model], meth, others, min_sparsity=HIGH_SPARSITY, stage=stage)
                for b, gb in g.groupby("baseline", sort=False):
                    rows.append({"model": model, "stage": stage, "method": meth, "baseline": b,
                                 "better": int((gb.outcome == "better").sum()),
                                 "tie": int((gb.outcome == "tie").sum()),
                                 "worse": int((gb.outcome == "worse").sum()),
                                 "mean Δ top-1": float(gb["diff"].mean())})
    out: list[Block] = [Heading(3, "QM-FRG against the baselines"), Paragraph(
        "QM-FRG criteria (docs/qmfrg.md): `qmfrg` clusters a group's channels by the Fubini–Study distance of "
        "their spectral states and keeps one representative per cluster (the paper's form); `qmfrg-aligned` "
        "adds the misalignment of singular frames to the distance; `qmfrg-merge` is `qmfrg` with every removed "
        "channel folded into its representative's consumers instead of dropped. All are compared at equal MACs "
        f"(same channels per group) at sparsities ≥ {HIGH_SPARSITY:g}.")]
    if rows:
        out.append(Table(pd.DataFrame(rows), (
            "Paired differences over replicates per sparsity; better/worse = the 95% interval of the difference "
            "excludes 0; counts are sparsities. `qmfrg-merge` is also compared with `qmfrg` (does merging help).")))
    if "qmfrg_tau" in pr.columns:
        t = pr[(pr.stage == "oneshot") & pr.method.isin(qm)].groupby(["model", "method", "sparsity"]).qmfrg_tau \
            .median().unstack("sparsity")
        if not t.empty:
            t.columns = [f"p={c:g}" for c in t.columns]
            out.append(Table(t.reset_index(), "Median over groups and replicates of the threshold τ chosen per "
                                              "group to reach the sparsity (d_FS in radians for qmfrg)"))
    return out + _quantum(pr)


def _quantum(pr: pd.DataFrame, prefix: str = QUANTUM_METHOD, exact: str = "qmfrg") -> list[Block]:
    """The quantum variant (rows ``<prefix>-s<shots>``): agreement of its graph with the exact one (criterion
    ``exact``), and accuracy, against shots."""
    if "shots" not in pr.columns:
        return []
    q = pr[pr.method.astype(str).str.startswith(prefix + "-s") & pr.shots.notna()]
    if q.empty:
        return []
    rows = []
    for (model, sp, shots), g in q.groupby(["model", "sparsity", "shots"], sort=True):
        row = {"model": model, "sparsity": sp, "shots": int(shots),
               "edge agreement": g[g.stage == "oneshot"].edge_agreement.mean(),
               "kept agreement": g[g.stage == "oneshot"].kept_agreement.mean()}
        for stage in ("oneshot", "finetuned"):
            for label, sub in (("quantum", g), (f"exact {exact}", pr[(pr.method == exact) & (pr.model == model)
                                                                     & (abs(pr.sparsity - sp) < 1e-9)])):
                sub = sub[sub.stage == stage]
                if not sub.empty:
                    m, h, _ = values_interval(sub.accuracy)
                    row[f"{stage} top-1 ({label})"] = pm_text(m, h)
        rows.append(row)
    states = "spectral" if prefix == QUANTUM_METHOD else "activation"
    title = "QM-FRG with quantum-estimated distances" if prefix == QUANTUM_METHOD else \
        f"`{exact}` with quantum-estimated distances (activation states)"
    return [Heading(3, title), Table(pd.DataFrame(rows), (
        f"`{prefix}`: d_FS of every channel pair ({states} states) estimated by a compute-uncompute QuantumKernel "
        "at the shot budget (statevector simulation, sampled counts). Edge agreement: fraction of channel pairs "
        "whose edge (d ≤ τ, τ of the exact graph at this sparsity) is the same as in the exact graph; kept "
        "agreement: fraction of the exact graph's kept channels that the quantum graph keeps (means over groups "
        f"and replicates). Top-1: mean ± 95% CI over replicates, beside exact `{exact}`."))]


def claims(df: pd.DataFrame) -> list[Claim]:
    """The verdict on the ``qmfrg`` claim (its pre-declared primary endpoint,
    :data:`qkernels.suite.sections.pruning.endpoint.PRIMARY`) and on ``cross_arch``
    (cross-architecture substitution; the block level is secondary)."""
    if df.empty or "method" not in df.columns:
        return []
    out = cross_arch_claims(df)
    pr = df[df.stage.isin(PRUNE_STAGES)] if "stage" in df.columns else df
    if not (pr.method == PRIMARY.method).any():
        known = PRIMARY.method in registered_methods()
        why = ("criterion registered but not in this run's pruning.csv" if known else
               "no QM-FRG criterion is registered")
        base = ", ".join(dict.fromkeys(pr.method))
        return out + [Claim("qmfrg", "not measured", f"{why}; criteria measured: {base}", VERDICT_ANCHOR),
                      functional_claim(pr)]
    d = pruning_decision(pr)
    return out + [Claim("qmfrg", d.verdict, d.evidence, VERDICT_ANCHOR, d.headline), functional_claim(pr)]


#: the secondary analyses: (label, endpoint); they are reported and never change the verdict
SECONDARY = (
    ("QM-FRG aligned (our variant) against magnitude and random", PruningEndpoint(method="qmfrg-aligned")),
    ("QM-FRG against FPGM, BN-scale and Taylor", PruningEndpoint(baselines=OTHER_BASELINES)),
    ("QM-FRG aligned against FPGM, BN-scale and Taylor",
     PruningEndpoint(method="qmfrg-aligned", baselines=OTHER_BASELINES)),
    ("Merge against drop (qmfrg-merge − qmfrg, not a claim of the paper)",
     PruningEndpoint(method=MERGE_PAIR[0], baselines=(MERGE_PAIR[1],))),
    ("QM-FRG against magnitude and random after fine-tuning", PruningEndpoint(stage="finetuned")),
)


def _verdict_part(run: RunFolder, pr: pd.DataFrame) -> list[Block]:
    """The claim's primary endpoint and verdict, the cells, the secondary analyses, the per-cell
    comparisons and the calibration of the rule."""
    if not (pr.method == PRIMARY.method).any():
        return []
    d = pruning_decision(pr)
    out: list[Block] = [Heading(3, "Verdict on the QM-FRG claim", anchor=VERDICT_ANCHOR), Paragraph(
        f"Verdict: {badge(d.verdict)} — {d.headline}. {PRIMARY.describe()} Rule (docs/report.md): supported when "
        "every comparison is positive after Holm's correction over the 3 baselines (one-sided, 2.5%); refuted when "
        f"not supported and some comparison is shown below the +{100 * PRIMARY.margin:g}-point margin (worse, or "
        "equivalent within it); otherwise inconclusive. Standard errors over paired seeds, plus the finite test "
        "set's variance when per-example results are in the CSV.")]
    if not d.family.empty:
        out.append(Table(family_table(d), "The primary endpoint's comparisons"))
    cells = cell_table(pr)
    if len(cells):
        out.append(Table(cells.rename(columns={"best_accuracy": "best top-1", "included": "in the endpoint"}),
                         "Cells of the endpoint: a cell whose best criterion is below 2× chance is excluded"))
    rows = []
    for label, ep in SECONDARY:
        if not ((pr.method == ep.method).any() and pr.method.isin(ep.baselines).any() and (pr.stage == ep.stage).any()):
            continue
        s = pruning_decision(pr, ep)
        rows.append({"analysis": label, "result": badge(s.verdict), "decisive comparison (pts)": s.headline})
    if rows:
        out.append(Table(pd.DataFrame(rows), "Secondary analyses (same rule, each its own family; they never change "
                                             "the verdict above)"))
    out += _cells_part(pr)
    out += _calibration_part(pr)
    return out


def _cells_part(pr: pd.DataFrame) -> list[Block]:
    """Every cell: QM-FRG against each baseline per model × sparsity, Holm over all cells, with McNemar."""
    base = [b for b in (*CLAIM_BASELINES, *OTHER_BASELINES) if (pr.method == b).any()]
    cmp = compare_methods(pr, PRIMARY.method, base, min_sparsity=HIGH_SPARSITY, stage="oneshot")
    if cmp.empty:
        return []
    mc = _mcnemar(pr, cmp)
    t = pd.DataFrame({"model": cmp.model, "p": cmp.sparsity, "baseline": cmp.baseline,
                      "Δ top-1 (pts)": 100 * cmp["diff"], "95% t-interval (pts)": [
                          f"[{100 * lo:+.2f}, {100 * hi:+.2f}]" for lo, hi in zip(cmp.lo, cmp.hi)],
                      "seeds": cmp.n, "Holm p": cmp.p_holm, "outcome": cmp.outcome, "McNemar seeds better / worse": mc})
    return [Table(t, f"Per cell (secondary): `{PRIMARY.method}` against each baseline at every sparsity ≥ "
                     f"{HIGH_SPARSITY:g}; paired t over seeds, Holm over the {len(cmp)} cells; McNemar: seeds whose "
                     "exact per-example McNemar test (Holm over the seeds and cells) is significant, each way")]


def _mcnemar(pr: pd.DataFrame, cmp: pd.DataFrame) -> list[str]:
    if "correct" not in pr.columns:
        return [""] * len(cmp)
    one = pr[pr.stage == "oneshot"].drop_duplicates(["model", "sparsity", "method", "replicate"])
    idx = one.set_index(["model", "sparsity", "method", "replicate"]).correct
    tests = []
    for i, r in enumerate(cmp.itertuples()):
        for rep in one[(one.model == r.model) & np.isclose(one.sparsity, r.sparsity)].replicate.unique():
            a = unpack_correct(idx.get((r.model, r.sparsity, PRIMARY.method, rep)))
            b = unpack_correct(idx.get((r.model, r.sparsity, r.baseline, rep)))
            if a is None or b is None or len(a) != len(b):
                continue
            nb, nc = int((a & ~b).sum()), int((~a & b).sum())
            tests.append((i, nb - nc, mcnemar_exact(nb, nc)))
    if not tests:
        return [""] * len(cmp)
    adj = holm([p for _, _, p in tests])
    better, worse = [0] * len(cmp), [0] * len(cmp)
    for (i, diff, _), p in zip(tests, adj):
        if p < 0.05:
            (better if diff > 0 else worse)[i] += 1
    return [f"{b} / {w}" for b, w in zip(better, worse)]


def _calibration_part(pr: pd.DataFrame) -> list[Block]:
    """How often the rule is wrong on simulated sweeps of this run's shape and noise (and with the deciding seeds)."""
    shape = shape_from(pr)
    if shape is None:
        return []
    tables = [calibrate(shape, sims=SIMS)]
    if shape.replicates < MIN_DECIDING_SEEDS:
        tables.append(calibrate(replace(shape, replicates=MIN_DECIDING_SEEDS), sims=SIMS))
    t = pd.concat(tables, ignore_index=True)
    t = t.rename(columns={"effect_points": "true effect (pts)", "false_verdict": "false verdict", "mc_se": "± (MC)"})
    return [Heading(3, "Calibration of the verdict rule", anchor=CALIBRATION_ANCHOR), Paragraph(
        f"Simulated sweeps of this run's shape, {shape.describe()}, decided by the same code as the claim "
        f"({SIMS} sweeps per row). False verdict: supported when the true effect is 0, refuted when it is ≥ the "
        f"{100 * PRIMARY.margin:g}-point margin; goals ≤ 5% and power (supported at +3 points) ≥ 80% with the "
        f"deciding profile's {MIN_DECIDING_SEEDS} seeds. Refuted at effect 0 is correct (no better by the margin)."),
        Table(t, "Verdict rates of the rule (fractions of simulated sweeps)")]

def compare_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Top-1 accuracy per model × stage × method × sparsity: mean and t-interval over replicates."""
    need = {"model", "stage", "method", "sparsity", "accuracy"}
    if df.empty or not need <= set(df.columns):
        return metric_frame([])
    df = df[~df.stage.isin(INSTRUMENT_STAGES)]  # controls and cross-architecture rows: not top-1 curves
    rows = []
    for (model, stage, method, sp), g in df.groupby(["model", "stage", "method", "sparsity"], sort=False):
        m, lo, hi, n = mean_interval(g.accuracy)
        name = f"top-1 {model} dense" if stage == "dense" else f"top-1 {model} {stage} {method} p={float(sp):g}"
        rows.append(metric_row(name, m, lo, hi, "ci" if n >= 2 else "none", n, better="higher"))
    return metric_frame(rows)


__all__ = ["report_blocks", "claims", "functional_claim", "compare_metrics", "control_decisions", "cross_arch_decision",
           "cross_arch_claims", "control_secondary", "INSTRUMENT_STAGES", "EXPECTED", "POSITIVE_CRITERION",
           "NEGATIVE_CRITERION", "CLAIM_BASELINES", "OTHER_BASELINES", "MERGE_PAIR", "PRUNE_STAGES", "HIGH_SPARSITY"]
