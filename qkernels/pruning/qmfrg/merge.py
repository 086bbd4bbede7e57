"""Merge instead of drop: re-express the removed channels through the kept ones.

Every layer that **reads** a group's channels (a convolution or linear layer whose input slice is
in the group, ``groups = 1``) is a consumer. With the consumer's input activations aᵢ (after the
producer's BatchNorm and nonlinearity) on the calibration images, a removed channel i whose
activation is close to a function of kept ones can be folded into the consumer's weights before
its slice goes. Modes (``merge=`` of the QM-FRG criteria):

* ``fold``: ``weight[:, rep] += weight[:, i]`` (α = 1, data-free; the first version's merge);
* ``ls``: least squares through the cluster's representative j: aᵢ ≈ α aⱼ + β with
  α = cov(aᵢ, aⱼ)/var(aⱼ), ``weight[:, j] += α · weight[:, i]``, and β folded into the consumer's
  bias when it has one (β·Σ_kernel weight[:, i]; a consumer without bias is followed by a
  BatchNorm whose re-estimated mean absorbs the shift). For uncentred data with β = 0 this is
  the issue's α = ⟨aᵢ, aⱼ⟩/‖aⱼ‖²; exact when aᵢ = α aⱼ + β on the data (planted copies);
* ``ls-kept``: least squares through **all** kept channels: a_R ≈ Bᵀ a_K + β with
  B = (C_KK + λI)⁻¹ C_KR (covariances of the consumer's inputs, λ = 1e-6·mean diag C_KK),
  ``weight[:, K] += weight[:, R] Bᵀ``, β into the bias as above. For a linear consumer this is
  the least-squares optimal consumer on the kept inputs;
* ``ot``: optimal-transport fusion in the style of Intra-Fusion (Theus et al., ICLR 2024): the kept
  set K is the criterion's; every channel (uniform mass 1/n) is transported onto K (mass 1/k) with
  POT's exact solver ``ot.emd`` under the cost ‖fᵢ − f_k‖² between the channels' producer weights
  (filters, biases, BN affine, concatenated over the group's producing layers); each kept channel's
  producer weights become the barycentre Σᵢ T_ik fᵢ / Σᵢ T_ik, and each channel's consumer columns
  are distributed over K by Tᵢ_k / Σ_k Tᵢ_k and summed.

BatchNorm statistics are re-estimated after pruning as for every criterion. Grouped convolutions
and transposed layers are left as they are.

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

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from qkernels.core.errors import InputError
from qkernels.pruning.groups import IN_FNS, OUT_FNS, by_root, is_weighted

#: the merge modes (``True`` means ``ls``)
MERGE_MODES = ("fold", "ls", "ls-kept", "ot")
#: the modes that read the consumers' input statistics on calibration data
DATA_MERGES = ("ls", "ls-kept")
#: the ridge of ``ls-kept``, relative to the mean variance of the kept inputs
RIDGE = 1e-6


def check_merge(merge: object) -> str | None:
    """The merge mode of ``merge`` (False/None: no merge; True: ``ls``); InputError otherwise.

    Example:
        >>> check_merge(True), check_merge("ot"), check_merge(False)
        ('ls', 'ot', None)
    """
    if merge is None or merge is False:
        return None
    if merge is True:
        return "ls"
    if merge in MERGE_MODES:
        return str(merge)
    raise InputError(f"merge: expected one of {', '.join(MERGE_MODES)} (or true/false), got {merge!r}")


def consumer_maps(group) -> dict[int, dict[int, list[int]]]:
    """For every layer that reads the group's channels: ``id(layer)`` -> {root index -> its indices}."""
    out: dict[int, dict[int, list[int]]] = {}
    for item in group:
        if item.dep.pruning_fn in IN_FNS and is_weighted(item.dep.layer):
            roots, locs = by_root(item.idxs, item.root_idxs)
            out[id(item.dep.layer)] = dict(zip(roots, locs))
    return out


def producer_maps(group) -> list[tuple[nn.Module, str, dict[int, list[int]]]]:
    """``(layer, kind, {root -> its indices})`` for the layers producing the group's channels: kind ``out``
    (convolutions, linear layers) or ``bn`` (BatchNorm)."""
    out = []
    for item in group:
        fn, layer = item.dep.pruning_fn, item.dep.layer
        if fn in OUT_FNS and is_weighted(layer):
            kind = "out"
        elif fn == tp.prune_batchnorm_out_channels:
            kind = "bn"
        else:
            continue
        roots, locs = by_root(item.idxs, item.root_idxs)
        out.append((layer, kind, dict(zip(roots, locs))))
    return out


