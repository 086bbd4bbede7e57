"""The redundancy graph of QM-FRG and its single-linkage clusters.

Nodes are operators (the channels of a pruning group, or whole blocks); the weight of the edge
between i and j is a distance d_ij (``qkernels.pruning.qmfrg.channels``). At a threshold τ ≥ 0 the graph
joins i and j when **d_ij ≤ τ** (so τ = 0 joins exact duplicates), and its connected components
are the redundant clusters. One member per cluster is kept, its **representative**: the member
with the largest strength (the channel's weight magnitude Σ‖W‖²_F over the group's layers; ties:
the lower index).

All thresholds at once: the components at τ are the single-linkage clusters cut at height τ, so
one single-linkage dendrogram (``scipy.cluster.hierarchy.linkage``, O(n²)) answers every τ. Each
merge joins two clusters and retires the representative of the weaker one; the channel retired
by the k-th merge gets the score k, and the last representative standing gets n − 1. Pruning the
d lowest scores therefore removes exactly the channels that are not representatives once the
graph has n − d components: the threshold τ(d) is the height of the d-th merge (target-sparsity
mode chooses it per group), and at a given τ the redundant channels are those retired by merges
of height ≤ τ (threshold mode).

Example:
    >>> import numpy as np
    >>> D = np.array([[0, .1, .9], [.1, 0, .8], [.9, .8, 0]])
    >>> g = redundancy_graph(D, tau=0.2, strength=np.array([1.0, 2.0, 1.0]))
    >>> g.labels.tolist(), g.representatives.tolist(), g.redundant
    ([0, 0, 1], [1, 2], 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from qkernels.core.errors import InputError


def check_tau(tau: object) -> float:
    """A threshold τ as a float ≥ 0 (τ = inf joins everything); InputError otherwise."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.floating, np.integer)):
        raise InputError(f"tau: expected a number >= 0, got {tau!r}")
    t = float(tau)
    if math.isnan(t) or t < 0:
        raise InputError(f"tau: the edge threshold must be >= 0, got {tau!r}")
    return t


