"""Merge instead of drop: fold each pruned channel into its cluster's representative.

When channel j is removed and channel i represents its cluster, every layer that **reads** the
channel (a convolution or linear layer whose input slice is in the group) gets

    weight[:, i] += α · weight[:, j]

before j's slice is removed, as weight-fusion methods do: if the two channels carried the same
activation, the consumers' outputs are unchanged. α = 1 (data-free: QM-FRG's states are scale-free
and a following BatchNorm normalizes the scale away); BatchNorm statistics are re-estimated after
pruning as for every criterion. Grouped convolutions and transposed layers are left as they are.

Example:
    >>> import torch
    >>> lin = torch.nn.Linear(3, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, 2.0, 4.0]]))
    >>> fold_columns(lin, [(1, 0)])
    >>> lin.weight.tolist()
    [[3.0, 2.0, 4.0]]
"""

from __future__ import annotations

import torch
from torch import nn

from qkernels.pruning.groups import IN_FNS, by_root, is_weighted


def consumer_maps(group) -> dict[int, dict[int, list[int]]]:
    """For every layer that reads the group's channels: ``id(layer)`` -> {root index -> its indices}."""
    out: dict[int, dict[int, list[int]]] = {}
    for item in group:
        if item.dep.pruning_fn in IN_FNS and is_weighted(item.dep.layer):
            roots, locs = by_root(item.idxs, item.root_idxs)
            out[id(item.dep.layer)] = dict(zip(roots, locs))
    return out


@torch.no_grad()
def fold_columns(layer: nn.Module, pairs: list[tuple[int, int]], alpha: float = 1.0) -> None:
    """``weight[:, keep] += alpha · weight[:, drop]`` for each ``(drop, keep)`` (the layer's own indices)."""
    w = layer.weight
    for drop, keep in pairs:
        w[:, keep] += alpha * w[:, drop]


def merge_group(pruning_group, representative_of: dict[int, int], local_of: dict[int, dict[int, list[int]]],
                alpha: float = 1.0) -> int:
    """Fold the channels a Torch-Pruning pruning group is about to remove into their representatives.

    Args:
        pruning_group: the group of the removal (``dg.get_pruning_group(root, fn, dropped)``).
        representative_of: root index of a dropped channel -> root index of its representative.
        local_of: ``id(layer)`` -> {root index -> the layer's indices}, recorded on the full group.
        alpha: the scale of the folded weights.

    Returns:
        The number of (layer, column) folds made.
    """
    folds = 0
    for item in pruning_group:
        layer = item.dep.layer
        if item.dep.pruning_fn not in IN_FNS or not is_weighted(layer) or getattr(layer, "groups", 1) != 1:
            continue
        table = local_of.get(id(layer))
        if table is None:
            continue
        pairs = []
        done = set()
        for li, ri in zip(item.idxs, item.root_idxs):
            ri = int(ri)
            if ri in done or ri not in representative_of:
                continue
            done.add(ri)
            src, dst = table.get(ri, []), table.get(representative_of[ri], [])
            if len(src) == len(dst):
                pairs += list(zip(src, dst))
        fold_columns(layer, pairs, alpha)
        folds += len(pairs)
    return folds


__all__ = ["fold_columns", "merge_group", "consumer_maps"]
