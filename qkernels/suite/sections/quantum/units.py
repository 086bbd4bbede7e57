"""The work of the ``quantum`` section: its pairs of states and its units (each returns CSV rows).

Pairs come from the built-in models (operators at layer or filter granularity) and from random
states at set Fubini–Study angles; every unit runs one kind of measurement (noise-free accuracy,
noise, the shot planner, speed) and returns long-format rows with the columns of
:data:`qkernels.suite.sections.quantum.plan.COLUMNS`. The plan (:mod:`.plan`) lists the units of
a profile (a :class:`~qkernels.suite.sections.quantum.plan.QuantumProfile`, ``cfg`` here); the
report (:mod:`.report`) is built from their rows.

Example:
    >>> ps = random_pairs(2, (0.1, 0.5), seed=0)
    >>> ps.qubits, [round(float(d), 12) for d in ps.d_exact]
    (2, [0.1, 0.5])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qkernels.geometry.distances import fs_distance
from qkernels.geometry.operators import extract_operators
from qkernels.geometry.spectral import operator_spectra
from qkernels.nn.models import build_model

if TYPE_CHECKING:
    from qkernels.suite.sections.quantum.plan import QuantumProfile


# ---- pairs of states ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairSet:
    """Row-aligned pairs of unit states (zero-padded to a common length) with exact F and d_FS."""

    source: str
    A: np.ndarray
    B: np.ndarray
    op_a: list[str]
    op_b: list[str]

    @property
    def f_exact(self) -> np.ndarray:
        return np.minimum(np.einsum("ij,ij->i", self.A, self.B) ** 2, 1.0)

    @property
    def d_exact(self) -> np.ndarray:
        return np.asarray(fs_distance(self.A, self.B), dtype=np.float64)

    @property
    def qubits(self) -> int:
        return max(1, (self.A.shape[1] - 1).bit_length())

    def take(self, idx) -> "PairSet":
        idx = list(idx)
        return PairSet(self.source, self.A[idx], self.B[idx], [self.op_a[i] for i in idx], [self.op_b[i] for i in idx])


def random_pairs(qubits: int, angles: tuple[float, ...], seed: int) -> PairSet:
    """Pairs of random unit states of 2^qubits amplitudes at the given Fubini–Study angles."""
    rng = np.random.default_rng(seed)
    D = 1 << qubits
    A, B = [], []
    for theta in angles:
        a = rng.standard_normal(D)
        a /= np.linalg.norm(a)
        u = rng.standard_normal(D)
        u -= (u @ a) * a
        u /= np.linalg.norm(u)
        A.append(a)
        B.append(math.cos(theta) * a + math.sin(theta) * u)
    A_, B_ = np.array(A), np.array(B)
    B_ /= np.linalg.norm(B_, axis=1, keepdims=True)
    return PairSet(f"random:{qubits}", A_, B_, [""] * len(angles), [""] * len(angles))


def source_name(model: str, granularity: str, selector: str | None) -> str:
    """``<model>/<granularity>``, plus ``:<selector>`` (``same-shape``, or the layer whose filters are used)."""
    return f"{model}/{granularity}" + (f":{selector}" if selector else "")


@lru_cache(maxsize=8)
def model_pairs(model: str, granularity: str, selector: str | None, count: int, seed: int) -> PairSet:
    """Pairs of operator states of a built-in model (the selectors:
    :class:`~qkernels.suite.sections.quantum.plan.ModelSource`)."""
    ops = list(extract_operators(build_model(model, seed=seed), granularity))  # type: ignore[arg-type]
    if selector not in (None, "same-shape"):
        ops = [op for op in ops if op.layer == selector]
    if selector == "same-shape":
        pairs = [(i, j) for i in range(len(ops)) for j in range(i + 1, len(ops)) if ops[i].W.shape == ops[j].W.shape]
        keep = np.unique(np.linspace(0, len(pairs) - 1, min(count, len(pairs))).round().astype(int))
        pairs = [pairs[k] for k in keep]
        chosen_idx = sorted({i for p in pairs for i in p})
    else:
        chosen_idx = np.unique(np.linspace(0, len(ops) - 1, min(count, len(ops))).round().astype(int)).tolist()
        pairs = [(chosen_idx[a], chosen_idx[b]) for a in range(len(chosen_idx)) for b in range(a + 1, len(chosen_idx))]
    spectra = dict(zip(chosen_idx, (s.numpy() for s in operator_spectra([ops[i] for i in chosen_idx]))))
    N = max(len(s) for s in spectra.values())
    X = {i: np.pad(s / np.linalg.norm(s), (0, N - len(s))) for i, s in spectra.items()}
    return PairSet(source_name(model, granularity, selector), np.array([X[i] for i, _ in pairs]),
                   np.array([X[j] for _, j in pairs]), [ops[i].name for i, _ in pairs], [ops[j].name for _, j in pairs])


def source_pairs(source: str, cfg: QuantumProfile, ctx_seed: int, seed_for) -> PairSet:
    """The pair set named ``source`` (``random:<q>`` or a model source) of a profile."""
    if source.startswith("random:"):
        q = int(source.split(":")[1])
        return random_pairs(q, cfg.random.angles, seed_for(source))
    for m in cfg.models:
        if source == source_name(m.model, m.granularity, m.selector):
            return model_pairs(m.model, m.granularity, m.selector, m.count, ctx_seed)
    raise KeyError(source)


# ---- rows -----------------------------------------------------------------------------------------
def estimate_rows(pairs: PairSet, estimator: str, device: str, mode: str, shots_list: tuple, repeats: int, seed: int,
                  confidence: float, noise=None, kind: str = "estimate") -> pd.DataFrame:
    """Rows of every estimate of ``pairs``: analytic once, each shot count ``repeats`` times."""
    from qkernels.quantum import QuantumKernel

    frames = []
    f_exact, d_exact = pairs.f_exact, pairs.d_exact
    n = len(pairs.A)
    for s_i, shots in enumerate((None,) + tuple(shots_list)):
        R = 1 if shots is None else repeats
        kern = QuantumKernel(estimator, device, shots, noise, seed=seed + s_i, mode=mode)
        est = kern.estimate_pairs(np.repeat(pairs.A, R, axis=0), np.repeat(pairs.B, R, axis=0))
        flo, fhi = est.fidelity_interval(confidence)
        dlo, dhi = est.fs_interval(confidence)
        idx = np.arange(n * R) // R
        d_est = est.fs_distance()
        frame = pd.DataFrame({
            "kind": kind, "source": pairs.source, "pair": idx, "op_a": [pairs.op_a[i] for i in idx],
            "op_b": [pairs.op_b[i] for i in idx], "qubits": est.qubits,
            "wires": 2 * est.qubits + 1 if estimator == "swap" else est.qubits, "estimator": estimator,
            "device": device, "mode": est.mode, "noise_where": noise.where if noise is not None else "none",
            "noise_p": noise.p if noise is not None else 0.0,
            "shots": pd.array([shots] * (n * R), dtype="Int64"), "rep": np.arange(n * R) % R,
            "f_exact": f_exact[idx], "d_exact": d_exact[idx], "f_est": est.fidelity, "d_est": d_est,
            "f_err": est.fidelity - f_exact[idx], "d_err": d_est - d_exact[idx],
            "counts": pd.array(est.counts if est.counts is not None else [None] * (n * R), dtype="Int64"),
            "f_lo": flo, "f_hi": fhi, "d_lo": dlo, "d_hi": dhi, "confidence": confidence,
            "covered": pd.array(((dlo <= d_exact[idx]) & (d_exact[idx] <= dhi)) if shots else [None] * (n * R),
                                dtype="boolean"),
            "bias_warning": est.bias_warning(), "seconds_per_entry": est.seconds / (n * R),
        })
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def accuracy_unit(source: str, estimator: str, device: str, mode: str | None, cfg: QuantumProfile, ctx_seed: int,
                  seed_for) -> pd.DataFrame:
    """Noise-free estimates of one source; mode None: rows, or statevector above ``max_wires`` wires."""
    pairs = source_pairs(source, cfg, ctx_seed, seed_for)
    key = f"acc:{source}:{estimator}:{device}:{mode}"
    if mode is None:
        mode = "rows" if _wires(estimator, pairs.qubits) <= cfg.max_wires else "statevector"
    return estimate_rows(pairs, estimator, device, mode, cfg.shots, cfg.repeats, seed_for(key), cfg.confidence)


def calibration_pairs(pairs: PairSet, which: str) -> PairSet:
    """The F = 1 calibration pairs of ``pairs``: each pair's state a (``which="a"``) or b prepared twice;
    op_a/op_b stay the pair's names (the rows belong to the pair)."""
    X = pairs.A if which == "a" else pairs.B
    return PairSet(pairs.source, X, X, pairs.op_a, pairs.op_b)


