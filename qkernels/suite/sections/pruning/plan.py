"""The ``pruning`` section's profiles and units: top-1 accuracy against channel sparsity and MACs, per
criterion.

For every model of the profile one unit trains (or loads) the dense model of each replicate; then
one unit per model × method × sparsity × replicate prunes it one-shot with a registered
criterion (Torch-Pruning dependency graph, real channel removal), re-estimates BatchNorm
statistics on the calibration split, evaluates on the test split, and fine-tunes briefly and
evaluates again; QM-FRG with quantum-estimated distances runs at a few shot budgets; models
with residual blocks get one block-level unit per replicate; and the MLP gets the controls (checks
of the instrument) and the cross-architecture substitution units (:func:`control_units`). So an interrupted sweep resumes
where it stopped. The work is in :mod:`qkernels.suite.sweeps.pruning` and
:mod:`qkernels.suite.sweeps.blocks`; the dense models are shared by the units through one
:class:`~qkernels.suite.sweeps.pruning.DenseCache` per plan.

Example:
    >>> [m.name for m in PROFILES["quick"].models], PROFILES["quick"].sparsities[0]
    (['resnet18_small_w0.125', 'mlp'], 0.1)
"""

from __future__ import annotations

from functools import partial

from qkernels.suite.ckcache import config_key
from qkernels.suite.sections.base import SectionContext, Unit
from qkernels.suite.sweeps.blocks import block_rows, has_blocks
from qkernels.suite.sweeps.controls import CONTROLS, control_rows, has_controls
from qkernels.suite.sweeps.crossarch import PARTNER_NAME, cross_arch_rows, has_cross_arch, partner_setup
from qkernels.suite.sweeps.pruning import (
    DenseCache,
    ModelSetup,
    SweepConfig,
    TrainSetup,
    applicable,
    dense_config,
    dense_rows,
    prune_rows,
    replicate_seed,
    sweep_data,
    with_overrides,
)

#: a profile of the ``pruning`` section is a sweep configuration (frozen dataclass)
PruningProfile = SweepConfig

#: the quantum variant's criterion; its rows are labelled ``qmfrg-quantum-s<shots>``
QUANTUM_METHOD = "qmfrg-quantum"


def _kw(**kw) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(kw.items()))


PROFILES: dict[str, PruningProfile] = {
    "quick": SweepConfig(
        data="digits", data_options=_kw(size=16, n_train=12000, n_test=6000, n_calib=2000),
        models=(
            ModelSetup("resnet18_small_w0.125", "resnet18_small", _kw(width=0.125),
                       TrainSetup(epochs=5, lr=0.05, batch_size=128)),
            ModelSetup("mlp", "mlp", _kw(hidden=(256, 128)),
                       TrainSetup(epochs=6, lr=0.05, batch_size=128)),
        ),
        sparsities=(0.1, 0.2, 0.3, 0.5, 0.7, 0.9), replicates=3, bn_images=1024, taylor_images=256,
        # fine-tuning at p = 0.5 only keeps the README's main command near 10 minutes on 2 cores
        finetune_epochs=0.25, finetune_lr=0.01, finetune_sparsities=(0.5,),
        quantum_shots=(32, 1024), quantum_sparsities=(0.3, 0.5),
    ),
    "full": SweepConfig(
        data="digits", data_options=_kw(size=32, n_train=30000, n_test=10000, n_calib=4000),
        models=(
            ModelSetup("resnet18_small", "resnet18_small", _kw(width=1.0),
                       TrainSetup(epochs=30, lr=0.1, batch_size=256)),
            ModelSetup("mlp", "mlp", _kw(hidden=(512, 256)),
                       TrainSetup(epochs=30, lr=0.05, batch_size=256)),
            ModelSetup("vit_tiny", "vit_tiny", (),
                       TrainSetup(epochs=30, lr=0.05, batch_size=256)),
        ),
        sparsities=tuple(round(0.1 * i, 1) for i in range(1, 10)), replicates=5, bn_images=4096, taylor_images=1024,
        finetune_epochs=1.0, finetune_lr=0.01, finetune_sparsities=None, cpu_threads=None,
        quantum_shots=(64, 1024, 16384), quantum_sparsities=(0.3, 0.5, 0.7),
    ),
}
#: the profile that decides the claims: the quick models and data with 10 paired seeds (docs/report.md),
#: five sparsities, the quantum variant at 1,024 shots and p = 0.5
PROFILES["standard"] = with_overrides(PROFILES["quick"], sparsities=(0.1, 0.3, 0.5, 0.7, 0.9), replicates=10,
                                      quantum_shots=(1024,), quantum_sparsities=(0.5,))

