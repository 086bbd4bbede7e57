"""The speed goals of the suite, each stated once: id, what is timed, target, direction, unit.

Every reader takes its numbers from :data:`SPEED_GOALS` (or :data:`TARGETS`, the same goals by
id): the sections of ``qkernels run`` through the ``GOALS`` dicts of :mod:`qkernels.suite.speed.goals`,
:mod:`~qkernels.suite.speed.quantum` and :mod:`~qkernels.suite.speed.qmfrg`; the report of
pytest-benchmark JSON (:mod:`qkernels.suite.report.bench`, whose ``BENCH_GOALS`` and
``EXTRA_GOALS`` are built from this table); and the benchmarks in ``bench/``. To change a target,
change it here; ``tests/suite/speed/test_targets.py`` fails when a target is stated anywhere else.

A goal is read from benchmarks in one of two ways (``bench``):

* :class:`MedianBench`: from the medians of named benchmarks. Unit ``"s"``: the sum of the medians
  of ``ours`` in seconds; a goal ``at_least`` a ratio: the speed-up, scaled median of the
  ``reference`` benchmarks over the medians of ``ours``; ``at_most`` a ratio: ours over reference.
  ``requires`` names workload keys that the ``ours`` benchmarks must carry in ``extra_info``
  with the workload's value (otherwise the goal is "not applicable" to that file).
* :class:`ExtraInfoBench`: a benchmark computes the value itself (e.g. a ratio of two models timed
  in alternating rounds) and records it in ``extra_info[key]``; each benchmark whose name starts
  with ``prefix`` is one case.

This module imports nothing but the standard library, so reading the goals never loads torch.

Example:
    >>> g = TARGETS["fs_allpairs"]
    >>> g.target, g.direction, g.unit, g.met(2.5), g.what
    (3.0, 'at_most', 'x', True, 'ours / mm (at most)')
    >>> legacy_goals("qmfrg")["qmfrg_vs_l2"][1]
    3.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping

Direction = Literal["at_most", "at_least"]


@dataclass(frozen=True)
class MedianBench:
    """How benchmark ingestion reads a goal from benchmark medians (see the module text)."""

    ours: tuple[str, ...]
    reference: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExtraInfoBench:
    """A goal whose value each benchmark named ``prefix...`` records in ``extra_info[key]``."""

    prefix: str
    key: str


@dataclass(frozen=True)
class SpeedGoal:
    """One speed goal.

    ``area`` is the part of the suite that measures it in ``qkernels run`` (``metrics``,
    ``quantum``, ``bounds``, ``qmfrg``, ``latency``); ``description`` is the text of the run
    report, ``bench_description`` that of the benchmark report (the same unless given). ``unit``
    is ``"x"`` for a dimensionless ratio and ``"s"`` for seconds; ``quantity`` names the measured
    number as the run report prints it. ``workload`` holds the parameters of the goal's workload
    that its readers need (sizes, sparsity).
    """

    goal_id: str
    area: str
    description: str
    target: float
    direction: Direction
    unit: str
    quantity: str
    bench: MedianBench | ExtraInfoBench | None = None
    bench_description: str = ""
    workload: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.direction not in ("at_most", "at_least"):
            raise ValueError(f"{self.goal_id}: direction must be at_most or at_least, not {self.direction!r}")
        if self.unit not in ("x", "s"):
            raise ValueError(f"{self.goal_id}: unit must be 'x' or 's', not {self.unit!r}")
        object.__setattr__(self, "workload", MappingProxyType(dict(self.workload)))
        if not self.bench_description:
            object.__setattr__(self, "bench_description", self.description)

    @property
    def what(self) -> str:
        """The measured quantity with its direction, e.g. ``"speed-up (at least)"``."""
        return f"{self.quantity} ({self.direction.replace('_', ' ')})"

    def met(self, value: float) -> bool:
        """Whether a measured value meets the target (NaN never does)."""
        return value <= self.target if self.direction == "at_most" else value >= self.target

    def legacy(self) -> tuple[str, float, str]:
        """``(description, target, what)``: the value type of the ``GOALS`` dicts."""
        return (self.description, self.target, self.what)


#: Every speed goal of the suite, once.
SPEED_GOALS: tuple[SpeedGoal, ...] = (
    # -- exact metrics (qkernels.suite.speed.goals; bench/bench_metrics.py)
    SpeedGoal("fs_allpairs", "metrics", "all-pairs FS, 4096 states x 64, vs torch.mm of that shape", 3.0,
              "at_most", "x", "ours / mm",
              MedianBench(("bench_fs_allpairs_ours",), ("bench_fs_allpairs_torch_mm",)),
              "all-pairs d_FS, 4096 states x 64, vs torch.mm of that shape", {"n": 4096, "d": 64}),
    SpeedGoal("w2cum_vs_emd2_1d", "metrics", "all-pairs W2cum, 256 x 512, vs an ot.emd2_1d loop", 5.0,
              "at_least", "x", "speed-up",
              MedianBench(("bench_w2cum_allpairs_ours",), ("bench_w2cum_emd2_1d_loop_sample",)),
              "all-pairs W2cum, 256 x 512, vs an ot.emd2_1d loop (sampled, scaled)", {"n": 256, "d": 512}),
    SpeedGoal("w2cum_vs_emd2", "metrics", "all-pairs W2cum, 256 x 512, vs an ot.emd2 loop", 1000.0,
              "at_least", "x", "speed-up",
              MedianBench(("bench_w2cum_allpairs_ours",), ("bench_w2cum_emd2_loop_sample",)),
              "all-pairs W2cum, 256 x 512, vs an ot.emd2 loop (sampled, scaled)", {"n": 256, "d": 512}),
    SpeedGoal("spectra_resnet18", "metrics", "spectra of all ResNet-18 operators, layer + filter", 2.0,
              "at_most", "s", "seconds",
              MedianBench(("bench_spectra_resnet18[layer]", "bench_spectra_resnet18[filter]"))),
    # -- quantum-kernel engine (qkernels.suite.speed.quantum; bench/bench_quantum.py)
    SpeedGoal("rows_vs_skm", "quantum",
              "64x64 kernel matrix at 8 qubits, real circuits (rows mode, compute-uncompute reflection form) "
              "vs qml.kernels.square_kernel_matrix on the same device", 500.0, "at_least", "x", "speed-up",
              MedianBench(("bench_goal_rows",), ("bench_goal_square_kernel_matrix_sample",)),
              "64x64 quantum kernel at 8 qubits, rows mode vs qml.kernels.square_kernel_matrix",
              {"qubits": 8, "n": 64}),
    SpeedGoal("statevector_vs_skm", "quantum",
              "64x64 kernel matrix at 8 qubits, statevector mode vs qml.kernels.square_kernel_matrix", 10000.0,
              "at_least", "x", "speed-up",
              MedianBench(("bench_goal_statevector",), ("bench_goal_square_kernel_matrix_sample",)),
              "64x64 quantum kernel at 8 qubits, statevector mode vs square_kernel_matrix", {"qubits": 8, "n": 64}),
    # -- bound checker (bench/bench_bounds.py; the bounds section's speed row)
    SpeedGoal("bounds_1000", "bounds", "Theorem 2.1 checker, 1000 pairs of 256 x 256 layers", 120.0,
              "at_most", "s", "seconds", MedianBench(("bench_bounds_256",), (), ("pairs",)),
              workload={"pairs": 1000, "n": 256}),
    # -- QM-FRG pruning (qkernels.suite.speed.qmfrg; bench/bench_pruning.py)
    SpeedGoal("qmfrg_vs_l2", "qmfrg", "one-shot qmfrg on ResNet-18 (224 x 224) vs L2 magnitude, p = 0.5", 3.0,
              "at_most", "x", "qmfrg / l2", ExtraInfoBench("bench_qmfrg_within_3x_of_l2", "call_ratio"),
              "one-shot qmfrg on standard ResNet-18 (224²), time vs L2 magnitude pruning",
              {"image": 224, "sparsity": 0.5}),
    # -- latency (bench/bench_latency.py; the latency section)
    SpeedGoal("latency_cpu_50", "latency",
              "CPU speed-up at 50% channel sparsity, batch ≥ 8, as a fraction of the MAC reduction", 0.8,
              "at_least", "x", "speed-up / MAC ratio", ExtraInfoBench("bench_speed_goal[", "efficiency"),
              workload={"sparsity": 0.5, "batch": 8}),
    SpeedGoal("latency_cpu_50_deployed", "latency",
              "CPU speed-up of deployed models (BN folded, channels_last) at 50% channel sparsity, batch ≥ 8, "
              "as a fraction of the MAC reduction", 0.8,
              "at_least", "x", "speed-up / MAC ratio", ExtraInfoBench("bench_speed_goal_deployed[", "efficiency"),
              workload={"sparsity": 0.5, "batch": 8}),
    # -- aligned QM-FRG (bench/bench_pruning.py)
    SpeedGoal("qmfrg_aligned_vs_l2", "qmfrg",
              "one-shot qmfrg-aligned on ResNet-18 (224 x 224) vs L2 magnitude, p = 0.5", 3.0,
              "at_most", "x", "qmfrg-aligned / l2", ExtraInfoBench("bench_qmfrg_aligned_within_3x_of_l2", "call_ratio"),
              "one-shot qmfrg-aligned on standard ResNet-18 (224²), time vs L2 magnitude pruning",
              {"image": 224, "sparsity": 0.5}),
    # -- functional QM-FRG states (issue 16; bench/bench_functional.py)
    SpeedGoal("functional_act_vs_taylor", "qmfrg",
              "one-shot qmfrg-act (activation states: statistics pass + scoring) on ResNet-18 (224 x 224) with 256 "
              "calibration images vs Taylor (its gradients on the same images), p = 0.5, same threads", 3.0,
              "at_most", "x", "qmfrg-act / taylor",
              ExtraInfoBench("bench_functional_act_within_3x_of_taylor", "call_ratio"),
              "one-shot qmfrg-act on standard ResNet-18 (224², 256 calibration images), time vs Taylor pruning",
              {"image": 224, "images": 256, "sparsity": 0.5}),
    # -- scale-out (bench/bench_scaleout.py)
    SpeedGoal("scaleout_local2", "scaleout",
              "wall time of the quick profile's pruning section on --cluster local:2 against one process, 2 cores",
              0.6, "at_most", "x", "local:2 / sequential",
              ExtraInfoBench("bench_pruning_section_local_cluster_vs_sequential", "ratio"),
              workload={"workers": 2}),
    # -- busy machines (bench/bench_contention.py; qkernels.suite.speed.contention)
    SpeedGoal("contention", "contention",
              "slowdown of each headline kernel (all-pairs d_FS and W2cum, spectra, bound checker, aligned "
              "distance) while another process spins on one core, with the thread policy",
              2.0, "at_most", "x", "busy / quiet", ExtraInfoBench("bench_contention[", "slowdown")),
    # -- pretrained networks (bench/bench_pretrained.py)
    SpeedGoal("crepe_tiny_unit", "pretrained",
              "one pruning unit of crepe-tiny on one core: prune (l1, p = 0.5), BN re-estimation on 256 frames, "
              "evaluation on the profiles' 400 test frames",
              10.0, "at_most", "s", "seconds (at most)",
              ExtraInfoBench("bench_crepe_tiny_prune_and_evaluate", "seconds"),
              workload={"threads": 1}),
)

#: The same goals by id (read-only).
TARGETS: Mapping[str, SpeedGoal] = MappingProxyType({g.goal_id: g for g in SPEED_GOALS})
if len(TARGETS) != len(SPEED_GOALS):  # pragma: no cover - a table error
    raise RuntimeError("a speed goal id is defined twice in qkernels.suite.speed.targets")


def target(goal_id: str) -> float:
    """The target of one goal."""
    return TARGETS[goal_id].target


def legacy_goals(area: str) -> dict[str, tuple[str, float, str]]:
    """``goal id -> (description, target, what)`` for the goals of one area (the ``GOALS`` dicts)."""
    return {g.goal_id: g.legacy() for g in SPEED_GOALS if g.area == area}


__all__ = ["SpeedGoal", "MedianBench", "ExtraInfoBench", "SPEED_GOALS", "TARGETS", "target", "legacy_goals"]
