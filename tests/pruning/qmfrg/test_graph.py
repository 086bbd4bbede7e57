"""The redundancy graph: components against a brute-force reference, representatives, the
importance order, thresholds, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from qkernels.core.errors import InputError
from qkernels.pruning.qmfrg.graph import check_tau, redundancy_graph, single_linkage


def _random_distances(rng: np.random.Generator, n: int, levels: int | None) -> np.ndarray:
    pts = rng.normal(size=(n, 2))
    D = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    if levels:  # coarse values: many ties
        D = np.round(D * levels) / levels
    np.fill_diagonal(D, 0.0)
    return D


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return all(len(set(b[a == x])) == 1 for x in set(a)) and len(set(a)) == len(set(b))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 25), levels=st.sampled_from([None, 2, 4]),
       q=st.floats(0, 1))
def test_components_match_connected_components(seed, n, levels, q):
    rng = np.random.default_rng(seed)
    D = _random_distances(rng, n, levels)
    tau = float(np.quantile(D, q)) if n > 1 else 0.1
    strength = rng.integers(0, 3, size=n).astype(float)  # ties in strength too
    g = redundancy_graph(D, tau, strength)
    ncomp, ref = connected_components(csr_matrix((D <= tau) & ~np.eye(n, dtype=bool)), directed=False)
    assert _same_partition(g.labels, ref)
    assert g.redundant == n - ncomp == len(g.labels) - len(g.representatives)
    for c in range(ncomp):  # the representative is the strongest member (ties: lowest index)
        members = np.flatnonzero(ref == c)
        best = members[np.argmax(strength[members])]
        assert set(g.representative_of[members]) == {best}
    # every edge joins two nodes of one cluster
    assert all(g.labels[i] == g.labels[j] for i, j in g.edges)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 20))
def test_scores_drop_exactly_the_non_representatives(seed, n):
    rng = np.random.default_rng(seed)
    D = _random_distances(rng, n, None)
    strength = rng.random(n)
    d = single_linkage(D, strength)
    scores = d.scores()
    assert sorted(scores.tolist()) == list(range(n))
    assert np.all(np.diff(d.heights) >= 0)
    for drop in range(n):
        lowest = set(np.argsort(scores, kind="stable")[:drop].tolist())
        labels, rep = d.cut(drop)
        assert lowest == set(np.flatnonzero(rep != np.arange(n)).tolist())
        assert len(set(labels)) == n - drop
        tau = d.tau_for(drop)
        if drop < n - 1 and (drop == 0 or d.heights[drop - 1] < d.heights[drop]):
            ncomp, ref = connected_components(csr_matrix((D <= tau) & ~np.eye(n, dtype=bool)), directed=False)
            if drop == 0:
                ncomp = n if (D[~np.eye(n, dtype=bool)] > 0).all() else ncomp
            assert ncomp == n - drop
            assert drop == 0 or _same_partition(labels, ref)


def test_all_equal_states_are_one_cluster():
    g = redundancy_graph(np.zeros((5, 5)), 0.0, strength=[1, 3, 2, 3, 0])
    assert g.redundant == 4 and g.representatives.tolist() == [1]
    assert len(g.edges) == 10


def test_one_node_and_no_edges():
    g = redundancy_graph(np.zeros((1, 1)), 0.5)
    assert g.redundant == 0 and g.labels.tolist() == [0] and g.dendrogram.scores().tolist() == [0.0]
    g = redundancy_graph(np.array([[0, 1.0], [1.0, 0]]), 0.5)
    assert g.redundant == 0 and len(g.edges) == 0


@pytest.mark.parametrize("tau", [-0.1, float("nan"), "0.1", True, None])
def test_bad_tau(tau):
    with pytest.raises(InputError, match="tau"):
        check_tau(tau)


def test_infinite_tau_joins_everything():
    D = _random_distances(np.random.default_rng(0), 6, None)
    assert redundancy_graph(D, float("inf")).redundant == 5


@pytest.mark.parametrize("D", [np.ones((2, 3)), np.array([[0, 1.0], [2.0, 0]]), np.array([[1.0, 1], [1, 0]]),
                               np.array([[0, -1.0], [-1, 0]]), np.array([[0, np.nan], [np.nan, 0]])])
def test_bad_distance_matrices(D):
    with pytest.raises(InputError, match="distances"):
        redundancy_graph(D, 0.1)
