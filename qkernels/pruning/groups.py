"""What the pruning code reads from a Torch-Pruning dependency group.

A group is a list of items ``(dep, idxs)``: ``dep.layer`` is a module whose channels are removed
with the group, ``dep.pruning_fn`` says which of its sides is cut, ``item.idxs`` are the layer's
own channel indices and ``item.root_idxs`` the matching indices of the group's root.

* :data:`OUT_FNS`: the handlers that remove a convolution's or linear layer's **output**
  channels (its filters or rows);
* :data:`IN_FNS`: the handlers that remove their **input** channels (the consumers' slices).

Example:
    >>> import torch_pruning as tp
    >>> tp.prune_linear_out_channels in OUT_FNS, tp.prune_linear_in_channels in IN_FNS
    (True, True)
    >>> by_root([4, 5, 6], [0, 1, 0])
    ([0, 1], [[4, 6], [5]])
"""

from __future__ import annotations

from collections.abc import Iterable

import torch_pruning as tp
from torch import nn

#: Torch-Pruning handlers that remove output channels of convolutions and linear layers.
OUT_FNS = (tp.prune_conv_out_channels, tp.prune_linear_out_channels)
#: Torch-Pruning handlers that remove input channels of convolutions and linear layers.
IN_FNS = (tp.prune_conv_in_channels, tp.prune_linear_in_channels)


def is_weighted(layer: nn.Module) -> bool:
    """Whether ``layer`` is a (non-transposed) convolution or a linear layer, i.e. carries a matrix.

    Example:
        >>> is_weighted(nn.Conv2d(1, 1, 3)), is_weighted(nn.ConvTranspose2d(1, 1, 3)), is_weighted(nn.ReLU())
        (True, False, False)
    """
    return isinstance(layer, (nn.Linear, nn.modules.conv._ConvNd)) and not getattr(layer, "transposed", False)


def by_root(idxs: Iterable[int], roots: Iterable[int]) -> tuple[list[int], list[list[int]]]:
    """``(root indices, the layer's indices of each)``: a group item's indices collected by root channel.

    A root channel can map to several indices of a layer (after a flatten); roots are listed in
    the order they first occur.

    Example:
        >>> by_root([0, 1, 2, 3], [1, 1, 0, 0])
        ([1, 0], [[0, 1], [2, 3]])
    """
    seen: dict[int, list[int]] = {}
    for li, ri in zip(idxs, roots):
        seen.setdefault(int(ri), []).append(int(li))
    return list(seen), list(seen.values())


__all__ = ["OUT_FNS", "IN_FNS", "is_weighted", "by_root"]