def noise_unit(source: str, estimator: str, where: str, cfg: QuantumProfile, ctx_seed: int,
               seed_for) -> pd.DataFrame:
    """Estimates of one source under depolarizing noise ``where``, at every probability of the profile.

    At p > 0 (when the profile calibrates) each pair is followed by its two calibration circuits
    (``kind = calibration``: state a, then state b, prepared twice, F = 1) with the same noise,
    shots and repetitions, from which the report computes the depolarizing rescaling
    (:mod:`qkernels.quantum.mitigation`)."""
    from qkernels.quantum import Noise

    ncfg = cfg.noise
    pairs = source_pairs(source, cfg, ctx_seed, seed_for)
    if source.startswith("random:"):
        angles = cfg.random.angles
        pairs = pairs.take([angles.index(a) for a in ncfg.angles if a in angles])
    shots = ncfg.shots if isinstance(ncfg.shots, tuple) else (ncfg.shots,)
    frames = []
    for k, p in enumerate(ncfg.p):
        key = f"noise:{source}:{estimator}:{where}:{p}"
        frames.append(estimate_rows(pairs, estimator, "default.mixed", "rows", shots, ncfg.repeats, seed_for(key),
                                    cfg.confidence, noise=Noise(p, where)))
        if ncfg.calibrate and p > 0:
            for which in ("a", "b"):
                cal = estimate_rows(calibration_pairs(pairs, which), estimator, "default.mixed", "rows", shots,
                                    ncfg.repeats, seed_for(f"{key}:cal:{which}"), cfg.confidence,
                                    noise=Noise(p, where), kind="calibration")
                frames.append(cal.assign(calibrates=which))
    return pd.concat(frames, ignore_index=True)


