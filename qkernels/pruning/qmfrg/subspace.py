"""``qmfrg-span``: subspace redundancy of activation states, with the least-squares reconstruction.

The graph criteria call a channel redundant when its state is close to **one** representative.
After a least-squares merge (``ls-kept``) what a removed channel costs is how far its state lies
from the **span** of the kept states: the Fubini–Study distance of ψ_c to the projective
subspace of the others, sin² d_FS(ψ_c, span ψ_K) = 1 − R²_c (the unexplained fraction of its
centred activation), weighted by what the consumers read from it.

Exactly: with C the covariance of a consumer's input channels on the calibration images, P = C⁻¹
(ridge 1e-6 of the mean variance), G = WᵀW the Gram matrix of the consumer's weight columns
(flattened over the kernel, stacked over every consumer of the group), removing the set R and
reconstructing from the kept K costs E‖W_R (a_R − â_R)‖² = tr(G_RR·(P_RR)⁻¹) for a linear consumer
(the Schur complement S_{R|K} = (P_RR)⁻¹ is the covariance of the residual). The criterion removes
channels greedily, each time the one whose addition to R increases that cost least,

    Δ_c = (qᵀ G_RR q − 2 qᵀ G_Rc + G_cc) / s_c,   q = (P_RR)⁻¹ P_Rc,   s_c = P_cc − P_cRᵀ q,

(a channel that feeds several inputs of a linear layer after a flatten enters by its sums over
those positions, as a conv's input channel does); the removal order gives the scores (removed first = lowest). Then the removed channels are re-expressed
through the kept ones (``ls-kept``, :mod:`~qkernels.pruning.qmfrg.merge`). For a single removal
Δ_c = (energy the consumers read from c) × sin² d_FS(ψ_c, span of the rest) when G is diagonal.

Example:
    >>> import torch
    >>> from qkernels.nn.models import build_model
    >>> from qkernels.pruning import prune
    >>> m = build_model("mlp", in_features=8, hidden=(6,), num_classes=3)
    >>> calib = [(torch.randn(64, 8), torch.zeros(64, dtype=torch.long))]
    >>> pm, rec = prune(m, "qmfrg-span", 0.5, torch.zeros(1, 8), calib=calib)
    >>> rec["channels_after"], rec["criterion"]["merge"]
    (3, 'ls-kept')
"""

from __future__ import annotations

import torch

from qkernels.core.errors import InputError
from qkernels.pruning.activations import channel_moments
from qkernels.pruning.groups import IN_FNS, OUT_FNS, by_root, is_weighted
from qkernels.pruning.qmfrg.merge import RIDGE, consumer_maps, ls_kept_merge
from qkernels.pruning.registry import PruneContext, register_method


def _consumer_blocks(group, stats: dict):
    """(roots, channel covariance C, channel Gram G of the stacked consumer weights) of the group's consumers that
    read the same inputs as the first one with statistics; None if there is none."""
    first = None
    mats = []
    for item in group:
        layer = item.dep.layer
        if item.dep.pruning_fn not in IN_FNS or not is_weighted(layer) or getattr(layer, "groups", 1) != 1:
            continue
        st = stats.get(layer)
        if st is None or st.inp is None:
            continue
        roots, locs = by_root(item.idxs, item.root_idxs)
        if len({len(x) for x in locs}) != 1:
            continue
        order = sorted(range(len(roots)), key=lambda i: roots[i])
        roots, locs = [roots[i] for i in order], [locs[i] for i in order]
        if first is None:
            first = (roots, locs, st.inp.covariance())
        elif roots != first[0] or [len(x) for x in locs] != [len(x) for x in first[1]]:
            continue
        idx = torch.tensor([i for loc in locs for i in loc])
        w = layer.weight.detach().to("cpu", torch.float64)[:, idx]  # (out, roots·l, *kernel)
        mats.append(w.movedim(1, 0).reshape(len(idx), -1))  # one row per input index
    if first is None:
        return None
    roots, locs, C = first
    idx = torch.tensor([i for loc in locs for i in loc])
    X = torch.cat(mats, 1)
    n, l = len(roots), len(locs[0])
    # a channel feeding l inputs (a flatten): channel-level sums over its positions, as for a conv's input channels
    Cc = C[idx][:, idx].reshape(n, l, n, l).diagonal(dim1=1, dim2=3).sum(-1)
    Gc = (X @ X.T).reshape(n, l, n, l).diagonal(dim1=1, dim2=3).sum(-1)
    return roots, Cc, Gc