def check_distances(D: object) -> np.ndarray:
    """A square, symmetric, finite, non-negative distance matrix with a zero diagonal (float64)."""
    A = np.asarray(D, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise InputError(f"distances: expected a square matrix, got shape {A.shape}")
    if not np.isfinite(A).all() or (A < 0).any():
        raise InputError("distances: entries must be finite and >= 0")
    if A.size and (np.abs(A - A.T).max() > 1e-9 * max(1.0, float(A.max())) or np.abs(np.diag(A)).max() > 0):
        raise InputError("distances: the matrix must be symmetric with a zero diagonal")
    return A


@dataclass(frozen=True)
class Dendrogram:
    """Single-linkage merges of n nodes.

    Attributes:
        heights: (n − 1,) merge distances, non-decreasing.
        retired: (n − 1,) the node retired (no longer a representative) by each merge.
        keeper: (n − 1,) the representative it was merged into.
        last: the representative of the final single cluster.
    """

    heights: np.ndarray
    retired: np.ndarray
    keeper: np.ndarray
    last: int

    @property
    def n(self) -> int:
        return len(self.heights) + 1

    def scores(self) -> np.ndarray:
        """Importance per node (higher = keep): the index of the merge that retires it; n − 1 for the last."""
        s = np.empty(self.n, dtype=np.float64)
        s[self.retired] = np.arange(self.n - 1, dtype=np.float64)
        s[self.last] = self.n - 1
        return s

    def redundant_at(self, tau: float) -> int:
        """Nodes that are not representatives at threshold τ (merges of height ≤ τ)."""
        return int(np.searchsorted(self.heights, check_tau(tau), side="right"))

    def tau_for(self, drop: int) -> float:
        """The threshold that makes ``drop`` nodes redundant: the height of merge ``drop`` (0 for none)."""
        if not 0 <= drop <= self.n - 1:
            raise InputError(f"drop: expected 0..{self.n - 1}, got {drop}")
        return float(self.heights[drop - 1]) if drop else 0.0

    def cut(self, drop: int) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, representative_of)`` after the first ``drop`` merges.

        ``labels[i]`` numbers the clusters in order of their smallest member; ``representative_of[i]``
        is the node that represents i's cluster.
        """
        rep = np.arange(self.n)
        for k in range(drop):  # follow each retired node to its keeper (merges are in order)
            rep[self.retired[k]] = self.keeper[k]
        root = rep.copy()
        for i in range(self.n):  # a keeper may be retired later: follow the chain to the survivor
            while root[root[i]] != root[i]:
                root[i] = root[root[i]]
        _, labels = np.unique(root, return_inverse=True)
        order = {}
        for i, lab in enumerate(labels):
            order.setdefault(lab, len(order))
        return np.array([order[lab] for lab in labels], dtype=np.int64), root


def single_linkage(D: object, strength: object | None = None) -> Dendrogram:
    """The single-linkage dendrogram of a distance matrix, with representatives by ``strength``.

    Example:
        >>> import numpy as np
        >>> d = single_linkage(np.array([[0, 1.0, 3], [1, 0, 2], [3, 2, 0]]))
        >>> d.heights.tolist(), d.scores().tolist()
        ([1.0, 2.0], [2.0, 0.0, 1.0])
    """
    A = check_distances(D)
    n = A.shape[0]
    st = np.zeros(n) if strength is None else np.asarray(strength, dtype=np.float64).reshape(-1)
    if st.shape != (n,) or not np.isfinite(st).all():
        raise InputError(f"strength: expected {n} finite values, got shape {st.shape}")
    if n < 2:  # one node: no edge, one cluster, nothing redundant
        return Dendrogram(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0)
    Z = linkage(squareform(A, checks=False), method="single")
    rep = list(range(n)) + [0] * (n - 1)
    retired = np.empty(n - 1, dtype=np.int64)
    keeper = np.empty(n - 1, dtype=np.int64)
    for k, (x, y, _, _) in enumerate(Z):
        a, b = rep[int(x)], rep[int(y)]
        if st[b] > st[a] or (st[b] == st[a] and b < a):
            a, b = b, a
        rep[n + k] = a
        retired[k], keeper[k] = b, a
    return Dendrogram(np.maximum.accumulate(Z[:, 2]), retired, keeper, int(rep[2 * n - 2]))


@dataclass(frozen=True)
class RedundancyGraph:
    """The graph at one threshold τ: edges d_ij ≤ τ, its components and their representatives."""

    distances: np.ndarray
    tau: float
    labels: np.ndarray  # cluster of each node (numbered by smallest member)
    representative_of: np.ndarray  # the node that represents each node's cluster
    dendrogram: Dendrogram

    @property
    def representatives(self) -> np.ndarray:
        """The kept nodes, ascending."""
        return np.unique(self.representative_of)

    @property
    def redundant(self) -> int:
        """Nodes that are not representatives (what threshold-mode pruning removes)."""
        return int(len(self.labels) - len(self.representatives))

    @property
    def edges(self) -> np.ndarray:
        """(E, 2) node pairs i < j with d_ij ≤ τ."""
        i, j = np.triu_indices(len(self.labels), k=1)
        hit = self.distances[i, j] <= self.tau
        return np.stack([i[hit], j[hit]], axis=1)


def redundancy_graph(D: object, tau: float, strength: object | None = None) -> RedundancyGraph:
    """The redundancy graph of ``D`` at threshold ``tau`` (see the module docstring)."""
    t = check_tau(tau)
    A = check_distances(D)
    dendro = single_linkage(A, strength)
    labels, rep = dendro.cut(dendro.redundant_at(t))
    return RedundancyGraph(A, t, labels, rep, dendro)


__all__ = ["check_tau", "check_distances", "Dendrogram", "single_linkage", "RedundancyGraph", "redundancy_graph"]