COLUMNS = {
    "model": "model name in the profile (architecture and width)",
    "arch": "built-in architecture (qkernels.build_model name)",
    "data": "data set spec (digits, cifar10:PATH, folder:PATH)",
    "method": "pruning criterion (dense for the unpruned model)",
    "stage": "dense, oneshot (pruned, BN re-estimated, no training) or finetuned",
    "sparsity": "requested channel sparsity p (Torch-Pruning pruning_ratio per group); 0 for dense",
    "replicate, seed": "replicate index and its seed (dense init, batch order, calibration draw, random scores)",
    "accuracy, loss": "top-1 accuracy (0..1) and mean cross-entropy on the test split",
    "n_test": "test images",
    "channel_sparsity": "measured: 1 − kept/initial channels, summed over the pruned groups",
    "channels, channels_dense": "channels over the prunable groups after / before pruning",
    "macs, macs_dense, macs_frac": "multiply-accumulates per image after / before, and their ratio",
    "params, params_dense, params_frac": "parameters after / before, and their ratio",
    "prune_time_s": "wall time of pruning: criterion set-up (Taylor gradients), graph tracing, scoring, removal",
    "score_time_s": "of which scoring the groups",
    "recal_time_s": "BN re-estimation time",
    "finetune_epochs, finetune_time_s": "fine-tuning epochs (0 for oneshot) and its wall time",
    "train_time_s": "dense training time (dense rows; the time of the run that trained it when cached)",
    "eval_time_s": "test evaluation time",
    "threads": "torch intra-op threads while the unit ran (the quick profile uses 1 on the CPU)",
    "dense_key": "checkpoint-cache key of the dense model",
    "cached": "dense rows: the dense model came from the cache",
    "qmfrg_tau": "QM-FRG criteria: median over pruned groups of the edge threshold τ chosen per group to reach the "
                 "sparsity (docs/qmfrg.md)",
    "shots": "qmfrg-quantum-s<S> rows: shots per kernel entry S",
    "block, block_distance, block_nearest, block_rank": "block rows (stage block, method block-skip): the removed "
        "residual block, its d_FS to the nearest other block, that block, its single-linkage rank",
    "n_classes": "classes of the data set (chance level = 1 / n_classes; cells below 2× chance are left out of "
                 "the claim's endpoint)",
    "correct": "per-example correctness on the test split, packed: '<n>:<base64 of the packed bits>' in test order "
               "(qkernels.suite.stats.unpack_correct); optional, for the per-example tests",
    "edge_agreement, kept_agreement": "qmfrg-quantum rows: agreement of the estimated graph with the exact one "
                                      "(edges at the exact τ; kept channels), mean over groups",
    "control, planted": "control rows (stage control): positive (exact/near copies planted) or negative (same "
                        "spectrum, other function: −w or permuted inputs), and the number k of planted channels",
    "planted_found, planted_found_a, planted_found_b": "control rows: fraction of the k planted pairs of which the "
        "criterion removed exactly one member; a = the exact copies (positive) / negated twins (negative), b = the "
        "near copies / permuted twins",
    "agreement, logit_change": "control rows: fraction of test predictions equal to the planted model's, and "
                               "mean ‖Δlogits‖ / mean ‖logits‖ against it",
    "planted_accuracy": "control rows: test top-1 of the planted model before pruning",
    "cross_source, substitute, operators": "cross_arch rows (stage cross_arch, method substitute-<kind>): the model "
        "whose first-layer operators are substituted into this row's model, the kind of substitute (nearest / "
        "random / farthest by d_FS), and the number of operators substituted (one at a time)",
    "fs_distance, output_change, flip_rate": "cross_arch rows: means over the operators of the d_FS to the "
        "substitute, of the relative logit change and of the fraction of flipped predictions on the calibration "
        "images",
    "spearman": "cross_arch rows: the replicate's Spearman ρ between d_FS and the logit change over all its "
                "substitutions of that direction",
}