def planner_unit(estimator: str, eps: float, cfg: QuantumProfile, seed: int) -> pd.DataFrame:
    """A plan for (eps, delta) checked by exact binomial sums and by real shot runs at several d_FS."""
    from qkernels.quantum import QuantumKernel, plan_shots
    from qkernels.quantum.planner import failure_probability, worst_failure

    pc = cfg.planner
    delta = pc.delta
    rows: list[dict] = []
    base = {"kind": "plan", "source": "planner", "estimator": estimator, "eps": eps, "delta": delta}
    hoeff = plan_shots(eps, delta, estimator, bound="hoeffding")
    rows.append({**base, "bound": "hoeffding", "metric": "plan_shots", "value": hoeff.shots,
                 "d_exact": hoeff.worst_d, "note": "closed form ln(2/δ)/(2β²sin⁴ε)"})
    plan = plan_shots(eps, delta, estimator)
    rows.append({**base, "bound": plan.bound, "metric": "plan_shots", "value": plan.shots, "d_exact": plan.worst_d,
                 "note": "worst case over d_FS in [0, π/2]"})
    grid = np.unique(np.concatenate([np.linspace(0, math.pi / 2, 181), [plan.worst_d]]))
    wf, wd = worst_failure(plan.shots, eps, estimator, grid)
    rows.append({**base, "bound": plan.bound, "metric": "exact_worst_failure", "value": wf, "d_exact": wd,
                 "shots": plan.shots, "note": "max over 182 values of d_FS of the exact failure probability"})
    ds = tuple(dict.fromkeys((round(plan.worst_d, 6),) + tuple(pc.d)))
    pairs = random_pairs(3, ds, seed)
    runs = pc.runs
    # real shot runs, unless their total would be excessive: then the statevector mode's draws (same statistics)
    mode = "rows" if plan.shots * runs * len(ds) <= pc.max_real_shots else "statevector"
    kern = QuantumKernel(estimator, "default.qubit", plan.shots, seed=seed, mode=mode)
    est = kern.estimate_pairs(np.repeat(pairs.A, runs, axis=0), np.repeat(pairs.B, runs, axis=0))
    d_hat = est.fs_distance().reshape(len(ds), runs)
    d_true = pairs.d_exact
    exact = failure_probability(plan.shots, eps, d_true, estimator)
    for i, d in enumerate(d_true):
        fails = int(np.sum(np.abs(d_hat[i] - d) > eps))
        common = {**base, "bound": plan.bound, "shots": plan.shots, "d_exact": float(d), "pair": i, "qubits": 3,
                  "device": "default.qubit", "mode": mode}
        what = "real shot runs" if mode == "rows" else "statevector-mode shot draws"
        rows.append({**common, "metric": "run_failure", "value": fails / runs, "counts": fails, "runs": runs,
                     "note": f"{fails} of {runs} {what} outside ±eps"})
        rows.append({**common, "metric": "exact_failure", "value": float(exact[i]), "note": "binomial sum"})
    df = pd.DataFrame(rows)
    for c in ("shots", "pair", "qubits", "counts", "runs"):
        if c in df:
            df[c] = df[c].astype("Int64")
    return df


