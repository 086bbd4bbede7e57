"""Any criterion with a least-squares reconstruction of the consumers: ``<criterion>-ls-kept``.

The ``ls-kept`` merge of :mod:`qkernels.pruning.qmfrg.merge` re-expresses the removed channels
through all kept ones by least squares on the calibration activations. It does not depend on
how the kept set was chosen, so :class:`WithReconstruction` applies it to any criterion: with it
a baseline gets the same weight update as the functional QM-FRG criteria, and a comparison of
``qmfrg-act-ls-kept`` with ``l1-ls-kept`` or ``thinet-ls-kept`` (ThiNet with its least-squares
step, as in Luo et al. 2017) measures the selection alone.

Example:
    >>> import torch
    >>> from qkernels.nn.models import build_model
    >>> from qkernels.pruning import prune
    >>> m = build_model("mlp", in_features=8, hidden=(6,), num_classes=3)
    >>> calib = [(torch.randn(32, 8), torch.zeros(32, dtype=torch.long))]
    >>> pm, rec = prune(m, "l1-ls-kept", 0.5, torch.zeros(1, 8), calib=calib)
    >>> rec["criterion"]["merge"], rec["criterion"]["folds"] > 0
    ('ls-kept', True)
"""

from __future__ import annotations

from typing import Any

import torch

from qkernels.core.errors import InputError
from qkernels.pruning.activations import channel_moments
from qkernels.pruning.qmfrg.merge import consumer_maps, ls_kept_merge
from qkernels.pruning.registry import PruneContext, get_method, register_method


class WithReconstruction:
    """A criterion whose removed channels are re-expressed through the kept ones (``ls-kept``) before removal."""

    def __init__(self, inner: Any, stats: dict):
        self.inner, self.stats = inner, stats
        self._tables: dict[int, dict] = {}
        self.folds = 0

    def __call__(self, group) -> torch.Tensor | None:
        self._tables[id(group[0].dep.target.module)] = consumer_maps(group)
        return self.inner(group)

    def before_removal(self, pruning_group) -> None:
        """Re-express the channels of ``pruning_group`` (about to be removed) through the kept ones."""
        table = self._tables.get(id(pruning_group[0].dep.target.module))
        if table is None:
            return
        removed = sorted({int(i) for i in pruning_group[0].root_idxs})
        self.folds += ls_kept_merge(pruning_group, removed, table, self.stats)

    def record(self) -> dict:
        """The merge and how many consumer columns it re-expressed."""
        return {"merge": "ls-kept", "folds": self.folds}


def with_reconstruction(base: str):
    """The factory of ``<base>-ls-kept``: ``base``'s scores, then the ``ls-kept`` reconstruction."""
    def make(ctx: PruneContext) -> WithReconstruction:
        if not ctx.calib:
            raise InputError(f"method '{base}-ls-kept' needs calibration data (labelled batches: calib=...)")
        inner = get_method(base).factory(ctx)
        return WithReconstruction(inner, channel_moments(ctx.model, ctx.calib))
    return make


#: the baselines that also run with the reconstruction (the strongest form of each in the functional claim)
RECONSTRUCTED = ("l1", "taylor", "thinet", "activation")


def register_reconstructed(bases=RECONSTRUCTED) -> None:
    """Register ``<base>-ls-kept`` for each of ``bases`` (sweep=False; the profiles name them)."""
    for base in bases:
        register_method(f"{base}-ls-kept", with_reconstruction(base),
                        f"{base} with the least-squares reconstruction of the consumers (merge 'ls-kept')",
                        needs_data=True, sweep=False, replace=True)


__all__ = ["WithReconstruction", "with_reconstruction", "RECONSTRUCTED", "register_reconstructed"]