@torch.no_grad()
def fold_columns(layer: nn.Module, pairs: list[tuple[int, int]], alpha: float = 1.0) -> None:
    """``weight[:, keep] += alpha · weight[:, drop]`` for each ``(drop, keep)`` (the layer's own indices)."""
    w = layer.weight
    for drop, keep in pairs:
        w[:, keep] += alpha * w[:, drop]


def _consumers(pruning_group, local_of):
    """The consumer layers of a pruning group that can be merged into, with their root -> indices tables."""
    seen = set()
    for item in pruning_group:
        layer = item.dep.layer
        if item.dep.pruning_fn not in IN_FNS or not is_weighted(layer) or getattr(layer, "groups", 1) != 1:
            continue
        table = local_of.get(id(layer))
        if table is None or id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer, table


def merge_group(pruning_group, representative_of: dict[int, int], local_of: dict[int, dict[int, list[int]]],
                alpha: float = 1.0) -> int:
    """``fold``: add each removed channel's consumer columns to its representative's (× ``alpha``).

    Args:
        pruning_group: the group of the removal (``dg.get_pruning_group(root, fn, dropped)``).
        representative_of: root index of a dropped channel -> root index of its representative.
        local_of: ``id(layer)`` -> {root index -> the layer's indices}, recorded on the full group.
        alpha: the scale of the folded weights.

    Returns:
        The number of (layer, column) folds made.
    """
    folds = 0
    for layer, table in _consumers(pruning_group, local_of):
        pairs = []
        for ri, rep in representative_of.items():
            src, dst = table.get(ri, []), table.get(rep, [])
            if len(src) == len(dst):
                pairs += list(zip(src, dst))
        fold_columns(layer, pairs, alpha)
        folds += len(pairs)
    return folds


