"""The ``quantum`` claim decided by a test: is the error of d̂ within a stated budget, per regime?

**Pre-declared endpoint** (also in docs/quantum.md#the-error-budget). At
:data:`BUDGET_SHOTS` = 1,000 shots per entry, the root-mean-square error of d̂ against the exact
d_FS is at most :data:`BUDGET_RMSE` = 0.05 rad, and the nominal 95% intervals cover the exact d_FS
in at least :data:`BUDGET_COVERAGE` = 90% of the shot runs. A **regime** is an estimator, a noise
setting (none; depolarizing after every gate or before measurement at probability p) and a
mitigation (``none``, or ``rescaled``: the depolarizing rescaling of
:mod:`qkernels.quantum.mitigation`, calibrated on F = 1 circuits of the pair's own states, never
on the exact answers). The noise-free regime pools the accuracy study's estimates at 1,000 shots
and the noise study's p = 0 runs.

**Test.** The pairs of a regime are its units (the shot runs of one pair are repeated measures:
averaged within the pair first). Over the K pairs: MSE = mean of the per-pair mean squared errors,
with the standard error of that mean (df = K − 1); RMSE = √MSE with the delta-method standard error
se(MSE)/(2·RMSE); coverage = mean of the per-pair coverages with its standard error. Two
comparisons per regime, each positive when the budget holds: ``budget − RMSE`` and
``coverage − 0.90``. :func:`qkernels.suite.verdict.decide` with margin 0: **supported** when both are
significantly positive (Holm), **refuted** when one is significantly negative (the error is
significantly above the budget, or the coverage significantly below 90%), **inconclusive** otherwise.

**The claim** ("controllably (shots, noise)") covers :data:`CLAIM_REGIMES` for both estimators:
noise-free at 1,000 shots, and depolarizing noise p = 0.01 after every gate with the rescaling. Its
verdict is one :func:`~qkernels.suite.verdict.decide` over all comparisons of those regimes (Holm
over the whole family). The other regimes (unmitigated noise, other p, noise before measurement)
are secondary: they are in the table and never change the verdict.

Example:
    >>> rows = [{"kind": "estimate", "source": "s", "pair": i, "rep": r, "estimator": "swap", "noise_where": "none",
    ...          "noise_p": 0.0, "shots": 1000, "qubits": 1, "d_exact": 0.5, "d_err": e, "covered": True}
    ...         for i in range(12) for r, e in enumerate((0.01, -0.01))]
    >>> t = regime_table(pd.DataFrame(rows))
    >>> t[["estimator", "noise", "RMSE of d̂ (rad)", "verdict"]].values.tolist()
    [['swap', 'none', 0.01, 'supported']]
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qkernels.quantum.estimation import fs_from_fidelity
from qkernels.quantum.mitigation import mitigate_fidelity, mitigated_interval
from qkernels.suite.verdict import Comparison, Decision, decide

#: shots per entry at which the budget is stated
BUDGET_SHOTS = 1000
#: largest RMSE of d̂ (rad) within the budget
BUDGET_RMSE = 0.05
#: smallest coverage of the nominal 95% intervals within the budget
BUDGET_COVERAGE = 0.90
#: the regimes the claim covers: (noise_where, p, mitigation), for each of CLAIM_ESTIMATORS
CLAIM_REGIMES: tuple[tuple[str, float, str], ...] = (("none", 0.0, "none"), ("gates", 0.01, "rescaled"))
CLAIM_ESTIMATORS: tuple[str, ...] = ("swap", "compute_uncompute")

#: the columns of the per-regime table (documented in docs/quantum.md#the-error-budget)
REGIME_COLUMNS = ["estimator", "noise", "p", "mitigation", "in claim", "shots", "pairs", "estimates",
                  "mean d̂ − d (analytic)", "RMSE of d̂ (rad)", "RMSE interval", "coverage", "coverage interval",
                  "verdict"]

_KEYS = ["estimator", "noise_where", "noise_p", "mitigation"]


def _bool(s: pd.Series) -> pd.Series:
    return s.astype(str).str.lower().isin(["true", "1", "1.0"])


def _mitigated(est: pd.DataFrame, cal: pd.DataFrame) -> pd.DataFrame:
    """The noisy estimates with the depolarizing rescaling applied (from their calibration rows)."""
    if est.empty or cal.empty:
        return est.iloc[0:0]
    keys = ["source", "estimator", "noise_where", "noise_p", "pair", "rep"]
    est = est.assign(_S=est.shots.fillna(-1).astype(float))
    cal = cal.assign(_S=cal.shots.fillna(-1).astype(float))
    c = cal.groupby(keys + ["_S"]).agg(cal_counts=("counts", lambda v: float(pd.to_numeric(v).sum())),
                                       cal_n=("counts", "size"), cal_f=("f_est", "mean")).reset_index()
    m = est.merge(c, on=keys + ["_S"], how="inner")
    m = m[m.cal_n == 2]  # both states calibrated
    if m.empty:
        return est.iloc[0:0]
    out = []
    for (e, q), g in m.groupby(["estimator", "qubits"], sort=False):
        g = g.reset_index(drop=True)
        f = mitigate_fidelity(g.f_est.to_numpy(float), g.cal_f.to_numpy(float), e, int(q))
        g["f_est"] = f
        g["d_est"] = fs_from_fidelity(np.nan_to_num(f, nan=0.0))
        g["d_err"] = g.d_est - g.d_exact
        cov = np.full(len(g), np.nan)
        for S in sorted(set(g._S[g._S > 0])):
            i = np.flatnonzero(g._S.to_numpy() == S)
            conf = float(g.confidence.iloc[i[0]]) if "confidence" in g else 0.95
            lo, hi = mitigated_interval(g.counts.to_numpy()[i].astype(int), int(S),
                                        g.cal_counts.to_numpy()[i].astype(int), 2 * int(S), e, int(q), conf)
            d = g.d_exact.to_numpy(float)[i]
            cov[i] = (fs_from_fidelity(hi) <= d) & (d <= fs_from_fidelity(lo))
        g["covered"] = cov
        out.append(g)
    return pd.concat(out, ignore_index=True).drop(columns=["_S", "cal_counts", "cal_n", "cal_f"])


def regime_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Every estimate with its regime: noise-free (accuracy study and p = 0 noise runs), noisy without
    mitigation and noisy with the rescaling (``mitigation`` column)."""
    need = {"kind", "estimator", "noise_where", "noise_p", "shots", "d_exact", "d_err", "covered", "source", "pair"}
    if df.empty or not need <= set(df.columns):
        return pd.DataFrame(columns=[*_KEYS, "shots", "source", "pair", "d_err", "covered"])
    est = df[df.kind == "estimate"].copy()
    est["noise_p"] = pd.to_numeric(est.noise_p).fillna(0.0)
    est["noise_where"] = est.noise_where.astype(str)
    est.loc[est.noise_p == 0, "noise_where"] = "none"  # p = 0 runs are noise-free circuits
    est["covered"] = np.where(est.shots.notna(), _bool(est.covered).astype(float), np.nan)
    est["mitigation"] = "none"
    frames = [est]
    if "calibrates" in df.columns or (df.kind == "calibration").any():
        cal = df[df.kind == "calibration"].copy()
        cal["noise_p"] = pd.to_numeric(cal.noise_p).fillna(0.0)
        cal["noise_where"] = cal.noise_where.astype(str)
        noisy = est[est.noise_p > 0]
        mit = _mitigated(noisy, cal)
        if not mit.empty:
            frames.append(mit.assign(mitigation="rescaled"))
    return pd.concat(frames, ignore_index=True)


