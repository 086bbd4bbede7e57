"""The functional QM-FRG criteria through qkernels.pruning.prune (issue 16): planted redundancy found
and merged exactly (``qmfrg-act``, ``-ls``, ``-ls-kept``; ``fold`` is not exact for c ≠ 1), the
optimal-transport merge against a brute-force assignment, the quantum estimate of the activation
states against the exact distances, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.geometry.functional import correlation_distances
from qkernels.nn.models import build_model
from qkernels.pruning import get_method, prune
from qkernels.pruning.activations import channel_moments
from qkernels.pruning.qmfrg import merge as merge_mod
from qkernels.pruning.qmfrg.importance import QMFRGImportance
from qkernels.pruning.qmfrg.merge import check_merge, transport_plan
from qkernels.pruning.qmfrg.states import layer_gram, layer_states
from qkernels.quantum import QuantumKernel

IN, HIDDEN, CLASSES = 20, 16, 5
#: (source neuron, planted copy, c): copy = c · source (weights and bias), c > 0 so ReLU commutes
PLANTED = ((0, 12, 2.5), (3, 13, 0.4), (6, 14, 1.7), (9, 15, 3.0))
K = len(PLANTED)


def _data(n: int, seed: int, shape=(IN,), classes: int = CLASSES) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g, dtype=torch.float64), torch.randint(0, classes, (n,), generator=g)


def _planted_mlp(planted=PLANTED) -> nn.Module:
    """MLP 20-16-5 in float64 whose hidden neurons 12..15 are positive multiples of 0, 3, 6, 9."""
    m = build_model("mlp", in_features=IN, hidden=(HIDDEN,), num_classes=CLASSES, seed=0).double()
    lin = m.net[1]
    with torch.no_grad():
        for src, dst, c in planted:
            lin.weight[dst] = c * lin.weight[src]
            lin.bias[dst] = c * lin.bias[src]
    return m.eval()


def _planted_conv() -> tuple[nn.Module, tuple[tuple[int, int, float], ...]]:
    """Conv(3→8) → ReLU → Conv(8→6), float64, no BN; filters 6 and 7 are 2.0 · filter 0 and 0.3 · filter 2."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 6, 3)).double().eval()
    planted = ((0, 6, 2.0), (2, 7, 0.3))
    with torch.no_grad():
        for src, dst, c in planted:
            m[0].weight[dst] = c * m[0].weight[src]
            m[0].bias[dst] = c * m[0].bias[src]
    return m, planted


def _one_of_each_pair(removed: list[int], planted) -> bool:
    pairs = [{s, d} for s, d, _ in planted]
    return len(removed) == len(pairs) and all(len(set(removed) & p) == 1 for p in pairs)


CALIB = _data(256, seed=1)
TEST_X = _data(64, seed=2)[0]  # unseen inputs: an exact merge is exact everywhere, not only on the calibration set


# --------------------------------------------------------------------------- planted redundancy
def test_registered_methods():
    for name in ("qmfrg-act", "qmfrg-white", "qmfrg-act-ls", "qmfrg-act-ls-kept", "qmfrg-act-ot",
                 "qmfrg-act-quantum", "qmfrg-white-ls"):
        assert get_method(name).needs_data, name
    assert not get_method("qmfrg-filter").needs_data and not get_method("qmfrg-filter-ot").needs_data
    assert get_method("qmfrg-filter-ls").needs_data  # the least-squares merge reads the consumers' inputs


def test_act_removes_exactly_one_member_of_each_planted_pair():
    m = _planted_mlp()
    pm, rec = prune(m, "qmfrg-act", K / HIDDEN, CALIB[0][:1], calib=[CALIB])
    assert rec["channels_after"] == HIDDEN - K and pm.net[1].out_features == HIDDEN - K
    assert _one_of_each_pair(rec["removed"]["net.1"], PLANTED)
    grp = rec["criterion"]["groups"][0]
    assert rec["criterion"]["metric"] == "act" and grp["tau"] == pytest.approx(0.0, abs=1e-7)
    # the planted pairs are the only pairs at 0: the next merge is far away
    D = correlation_distances(channel_moments(m, [CALIB])[m.net[1]].out.covariance()).numpy()
    iu = np.triu_indices(HIDDEN, 1)
    planted = {(s, d) for s, d, _ in PLANTED}
    others = [D[i, j] for i, j in zip(*iu) if (i, j) not in planted]
    assert max(D[s, d] for s, d in planted) < 1e-7 < 0.1 < min(others)


