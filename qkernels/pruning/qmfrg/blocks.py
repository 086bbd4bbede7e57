"""Block-level QM-FRG: the redundancy graph over whole residual blocks, and what removing one costs.

Nodes are the **removable** residual blocks of a model: blocks whose shortcut is the identity
(no ``downsample``), so that the block can be replaced by the identity and the network still
runs. For ResNet-18 these are ``layer1.0``, ``layer1.1``, ``layer2.1``, ``layer3.1`` and
``layer4.1``. (The MLP has no residual blocks and no hidden layers of equal shape.)

A block's operator is the block-diagonal of its two convolutions **with their BatchNorms folded
in** (eval mode: W' = diag(γ/√(σ²+ε)) W, b' = β − γμ/√(σ²+ε)), each reshaped as at layer
granularity (out × in·k²) and augmented. Its spectrum is the union of the two augmented spectra;
the state ψ = s/‖s‖ is zero-padded to a common length, which changes no d_FS (theory.md), so
blocks of different widths are compared too. The graph over blocks uses d_FS, as ``qmfrg``.

A block that the metric calls substitutable is one close to another block: ``nearest`` and
``distance`` give the closest other block, and ``rank`` the order in which single linkage
retires blocks (0 = first: the most redundant; the representative of the last cluster is
retired never and gets n − 1). :func:`skip_block` replaces a block by the identity; the
``pruning`` section measures the accuracy after each removal (BatchNorm re-estimated).

Example:
    >>> from qkernels.nn.models import build_model
    >>> m = build_model("resnet18_small", width=0.125)
    >>> g = block_graph(m)
    >>> g["blocks"], len(g["distance"])
    (['layer1.0', 'layer1.1', 'layer2.1', 'layer3.1', 'layer4.1'], 5)
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.geometry.distances import pairwise_fs
from qkernels.geometry.spectral import spectrum_tensor
from qkernels.pruning.qmfrg.graph import single_linkage


def removable_blocks(model: nn.Module) -> list[str]:
    """Names of the residual blocks with an identity shortcut (``conv1``, ``bn1``, ``conv2``, ``bn2``,
    ``downsample`` None)."""
    out = []
    for name, m in model.named_modules():
        if all(hasattr(m, a) for a in ("conv1", "bn1", "conv2", "bn2", "downsample")) and m.downsample is None:
            out.append(name)
    return out


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    w = conv.weight.detach().double().flatten(1)
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    W = scale[:, None] * w
    bias = bn.bias.detach().double() + scale * (b - bn.running_mean.double())
    m, n = W.shape
    A = torch.zeros(m + 1, n + 1, dtype=torch.float64)
    A[:m, :n], A[:m, n], A[m, n] = W, bias, 1
    return A


def block_spectrum(block: nn.Module) -> torch.Tensor:
    """Descending singular values of blockdiag(Â(conv1·bn1), Â(conv2·bn2))."""
    s = torch.cat([spectrum_tensor(_folded(block.conv1, block.bn1)), spectrum_tensor(_folded(block.conv2, block.bn2))])
    return s.sort(descending=True).values


def block_graph(model: nn.Module) -> dict:
    """Distances between the removable blocks' states, each block's nearest other block and its rank."""
    names = removable_blocks(model)
    if len(names) < 2:
        raise InputError(f"block graph: the model has {len(names)} removable residual block(s); 2 or more needed")
    spectra = [block_spectrum(model.get_submodule(n)) for n in names]
    N = max(len(s) for s in spectra)
    psi = torch.stack([torch.nn.functional.pad(s / s.norm(), (0, N - len(s))) for s in spectra])
    D = pairwise_fs(psi).numpy()
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    off = D + np.diag(np.full(len(names), np.inf))
    nearest = off.argmin(1)
    rank = single_linkage(D).scores()
    return {"blocks": names, "distance": off.min(1).tolist(), "nearest": [names[j] for j in nearest],
            "rank": rank.astype(int).tolist(), "D": D}


def skip_block(model: nn.Module, name: str) -> nn.Module:
    """A copy of ``model`` with the removable block ``name`` replaced by the identity."""
    if name not in removable_blocks(model):
        raise InputError(f"block {name!r} is not a removable residual block; removable: {removable_blocks(model)}")
    out = copy.deepcopy(model)
    parent, _, child = name.rpartition(".")
    setattr(out.get_submodule(parent) if parent else out, child, nn.Identity())
    return out


__all__ = ["removable_blocks", "block_spectrum", "block_graph", "skip_block"]