def _stats(g: pd.DataFrame, label: str) -> tuple[dict, list[Comparison]]:
    """RMSE of d̂ and coverage of one regime's shot runs at BUDGET_SHOTS (pairs as units), and the two
    budget comparisons."""
    per = g.groupby(["source", "pair"]).agg(mse=("d_err", lambda e: float(np.mean(np.square(e)))),
                                            cov=("covered", "mean"))
    K = len(per)
    if K < 2:
        why = "fewer than 2 pairs"
        return {"rmse": math.nan, "cov": math.nan, "pairs": K}, [
            Comparison(f"{label}: RMSE", math.nan, math.nan, math.nan, K, why),
            Comparison(f"{label}: coverage", math.nan, math.nan, math.nan, K, why)]
    mse = float(per.mse.mean())
    se_mse = float(per.mse.std(ddof=1)) / math.sqrt(K)
    rmse = math.sqrt(mse)
    se_rmse = se_mse / (2 * rmse) if rmse > 0 else 0.0
    cov = float(per["cov"].mean())
    se_cov = float(per["cov"].std(ddof=1)) / math.sqrt(K)
    return {"rmse": rmse, "cov": cov, "pairs": K}, [
        Comparison(f"{label}: RMSE", BUDGET_RMSE - rmse, se_rmse, K - 1, K, "budget − RMSE of d̂ (rad)"),
        Comparison(f"{label}: coverage", cov - BUDGET_COVERAGE, se_cov, K - 1, K, "coverage − 0.90")]