@pytest.mark.parametrize("method", ["qmfrg-act", "qmfrg-white", "qmfrg-filter"])
def test_every_functional_state_finds_positive_multiples(method):
    _, rec = prune(_planted_mlp(), method, K / HIDDEN, CALIB[0][:1], calib=[CALIB])
    assert _one_of_each_pair(rec["removed"]["net.1"], PLANTED), rec["removed"]


def test_filter_state_threshold_zero_finds_exact_copies():
    """tau = 0 removes exact copies (distance exactly 0; an arccos of a Gram entry would give ~1e-8)."""
    exact = tuple((s, d, 1.0) for s, d, _ in PLANTED)
    _, rec = prune(_planted_mlp(exact), "qmfrg-filter", 0.9, CALIB[0][:1], tau=0.0)
    assert rec["channels_after"] == HIDDEN - K and _one_of_each_pair(rec["removed"]["net.1"], exact)


@pytest.mark.parametrize("method", ["qmfrg-act-ls", "qmfrg-act-ls-kept"])
def test_least_squares_merge_keeps_the_dense_output(method):
    """Acceptance (issue 16): removing one of each planted pair and merging by least squares leaves the
    network's output unchanged (float64, max abs 1e-6), on the calibration inputs and on new ones."""
    m = _planted_mlp()
    pm, rec = prune(m, method, K / HIDDEN, CALIB[0][:1], calib=[CALIB])
    assert _one_of_each_pair(rec["removed"]["net.1"], PLANTED)
    assert rec["criterion"]["merge"] == method.removeprefix("qmfrg-act-")
    assert rec["criterion"]["groups"][0]["folds"] == K
    for x in (CALIB[0], TEST_X):
        assert (pm(x) - m(x)).abs().max().item() <= 1e-6


def test_least_squares_through_the_representative_is_exact_to_round_off():
    m = _planted_mlp()
    pm, _ = prune(m, "qmfrg-act-ls", K / HIDDEN, CALIB[0][:1], calib=[CALIB])
    assert (pm(TEST_X) - m(TEST_X)).abs().max().item() <= 1e-12


def test_ls_kept_residual_is_its_ridge(monkeypatch):
    """ls-kept solves (C_KK + λI) B = C_KR with λ = RIDGE · mean var; without the ridge it is exact too."""
    m = _planted_mlp()
    monkeypatch.setattr(merge_mod, "RIDGE", 0.0)
    pm, _ = prune(m, "qmfrg-act-ls-kept", K / HIDDEN, CALIB[0][:1], calib=[CALIB])
    assert (pm(TEST_X) - m(TEST_X)).abs().max().item() <= 1e-10


def test_fold_is_not_exact_when_the_copy_is_scaled():
    """The first version's merge adds the removed columns with α = 1: exact for copies (c = 1) only."""
    m = _planted_mlp()
    pm, rec = prune(m, "qmfrg-act", K / HIDDEN, CALIB[0][:1], calib=[CALIB], merge="fold")
    assert rec["criterion"]["merge"] == "fold" and rec["criterion"]["groups"][0]["folds"] == K
    assert (pm(TEST_X) - m(TEST_X)).abs().max().item() > 1e-2
    dropped, _ = prune(m, "qmfrg-act", K / HIDDEN, CALIB[0][:1], calib=[CALIB])
    assert (dropped(TEST_X) - m(TEST_X)).abs().max().item() > 1e-2
    exact = tuple((s, d, 1.0) for s, d, _ in PLANTED)
    m1 = _planted_mlp(exact)
    pm1, _ = prune(m1, "qmfrg-act", K / HIDDEN, CALIB[0][:1], calib=[CALIB], merge="fold")
    assert (pm1(TEST_X) - m1(TEST_X)).abs().max().item() <= 1e-12


def test_conv_least_squares_merge_keeps_the_dense_output():
    m, planted = _planted_conv()
    x, y = _data(32, seed=3, shape=(3, 10, 10))
    xt, _ = _data(8, seed=4, shape=(3, 10, 10))
    pm, rec = prune(m, "qmfrg-act-ls", len(planted) / 8, x[:1], calib=[(x, y)], ignored_layers=[m[2]])
    assert pm[0].out_channels == 6 and pm[2].in_channels == 6
    assert _one_of_each_pair(rec["removed"]["0"], planted)
    for inp in (x, xt):
        assert (pm(inp) - m(inp)).abs().max().item() <= 1e-6
    dropped, _ = prune(m, "qmfrg-act", len(planted) / 8, x[:1], calib=[(x, y)], ignored_layers=[m[2]])
    assert (dropped(xt) - m(xt)).abs().max().item() > 1e-2


