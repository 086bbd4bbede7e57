"""The quantum section end to end on a tiny profile: rows against independent recomputation,
report and claim, report rebuild, resume; and the verdict logic on synthetic results."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import qkernels as qk
from qkernels.suite.report.build import build_report
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.runner import run
from qkernels.suite.sections import SectionContext, get_section, section_names
from qkernels.suite.sections.quantum import budget, report, units
from qkernels.suite.sections.quantum import plan as sec

TINY = sec.QuantumProfile(
    confidence=0.95, shots=(50, 500), repeats=3, estimators=("swap", "compute_uncompute"),
    random=sec.RandomStates(qubits=(1, 2), angles=(0.1, 0.8, 1.4)),
    models=(sec.ModelSource("mlp", "filter", "net.5", 3), sec.ModelSource("mlp", "layer", None, 3)),
    max_wires=5, devices=("lightning.qubit", "lightning.gpu"),
    noise=sec.NoiseStudy(p=(0.0, 0.05), where=("gates", "measure"), shots=1000, repeats=2,
                         sources=(("random:1", ("swap", "compute_uncompute")),), angles=(0.1, 0.8)),
    planner=sec.PlannerCheck(eps=(0.3,), delta=0.1, runs=20, d=(0.5,)),
    speed=sec.SpeedStudy(device="default.qubit", n=6, sample=3, repeat=1, qubits=(2, 3), goal_qubits=2,
                         entry_sample=3, entry_sample_large=2, swap_pairs=4, swap_pairs_large=2),
)
TIMING = ["seconds_per_entry", "value"]


@pytest.fixture(scope="module")
def quantum_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setitem(sec.PROFILES, "quick", TINY)
    out = tmp_path_factory.mktemp("q") / "run"
    run(sections="quantum", out=out, progress=False, seed=2)
    df = pd.read_csv(out / "quantum.csv")
    yield out, df
    mp.undo()


def test_registered_between_metrics_and_bounds():
    names = section_names()
    assert names.index("metrics") < names.index("quantum") < names.index("bounds")


def test_columns_are_documented(quantum_run):
    _, df = quantum_run
    documented = {c.strip() for k in sec.COLUMNS for c in k.split(",")}
    assert set(df.columns) <= documented, set(df.columns) - documented


def test_every_source_estimator_and_shot_count_is_there(quantum_run):
    _, df = quantum_run
    est = df[(df.kind == "estimate") & (df.noise_where == "none")]
    sources = {"random:1", "random:2", "mlp/filter:net.5", "mlp/layer"}
    assert set(est.source) == sources
    for (src, e), g in est[est.device == "default.qubit"].groupby(["source", "estimator"]):
        assert set(g.shots.dropna().astype(int)) == {50, 500}, (src, e)
        assert g.shots.isna().any()
        n_pairs = g.pair.nunique()
        assert (g[g.shots == 500].groupby("pair").size() >= 3).all() and n_pairs == 3
    assert set(est[est.source == "mlp/layer"]["mode"]) == {"statevector"}  # 9 qubits > max_wires
    assert set(est[est.source == "mlp/filter:net.5"]["mode"]) == {"rows"}
    assert {"plain", "rows", "statevector"} <= set(est[est.source == "random:1"]["mode"])
    assert "lightning.qubit" in set(est.device)
    skipped = df[df.kind == "skipped"]
    if not qk.quantum.devices.device_usable("lightning.gpu")[0]:
        assert "lightning.gpu" in set(skipped.device) and skipped.note.str.len().min() > 0


def test_exact_values_match_an_independent_computation(quantum_run):
    out, df = quantum_run
    est = df[df.kind == "estimate"]
    # random pairs were built at set angles: d_exact must be that angle
    for q in (1, 2):
        r = est[(est.source == f"random:{q}") & (est.noise_where == "none")]
        for pair, d in r.groupby("pair").d_exact.first().items():
            assert d == pytest.approx(TINY.random.angles[int(pair)], abs=1e-12)
    # model pairs: spectra by NumPy SVD of the augmented matrices
    ops = {op.name: op for op in qk.extract_operators(qk.build_model("mlp", seed=2), "layer")}
    m = est[(est.source == "mlp/layer")].drop_duplicates(["op_a", "op_b"])
    for r in m.itertuples():
        s = []
        for name in (r.op_a, r.op_b):
            W, b = ops[name].W.double().numpy(), ops[name].b.double().numpy()
            A = np.block([[W, b[:, None]], [np.zeros((1, W.shape[1])), np.ones((1, 1))]])
            v = np.linalg.svd(A, compute_uv=False)
            s.append(v / np.linalg.norm(v))
        n = max(map(len, s))
        a, b = (np.pad(v, (0, n - len(v))) for v in s)
        assert r.f_exact == pytest.approx(float(a @ b) ** 2, abs=1e-12)
    analytic = est[est.shots.isna() & (est.noise_where == "none")]
    assert analytic.f_err.abs().max() < 1e-12


def test_estimates_intervals_and_flags_follow_from_the_counts(quantum_run):
    _, df = quantum_run
    s = df[(df.kind == "estimate") & df.shots.notna()]
    for r in s.sample(40, random_state=0).itertuples():
        S, k = int(r.shots), int(r.counts)
        F = 2 * k / S - 1 if r.estimator == "swap" else k / S
        assert r.f_est == pytest.approx(F, abs=1e-12)
        ci = stats.binomtest(k, S).proportion_ci(confidence_level=0.95, method="exact")
        lo_p, hi_p = ((2 * ci.low - 1, 2 * ci.high - 1) if r.estimator == "swap" else (ci.low, ci.high))
        assert r.d_lo == pytest.approx(math.acos(math.sqrt(min(max(hi_p, 0), 1))), abs=1e-7)
        assert r.d_hi == pytest.approx(math.acos(math.sqrt(min(max(lo_p, 0), 1))), abs=1e-7)
        assert bool(r.covered) == (r.d_lo <= r.d_exact <= r.d_hi)
        assert bool(r.bias_warning) == (S * (1 - min(F, 1.0)) < 10)


def test_noise_rows(quantum_run):
    _, df = quantum_run
    n = df[(df.kind == "estimate") & (df.noise_where != "none")]
    assert set(n.device) == {"default.mixed"} and set(n.noise_p) == {0.0, 0.05}
    meas = n[(n.estimator == "swap") & (n.noise_where == "measure") & n.shots.isna() & (n.noise_p == 0.05)]
    np.testing.assert_allclose(meas.f_est, (1 - 4 * 0.05 / 3) * meas.f_exact, atol=1e-10)
    zero = n[(n.noise_p == 0) & n.shots.isna()]
    assert zero.f_err.abs().max() < 1e-10
    # calibration circuits: both states of every noisy pair, F = 1, only at p > 0, same shots and repetitions
    cal = df[df.kind == "calibration"]
    assert set(cal.noise_p) == {0.05} and set(cal.calibrates) == {"a", "b"}
    assert np.allclose(cal.f_exact, 1.0)
    noisy = n[n.noise_p == 0.05]
    assert len(cal) == 2 * len(noisy)
    # swap test, noise before measurement: the rescaling undoes it exactly
    rows = budget.regime_rows(df)
    m = rows[(rows.estimator == "swap") & (rows.noise_where == "measure") & (rows.mitigation == "rescaled")
             & rows.shots.isna()]
    assert len(m) == 2 and m.d_err.abs().max() < 1e-9


def test_error_budget_table(quantum_run):
    out, df = quantum_run
    t = budget.regime_table(df)
    assert list(t.columns) == budget.REGIME_COLUMNS
    assert set(t.mitigation) == {"none", "rescaled"} and set(t.noise) == {"none", "gates", "measure"}
    assert set(t.verdict) <= {"supported", "refuted", "inconclusive", "not measured"}
    assert t[t.noise == "none"]["in claim"].eq("yes").all()
    md = (out / "report.md").read_text(encoding="utf-8")
    assert '<a id="quantum-budget"></a>' in md and "### Error budget per regime" in md
    for col in budget.REGIME_COLUMNS:
        assert f"| {col} |" in md or f"| {col} " in md, col


def test_regime_columns_are_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "quantum.md").read_text(encoding="utf-8")
    part = doc.split("## The error budget")[1].split("\n## ")[0]
    for col in budget.REGIME_COLUMNS:
        assert f"| {col} |" in part, col


def test_planner_rows(quantum_run):
    _, df = quantum_run
    p = df[df.kind == "plan"]
    for e in ("swap", "compute_uncompute"):
        g = p[p.estimator == e]
        ch = g[(g.metric == "plan_shots") & (g.bound == "chernoff")]
        assert int(ch.value.iloc[0]) == qk.plan_shots(0.3, 0.1, e).shots
        assert g[g.metric == "exact_worst_failure"].value.iloc[0] <= 0.1
        runs = g[g.metric == "run_failure"]
        assert len(runs) == 2 and runs.value.between(0, 1).all() and (runs.runs == 20).all()


def test_speed_rows(quantum_run):
    _, df = quantum_run
    sp = df[df.kind == "speed"]
    assert {"speedup_rows", "speedup_statevector", "max_abs_err_rows"} <= set(sp.metric)
    assert sp[sp.metric == "max_abs_err_rows"].value.iloc[0] < 1e-12
    te = sp[sp.metric == "time_per_entry"]
    assert set(te.qubits) == {2, 3} and set(te["mode"]) == {"plain", "rows", "statevector", "gemm"}
    assert (te.value > 0).all()


def test_report_figures_and_claim(quantum_run):
    out, _ = quantum_run
    md = (out / "report.md").read_text(encoding="utf-8")
    for h in ("Accuracy against shots", "Analytic circuits against the closed form", "Accuracy against noise",
              "Shot planner", "Speed"):
        assert f"### {h}" in md, h
    figs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {f"figures/quantum_{n}.png" for n in ("error_vs_shots", "error_vs_noise", "time_per_entry", "bias")} <= \
        set(figs)
    for f in figs:
        assert (out / f).stat().st_size > 0
    claims = md.split("## Claims of the paper")[1].split("\n## ")[0]
    row = next(ln for ln in claims.splitlines() if "Quantum kernels approximate" in ln)
    assert any(f"**{v}**" in row for v in ("supported", "refuted", "inconclusive"))
    assert "RMSE of d̂" in row or "coverage" in row
    assert "(#quantum-budget)" in row


def test_report_rebuilds_from_the_csv_alone(quantum_run, tmp_path):
    out, _ = quantum_run
    md = (out / "report.md").read_text(encoding="utf-8")
    build_report(RunFolder(out))
    assert (out / "report.md").read_text(encoding="utf-8") == md


def test_resume_redoes_only_the_missing_unit(quantum_run, tmp_path):
    out, df = quantum_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    parts = sorted((copy / ".parts" / "quantum").glob("noise*"))
    parts[0].unlink()
    (copy / ".parts" / "quantum" / "DONE").unlink()
    mp = pytest.MonkeyPatch()
    mp.setitem(sec.PROFILES, "quick", TINY)
    try:
        run(sections="quantum", out=copy, progress=False, seed=2, resume=True)
    finally:
        mp.undo()
    again = pd.read_csv(copy / "quantum.csv")
    assert len(again) == len(df)
    keep = [c for c in df.columns if c not in TIMING]
    pd.testing.assert_frame_equal(again[keep], df[keep])  # same seeds: the redone unit gives the same rows


@pytest.mark.parametrize("profile", ["quick", "standard", "full"])
def test_plan_keys_are_stable_and_unique(profile):
    ctx = SectionContext(run=None, profile=profile, device=torch.device("cpu"), seed=0)  # type: ignore[arg-type]
    keys = [u.key for u in get_section("quantum").plan(ctx)]
    assert len(keys) == len(set(keys))
    assert keys == [u.key for u in get_section("quantum").plan(ctx)]
    assert "speed:goal" in keys and any(k.startswith("plan:") for k in keys)
    cfg = sec.PROFILES[profile]
    for source, _ in cfg.noise.sources:  # every noise source names a pair set of the profile
        assert units.source_pairs(source, cfg, 0, lambda k: 1).A.shape[0] >= 2


# ---- the verdict on synthetic results ---------------------------------------------------------------
def _synthetic(rmse_scale=1.0, coverage_drop=0.0, analytic_err=1e-15, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    F = np.linspace(0.1, 0.9, 40)
    for e in ("swap", "compute_uncompute"):
        for S in (100, 1000, 10000):
            var = (1 - F**2) / S if e == "swap" else F * (1 - F) / S
            err = rng.standard_normal(F.size) * np.sqrt(var) * rmse_scale
            covered = rng.random(F.size) > (0.05 + coverage_drop)
            for f, d, c in zip(F, err, covered):
                rows.append({"kind": "estimate", "source": "random:3", "estimator": e, "noise_where": "none",
                             "shots": S, "f_exact": f, "f_err": d, "d_exact": math.acos(math.sqrt(f)), "d_err": d,
                             "covered": c, "bias_warning": False, "confidence": 0.95})
        for f in F:
            rows.append({"kind": "estimate", "source": "random:3", "estimator": e, "noise_where": "none",
                         "shots": np.nan, "f_exact": f, "f_err": analytic_err, "d_exact": 0.5, "d_err": 0.0,
                         "covered": np.nan, "bias_warning": False, "confidence": 0.95})
    return pd.DataFrame(rows)


def test_instrument_checks_pass_fail_unclear():
    """The noise-free checks of the simulator (secondary: they no longer decide the claim)."""
    assert report.verdict_numbers(_synthetic())["verdict"] == "supported"
    assert report.verdict_numbers(_synthetic(analytic_err=1e-3))["verdict"] == "refuted"
    assert report.verdict_numbers(_synthetic(coverage_drop=0.3))["verdict"] == "refuted"
    assert report.verdict_numbers(_synthetic(rmse_scale=1.6))["verdict"] == "inconclusive"
    assert get_section("quantum").claims(pd.DataFrame()) == []


# ---- the error budget on synthetic shot runs under global depolarizing noise ---------------------------
def _budget_frame(lam: float, pairs: int = 30, reps: int = 4, shots: int = 1000, seed: int = 0) -> pd.DataFrame:
    """quantum.csv rows of both estimators: noise-free runs, and runs at the claim's noise level
    (gates, p = 0.01) where the circuit is globally depolarized with strength ``lam`` (the model the
    rescaling assumes), with their F = 1 calibration runs."""
    rng = np.random.default_rng(seed)
    q = 3
    d = np.linspace(0.1, 1.3, pairs)
    F = np.cos(d) ** 2
    rows = []
    for e in ("swap", "compute_uncompute"):
        c = 0.0 if e == "swap" else 2.0 ** -q
        for where, p, l in (("none", 0.0, 0.0), ("gates", 0.01, lam)):
            for kind, f_true in (("estimate", F), ("calibration", np.ones(pairs))):
                if kind == "calibration" and p == 0:
                    continue
                f_noisy = (1 - l) * f_true + l * c
                prob = (1 + f_noisy) / 2 if e == "swap" else f_noisy
                for which in (("a", "b") if kind == "calibration" else ("",)):
                    for r in range(reps):
                        k = rng.binomial(shots, prob)
                        est = qk.quantum.fidelity_from_counts(k, shots, e)
                        lo, hi = qk.quantum.fs_interval(k, shots, e)
                        d_est = qk.quantum.fs_from_fidelity(est)
                        for i in range(pairs):
                            rows.append({"kind": kind, "source": "random:3", "pair": i, "rep": r, "estimator": e,
                                         "qubits": q, "noise_where": where, "noise_p": p, "shots": shots,
                                         "f_exact": f_true[i], "d_exact": d[i] if kind == "estimate" else 0.0,
                                         "f_est": est[i], "d_est": d_est[i], "f_err": est[i] - f_true[i],
                                         "bias_warning": False,
                                         "d_err": d_est[i] - (d[i] if kind == "estimate" else 0.0),
                                         "counts": k[i], "covered": bool(lo[i] <= d[i] <= hi[i]),
                                         "confidence": 0.95, "calibrates": which or None})
    return pd.DataFrame(rows)


def test_budget_verdict_flips_with_the_noise():
    small = budget.regime_table(_budget_frame(0.02))
    claim = get_section("quantum").claims(_budget_frame(0.02))[0]
    assert claim.verdict == "supported" and claim.anchor == "quantum-budget" and "budget" in claim.headline
    assert set(small[small["in claim"] == "yes"].verdict) == {"supported"}
    raw = small[(small.noise == "gates") & (small.mitigation == "none")]
    # without the rescaling 2% depolarization already biases d̂: coverage falls below 90%
    assert "supported" not in set(raw.verdict) and "refuted" in set(raw.verdict)
    big = _budget_frame(0.9)
    assert get_section("quantum").claims(big)[0].verdict in ("refuted", "inconclusive")
    t = budget.regime_table(big)
    assert set(t[(t.noise == "gates")].verdict) <= {"refuted", "inconclusive"}
    assert "refuted" in set(t[(t.noise == "gates")].verdict)


def test_budget_not_measured_without_runs_at_the_budget_shots():
    df = _budget_frame(0.02, pairs=4, reps=1, shots=100)
    assert budget.claim_decision(df)[0].verdict == "not measured"
    # a covered regime missing (no runs at p = 0.01): noise-free alone cannot make the claim supported
    df = _budget_frame(0.02)
    dec, _ = budget.claim_decision(df[df.noise_p == 0])
    assert dec.verdict == "inconclusive" and "Not measured here" in dec.evidence
