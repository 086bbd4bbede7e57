"""Functional channel states of a Torch-Pruning group, and their distance matrices.

The channel states of :mod:`qkernels.geometry.functional`, for the layers that **produce** a
group's channels (a convolution's filters or a linear layer's rows; on a residual stream every
convolution adding into it), averaged over those layers as the spectral metrics are
(:func:`~qkernels.pruning.qmfrg.channels.group_distances`):

* ``act``: activation states, arccos|corr(yᵢ, yⱼ)| of the layer's outputs y on the calibration
  images (over images and positions). The layer's output is taken before the BatchNorm that may
  follow: in eval mode BatchNorm is a per-channel affine map, which changes no |corr|, so this is
  the correlation after BN, before the nonlinearity;
* ``white``: whitened operator states, arccos(|E[yᵢ yⱼ]| / √(E[yᵢ²] E[yⱼ²])) (uncentred, bias
  included: the rows of Ŵ Σ̂^{1/2});
* ``filter``: sign-lifted, scale-normalized filters (data-free); the bias is part of the filter
  unless a BatchNorm in the group follows the layer (then it has no effect on the function).

The **strength** of a channel (which member of a cluster is kept) is Σ_L E[y_c²] for the data
states and Σ_L ‖w_c‖² for filter states.

Example:
    >>> import torch
    >>> from qkernels.nn.models import build_model
    >>> from qkernels.pruning import prune
    >>> m = build_model("mlp", in_features=8, hidden=(6,), num_classes=3)
    >>> calib = [(torch.randn(32, 8), torch.zeros(32, dtype=torch.long))]
    >>> pm, rec = prune(m, "qmfrg-act", 0.5, torch.zeros(1, 8), calib=calib)
    >>> rec["criterion"]["metric"], rec["channels_after"]
    ('act', 3)
"""

from __future__ import annotations

import numpy as np
import torch
import torch_pruning as tp

from qkernels.core.errors import InputError
from qkernels.geometry.functional import (
    correlation_distances,
    filter_distances,
    filter_states,
    gram_distances,
    states_from_gram,
)
from qkernels.pruning.activations import LayerMoments
from qkernels.pruning.groups import OUT_FNS, by_root, is_weighted

#: the functional states QM-FRG accepts as ``metric``; the first two need calibration data
FUNCTIONAL_METRICS = ("act", "white", "filter")
DATA_METRICS = ("act", "white")


def group_has_bn(group) -> bool:
    """Whether a BatchNorm's channels are in the group (it follows the producing layers)."""
    return any(item.dep.pruning_fn == tp.prune_batchnorm_out_channels for item in group)


def producer_layers(group) -> list[tuple[torch.nn.Module, list[int], list[int]]]:
    """``(layer, roots, the layer's output index of each root)`` for every weighted layer that produces
    the group's channels."""
    out = []
    for item in group:
        if item.dep.pruning_fn in OUT_FNS and is_weighted(item.dep.layer):
            roots, locs = by_root(item.idxs, item.root_idxs)
            if roots:
                out.append((item.dep.layer, roots, [loc[0] for loc in locs]))
    return out


def _moments_of(stats: dict | None, layer, metric: str) -> LayerMoments:
    if stats is None:
        raise InputError(f"metric {metric!r} needs calibration data (the channel statistics of the model)")
    st = stats.get(layer)
    if st is None or st.out is None:
        raise InputError(f"metric {metric!r}: no statistics for a layer of the group ({type(layer).__name__}); "
                         "was it reached by the calibration pass?")
    return st


def layer_gram(layer, locals_: list[int], metric: str, stats: dict | None, bn: bool) -> torch.Tensor:
    """The Gram matrix whose normalized entries are the states' inner products, for one producer layer."""
    if metric == "filter":
        w = layer.weight.detach().to("cpu", torch.float64)[locals_]
        b = None if bn or layer.bias is None else layer.bias.detach().to("cpu", torch.float64)[locals_]
        psi = filter_states(w, b)
        return psi @ psi.T
    m = _moments_of(stats, layer, metric).out.subset(locals_)
    return m.covariance() if metric == "act" else m.second()


def layer_states(layer, locals_: list[int], metric: str, stats: dict | None, bn: bool) -> torch.Tensor:
    """The explicit unit-vector states (rows) of one producer layer's channels (for the quantum kernels)."""
    if metric == "filter":
        w = layer.weight.detach().to("cpu", torch.float64)[locals_]
        b = None if bn or layer.bias is None else layer.bias.detach().to("cpu", torch.float64)[locals_]
        return filter_states(w, b)
    return states_from_gram(layer_gram(layer, locals_, metric, stats, bn))


def _distances(G: torch.Tensor, metric: str) -> torch.Tensor:
    # activation states: the covariance's normalization is the correlation; whitened and filter states:
    # the normalized Gram (filter states are unit vectors already)
    return correlation_distances(G) if metric == "act" else gram_distances(G)


def functional_distances(group, metric: str, stats: dict | None = None, kernel=None) -> tuple[np.ndarray, np.ndarray, int]:
    """``(D, strength, n_layers)`` of a group's channels under a functional ``metric``.

    With ``kernel`` (a :class:`~qkernels.quantum.QuantumKernel`) the distances are its estimates
    from the explicit states (:func:`layer_states`), otherwise exact.
    """
    if metric not in FUNCTIONAL_METRICS:
        raise InputError(f"functional metric: expected one of {', '.join(FUNCTIONAL_METRICS)}, got {metric!r}")
    n = len(group[0].idxs)
    bn = group_has_bn(group)
    total, count, strength = np.zeros((n, n)), np.zeros((n, n)), np.zeros(n)
    layers = producer_layers(group)
    for layer, roots, locs in layers:
        r = np.asarray(roots)
        if kernel is None and metric == "filter":  # from the states: exact copies at exactly 0
            D = filter_distances(layer_states(layer, locs, metric, stats, bn))
        elif kernel is None:
            D = _distances(layer_gram(layer, locs, metric, stats, bn), metric)
        else:
            psi = layer_states(layer, locs, metric, stats, bn)
            D = torch.as_tensor(np.asarray(kernel.fs_distance(psi.numpy()), dtype=np.float64))
            D = torch.triu(D, 1)
            D = D + D.T
        total[np.ix_(r, r)] += D.numpy()
        count[np.ix_(r, r)] += 1
        if metric == "filter":
            strength[r] += layer.weight.detach().to("cpu", torch.float64)[locs].flatten(1).pow(2).sum(1).numpy()
        else:
            strength[r] += _moments_of(stats, layer, metric).out.second().diagonal()[locs].numpy()
    D = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    if (count == 0).any() and n > 1:
        D[count == 0] = D.max() if D.size else 0.0
        np.fill_diagonal(D, 0.0)
    return D, strength, len(layers)


__all__ = ["FUNCTIONAL_METRICS", "DATA_METRICS", "group_has_bn", "producer_layers", "layer_gram", "layer_states",
           "functional_distances"]
