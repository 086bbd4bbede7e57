"""The ``quantum`` section's profiles and plan: which pairs of states, estimators, devices, noise
levels, shot plans and speed measurements a run covers. The units themselves are in
:mod:`.units`.

Pairs of states come from the built-in models (layer operators of ResNet-18 and the tiny ViT,
filters of one ResNet-18 layer) and from random states at set Fubini–Study angles. For every
pair, estimator (swap test, compute-uncompute), device, mode and shot count (plus analytic) the
section records the exact fidelity and d_FS next to each estimate, its error, its 95%
Clopper–Pearson interval and whether that interval covers the exact value, the bias flag and the
time per entry. Noisy circuits (depolarizing after every gate or before measurement, on
default.mixed) show the error against noise; the shot planner's plans are checked against exact
binomial sums and real shot runs; the speed goals of :mod:`qkernels.suite.speed.quantum` are
measured. Definitions: docs/quantum.md.

Example:
    >>> ctx = SectionContext(run=None, profile="quick", device=None, seed=0)
    >>> keys = [u.key for u in plan_units(ctx, PROFILES["quick"])]
    >>> keys[0], "speed:goal" in keys
    ('acc:random:3:swap:default.qubit', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from qkernels.quantum.devices import device_usable
from qkernels.suite.sections.base import SectionContext, Unit, timed_unit
from qkernels.suite.sections.quantum.units import (
    accuracy_unit,
    noise_unit,
    planner_unit,
    skipped_unit,
    source_name,
    speed_entry_unit,
    speed_goal_unit,
)


@dataclass(frozen=True)
class RandomStates:
    """Pairs of random states: one pair set per register size, one pair per Fubini–Study angle."""

    qubits: tuple[int, ...]
    angles: tuple[float, ...]


@dataclass(frozen=True)
class ModelSource:
    """Pairs of operator states of a built-in model.

    ``selector`` None picks ``count`` operators evenly and pairs them all; ``"same-shape"`` takes
    up to ``count`` pairs of layers with equal weight shapes; anything else is a layer name, whose
    filters are picked evenly.

    Example:
        >>> ModelSource("resnet18", "filter", "layer1.0.conv1", 6).name
        'resnet18/filter:layer1.0.conv1'
    """

    model: str
    granularity: str
    selector: str | None
    count: int

    @property
    def name(self) -> str:
        """The source's name in the CSV (:func:`~qkernels.suite.sections.quantum.units.source_name`)."""
        return source_name(self.model, self.granularity, self.selector)


@dataclass(frozen=True)
class NoiseStudy:
    """Depolarizing noise on default.mixed: probabilities, where it acts, and the pair sources it runs on.

    ``shots``: one shot count or several; the error budget of the claim is stated at
    :data:`~qkernels.suite.sections.quantum.budget.BUDGET_SHOTS`. ``calibrate``: run the F = 1
    calibration circuits of the depolarizing rescaling next to every noisy pair (p > 0).
    """

    p: tuple[float, ...]
    where: tuple[str, ...]
    shots: int | tuple[int, ...]
    repeats: int
    #: (source name, estimators run on it)
    sources: tuple[tuple[str, tuple[str, ...]], ...]
    #: angles of the random sources kept for the noisy runs
    angles: tuple[float, ...]
    calibrate: bool = True


@dataclass(frozen=True)
class PlannerCheck:
    """Shot plans for (eps, delta), checked by exact binomial sums and by real shot runs at ``d``."""

    eps: tuple[float, ...]
    delta: float
    runs: int
    d: tuple[float, ...]
    #: above this many shots in total the runs are statevector-mode draws (same statistics)
    max_real_shots: float = 1e8


@dataclass(frozen=True)
class SpeedStudy:
    """The speed goals at ``goal_qubits`` and the time per kernel entry at each of ``qubits``."""

    device: str
    n: int
    sample: int
    repeat: int
    qubits: tuple[int, ...]
    entry_sample: int
    entry_sample_large: int
    swap_pairs: int
    swap_pairs_large: int
    #: devices timed as well, where usable
    extra_devices: tuple[str, ...] = ()
    goal_qubits: int = 8


@dataclass(frozen=True)
class QuantumProfile:
    """A profile of the ``quantum`` section.

    Example:
        >>> PROFILES["quick"].shots, PROFILES["full"].noise.shots, PROFILES["standard"] == PROFILES["quick"]
        ((100, 1000, 10000), (1000, 10000), True)
    """

    confidence: float
    shots: tuple[int, ...]
    repeats: int
    estimators: tuple[str, ...]
    random: RandomStates
    models: tuple[ModelSource, ...]
    #: circuits with more wires run in statevector mode (same shot statistics)
    max_wires: int
    #: devices also run on random states, smallest register
    devices: tuple[str, ...]
    noise: NoiseStudy
    planner: PlannerCheck
    speed: SpeedStudy
    #: the first usable one runs the sources
    accuracy_devices: tuple[str, ...] = ("default.qubit",)