def plan_units(ctx: SectionContext, cfg: PruningProfile) -> list[Unit]:
    """The units of the ``pruning`` section for profile ``cfg``: dense models, one-shot pruning per
    criterion, the quantum variant, the block level. All share one :class:`DenseCache`."""
    cache = DenseCache()
    seeds = [replicate_seed(ctx.seed_for, r) for r in range(cfg.replicates)]
    ck = {(s.name, r): (dense_key(cfg, s, seeds[r]),) for s in cfg.models for r in range(cfg.replicates)}
    units = [Unit(f"dense:{s.name}:r{r}", f"dense {s.name} r{r}",
                  partial(dense_rows, cfg, s, r, seeds[r], ctx.device, cache=cache), checkpoints=ck[s.name, r])
             for s in cfg.models for r in range(cfg.replicates)]
    for s in cfg.models:
        for sp in cfg.sparsities:
            for method in cfg.method_list():
                if not applicable(method, s):
                    continue
                for r in range(cfg.replicates):
                    units.append(Unit(f"prune:{s.name}:{method}:{sp:g}:r{r}", f"{s.name} {method} p={sp:g} r{r}",
                                      partial(prune_rows, cfg, s, method, sp, r, seeds[r], ctx.device, cache=cache),
                                      checkpoints=ck[s.name, r]))
    for s in cfg.models:  # QM-FRG with quantum-estimated d_FS, at a few shot budgets
        for sp in cfg.quantum_sparsities:
            for shots in cfg.quantum_shots:
                label = f"{QUANTUM_METHOD}-s{shots}"
                for r in range(cfg.replicates):
                    units.append(Unit(f"prune:{s.name}:{label}:{sp:g}:r{r}", f"{s.name} {label} p={sp:g} r{r}",
                                      partial(prune_rows, cfg, s, QUANTUM_METHOD, sp, r, seeds[r], ctx.device,
                                              options={"shots": shots}, label=label, cache=cache),
                                      checkpoints=ck[s.name, r]))
    for s in cfg.models:  # block level: the graph over residual blocks and each block's removal
        if has_blocks(s):
            for r in range(cfg.replicates):
                units.append(Unit(f"blocks:{s.name}:r{r}", f"{s.name} blocks r{r}",
                                  partial(block_rows, cfg, s, r, seeds[r], ctx.device, cache=cache),
                                  checkpoints=ck[s.name, r]))
    return units + control_units(ctx, cfg, seeds, cache)


def dense_key(cfg: PruningProfile, setup: ModelSetup, seed: int) -> str:
    """The checkpoint-cache key of a dense model of the sweep (what its units declare in ``checkpoints``)."""
    return config_key(dense_config(cfg, setup, seed))


def control_units(ctx: SectionContext, cfg: PruningProfile, seeds: list[int], cache: DenseCache) -> list[Unit]:
    """Checks of the instrument and the cross-architecture measurement (after the sweep's units): one
    control unit per model × control × replicate (:mod:`qkernels.suite.sweeps.controls`) and one
    cross-architecture unit per replicate (:mod:`qkernels.suite.sweeps.crossarch`), on the same dense models."""
    units = []
    side = sweep_data(cfg).image_shape[1] if any(has_cross_arch(s) for s in cfg.models) else 0
    for s in cfg.models:
        if has_controls(s):
            for control in CONTROLS:
                for r in range(cfg.replicates):
                    units.append(Unit(f"control:{s.name}:{control}:r{r}", f"{s.name} {control} control r{r}",
                                      partial(control_rows, cfg, s, control, r, seeds[r], ctx.device, cache=cache),
                                      checkpoints=(dense_key(cfg, s, seeds[r]),)))
    for s in cfg.models:
        if has_cross_arch(s):
            for r in range(cfg.replicates):
                units.append(Unit(f"cross:{s.name}:{PARTNER_NAME}:r{r}", f"{s.name} <-> {PARTNER_NAME} r{r}",
                                  partial(cross_arch_rows, cfg, s, r, seeds[r], ctx.device, cache=cache),
                                  checkpoints=(dense_key(cfg, s, seeds[r]),
                                               dense_key(cfg, partner_setup(s, side), seeds[r]))))
    return units


__all__ = ["PruningProfile", "PROFILES", "COLUMNS", "QUANTUM_METHOD", "plan_units", "control_units", "dense_key"]
