"""The ``latency`` section's profiles and plan: which models, sparsities, batch sizes and backends a
run times. The units themselves are in :mod:`.units`.

A model of the latency sweep is either a model of the pruning sweep (``trained=True``: the same
dense checkpoint as the pruning section's first replicate, loaded from the checkpoint cache, or
trained and cached when absent; the uniform models are rebuilt with
:func:`qkernels.suite.sweeps.pruning.build_pruned`, exactly as the pruning section prunes them) or a
latency-only model (``trained=False``: built with its seed, never trained; accuracy is left
empty; latency does not depend on the weights). Three kinds of units:

- ``dense:<model>:<backend>``: the dense model's latency rows (one per batch size);
- ``table:<model>:<backend>``: the hardware-aware cost table of the model on that backend
  (rows with ``kind = cost``), kept for the next units of the plan in its
  :class:`~qkernels.suite.sections.latency.units.CostTables` and read back from its part file on
  resume;
- ``point:<model>:<sparsity>:<backend>``: the dense model again, uniform ``l1`` pruning and
  hardware-aware pruning (``hw-l1``) at that sparsity, timed in one process one after another,
  so every speed-up is a ratio of medians measured minutes apart at most. The hardware-aware
  widths are allocated from the cost table (L1 scores for the importance lost) and their
  target is corrected by measurement until the hardware-aware model runs as fast as the
  uniform one at the table's batch size (:func:`qkernels.pruning.hardware.match_latency`), so
  the two are compared at equal measured latency.

Trained models are seeded like the pruning section's first replicate
(:func:`~qkernels.suite.sweeps.pruning.replicate_seed`), so they are its dense checkpoints.

Example:
    >>> cfg = PROFILES["quick"]
    >>> [m.name for m in cfg.models], cfg.batch_sizes
    (['resnet18_small_w0.125', 'mlp', 'resnet18_small_w0.5@32'], (1, 8, 32))
    >>> [m.name for m in PROFILES["standard"].models]
    ['resnet18_small_w0.25', 'mlp', 'lenet5-mnist', 'crepe-tiny', 'resnet18_small_w0.5@32']
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from qkernels.suite.sections.base import SectionContext, Unit
from qkernels.suite.sections.latency.units import (
    CSV_COLUMNS,
    HARDWARE,
    UNIFORM,
    CostTables,
    dense_unit,
    point_unit,
    table_key,
    table_unit,
)
from qkernels.suite.sections.pruning.plan import PROFILES as PRUNING_PROFILES
from qkernels.suite.sections.pruning.plan import check_profile as check_pruning_profile
from qkernels.suite.sections.pruning.plan import dense_key
from qkernels.suite.sweeps.pruning import DenseCache, ModelSetup, SweepConfig, replicate_seed


@dataclass(frozen=True)
class LatencyModel:
    """One model of the latency sweep."""

    name: str
    setup: ModelSetup
    trained: bool = True
    input_size: int | None = None  # image side of latency-only models (None: the data's)


@dataclass(frozen=True)
class LatencyProfile:
    """A profile of the ``latency`` section.

    Example:
        >>> PROFILES["full"].sparsities
        (0.1, 0.3, 0.5, 0.7, 0.9)
    """

    pruning: SweepConfig
    models: tuple[LatencyModel, ...]
    sparsities: tuple[float, ...] = (0.3, 0.5, 0.7)
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    warmup: int = 3
    min_repeat: int = 10
    max_repeat: int = 200
    budget_s: float = 0.25
    cpu_threads: int | None = 1
    table_batch: int = 8  # batch at which the hardware-aware cost table is measured
    table_budget_s: float = 0.1
    round_to: int | None = None
    rounds: int = 3  # interleaved rounds (dense, uniform, hardware-aware alternate)
    match_tries: int = 4  # measurements to match the hardware-aware model's latency to the uniform one's
    #: replicates of the trained models (the pruning section's replicates 0..R−1); replicates > 0 time only
    #: the point units, at the cost table's batch, with replicate 0's cost table
    replicates: int = 1
    #: also time every point unit's models deployed (BN folded, channels_last: qkernels.hw.deploy), replicate 0
    deployed: bool = True
    #: deployed models are also compiled with torch.compile (tens of seconds per model and shape on a CPU)
    compile: bool = False


def _from_pruning(profile: str, pretrained: bool = True) -> tuple[LatencyModel, ...]:
    return tuple(LatencyModel(s.name, s, True) for s in PRUNING_PROFILES[profile].models
                 if pretrained or not s.pretrained)


PROFILES: dict[str, LatencyProfile] = {
    "quick": LatencyProfile(
        pruning=PRUNING_PROFILES["quick"],
        # the pretrained networks are timed in `standard` (in quick they would add 2.5 min: over 10 min in all)
        models=_from_pruning("quick", pretrained=False) + (
            LatencyModel("resnet18_small_w0.5@32", ModelSetup("resnet18_small_w0.5", "resnet18_small",
                                                              (("width", 0.5),)), False, 32),),
        replicates=3,
    ),
    "full": LatencyProfile(
        pruning=PRUNING_PROFILES["full"], models=_from_pruning("full"), sparsities=(0.1, 0.3, 0.5, 0.7, 0.9),
        batch_sizes=(1, 8, 32, 128), warmup=10, min_repeat=30, max_repeat=1000, budget_s=2.0, cpu_threads=None,
        table_budget_s=0.5, round_to=None, replicates=3, compile=True),
}
#: ``standard`` (the profile that decides the claims) times the standard pruning profile's models (the trained-here
#: models on mnist5k and the pretrained networks) and quick's latency-only model, over 3 replicates: the timed units
#: run one at a time, and 10 replicates would take longer than the pruning sweep
PROFILES["standard"] = replace(PROFILES["quick"], pruning=PRUNING_PROFILES["standard"],
                               models=_from_pruning("standard") + PROFILES["quick"].models[-1:],
                               replicates=3)
#: the functional profile decides only the pruning section's functional claim; here it is the quick profile
PROFILES["functional"] = PROFILES["quick"]

COLUMNS = {
    "kind": "model (a timed model), reference (the dense model re-timed inside a sparsity's unit) or cost "
            "(one row of a hardware-aware cost table)",
    "model, arch, weights": "model name, built-in architecture, trained (pruning section's checkpoint) or untrained",
    "method": "dense, l1 (uniform local pruning) or hw-l1 (hardware-aware widths, L1 scores)",
    "sparsity": "requested channel sparsity (0 for dense)",
    "backend, batch, threads": "device timed, batch size, torch intra-op threads",
    "n, median_s, p90_s, p99_s, min_s, mean_s": "timed calls and their statistics (seconds per forward pass)",
    "rounds": "interleaved rounds the n calls were split into (dense, uniform, hardware-aware alternating)",
    "throughput": "inputs per second at the median",
    "dense_median_s, speedup": "the dense model's median in the same unit and dense / this median",
    "mac_ratio, efficiency": "ideal speed-up (dense MACs / MACs) and speedup / mac_ratio",
    "macs, macs_dense, macs_frac, params, params_frac": "per-input MACs and parameters, and their fractions",
    "channels, channel_sparsity": "channels kept over the prunable groups and 1 − kept / dense",
    "accuracy, accuracy_dense": "top-1 on the test split after BN re-estimation (trained models only)",
    "peak_mem_bytes, mem_kind": "memory peak: the allocator's on accelerators, growth of the process peak on the CPU",
    "error": "empty, or why the row has no timing (e.g. out of memory); the sweep goes on",
    "keep, predicted_saving_s, target_saving_s, match_tries": "hw-l1: widths per group (JSON), the cost model's "
        "predicted saving of them, its prediction for uniform pruning (the first target), and the tries that matched "
        "the measured latency to the uniform model's (JSON list of [predicted-saving target, measured s])",
    "group, group_channels, group_keep, saving_s": "cost rows: group root, its channels, the candidate width and "
                                                   "the measured saving (median_s is that model's latency)",
    "cudnn_benchmark, cuda_matmul_tf32": "flags in force while timing",
    "replicate": "replicate of the trained model (the pruning section's replicate r: its dense checkpoint); 0 for "
                 "untrained models",
    "round_median_s": "JSON list: the median of each interleaved round (models of one unit timed in the same round "
                      "are paired; the paired speed-up test uses them)",
}


def backends_for(ctx: SectionContext) -> list[str]:
    """The backends a run times: the run's device, and the CPU as well when that is an accelerator."""
    dev = str(ctx.device)
    return [dev] if ctx.device.type == "cpu" else [dev, "cpu"]