def _at_budget(g: pd.DataFrame) -> pd.DataFrame:
    return g[g.shots.notna() & (pd.to_numeric(g.shots) == BUDGET_SHOTS)]


def _label(e: str, where: str, p: float, mit: str) -> str:
    noise = "noise-free" if where == "none" else f"p = {p:g} {'after every gate' if where == 'gates' else 'before measurement'}"
    return f"{e}, {noise}" + (", rescaled" if mit == "rescaled" else "")


def in_claim(e: str, where: str, p: float, mit: str) -> bool:
    """Whether a regime is one the claim covers (:data:`CLAIM_REGIMES`, :data:`CLAIM_ESTIMATORS`)."""
    return e in CLAIM_ESTIMATORS and any(where == w and math.isclose(p, q) and mit == m for w, q, m in CLAIM_REGIMES)


def _regimes(rows: pd.DataFrame):
    """(estimator, noise_where, p, mitigation) and its rows: per estimator, noise-free first."""
    order = {"none": 0, "gates": 1, "measure": 2}
    groups = sorted(rows.groupby(_KEYS, sort=False),
                    key=lambda kg: (str(kg[0][0]), order.get(str(kg[0][1]), 3), float(kg[0][2]), str(kg[0][3])))
    for (e, where, p, mit), g in groups:
        yield (str(e), str(where), float(p), str(mit)), g


def regime_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per regime (columns :data:`REGIME_COLUMNS`): RMSE of d̂ and coverage at BUDGET_SHOTS with
    their simultaneous 95% intervals, the analytic bias, and the regime's verdict."""
    rows = regime_rows(df)
    out = []
    for (e, where, p, mit), g in _regimes(rows):
        shot, analytic = _at_budget(g), g[g.shots.isna()]
        st, fam = _stats(shot, _label(e, where, p, mit))
        dec = decide(fam, margin=0.0)
        t = dec.family.set_index("comparison") if len(dec.family) == 2 else None
        r, c = (t.loc[fam[0].label], t.loc[fam[1].label]) if t is not None else (None, None)
        out.append({
            "estimator": e, "noise": where, "p": p, "mitigation": mit,
            "in claim": "yes" if in_claim(e, where, p, mit) else "no", "shots": BUDGET_SHOTS, "pairs": st["pairs"],
            "estimates": len(shot), "mean d̂ − d (analytic)": float(analytic.d_err.mean()) if len(analytic) else math.nan,
            "RMSE of d̂ (rad)": st["rmse"],
            "RMSE interval": f"[{max(BUDGET_RMSE - r.hi, 0.0):.3g}, {BUDGET_RMSE - r.lo:.3g}]" if r is not None else "",
            "coverage": st["cov"],
            "coverage interval": f"[{_pct(BUDGET_COVERAGE + c.lo)}, {_pct(BUDGET_COVERAGE + c.hi)}]"
            if c is not None else "",
            "verdict": dec.verdict})
    return pd.DataFrame(out, columns=REGIME_COLUMNS)