PROFILES: dict[str, QuantumProfile] = {
    "quick": QuantumProfile(
        confidence=0.95,
        shots=(100, 1000, 10000),
        repeats=8,
        estimators=("swap", "compute_uncompute"),
        random=RandomStates(qubits=(3, 6), angles=(0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.55)),
        models=(ModelSource("resnet18", "filter", "layer1.0.conv1", 6), ModelSource("vit_tiny", "layer", None, 8),
                ModelSource("resnet18", "layer", None, 8), ModelSource("resnet18", "layer", "same-shape", 12)),
        max_wires=15,
        devices=("lightning.qubit", "lightning.kokkos", "lightning.gpu"),
        noise=NoiseStudy(p=(0.0, 0.001, 0.01, 0.05), where=("gates", "measure"), shots=1000, repeats=2,
                         sources=(("random:3", ("swap", "compute_uncompute")),
                                  ("resnet18/filter:layer1.0.conv1", ("compute_uncompute",))),
                         angles=(0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.55)),
        planner=PlannerCheck(eps=(0.1,), delta=0.05, runs=200, d=(0.3, 0.8, 1.2, 1.5), max_real_shots=1e8),
        speed=SpeedStudy(device="default.qubit", n=64, sample=8, repeat=3, qubits=(3, 4, 6, 8, 10), entry_sample=6,
                         entry_sample_large=3, swap_pairs=32, swap_pairs_large=2),
    ),
    "full": QuantumProfile(
        confidence=0.95,
        shots=(100, 1000, 10000, 100000),
        repeats=32,
        estimators=("swap", "compute_uncompute"),
        random=RandomStates(qubits=(2, 3, 4, 6, 8, 10), angles=(0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.55)),
        models=(ModelSource("resnet18", "filter", "layer1.0.conv1", 12),
                ModelSource("resnet18", "filter", "layer4.1.conv2", 8), ModelSource("vit_tiny", "layer", None, 14),
                ModelSource("resnet18", "layer", None, 21), ModelSource("resnet18", "layer", "same-shape", 40),
                ModelSource("resnet18_small", "layer", None, 12)),
        max_wires=21,
        accuracy_devices=("lightning.gpu", "lightning.qubit"),
        devices=("default.qubit", "lightning.qubit", "lightning.kokkos", "lightning.gpu"),
        noise=NoiseStudy(p=(0.0, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1), where=("gates", "measure"),
                         shots=(1000, 10000),
                         repeats=16, sources=(("random:3", ("swap", "compute_uncompute")),
                                              ("random:4", ("compute_uncompute",)),
                                              ("random:6", ("compute_uncompute",)),
                                              ("resnet18/filter:layer1.0.conv1", ("compute_uncompute",))),
                         angles=(0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3)),
        planner=PlannerCheck(eps=(0.05, 0.1), delta=0.05, runs=1000, d=(0.1, 0.3, 0.8, 1.2, 1.5), max_real_shots=1e9),
        speed=SpeedStudy(device="default.qubit", n=64, sample=16, repeat=10, qubits=(3, 4, 6, 8, 10), entry_sample=16,
                         entry_sample_large=6, swap_pairs=64, swap_pairs_large=8,
                         extra_devices=("lightning.qubit", "lightning.gpu")),
    ),
}
#: the ``standard`` profile (the one other sections raise to 10 seeds) is the quick one here: the quantum
#: section has no trained models, and its error-budget test is over pairs and shot runs, not seeds
PROFILES["standard"] = PROFILES["quick"]
#: the functional profile decides only the pruning section's functional claim; here it is the quick profile
PROFILES["functional"] = PROFILES["quick"]