def speed_goal_unit(cfg: QuantumProfile, device: str | None = None) -> pd.DataFrame:
    """The speed goals of :mod:`qkernels.suite.speed.quantum` on ``device`` (default: the profile's)."""
    from qkernels.suite.speed.quantum import measure_goal

    sc = cfg.speed
    q = sc.goal_qubits
    device = device or sc.device
    r = measure_goal(qubits=q, n=sc.n, sample=sc.sample, repeat=sc.repeat, device=device)
    note = (f"square_kernel_matrix timed on {r['skm_calls_timed']} calls ({sc.sample} states) and scaled to "
            f"{sc.n * (sc.n + 1) // 2} calls")
    return pd.DataFrame([{"kind": "speed", "source": "speed", "device": device, "qubits": q,
                          "estimator": "compute_uncompute", "metric": k, "value": float(v), "note": note}
                         for k, v in r.items() if k not in ("qubits",)])


def speed_entry_unit(q: int, cfg: QuantumProfile, device: str | None = None) -> pd.DataFrame:
    """Time per kernel entry of every mode at ``q`` qubits per state."""
    from qkernels.suite.speed.quantum import measure_entry_times

    sc = cfg.speed
    dev = device or sc.device
    large = q >= 8
    r = measure_entry_times(q, n=sc.n, sample=sc.entry_sample_large if large else sc.entry_sample,
                            swap_pairs=sc.swap_pairs_large if large else sc.swap_pairs,
                            repeat=1 if large else sc.repeat, device=dev)
    rows = []
    for mode, est, note in (
            ("plain", "compute_uncompute", f"square_kernel_matrix, {r['plain_cu_calls_timed']} calls timed, scaled"),
            ("rows", "compute_uncompute", "whole 64x64 matrix"),
            ("rows", "swap", f"{r['rows_swap_pairs_timed']} pairs timed, scaled to all pairs"),
            ("statevector", "compute_uncompute", "whole 64x64 matrix"),
            ("gemm", "exact", "(X Xᵀ)², NumPy")):
        key = {"plain": "plain_cu", "gemm": "gemm", "statevector": "statevector"}.get(mode) or \
            ("rows_cu" if est == "compute_uncompute" else "rows_swap")
        rows.append({"kind": "speed", "source": "speed", "device": dev if mode != "gemm" else "numpy", "qubits": q,
                     "wires": 2 * q + 1 if est == "swap" else q, "estimator": est, "mode": mode,
                     "metric": "time_per_entry", "value": float(r[key]), "note": note})
    return pd.DataFrame(rows)


def skipped_unit(devices: tuple[str, ...]) -> pd.DataFrame:
    """One row per device of ``devices`` that is not usable here, with the reason."""
    from qkernels.quantum.devices import device_usable

    rows = []
    for d in devices:
        ok, why = device_usable(d)
        if not ok:
            rows.append({"kind": "skipped", "source": "devices", "device": d, "note": why})
    return pd.DataFrame(rows, columns=["kind", "source", "device", "note"])


def _wires(estimator: str, q: int) -> int:
    return 2 * q + 1 if estimator == "swap" else q


__all__ = ["PairSet", "random_pairs", "model_pairs", "source_name", "source_pairs", "estimate_rows",
           "calibration_pairs", "accuracy_unit", "noise_unit", "planner_unit", "speed_goal_unit", "speed_entry_unit", "skipped_unit"]