def _pct(x: float) -> str:
    return f"{100 * min(max(x, 0.0), 1.0):.0f}%"


def claim_decision(df: pd.DataFrame) -> tuple[Decision, str]:
    """The claim's decision over every comparison of the covered regimes, and its headline."""
    rows = regime_rows(df)
    fam: list[Comparison] = []
    missing = []
    for e in CLAIM_ESTIMATORS:
        for where, p, mit in CLAIM_REGIMES:
            g = rows[(rows.estimator == e) & (rows.noise_where == where) & np.isclose(rows.noise_p, p)
                     & (rows.mitigation == mit)]
            shot = _at_budget(g)
            if shot.empty:
                missing.append(_label(e, where, p, mit))
                continue
            fam += _stats(shot, _label(e, where, p, mit))[1]
    what = (f"Error budget at {BUDGET_SHOTS:,} shots: RMSE of d̂ ≤ {BUDGET_RMSE:g} rad and coverage of the 95% "
            f"intervals ≥ {BUDGET_COVERAGE:.0%}, in the regimes the claim covers (noise-free; depolarizing "
            "p = 0.01 after every gate with the calibrated rescaling), for both estimators; pairs as units.")
    if missing:
        what += " Not measured here: " + "; ".join(missing) + "."
    dec = decide(fam, margin=0.0, what=what)
    if dec.family.empty:
        return dec, ""
    t = dec.family
    i = int(t.p_below_margin_holm.idxmin()) if dec.verdict == "refuted" else int(t.p_positive_holm.idxmax())
    parts = [f"{_headline(r)} (n = {int(r.n)} pairs, Holm p(within budget) = {r.p_positive_holm:.2g}, "
             f"p(outside) = {r.p_below_margin_holm:.2g})" for _, r in t.iterrows()]
    verdict = dec.verdict
    note = ""
    if missing and verdict == "supported":  # the claim covers every listed regime: a missing one cannot pass
        verdict = "inconclusive"
        note = "Within budget where measured, but regimes the claim covers are missing."
    evidence = " ".join(x for x in [what, f"**{verdict}**: " + "; ".join(parts) + ".",
                                    f"Holm over {len(t)} comparisons, one-sided at 0.025 per direction; intervals "
                                    "simultaneous 95% (Bonferroni).", note] if x)
    return Decision(verdict, _headline(t.loc[i]), evidence, t), _headline(t.loc[i])


def _headline(r: pd.Series) -> str:
    label = str(r.comparison)
    if label.endswith(": RMSE"):
        return (f"{label[:-6]}: RMSE of d̂ {BUDGET_RMSE - r.estimate:.3f} [{max(BUDGET_RMSE - r.hi, 0.0):.3f}, "
                f"{BUDGET_RMSE - r.lo:.3f}] rad (budget ≤ {BUDGET_RMSE:g})")
    return (f"{label[:-10]}: coverage {_pct(BUDGET_COVERAGE + r.estimate)} [{_pct(BUDGET_COVERAGE + r.lo)}, "
            f"{_pct(BUDGET_COVERAGE + r.hi)}] (budget ≥ {BUDGET_COVERAGE:.0%})")


__all__ = ["BUDGET_SHOTS", "BUDGET_RMSE", "BUDGET_COVERAGE", "CLAIM_REGIMES", "CLAIM_ESTIMATORS", "REGIME_COLUMNS",
           "regime_rows", "regime_table", "claim_decision", "in_claim"]
