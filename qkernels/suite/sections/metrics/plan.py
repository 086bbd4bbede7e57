"""The ``metrics`` section's profiles and units: exact spectral distances between the operators of
built-in models.

For every pair of layer operators (and a sample of filter pairs) a unit records each distance next
to an independent reference (POT for the Wasserstein distances, NumPy's arccos for d_FS, the
identities of docs/theory.md for the chordal and spectral-ℓ2 distances) and the error between
them; for every layer, statistics of the distances among its filters; the speed goals of
:mod:`qkernels.suite.speed.goals`; and the modules that were skipped, with the reason.

Example:
    >>> ctx = SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=0)
    >>> [u.key for u in plan_units(ctx, PROFILES["quick"])][:3]
    ['layer_pairs:resnet18', 'filters:resnet18', 'layer_pairs:vit_tiny']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
import ot
import pandas as pd
import torch

from qkernels.geometry.distances import pairwise_fs, pairwise_w2_cumulative
from qkernels.geometry.metrics import METRICS
from qkernels.geometry.operators import Operator, OperatorList, extract_operators
from qkernels.geometry.spectral import operator_spectra
from qkernels.nn.models import build_model
from qkernels.suite.sections.base import SectionContext, Unit, timed_unit
from qkernels.suite.speed.goals import measure_fs_allpairs, measure_spectra_resnet18, measure_w2cum_allpairs


@dataclass(frozen=True)
class MetricsProfile:
    """A profile of the ``metrics`` section.

    Example:
        >>> PROFILES["quick"].models
        ('resnet18', 'vit_tiny')
    """

    #: built-in models whose layer and filter operators are compared
    models: tuple[str, ...]
    #: filter pairs per layer checked against the references
    filter_ref_pairs: int
    #: repetitions of each speed-goal timing
    speed_repeat: int
    #: pairs timed with POT's emd2_1d and emd2 (scaled to all pairs)
    n_emd2_1d: int
    n_emd2: int


PROFILES: dict[str, MetricsProfile] = {
    "quick": MetricsProfile(models=("resnet18", "vit_tiny"), filter_ref_pairs=4, speed_repeat=3, n_emd2_1d=200,
                            n_emd2=3),
    "full": MetricsProfile(models=("resnet18", "resnet18_small", "vit_tiny", "mlp"), filter_ref_pairs=16,
                           speed_repeat=10, n_emd2_1d=2000, n_emd2=20),
}
#: the profile that decides the claims: the metrics section decides none, so it is the quick one
PROFILES["standard"] = PROFILES["quick"]
#: the functional profile decides only the pruning section's functional claim; here it is the quick profile
PROFILES["functional"] = PROFILES["quick"]

#: fraction-of-filters thresholds on the nearest-neighbour d_FS reported per layer
NN_THRESHOLDS = (0.01, 0.05)

COLUMNS = {
    "model": "built-in model name",
    "granularity": "layer or filter",
    "kind": "pair (one operator pair), within_layer (statistics over the filter pairs of one layer), "
    "speed (a speed-goal measurement) or skipped (a module with parameters that is not an operator)",
    "op_a, op_b": "operator names (filters: layer[index]); for within_layer both are the layer",
    "shape_a, shape_b": "shape m x n of the operator matrix W (before augmentation)",
    "N": "common (zero-padded) spectrum length used for N-dependent distances",
    "norm_a, norm_b": "a = ‖s‖₂ = ‖Â‖_F of each operator",
    "metric": "fs (d_FS), chord (‖ψa−ψb‖), w2cum, w1cum, w2emp_psi, w2emp_s (empirical W₂ of states / raw "
    "spectra), spec_l2 (‖sa−sb‖₂); speed rows: the goal id",
    "stat": "value for pairs; min/p05/median/p95/max over filter pairs, nn_median/nn_min (nearest neighbour), "
    "frac_nn_below_<τ>; speed rows: the quantity",
    "value": "the measured number",
    "reference": "the independent reference the value is checked against",
    "ref_value": "the reference's number",
    "abs_err, rel_err": "|value − ref_value| and the same relative to |ref_value| (w2cum: on W₂²)",
    "count": "number of filters (within_layer) or pairs",
    "note": "free text (skip reasons, units)",
}


def _shape(op: Operator) -> str:
    return "x".join(str(d) for d in op.W.shape)


def _states(ops: OperatorList, device: torch.device) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    spectra = operator_spectra(ops, device=device)
    s = [x.numpy() for x in spectra]
    norms = [float(np.linalg.norm(x)) for x in s]
    psi = [x / n for x, n in zip(s, norms)]
    return s, psi, norms


def _pad(v: np.ndarray, n: int) -> np.ndarray:
    return np.pad(v, (0, n - len(v)))


def pair_rows(model: str, gran: str, a: Operator, b: Operator, sa: np.ndarray, sb: np.ndarray,
              pa: np.ndarray, pb: np.ndarray, na: float, nb: float) -> list[dict]:
    """Rows of every registered metric (:mod:`qkernels.geometry.metrics`) for one operator pair,
    each with the metric's independent reference.

    W₂cum is compared on squares: W₂ itself has a √roundoff floor near 0, so its error is measured
    on W₂² against ``ot.emd2_1d`` directly.
    """
    N = max(len(pa), len(pb))
    A, B = _pad(pa, N), _pad(pb, N)
    SA, SB = _pad(sa, N), _pad(sb, N)
    tA, tB, tSA, tSB = (torch.from_numpy(v) for v in (A, B, SA, SB))
    rows = []
    for metric in METRICS.values():
        value = float(metric(tA, tB, tSA, tSB))
        if metric.name == "w2cum":  # the reference's own W₂², compared before its square root
            x = np.arange(1, N + 1, dtype=np.float64) / N
            w2sq_ref = float(ot.emd2_1d(x, x, A * A / np.sum(A * A), B * B / np.sum(B * B)))
            ref_value = math.sqrt(max(w2sq_ref, 0.0))
            abs_err = abs(value**2 - w2sq_ref)
            rel = abs_err / w2sq_ref if w2sq_ref > 0 else abs_err
        else:
            ref_value = float(metric.reference(A, B, SA, SB)) if metric.reference is not None else math.nan
            abs_err = abs(value - ref_value)
            rel = abs_err / abs(ref_value) if ref_value != 0 else abs_err
        rows.append({"model": model, "granularity": gran, "kind": "pair", "op_a": a.name, "op_b": b.name,
                     "shape_a": _shape(a), "shape_b": _shape(b), "N": N, "norm_a": na, "norm_b": nb,
                     "metric": metric.name, "stat": "value", "value": value, "reference": metric.reference_name,
                     "ref_value": ref_value, "abs_err": abs_err, "rel_err": rel, "count": 1, "note": ""})
    return rows


def layer_pairs(model_name: str, seed: int, device: torch.device) -> pd.DataFrame:
    """All pairs of layer operators of a built-in model, plus its skipped modules."""
    ops = extract_operators(build_model(model_name, seed=seed), "layer")
    s, psi, norms = _states(ops, device)
    rows = []
    for i in range(len(ops)):
        for j in range(i + 1, len(ops)):
            rows += pair_rows(model_name, "layer", ops[i], ops[j], s[i], s[j], psi[i], psi[j], norms[i], norms[j])
    rows += [{"model": model_name, "granularity": "layer", "kind": "skipped", "op_a": sk.name, "op_b": "",
              "metric": "", "stat": "", "note": f"{sk.module_type}: {sk.reason}"} for sk in ops.skipped]
    return pd.DataFrame(rows)


def filter_stats(model_name: str, seed: int, device: torch.device, ref_pairs: int, rng_seed: int) -> pd.DataFrame:
    """Per layer: statistics of d_FS and W₂cum among its filters, and sampled pairs with references."""
    ops = extract_operators(build_model(model_name, seed=seed), "filter")
    s, psi, norms = _states(ops, device)
    by_layer: dict[str, list[int]] = {}
    for k, op in enumerate(ops):
        by_layer.setdefault(op.layer, []).append(k)
    rng = np.random.default_rng(rng_seed)
    rows: list[dict] = []
    for layer, idx in by_layer.items():
        if len(idx) < 2:
            continue
        P = torch.tensor(np.stack([psi[k] for k in idx]))
        base = {"model": model_name, "granularity": "filter", "kind": "within_layer", "op_a": layer, "op_b": layer,
                "shape_a": _shape(ops[idx[0]]), "shape_b": _shape(ops[idx[0]]), "N": P.shape[1],
                "count": len(idx), "note": ""}
        for metric, D in (("fs", pairwise_fs(P)), ("w2cum", pairwise_w2_cumulative(P))):
            D = D.numpy()
            off = D[~np.eye(len(idx), dtype=bool)]
            nn = np.where(np.eye(len(idx), dtype=bool), np.inf, D).min(axis=1)
            stats = {"min": off.min(), "p05": np.quantile(off, 0.05), "median": np.median(off),
                     "p95": np.quantile(off, 0.95), "max": off.max(), "nn_median": np.median(nn), "nn_min": nn.min()}
            if metric == "fs":
                stats.update({f"frac_nn_below_{t:g}": float(np.mean(nn < t)) for t in NN_THRESHOLDS})
            rows += [{**base, "metric": metric, "stat": k, "value": float(v)} for k, v in stats.items()]
        n_pairs = min(ref_pairs, len(idx) * (len(idx) - 1) // 2)
        chosen: set[tuple[int, int]] = set()
        while len(chosen) < n_pairs:
            i, j = sorted(rng.choice(len(idx), size=2, replace=False).tolist())
            chosen.add((i, j))
        for i, j in sorted(chosen):
            a, b = idx[i], idx[j]
            rows += pair_rows(model_name, "filter", ops[a], ops[b], s[a], s[b], psi[a], psi[b], norms[a], norms[b])
    return pd.DataFrame(rows)


def speed_rows(goal: str, result: dict) -> pd.DataFrame:
    """Long-format rows of one speed measurement."""
    return pd.DataFrame([{"model": "", "granularity": "", "kind": "speed", "op_a": "", "op_b": "", "metric": goal,
                          "stat": k, "value": float(v), "note": ""} for k, v in result.items()])


def plan_units(ctx: SectionContext, cfg: MetricsProfile) -> list[Unit]:
    """The units of the ``metrics`` section for profile ``cfg``: per model, its layer pairs and its filters;
    then the three speed goals."""
    units: list[Unit] = []
    for m in cfg.models:
        units.append(Unit(f"layer_pairs:{m}", f"{m}: layer pairs", partial(layer_pairs, m, ctx.seed, ctx.device)))
        units.append(Unit(f"filters:{m}", f"{m}: filters",
                          partial(filter_stats, m, ctx.seed, ctx.device, cfg.filter_ref_pairs,
                                  ctx.seed_for(f"filters:{m}"))))
    rep = cfg.speed_repeat
    units.append(timed_unit("speed:fs_allpairs", "speed: FS all pairs",
                      lambda: speed_rows("fs_allpairs", measure_fs_allpairs(repeat=rep, device=ctx.device))))
    units.append(timed_unit("speed:w2cum_allpairs", "speed: W2cum all pairs",
                      lambda: speed_rows("w2cum_allpairs", measure_w2cum_allpairs(
                          n_emd2_1d=cfg.n_emd2_1d, n_emd2=cfg.n_emd2, repeat=rep))))
    units.append(timed_unit("speed:spectra_resnet18", "speed: ResNet-18 spectra",
                      lambda: speed_rows("spectra_resnet18", measure_spectra_resnet18(repeat=rep, device=ctx.device))))
    return units


__all__ = ["MetricsProfile", "PROFILES", "COLUMNS", "NN_THRESHOLDS", "pair_rows", "layer_pairs", "filter_stats",
           "speed_rows", "plan_units"]