def check_profile(cfg: LatencyProfile) -> None:
    """The trained and pretrained models it times are available (see the pruning section's check)."""
    check_pruning_profile(replace(cfg.pruning, models=tuple(m.setup for m in cfg.models if m.trained)))


def plan_units(ctx: SectionContext, cfg: LatencyProfile) -> list[Unit]:
    """Per backend and model: the dense unit, the cost-table unit and one point unit per sparsity.
    They share one :class:`~qkernels.suite.sweeps.pruning.DenseCache` and one :class:`CostTables`."""
    seed = replicate_seed(ctx.seed_for, 0)
    cache, tables = DenseCache(), CostTables(ctx.run)
    units = []

    def ck(lm: LatencyModel, s: int) -> tuple[str, ...]:  # the trained dense checkpoint a unit loads
        return (dense_key(cfg.pruning, lm.setup, s),) if lm.trained and not lm.setup.pretrained else ()

    # every latency unit times something: on a cluster they run alone, after the parallel phase
    for backend in backends_for(ctx):
        for lm in cfg.models:
            units.append(Unit(f"dense:{lm.name}:{backend}", f"dense {lm.name} {backend}",
                              partial(dense_unit, cfg, lm, seed, backend, cache=cache), timed=True,
                              checkpoints=ck(lm, seed)))
            units.append(Unit(table_key(lm, backend), f"cost table {lm.name} {backend}",
                              partial(table_unit, cfg, lm, seed, backend, tables=tables, cache=cache), timed=True,
                              checkpoints=ck(lm, seed)))
            for sp in cfg.sparsities:
                units.append(Unit(f"point:{lm.name}:{sp:g}:{backend}", f"{lm.name} p={sp:g} {backend}",
                                  partial(point_unit, cfg, lm, sp, backend, seed, tables=tables, cache=cache),
                                  timed=True, checkpoints=ck(lm, seed), needs=(table_key(lm, backend),)))
        rep_cfg = replace(cfg, batch_sizes=(cfg.table_batch,))
        for r in range(1, cfg.replicates):
            seed_r = replicate_seed(ctx.seed_for, r)
            for lm in cfg.models:
                if not lm.trained:  # latency does not depend on the weights: nothing to replicate
                    continue
                for sp in cfg.sparsities:
                    units.append(Unit(f"point:{lm.name}:{sp:g}:{backend}:r{r}", f"{lm.name} p={sp:g} {backend} r{r}",
                                      partial(point_unit, rep_cfg, lm, sp, backend, seed_r, tables=tables,
                                              cache=cache, replicate=r, table_seed=seed),
                                      timed=True, checkpoints=ck(lm, seed_r), needs=(table_key(lm, backend),)))
    return units


__all__ = ["LatencyModel", "LatencyProfile", "PROFILES", "COLUMNS", "check_profile", "CSV_COLUMNS", "UNIFORM", "HARDWARE",
           "backends_for", "plan_units"]