# --------------------------------------------------------------------------- optimal transport
def _brute_force_assignment(M: np.ndarray) -> tuple[float, np.ndarray]:
    """Cheapest assignment of n sources to k targets, n/k each: min cost and its plan (mass 1/n each)."""
    n, k = M.shape
    per = n // k
    best, plan = np.inf, None
    for labels in itertools.product(range(k), repeat=n):
        if any(labels.count(t) != per for t in range(k)):
            continue
        cost = sum(M[i, t] for i, t in enumerate(labels))
        if cost < best - 1e-12:
            best, plan = cost, labels
    T = np.zeros((n, k))
    T[np.arange(n), plan] = 1.0 / n
    return best / n, T


@pytest.mark.parametrize("n, kept", [(6, [1, 4]), (6, [0, 2, 5]), (4, [3, 1])])
def test_transport_plan_is_the_brute_force_assignment(n, kept):
    rng = np.random.default_rng(n + len(kept))
    f = rng.standard_normal((n, 3))
    M = ((f[:, None, :] - f[kept][None, :, :]) ** 2).sum(-1)
    T = transport_plan(f, kept)
    best, T_ref = _brute_force_assignment(M)
    assert float((T * M).sum()) == pytest.approx(best, rel=1e-9)
    np.testing.assert_allclose(T, T_ref, atol=1e-12)  # generic costs: the optimum is unique


@pytest.mark.parametrize("n, k, seed", [(7, 3, 0), (16, 5, 1), (9, 9, 2), (5, 1, 3)])
def test_transport_plan_marginals(n, k, seed):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n, 4))
    kept = sorted(rng.choice(n, size=k, replace=False).tolist())
    T = transport_plan(f, kept)
    assert T.shape == (n, k) and np.all(T >= -1e-15)
    np.testing.assert_allclose(T.sum(1), 1.0 / n, atol=1e-12)
    np.testing.assert_allclose(T.sum(0), 1.0 / k, atol=1e-12)
    if k == n:  # every channel kept: it stays where it is
        np.testing.assert_allclose(T, np.eye(n) / n, atol=1e-12)


@pytest.fixture(scope="module")
def resnet_case():
    m = build_model("resnet18_small", width=0.125)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 16, 16, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    return m, x, y


def test_ot_merge_same_architecture_as_l1(resnet_case):
    m, x, y = resnet_case
    _, ref = prune(m, "l1", 0.5, x[:1])
    pm, rec = prune(m, "qmfrg-act-ot", 0.5, x[:1], calib=[(x, y)])
    assert (rec["macs_after"], rec["params_after"], rec["channels_after"]) == \
           (ref["macs_after"], ref["params_after"], ref["channels_after"])
    assert rec["criterion"]["merge"] == "ot" and all(g["folds"] >= 1 for g in rec["criterion"]["groups"])
    assert torch.isfinite(pm(x)).all()


# --------------------------------------------------------------------------- quantum estimate
@pytest.fixture(scope="module")
def act_states():
    """The activation states of a 16-channel layer on correlated data (distances from ~0.3 to π/2)."""
    m = build_model("mlp", in_features=IN, hidden=(HIDDEN,), num_classes=CLASSES, seed=0).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 3, generator=g, dtype=torch.float64) @ torch.randn(3, IN, generator=g, dtype=torch.float64)
    x = x + 0.3 * torch.randn(256, IN, generator=g, dtype=torch.float64)
    stats = channel_moments(m, [(x, None)])
    lin, idx = m.net[1], list(range(HIDDEN))
    psi = layer_states(lin, idx, "act", stats, False).numpy()
    D = correlation_distances(layer_gram(lin, idx, "act", stats, False)).numpy()
    return psi, D


def test_act_states_reproduce_the_exact_distances(act_states):
    psi, D = act_states
    exact = QuantumKernel("compute_uncompute").fs_distance(psi)  # analytic: the circuit's exact probabilities
    iu = np.triu_indices(HIDDEN, 1)
    np.testing.assert_allclose(np.asarray(exact)[iu], D[iu], atol=1e-6)
    assert D[iu].min() < 0.4 and D[iu].max() > 1.5