COLUMNS: dict[str, str] = {
    "kind": "estimate (one kernel entry), calibration (an F = 1 circuit of the depolarizing rescaling: a pair's "
            "state a or b prepared twice), plan (the shot planner checked), speed (a timing) or skipped (a device "
            "that is not usable here, with the reason in note)",
    "source": "where the pair comes from: random (random states at a set d_FS), <model>/<granularity> "
              "(operators of a built-in model), planner, speed",
    "pair": "index of the pair within its source",
    "op_a, op_b": "operator names (empty for random states)",
    "qubits": "qubits per state register q = ⌈log₂ N⌉ (after zero padding to a common N)",
    "wires": "wires of the circuit: 2q + 1 (swap test) or q (compute-uncompute)",
    "estimator": "swap or compute_uncompute",
    "device": "PennyLane device",
    "mode": "plain (one circuit per entry), rows (broadcast real circuits) or statevector (prepared states, one "
            "GEMM, shots drawn from the exact outcome distribution)",
    "noise_where": "none, gates (depolarizing after every gate) or measure (before measurement)",
    "noise_p": "depolarizing probability p (0 without noise)",
    "shots": "shots per entry; empty = analytic",
    "rep": "repetition of the same pair (independent shot runs)",
    "calibrates": "calibration rows: which state of the pair (a or b) the F = 1 circuit prepares twice",
    "f_exact, d_exact": "closed-form fidelity |⟨a|b⟩|² and d_FS (qkernels.fs_distance)",
    "f_est, d_est": "the estimate F̂ and d̂ = arccos √clip(F̂, 0, 1)",
    "f_err, d_err": "f_est − f_exact, d_est − d_exact",
    "counts": "outcome-0 counts k (empty when analytic)",
    "f_lo, f_hi, d_lo, d_hi": "Clopper–Pearson interval at `confidence` for F and d_FS",
    "confidence": "level of the interval (0.95)",
    "covered": "d_lo ≤ d_exact ≤ d_hi (empty when analytic)",
    "bias_warning": "S·(1 − F̂) < 10: d̂ is biased low by more than a few percent",
    "seconds_per_entry": "wall time of the estimator call divided by its entries",
    "metric, value": "plan and speed rows: what is measured and its value (plan_shots, exact_worst_failure, "
                     "run_failure, exact_failure; speedup_rows, time_per_entry, ...)",
    "eps, delta, bound": "plan rows: target error, failure probability and the bound used",
    "runs": "plan rows (run_failure): real shot runs behind the failure rate",
    "note": "free text (units, sampling, skip reasons)",
}


def plan_units(ctx: SectionContext, cfg: QuantumProfile) -> list[Unit]:
    """The units of the ``quantum`` section for profile ``cfg``, in CSV order: accuracy per source and
    estimator, the other modes and devices on the smallest random register, unusable devices, noise,
    the shot planner, speed."""
    sf = ctx.seed_for
    units: list[Unit] = []
    sources = [f"random:{q}" for q in cfg.random.qubits] + [m.name for m in cfg.models]
    main = next((d for d in cfg.accuracy_devices if device_usable(d)[0]), "default.qubit")
    for source in sources:
        for est in cfg.estimators:  # rows mode, or statevector where circuits exceed max_wires
            units.append(Unit(f"acc:{source}:{est}:{main}", f"{source} {est}",
                              partial(accuracy_unit, source, est, main, None, cfg, ctx.seed, sf)))
    small = f"random:{min(cfg.random.qubits)}"
    for est in cfg.estimators:
        for mode in ("plain", "statevector"):
            units.append(Unit(f"acc:{small}:{est}:default.qubit:{mode}", f"{small} {est} {mode}",
                              partial(accuracy_unit, small, est, "default.qubit", mode, cfg, ctx.seed, sf)))
        for dev in cfg.devices:
            if device_usable(dev)[0] and dev != main:
                units.append(Unit(f"acc:{small}:{est}:{dev}:rows", f"{small} {est} {dev}",
                                  partial(accuracy_unit, small, est, dev, "rows", cfg, ctx.seed, sf)))
    units.append(Unit("devices:skipped", "devices not usable here", partial(skipped_unit, tuple(cfg.devices))))
    for source, ests in cfg.noise.sources:
        for est in ests:
            for where in cfg.noise.where:
                units.append(Unit(f"noise:{source}:{est}:{where}", f"noise {source} {est} {where}",
                                  partial(noise_unit, source, est, where, cfg, ctx.seed, sf)))
    for est in cfg.estimators:
        for eps in cfg.planner.eps:
            units.append(Unit(f"plan:{est}:eps={eps:g}", f"planner {est} ε={eps:g}",
                              partial(planner_unit, est, eps, cfg, sf(f"plan:{est}:{eps}"))))
    units.append(timed_unit("speed:goal", "speed goals at 8 qubits", partial(speed_goal_unit, cfg)))
    for dev in cfg.speed.extra_devices:
        if device_usable(dev)[0]:
            units.append(timed_unit(f"speed:goal:{dev}", f"speed goals at 8 qubits, {dev}",
                              partial(speed_goal_unit, cfg, dev)))
    for q in cfg.speed.qubits:
        units.append(timed_unit(f"speed:entry:q={q}", f"time per entry, {q} qubits", partial(speed_entry_unit, q, cfg)))
    for dev in cfg.speed.extra_devices:
        if device_usable(dev)[0]:
            for q in cfg.speed.qubits:
                units.append(timed_unit(f"speed:entry:{dev}:q={q}", f"time per entry, {dev}, {q} qubits",
                                  partial(speed_entry_unit, q, cfg, dev)))
    return units


__all__ = ["QuantumProfile", "RandomStates", "ModelSource", "NoiseStudy", "PlannerCheck", "SpeedStudy", "PROFILES",
           "COLUMNS", "plan_units"]
