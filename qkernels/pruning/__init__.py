"""Structured pruning: the criterion registry, one-shot pruning, pruned-model files, statistics.

Example:
    >>> import torch
    >>> from qkernels.nn.models import build_model
    >>> pm, rec = prune(build_model("resnet18_small", width=0.125), "random", 0.25, torch.zeros(1, 3, 16, 16))
    >>> round(rec["macs_after"] / rec["macs_before"], 2) < 1
    True
"""

from __future__ import annotations

from qkernels.pruning import criteria  # noqa: F401  (registers the baseline criteria)
from qkernels.pruning import datadriven as _datadriven  # noqa: F401  (registers the data-aware baselines)
from qkernels.pruning.hardware import hardware_aware_prune
from qkernels.pruning.prune import PruneOptions, check_sparsity, count_macs_params, keep_count, prunable_groups, prune
from qkernels.pruning.qmfrg import importance as _qmfrg  # noqa: F401  (registers the QM-FRG criteria)
from qkernels.pruning.qmfrg import subspace as _span  # noqa: F401  (registers qmfrg-span)
from qkernels.pruning.reconstruct import register_reconstructed as _register_reconstructed
from qkernels.pruning.registry import (
    BeforeRemovalHook,
    Criterion,
    GroupKeepHook,
    Method,
    PruneContext,
    RecordHook,
    get_method,
    method_names,
    methods,
    register_method,
    unregister_method,
)
from qkernels.pruning.serialize import channel_counts, load_pruned, save_pruned, shrink_to

_register_reconstructed()  # <baseline>-ls-kept for the baselines of the functional claim

__all__ = ["prune", "PruneOptions", "register_method", "unregister_method", "get_method", "method_names", "methods",
           "Method", "PruneContext", "Criterion", "GroupKeepHook", "BeforeRemovalHook", "RecordHook",
           "check_sparsity", "keep_count", "count_macs_params", "save_pruned", "load_pruned", "channel_counts",
           "shrink_to", "prunable_groups", "hardware_aware_prune"]