def test_quantum_intervals_cover_the_exact_distances(act_states):
    psi, D = act_states
    est = QuantumKernel("compute_uncompute", shots=2048, seed=0).fs_distance(psi, confidence=0.95)
    iu = np.triu_indices(HIDDEN, 1)
    lo, hi = np.asarray(est.lower)[iu], np.asarray(est.upper)[iu]
    covered = float(np.mean((lo <= D[iu]) & (D[iu] <= hi)))
    assert covered >= 0.90, covered  # nominal 0.95 over 120 pairs (0.92 at worst over 60 seeds)
    assert np.all(lo <= np.asarray(est.estimate)[iu]) and np.all(np.asarray(est.estimate)[iu] <= hi)


def test_quantum_error_shrinks_with_shots(act_states):
    psi, D = act_states
    iu = np.triu_indices(HIDDEN, 1)
    err = {s: float(np.mean(np.abs(np.asarray(QuantumKernel("compute_uncompute", shots=s, seed=0).fs_distance(psi))[iu]
                                   - D[iu]))) for s in (64, 4096)}
    assert err[4096] < err[64] / 4  # 1/√S: 8x in theory
    assert err[4096] < 0.02


def test_act_quantum_criterion_agrees_with_exact_on_the_planted_example():
    m = _planted_mlp()
    _, exact = prune(m, "qmfrg-act", K / HIDDEN, CALIB[0][:1], calib=[CALIB])
    _, rec = prune(m, "qmfrg-act-quantum", K / HIDDEN, CALIB[0][:1], calib=[CALIB], shots=4096, seed=0)
    assert rec["criterion"]["metric"] == "act" and rec["criterion"]["estimator"] == "quantum"
    assert rec["removed"] == exact["removed"]
    grp = rec["criterion"]["groups"][0]
    assert grp["edge_agreement"] == 1.0 and grp["kept_agreement"] == 1.0
    assert grp["tau_exact"] == pytest.approx(exact["criterion"]["groups"][0]["tau"])
    # analytic circuits reproduce the exact graph
    _, ana = prune(m, "qmfrg-act-quantum", K / HIDDEN, CALIB[0][:1], calib=[CALIB], shots=None)
    assert ana["removed"] == exact["removed"]


# --------------------------------------------------------------------------- errors
def test_act_without_calibration_data():
    with pytest.raises(InputError, match="qmfrg-act.*needs calibration data"):
        prune(_planted_mlp(), "qmfrg-act", 0.25, CALIB[0][:1])
    with pytest.raises(InputError, match="needs calibration data"):
        QMFRGImportance("act")
    # a data-free state with a data merge: the factory's own check names both
    with pytest.raises(InputError, match="metric 'filter' and merge 'ls' needs calibration data"):
        prune(_planted_mlp(), "qmfrg-filter", 0.25, CALIB[0][:1], merge="ls")


@pytest.mark.parametrize("merge", ["average", "LS", 1, "fold "])
def test_unknown_merge(merge):
    with pytest.raises(InputError, match="merge: expected one of fold, ls, ls-kept, ot"):
        prune(_planted_mlp(), "qmfrg-act", 0.25, CALIB[0][:1], calib=[CALIB], merge=merge)
    with pytest.raises(InputError, match="merge"):
        check_merge(merge)


def test_quantum_estimator_needs_a_functional_metric():
    with pytest.raises(InputError, match="estimator 'quantum' applies to the functional metrics"):
        prune(_planted_mlp(), "qmfrg", 0.25, CALIB[0][:1], estimator="quantum")
    with pytest.raises(InputError, match="estimator 'quantum' applies"):
        prune(_planted_mlp(), "qmfrg-act", 0.25, CALIB[0][:1], calib=[CALIB], metric="fs", estimator="quantum")
    with pytest.raises(InputError, match="estimator: expected one of exact, quantum"):
        prune(_planted_mlp(), "qmfrg-act", 0.25, CALIB[0][:1], calib=[CALIB], estimator="sampled")
    with pytest.raises(InputError, match="shots"):
        prune(_planted_mlp(), "qmfrg-act", 0.25, CALIB[0][:1], calib=[CALIB], shots=100)
