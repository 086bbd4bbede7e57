"""qmfrg-span: the greedy removal order against brute force, planted redundancy, exactness, errors."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.models import build_model
from qkernels.pruning import prune
from qkernels.pruning.qmfrg.merge import RIDGE
from qkernels.pruning.qmfrg.subspace import removal_order


def _cost(C: torch.Tensor, G: torch.Tensor, R: list[int]) -> float:
    """tr(G_RR (P_RR)⁻¹) computed directly: the residual covariance of the removed inputs given the kept ones."""
    n = C.shape[0]
    lam = RIDGE * float(C.diagonal().mean())
    Cr = C + lam * torch.eye(n, dtype=C.dtype)
    K = [i for i in range(n) if i not in R]
    r, k = torch.tensor(R), torch.tensor(K, dtype=torch.long)
    S = Cr[r][:, r] - (Cr[r][:, k] @ torch.linalg.solve(Cr[k][:, k], Cr[k][:, r]) if K else 0)
    return float(torch.trace(G[r][:, r] @ S))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_greedy_step_is_the_cheapest_removal(seed):
    g = torch.Generator().manual_seed(seed)
    n = 7
    X = torch.randn(60, n, generator=g, dtype=torch.float64)
    X[:, 3] = 2 * X[:, 1] + 0.05 * torch.randn(60, generator=g, dtype=torch.float64)
    C = torch.cov(X.T)
    W = torch.randn(n, 4, generator=g, dtype=torch.float64)
    G = W @ W.T
    order = removal_order(C, G)
    assert sorted(order) == list(range(n))
    R: list[int] = []
    for c in order[:-1]:
        costs = {i: _cost(C, G, R + [i]) for i in range(n) if i not in R}
        assert costs[c] == pytest.approx(min(costs.values()), rel=1e-8, abs=1e-12)
        R.append(c)


def test_the_best_pair_is_found_on_a_tiny_case():
    """Two removals from five: greedy reaches the brute-force optimum when one channel is an exact mix."""
    g = torch.Generator().manual_seed(3)
    X = torch.randn(80, 5, generator=g, dtype=torch.float64)
    X[:, 4] = X[:, 0] - 0.5 * X[:, 2]
    C, G = torch.cov(X.T), torch.eye(5, dtype=torch.float64)
    first = removal_order(C, G, steps=1)[0]
    assert first in (0, 2, 4)  # a member of the exact linear dependency costs ~0
    best = min(itertools.combinations(range(5), 1), key=lambda R: _cost(C, G, list(R)))
    assert _cost(C, G, [first]) == pytest.approx(_cost(C, G, list(best)), abs=1e-6)


def test_planted_mixtures_are_removed_and_the_output_is_kept():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)).double()
    with torch.no_grad():  # channels 9..11 are positive multiples of channels 0..2
        for i, c in ((9, 2.0), (10, 0.5), (11, 3.0)):
            m[0].weight[i] = c * m[0].weight[i - 9]
            m[0].bias[i] = c * m[0].bias[i - 9]
    X = torch.randn(200, 6, dtype=torch.float64)
    pm, rec = prune(m, "qmfrg-span", 3 / 12, X[:1], calib=[(X, torch.zeros(200, dtype=torch.long))])
    removed = rec["removed"]["0"]
    assert sorted(i % 9 for i in removed) == [0, 1, 2]  # one member of each planted pair
    with torch.no_grad():
        assert float((pm(X) - m(X)).abs().max()) < 1e-5
    assert rec["criterion"]["merge"] == "ls-kept" and rec["criterion"]["folds"] == 3


def test_same_architecture_as_l1_on_a_resnet():
    m = build_model("resnet18_small", width=0.125)
    x = torch.randn(16, 3, 16, 16)
    calib = [(x, torch.zeros(16, dtype=torch.long))]
    _, ref = prune(m, "l1", 0.5, x[:1])
    pm, rec = prune(m, "qmfrg-span", 0.5, x[:1], calib=calib)
    assert (rec["macs_after"], rec["channels_after"]) == (ref["macs_after"], ref["channels_after"])
    assert torch.isfinite(pm(x)).all()


def test_needs_calibration_data():
    m = build_model("mlp", in_features=8, hidden=(6,), num_classes=3)
    with pytest.raises(InputError, match="calibration data"):
        prune(m, "qmfrg-span", 0.5, torch.zeros(1, 8))


def test_reconstructed_baseline_keeps_the_selection_and_reconstructs():
    torch.manual_seed(1)
    m = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)).double()
    X = torch.randn(300, 6, dtype=torch.float64)
    calib = [(X, torch.zeros(300, dtype=torch.long))]
    dropped, a = prune(m, "l1", 0.5, X[:1])
    merged, b = prune(m, "l1-ls-kept", 0.5, X[:1], calib=calib)
    assert a["removed"] == b["removed"]  # the same channels: only the consumers change
    with torch.no_grad():
        err_drop = float((dropped(X) - m(X)).pow(2).mean())
        err_merge = float((merged(X) - m(X)).pow(2).mean())
    assert err_merge < err_drop  # least squares on the calibration data cannot do worse there