def _input_cov(stats: dict, layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    st = stats.get(layer) if stats is not None else None
    if st is None or st.inp is None:
        raise InputError(f"least-squares merge: no input statistics of a consumer ({type(layer).__name__}); it "
                         "needs calibration data")
    return st.inp.covariance(), st.inp.mean()


@torch.no_grad()
def _add_bias(layer: nn.Module, cols: torch.Tensor, beta: torch.Tensor) -> None:
    """bias += Σ_c (Σ_kernel weight[:, c]) β_c for the columns ``cols`` (when the layer has a bias)."""
    if layer.bias is None or not len(cols):
        return
    w = layer.weight.detach().to(torch.float64)[:, cols]  # (out, r, *kernel)
    layer.bias += (w.reshape(w.shape[0], w.shape[1], -1).sum(2) @ beta).to(layer.bias.dtype)


@torch.no_grad()
def ls_merge(pruning_group, representative_of: dict[int, int], local_of: dict[int, dict[int, list[int]]],
             stats: dict) -> int:
    """``ls``: fold each removed channel i into its representative j with α = cov(aᵢ, aⱼ)/var(aⱼ) (see the
    module docstring); the intercept goes into the consumer's bias. Returns the folds made."""
    folds = 0
    for layer, table in _consumers(pruning_group, local_of):
        C, mu = _input_cov(stats, layer)
        w = layer.weight
        for ri, rep in representative_of.items():
            src, dst = table.get(ri, []), table.get(rep, [])
            if not src or len(src) != len(dst):
                continue
            s, d = torch.tensor(src), torch.tensor(dst)
            var = C[d, d].sum()
            a = float(C[s, d].sum() / var) if var > 0 else 0.0
            beta = mu[s] - a * mu[d]
            _add_bias(layer, s, beta)
            w[:, d] += a * w[:, s]
            folds += len(src)
    return folds


@torch.no_grad()
def ls_kept_merge(pruning_group, removed: list[int], local_of: dict[int, dict[int, list[int]]], stats: dict) -> int:
    """``ls-kept``: re-express the removed channels' inputs through all kept inputs by ridge least squares
    (see the module docstring). Returns the number of removed consumer columns re-expressed."""
    gone = set(int(r) for r in removed)
    folds = 0
    for layer, table in _consumers(pruning_group, local_of):
        R = [i for r, loc in table.items() if r in gone for i in loc]
        K = [i for r, loc in table.items() if r not in gone for i in loc]
        if not R or not K:
            continue
        C, mu = _input_cov(stats, layer)
        Ri, Ki = torch.tensor(R), torch.tensor(K)
        Ckk = C[Ki][:, Ki]
        lam = RIDGE * float(Ckk.diagonal().mean().clamp_min(1e-300))
        B = torch.linalg.solve(Ckk + lam * torch.eye(len(K), dtype=Ckk.dtype), C[Ki][:, Ri])  # (K, R)
        beta = mu[Ri] - B.T @ mu[Ki]
        _add_bias(layer, Ri, beta)
        w = layer.weight
        wr = w.detach()[:, Ri].to(torch.float64)  # (out, R, *kernel)
        add = torch.einsum("or...,kr->ok...", wr, B)
        w[:, Ki] += add.to(w.dtype)
        folds += len(R)
    return folds


def _features(producers, roots: list[int]) -> np.ndarray:
    """Per root channel: its producer weights (filters, biases, BN affine) concatenated over the layers."""
    cols = []
    for layer, kind, table in producers:
        if any(len(table.get(r, [])) != 1 for r in roots):
            continue
        idx = [table[r][0] for r in roots]
        if kind == "out":
            cols.append(layer.weight.detach().to("cpu", torch.float64)[idx].flatten(1))
            if layer.bias is not None:
                cols.append(layer.bias.detach().to("cpu", torch.float64)[idx, None])
        elif getattr(layer, "affine", False):
            cols.append(torch.stack([layer.weight.detach(), layer.bias.detach()], 1).to("cpu", torch.float64)[idx])
    return torch.cat(cols, 1).numpy() if cols else np.zeros((len(roots), 1))


def transport_plan(features: np.ndarray, kept: list[int]) -> np.ndarray:
    """The exact OT plan (n × k) from all n channels (mass 1/n) onto the kept ones (mass 1/k) under the
    squared Euclidean cost between ``features`` (POT ``ot.emd``).

    Example:
        >>> f = np.array([[0.0], [1.0], [10.0], [11.0]])
        >>> (transport_plan(f, [0, 2]) * 4).round(3).tolist()
        [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    """
    import ot

    n, k = features.shape[0], len(kept)
    M = ot.dist(features, features[kept], metric="sqeuclidean")
    M = M / max(float(M.max()), 1e-300)
    return ot.emd(np.full(n, 1.0 / n), np.full(k, 1.0 / k), M)


@torch.no_grad()
def ot_merge(full_producers, pruning_group, kept: list[int], local_of: dict[int, dict[int, list[int]]],
             n: int) -> int:
    """``ot``: fuse producers (barycentres) and consumers (distributed columns) by the transport plan onto
    the kept channels (see the module docstring). Returns the number of kept channels fused into."""
    roots = list(range(n))
    T = transport_plan(_features(full_producers, roots), kept)  # (n, k)
    P = torch.as_tensor(T / T.sum(0, keepdims=True), dtype=torch.float64)  # producer barycentre weights
    Rm = torch.as_tensor(T / np.maximum(T.sum(1, keepdims=True), 1e-300), dtype=torch.float64)  # consumer shares
    for layer, kind, table in full_producers:
        if any(len(table.get(r, [])) != 1 for r in roots):
            continue
        idx = torch.tensor([table[r][0] for r in roots])
        kidx = idx[kept]
        params = [layer.weight, layer.bias] if kind == "out" else \
            ([layer.weight, layer.bias] if getattr(layer, "affine", False) else [])
        if kind == "bn" and layer.running_mean is not None:
            params += [layer.running_mean, layer.running_var]
        for p in params:
            if p is None:
                continue
            src = p.detach()[idx].to(torch.float64)  # (n, ...)
            p[kidx] = torch.einsum("nk,n...->k...", P, src).to(p.dtype)
    for layer, table in _consumers(pruning_group, local_of):
        if any(len(table.get(r, [])) != len(table.get(kept[0], [])) for r in roots):
            continue
        w = layer.weight
        per = len(table[kept[0]])
        for slot in range(per):
            idx = torch.tensor([table[r][slot] for r in roots])
            src = w.detach()[:, idx].to(torch.float64)  # (out, n, *kernel)
            w[:, idx[kept]] = torch.einsum("on...,nk->ok...", src, Rm).to(w.dtype)
    return len(kept)


__all__ = ["MERGE_MODES", "DATA_MERGES", "RIDGE", "check_merge", "fold_columns", "merge_group", "ls_merge",
           "ls_kept_merge", "transport_plan", "ot_merge", "consumer_maps", "producer_maps"]