def removal_order(C: torch.Tensor, G: torch.Tensor, steps: int | None = None) -> list[int]:
    """Greedy removal order of the n channels minimizing tr(G_RR (P_RR)⁻¹), P = (C + λI)⁻¹ (see the module
    docstring); ``steps`` stops the greedy early (the rest follow in index order). (P_RR)⁻¹ is updated by
    the block-inverse formula, so a step costs O(|R|·n).

    Example:
        >>> C = torch.tensor([[1.0, 0.99, 0.0], [0.99, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
        >>> removal_order(C, torch.eye(3, dtype=torch.float64))[0] in (0, 1)  # a near-duplicate goes first
        True
    """
    n = C.shape[0]
    lam = RIDGE * float(C.diagonal().mean().clamp_min(1e-300))
    P = torch.linalg.inv(C + lam * torch.eye(n, dtype=C.dtype))
    P = (P + P.T) / 2
    removed: list[int] = []
    left = list(range(n))
    M = torch.zeros(0, 0, dtype=C.dtype)  # (P_RR)⁻¹
    steps = n - 1 if steps is None else min(steps, n - 1)
    for _ in range(max(steps, 0)):
        cand = torch.tensor(left)
        Pcc, Gcc = P.diagonal()[cand], G.diagonal()[cand]
        if removed:
            R = torch.tensor(removed)
            PRc = P[R][:, cand]  # (|R|, k)
            Q = M @ PRc
            S = Pcc - (PRc * Q).sum(0)
            GRc = G[R][:, cand]
            V = (Q * (G[R][:, R] @ Q)).sum(0) - 2 * (Q * GRc).sum(0) + Gcc
        else:
            Q, S, V = None, Pcc, Gcc
        inc = V / S.clamp_min(1e-300)
        best = int(torch.argmin(inc))
        c = left.pop(best)
        if removed:  # block inverse: [[P_RR, p], [pᵀ, d]]⁻¹ from M = P_RR⁻¹
            q, sc = Q[:, best], float(S[best])
            M = torch.cat([torch.cat([M + torch.outer(q, q) / sc, -q[:, None] / sc], 1),
                           torch.cat([-q[None, :] / sc, torch.full((1, 1), 1.0 / sc, dtype=C.dtype)], 1)], 0)
        else:
            M = torch.full((1, 1), 1.0 / float(P[c, c]), dtype=C.dtype)
        removed.append(c)
    return removed + left


class SubspaceImportance:
    """The ``qmfrg-span`` criterion (see the module docstring); removes with the ``ls-kept`` merge."""

    def __init__(self, stats: dict):
        self.stats = stats
        self._tables: dict[int, dict] = {}
        self.groups: list[dict] = []
        self.folds = 0

    def __call__(self, group) -> torch.Tensor:
        n = len(group[0].idxs)
        self._tables[id(group[0].dep.target.module)] = consumer_maps(group)
        found = _consumer_blocks(group, self.stats)
        if found is None or len(found[0]) != n:  # no consumer with statistics: the producers' output energy
            energy = torch.zeros(n, dtype=torch.float64)
            for item in group:
                st = self.stats.get(item.dep.layer)
                if item.dep.pruning_fn in OUT_FNS and st is not None and st.out is not None:
                    roots, locs = by_root(item.idxs, item.root_idxs)
                    energy[roots] += st.out.second().diagonal()[[loc[0] for loc in locs]]
            return energy
        roots, C, G = found
        order = removal_order(C, G)
        scores = torch.empty(n, dtype=torch.float64)
        for rank, i in enumerate(order):
            scores[roots[i]] = float(rank)
        self.groups.append({"channels": n})
        return scores

    def before_removal(self, pruning_group) -> None:
        """Re-express the channels about to be removed through the kept ones (``ls-kept``)."""
        table = self._tables.get(id(pruning_group[0].dep.target.module))
        if table is not None:
            self.folds += ls_kept_merge(pruning_group, sorted({int(i) for i in pruning_group[0].root_idxs}), table,
                                        self.stats)

    def record(self) -> dict:
        """The metric, the merge and the folds made."""
        return {"metric": "span", "merge": "ls-kept", "folds": self.folds, "groups": list(self.groups)}


def _factory(ctx: PruneContext) -> SubspaceImportance:
    if not ctx.calib:
        raise InputError("method 'qmfrg-span' needs calibration data (labelled batches: calib=...)")
    return SubspaceImportance(channel_moments(ctx.model, ctx.calib))


register_method("qmfrg-span", _factory,
                "QM-FRG subspace redundancy: greedy removal of the channels whose activation states lie closest to "
                "the span of the kept ones (weighted by what the consumers read), then least-squares reconstruction",
                needs_data=True, sweep=False)


__all__ = ["removal_order", "SubspaceImportance"]
