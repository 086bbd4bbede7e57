"""The channels of a Torch-Pruning group as operators, and the distance matrices between them.

**Operators of a channel.** A group couples every layer whose channels are removed together. For
channel c, each weighted layer of the group contributes one operator (the reshapes of
``qkernels.geometry.operators`` at filter granularity). By default (``layers="out"``) only the layers that
**produce** the channel count (on a residual stream: every convolution adding into it), since two
channels are functionally redundant when they compute the same activation; ``layers="all"`` adds
the input slices of the layers that read it:

* a convolution whose **output** channels are in the group: the filter W = weight[c] reshaped to
  (in/groups) × ∏k, with its scalar bias spread evenly over the rows, b = (b_c/√rows)·1;
* a linear layer's output neuron: the 1 × in row weight[c] with bias b[c];
* a convolution or linear layer that **reads** the channel (its input slice, ``groups = 1``):
  W = weight[:, c] reshaped to out × ∏k (a column for linear layers), with b = 0 (the consumer's
  bias belongs to its own outputs).

BatchNorm and element-wise nodes carry no matrix and are skipped (known limitation: a following
BatchNorm rescales the filter's output; its statistics are re-estimated after pruning). When a
channel maps to several inputs of a layer (a flatten), its slices are stacked side by side.

**Distances.** For every such layer L the states ψ = s/‖s‖ of the augmented matrices
Â = [[W, b], [0, 1]] give an n × n matrix D_L; the group's distance is the mean of the D_L over
its layers (each channel pair is covered by every layer). Metrics (:func:`edge_metrics`):

* every metric of the registry (:mod:`qkernels.geometry.metrics`), on the states and spectra of
  the layer's operators, e.g. ``fs``: Fubini–Study θ = d_FS(ψ_i, ψ_j) (the paper's form;
  default) or ``w2cum``: cumulative W₂ between the states;
* ``aligned``: the decomposed bound of theory.md, ‖s_i − s_j‖₂ + A_ij with the misalignment
  A_ij = min(‖U_i S_j V_iᵀ − Â_j‖_op, ‖U_j S_i V_jᵀ − Â_i‖_op), divided by the layer's mean
  ‖Â‖_F so that layers weigh alike; unlike the spectral forms it sees singular vectors, so
  W and −W, or permuted filters, are not called redundant;
* ``quantum``: d_FS estimated by a :class:`~qkernels.quantum.QuantumKernel` (shot noise included).

The **strength** of a channel (which cluster member is kept) is Σ_L ‖W_L,c‖²_F.

Example:
    >>> import torch
    >>> W = torch.tensor([[[1.0, 0.0]], [[2.0, 0.0]], [[0.0, 1.0]]])  # three 1 x 2 operators
    >>> layer_distances(W, torch.zeros(3, 1), "fs").round(3).tolist()[0]
    [0.0, 0.322, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.core.threads import kernel_threads
from qkernels.geometry.metrics import get_metric, metric_names
from qkernels.geometry.spectral import augmented_tensor, spectrum_tensor
from qkernels.pruning.groups import IN_FNS, OUT_FNS, by_root, is_weighted

#: QM-FRG's own edge distances, besides the registered metrics.
OWN_METRICS = ("aligned", "quantum")
#: the functional states (:mod:`qkernels.pruning.qmfrg.states`), computed from the group, not per operator
FUNCTIONAL = ("act", "white", "filter")
LAYER_SETS = ("all", "out")


def edge_metrics() -> list[str]:
    """The edge distances QM-FRG accepts: the registered metrics, the functional states (``act``, ``white``,
    ``filter``), then ``aligned`` and ``quantum``.

    Example:
        >>> edge_metrics()[0], edge_metrics()[-2:]
        ('fs', ['aligned', 'quantum'])
    """
    return metric_names() + list(FUNCTIONAL) + list(OWN_METRICS)


def check_metric(metric: object) -> str:
    """``metric`` if it is one of :func:`edge_metrics`; InputError otherwise.

    Example:
        >>> check_metric("w2cum")
        'w2cum'
    """
    names = edge_metrics()
    if metric not in names:
        raise InputError(f"metric: expected one of {', '.join(names)}, got {metric!r}")
    return str(metric)


@dataclass
class LayerOperators:
    """The operators of one layer of a group, one per covered channel (root index order)."""

    layer: nn.Module
    role: str  # "out" (filters) or "in" (input slices)
    roots: list[int]  # root channel index of each operator
    locals: list[list[int]]  # the layer's own indices of each operator
    W: torch.Tensor  # (k, m, n) float64
    b: torch.Tensor  # (k, m) float64


def group_operators(group, layers: str = "out") -> list[LayerOperators]:
    """The per-layer channel operators of a Torch-Pruning group (see the module docstring)."""
    if layers not in LAYER_SETS:
        raise InputError(f"layers: expected one of {', '.join(LAYER_SETS)}, got {layers!r}")
    out: list[LayerOperators] = []
    for item in group:
        dep, layer = item.dep, item.dep.layer
        if not is_weighted(layer):
            continue
        roots, locs = by_root(item.idxs, item.root_idxs)
        if not roots or len({len(x) for x in locs}) != 1:
            continue
        w = layer.weight.detach().to("cpu", torch.float64)
        if dep.pruning_fn in OUT_FNS:
            idx = torch.tensor(locs)  # (k, r)
            W = w[idx]  # (k, r, in, *kernel)
            k, r = idx.shape
            if w.ndim > 2:  # conv filter: (in/groups) x prod(kernel), rows stacked over duplicates
                W = W.reshape(k, r * w.shape[1], -1)
            else:
                W = W.reshape(k, r, -1)
            rows = W.shape[1]
            b = torch.zeros(k, rows, dtype=torch.float64)
            if layer.bias is not None:
                bc = layer.bias.detach().to("cpu", torch.float64)[idx]  # (k, r)
                b = (bc.repeat_interleave(rows // r, dim=1) / np.sqrt(rows // r))
            out.append(LayerOperators(layer, "out", roots, locs, W, b))
        elif dep.pruning_fn in IN_FNS and layers == "all" and getattr(layer, "groups", 1) == 1:
            idx = torch.tensor(locs)
            k, r = idx.shape
            W = w[:, idx]  # (out, k, r, *kernel)
            W = W.movedim(1, 0).reshape(k, w.shape[0], -1)  # (k, out, r * prod(kernel))
            out.append(LayerOperators(layer, "in", roots, locs, W, torch.zeros(k, w.shape[0], dtype=torch.float64)))
    return out


def misalignment(A: torch.Tensor, block: int = 256) -> torch.Tensor:
    """All-pairs A_ij = min(‖U_i S_j V_iᵀ − Â_j‖_op, ‖U_j S_i V_jᵀ − Â_i‖_op) of a batch (k, m, n).

    For tall Â (wide ones are transposed, which changes no norm; then r = n and V_i is square)
    with thin SVD Â_i = U_i S_i V_iᵀ and M = U_i S_j V_iᵀ − Â_j, the operator norm is that of
    M V_i, and (M V_i)ᵀ(M V_i) = S_j² − S_j D − Dᵀ S_j + V_iᵀ Â_jᵀ Â_j V_i with D = U_iᵀ Â_j V_i: an
    n × n matrix per pair, without the cancelling CᵀC terms of the direct expansion. Every
    product is a large GEMM per block of rows i (U_blockᵀ times all Â_j; then each V_i applied to
    all j at once); only the n × n eigenvalue problems are per pair. Accuracy: about 1e-8·‖Â‖
    near A_ij = 0 (the square root of a difference of squares), 1e-14 relative elsewhere.

    Example:
        >>> import torch
        >>> A = torch.stack([torch.eye(2), -torch.eye(2)]).double()
        >>> misalignment(A).round(decimals=6).tolist()  # same spectra, opposite frames
        [[0.0, 2.0], [2.0, 0.0]]
    """
    if A.shape[-2] < A.shape[-1]:
        A = A.mT
    A = A.to(torch.float64)
    k, m, n = A.shape
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)  # U (k, m, n), S (k, n), Vh (k, n, n)
    V = Vh.mT.contiguous()
    gram = (A.mT @ A).permute(1, 0, 2).reshape(n, k * n)  # [a, (j, q)] = (Â_jᵀ Â_j)[a, q]
    Uf = U.permute(1, 0, 2).reshape(m, k * n)  # columns: U_i's n columns, block i
    Af = A.permute(1, 0, 2).reshape(m, k * n)
    out = torch.empty(k, k, dtype=A.dtype)
    for start in range(0, k, block):
        stop = min(k, start + block)
        b, Vb = stop - start, V[start:stop]
        C = (Uf[:, start * n:stop * n].T @ Af).view(b, n * k, n)  # [i, (p, j), t] = u_ipᵀ Â_j[:, t]
        D = torch.bmm(C, Vb).view(b, n, k, n)  # [i, p, j, q] = u_ipᵀ Â_j v_iq
        H = torch.bmm(torch.matmul(Vb.mT, gram).view(b, n * k, n), Vb).view(b, n, k, n)  # v_ipᵀ Â_jᵀÂ_j v_iq
        D.mul_(S.T[None, :, :, None])  # s_jp · D[i, p, j, q]
        G = (H.sub_(D).permute(0, 2, 1, 3) - D.permute(0, 2, 3, 1))  # [i, j, p, q], contiguous
        G.diagonal(dim1=-2, dim2=-1).add_((S * S)[None])
        out[start:stop] = torch.linalg.eigvalsh(G)[..., -1].clamp_min(0).sqrt()
    return torch.minimum(out, out.mT).fill_diagonal_(0.0)


def layer_distances(W: torch.Tensor, b: torch.Tensor, metric: str = "fs", kernel=None) -> np.ndarray:
    """The n × n distance matrix between the operators (W_c, b_c) of one layer.

    Args:
        W: the operators' weights (n, m, k).
        b: their biases (n, m).
        metric: one of :func:`edge_metrics`.
        kernel: the :class:`~qkernels.quantum.QuantumKernel` of the ``quantum`` metric.

    Returns:
        A symmetric float64 array with a zero diagonal.
    """
    metric = check_metric(metric)
    A = augmented_tensor(W.to("cpu", torch.float64), b.to("cpu", torch.float64))
    if metric == "aligned":
        with kernel_threads("shared", A.numel() * A.shape[0], A.device):
            s = torch.linalg.svdvals(A)
            a = torch.linalg.vector_norm(s, dim=-1)
            D = torch.cdist(s[None], s[None])[0] + misalignment(A)
        D = D / a.mean()
    else:
        s = spectrum_tensor(A)
        psi = s / torch.linalg.vector_norm(s, dim=-1, keepdim=True)
        if metric != "quantum":
            D = get_metric(metric).matrix_of(psi, s)
        else:
            if kernel is None:
                raise InputError("metric 'quantum' needs a QuantumKernel (kernel=...)")
            D = torch.as_tensor(np.asarray(kernel.fs_distance(psi.numpy()), dtype=np.float64))
            D = torch.triu(D, 1)
            D = D + D.mT
    D = D.clone()
    D = (D + D.mT) / 2
    D.fill_diagonal_(0.0)
    return D.numpy()


def group_distances(group, metric: str = "fs", layers: str = "out", kernel=None,
                    ops: list[LayerOperators] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``(D, strength, n_layers)``: the mean distance matrix over the group's weighted layers.

    Pairs no layer covers get the largest distance seen (never joined before covered pairs).
    """
    n = len(group[0].idxs)
    ops = group_operators(group, layers) if ops is None else ops
    total = np.zeros((n, n))
    count = np.zeros((n, n))
    strength = np.zeros(n)
    for lo in ops:
        r = np.asarray(lo.roots)
        total[np.ix_(r, r)] += layer_distances(lo.W, lo.b, metric, kernel)
        count[np.ix_(r, r)] += 1
        strength[r] += lo.W.flatten(1).pow(2).sum(1).numpy()
    D = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    if (count == 0).any() and n > 1:
        D[count == 0] = D.max() if D.size else 0.0
        np.fill_diagonal(D, 0.0)
    return D, strength, len(ops)


__all__ = ["OWN_METRICS", "FUNCTIONAL", "LAYER_SETS", "edge_metrics", "check_metric", "LayerOperators", "group_operators", "misalignment",
           "layer_distances", "group_distances"]
