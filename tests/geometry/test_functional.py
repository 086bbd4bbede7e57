"""Tests of qkernels.geometry.functional (functional states) and qkernels.pruning.activations
(channel moments): what each state is invariant to, on constructed examples (issue 16's acceptance
list), against brute-force references (sample moments, NumPy arccos, Decimal arithmetic, hooks)."""

from __future__ import annotations

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import qkernels
from qkernels.core.errors import InputError
from qkernels.geometry.functional import (
    CONSTANT_TOL,
    correlation_distances,
    correlation_states,
    filter_distances,
    filter_states,
    fs_from_cosine,
    gram_distances,
    states_from_gram,
    whitened_operator,
)
from qkernels.pruning import activations
from qkernels.pruning.activations import Moments, channel_moments
from tests.geometry.reference import HYP, unit

HALF_PI = math.pi / 2


# --------------------------------------------------------------------------- helpers
def _paper_state(W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """The paper's spectral state ψ = s/‖s‖ of the augmented operator [[W, b], [0, 1]]."""
    return qkernels.state(qkernels.spectrum(qkernels.augmented(W, b)))


def _pair_filter_distance(u: np.ndarray, v: np.ndarray) -> float:
    return float(filter_distances(filter_states(np.stack([u, v])))[0, 1])


def _pair_act_distance(y: np.ndarray, z: np.ndarray) -> float:
    cov = np.cov(np.stack([y, z]), bias=True)
    return float(correlation_distances(cov)[0, 1])


def _same_norm_nearly_orthogonal(rng, w: np.ndarray, cos: float = 1e-3) -> np.ndarray:
    r = rng.standard_normal(w.shape)
    r -= (r @ w) / (w @ w) * w
    v = cos * unit(w) + math.sqrt(1 - cos**2) * unit(r)
    return v * np.linalg.norm(w)


def _orthogonal(rng, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


# --------------------------------------------------------------------------- the counterexample
def test_paper_state_cannot_tell_a_neuron_from_its_negation_permutation_or_an_orthogonal_vector(rng):
    """The spectrum of the augmented 1 x n neuron [[w, b], [0, 1]] depends on ‖w‖ and b alone."""
    w, b = rng.standard_normal(7), np.array([0.3])
    psi = _paper_state(w[None, :], b)
    perm = rng.permutation(7)
    assert not np.array_equal(perm, np.arange(7))
    ortho = _same_norm_nearly_orthogonal(rng, w)
    assert abs(ortho @ w) / (w @ w) == pytest.approx(1e-3, rel=1e-9)
    for other, bias in ((-w, -b), (w[perm], b), (ortho, b)):
        assert float(qkernels.fs_distance(psi, _paper_state(other[None, :], bias))) == pytest.approx(0.0, abs=1e-7)
    # ... while the neurons compute different functions on data
    X = rng.standard_normal((500, 7))
    for other in (-w, w[perm], ortho):
        assert np.abs(X @ w - X @ other).max() > 0.5


# --------------------------------------------------------------------------- filter states
def test_filter_states_separate_what_the_paper_state_confuses(rng):
    w = rng.standard_normal(7)
    perm = rng.permutation(7)
    assert _pair_filter_distance(w, -w) == pytest.approx(HALF_PI, abs=1e-12)
    assert _pair_filter_distance(w, w[perm]) > 0.05
    assert _pair_filter_distance(w, _same_norm_nearly_orthogonal(rng, w)) > 0.5  # ≈ arccos(1/2) = π/3
    assert _pair_filter_distance(w, _same_norm_nearly_orthogonal(rng, w)) == pytest.approx(
        math.acos((1 + 1e-3) / 2), abs=1e-9)


@pytest.mark.parametrize("scale", [2.0, 0.25, 1.0001, 3.0, 1e-3, 1e6])
def test_filter_states_are_scale_invariant(rng, scale):
    w = rng.standard_normal(9)
    d = _pair_filter_distance(w, scale * w)
    if math.log2(scale).is_integer():  # an exact rescaling: the same state, exactly 0
        assert d == 0.0
    else:  # the states differ in the last bits: 0 to round-off (not the ~1e-8 of an arccos of a cosine)
        assert 0.0 <= d <= 1e-15
    psi = filter_states(np.stack([w, scale * w]))
    assert torch.allclose(psi[0], psi[1], rtol=0, atol=1e-15)


def test_filter_states_formula_and_unit_norm(rng):
    W = rng.standard_normal((6, 2, 3, 3))
    b = rng.standard_normal(6)
    psi = filter_states(torch.from_numpy(W), torch.from_numpy(b)).numpy()
    flat = np.concatenate([W.reshape(6, -1), b[:, None]], 1)
    ref = np.concatenate([unit(flat), np.ones((6, 1))], 1) / math.sqrt(2)
    np.testing.assert_allclose(psi, ref, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(psi, axis=1), 1.0, atol=1e-15)
    cos = unit(flat) @ unit(flat).T
    D = filter_distances(torch.from_numpy(psi)).numpy()
    ref_D = np.arccos(np.clip((1 + cos) / 2, 0, 1))
    np.fill_diagonal(ref_D, 0.0)
    np.testing.assert_allclose(D, ref_D, rtol=0, atol=1e-10)


def test_zero_filter_is_at_a_quarter_turn_from_every_filter(rng):
    W = np.stack([rng.standard_normal(5), np.zeros(5), -rng.standard_normal(5)])
    psi = filter_states(W)
    assert psi[1].tolist() == [0.0] * 5 + [1.0]
    D = filter_distances(psi)
    assert float(D[0, 1]) == pytest.approx(math.pi / 4, abs=1e-12)
    assert float(D[2, 1]) == pytest.approx(math.pi / 4, abs=1e-12)


def test_filter_states_bad_input():
    with pytest.raises(InputError, match="filters"):
        filter_states(torch.ones(3))
    with pytest.raises(InputError, match="non-finite"):
        filter_states(torch.tensor([[1.0, float("nan")]]))


# --------------------------------------------------------------------------- activation states
@pytest.mark.parametrize("c, d", [(2.0, 0.0), (0.37, -5.0), (-1.0, 0.0), (-3.5, 2.0), (1e-3, 1e3)])
def test_activation_state_of_an_affine_image_is_the_same(rng, c, d):
    y = rng.standard_normal(400) * 1.7 + 0.4
    assert _pair_act_distance(y, c * y + d) == pytest.approx(0.0, abs=1e-7)


def test_rotated_or_permuted_filter_on_generic_data_is_not_at_zero(rng):
    X = rng.standard_normal((1000, 8))
    w = rng.standard_normal(8)
    perm = np.roll(np.arange(8), 3)
    R = _orthogonal(rng, 8)
    for v in (w[perm], R @ w, _same_norm_nearly_orthogonal(rng, w)):
        assert _pair_act_distance(X @ w, X @ v) > 0.1
    # the negated neuron is the same activation state (|corr| = 1), unlike its filter state
    assert _pair_act_distance(X @ w, -(X @ w)) == pytest.approx(0.0, abs=1e-7)


def test_correlation_states_and_distances_match_numpy(rng):
    Y = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 6))  # rank 5: one channel is a combination
    cov = np.cov(Y.T, bias=True)
    corr = np.corrcoef(Y.T)
    ref = np.arccos(np.clip(np.abs(corr), 0, 1))
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_allclose(correlation_distances(cov).numpy(), ref, rtol=0, atol=1e-7)
    psi = correlation_states(cov).numpy()
    np.testing.assert_allclose(psi @ psi.T, corr, rtol=0, atol=1e-10)


def test_constant_channel_is_at_a_right_angle():
    y = np.linspace(-1, 1, 50)
    cov = np.cov(np.stack([y, np.full(50, 3.0), 2 * y]), bias=True)
    D = correlation_distances(cov)
    assert float(D[0, 2]) == pytest.approx(0.0, abs=1e-7)
    assert float(D[0, 1]) == float(D[1, 2]) == pytest.approx(HALF_PI)
    psi = correlation_states(cov)
    assert psi[1].tolist() == [0.0, 1.0, 0.0]


# --------------------------------------------------------------------------- conv + BatchNorm
def _bn_out(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """conv (no bias) then BatchNorm on batch statistics (training mode), float64."""
    conv = nn.Conv2d(W.shape[1], W.shape[0], W.shape[2], bias=False).double()
    bn = nn.BatchNorm2d(W.shape[0], eps=1e-12, momentum=None).double()
    with torch.no_grad():
        conv.weight.copy_(W)
        bn.weight.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(1))
        bn.bias.uniform_(-0.2, 0.2, generator=torch.Generator().manual_seed(2))
    return nn.Sequential(conv, bn).train()(x).detach()


def _act_pair_distances(W: torch.Tensor, V: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d_FS between channel c of conv W and channel c of conv V on x (activation states, pre-BN)."""
    C = W.shape[0]
    conv = nn.Conv2d(W.shape[1], 2 * C, W.shape[2], bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.cat([W, V]))
    stats = channel_moments(nn.Sequential(conv), [(x, None)], inputs=False)
    D = correlation_distances(stats[conv].out.covariance())
    return D[torch.arange(C), C + torch.arange(C)]


def _filter_pair_distances(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    C = W.shape[0]
    D = filter_distances(filter_states(torch.cat([W, V])))
    return D[torch.arange(C), C + torch.arange(C)]


def test_conv_filter_followed_by_batchnorm():
    g = torch.Generator().manual_seed(0)
    C, Cin = 4, 3
    W = torch.randn(C, Cin, 3, 3, generator=g, dtype=torch.float64)
    x = torch.randn(16, Cin, 9, 9, generator=g, dtype=torch.float64)
    Q = torch.linalg.qr(torch.randn(Cin, Cin, generator=g, dtype=torch.float64))[0]
    WQ = torch.einsum("oikl,ij->ojkl", W, Q)  # rotates the input channels
    P = torch.tensor([1, 2, 3, 0])  # a derangement of the output channels
    PW = W[P]

    # W and 2W: the same function after BN, and at 0 under the filter and activation states
    assert torch.allclose(_bn_out(W, x), _bn_out(2 * W, x), rtol=0, atol=1e-8)
    assert torch.all(_filter_pair_distances(W, 2 * W) == 0)
    assert torch.all(_act_pair_distances(W, 2 * W, x) < 1e-7)
    # W·Q and P·W compute other functions, and are not at 0 ...
    for V in (WQ, PW):
        assert not torch.allclose(_bn_out(W, x), _bn_out(V, x), atol=1e-2)
        assert torch.all(_filter_pair_distances(W, V) > 0.05)
        assert torch.all(_act_pair_distances(W, V, x) > 0.05)
    # ... while the paper's state of the layer operator (its flattened filters) cannot see them,
    # and tells 2W (which BN undoes) from W
    flat = lambda M: M.reshape(C, -1).numpy()  # noqa: E731
    psi = _paper_state(flat(W))
    assert float(qkernels.fs_distance(psi, _paper_state(flat(WQ)))) == pytest.approx(0.0, abs=1e-7)
    assert float(qkernels.fs_distance(psi, _paper_state(flat(PW)))) == pytest.approx(0.0, abs=1e-7)
    assert float(qkernels.fs_distance(psi, _paper_state(flat(2 * W)))) > 1e-3


# --------------------------------------------------------------------------- whitened operator
def _augmented_second(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return X.mean(0), X.T @ X / len(X)


def test_whitened_operator_rows_have_the_output_gram(rng):
    n, m = 6, 4
    X = rng.standard_normal((2000, n)) @ rng.standard_normal((n, n)) + rng.standard_normal(n)
    W, b = rng.standard_normal((m, n)), rng.standard_normal(m)
    mu, S = _augmented_second(X)
    Wh = whitened_operator(W, b, mu, S).numpy()
    assert Wh.shape == (m, n + 1)
    Y = X @ W.T + b
    ref = Y.T @ Y / len(X)  # E[(Wx + b)(Wx + b)ᵀ], brute force
    np.testing.assert_allclose(Wh @ Wh.T, ref, rtol=1e-9, atol=0)
    # normalized rows: the whitened states' distances are the uncentred Gram's
    D = gram_distances(Wh @ Wh.T).numpy()
    c = ref / np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
    ref_D = np.arccos(np.clip(np.abs(c), 0, 1))
    np.fill_diagonal(ref_D, 0.0)
    np.testing.assert_allclose(D, ref_D, rtol=0, atol=1e-7)


def test_whitened_frobenius_norm_is_the_mean_squared_output_change(rng):
    n, m = 5, 3
    X = rng.standard_normal((1500, n)) * rng.uniform(0.5, 3, n) + 2.0  # uncentred, anisotropic
    dW, db = rng.standard_normal((m, n)) * 0.1, rng.standard_normal(m) * 0.1
    mu, S = _augmented_second(X)
    lhs = float((whitened_operator(dW, db, mu, S) ** 2).sum())
    rhs = float(np.mean(np.sum((X @ dW.T + db) ** 2, axis=1)))
    assert lhs == pytest.approx(rhs, rel=1e-9)
    # without a bias: b = None is a zero bias
    lhs0 = float((whitened_operator(dW, None, mu, S) ** 2).sum())
    assert lhs0 == pytest.approx(float(np.mean(np.sum((X @ dW.T) ** 2, axis=1))), rel=1e-9)


def test_whitened_operator_bad_shapes():
    with pytest.raises(InputError, match="matrix"):
        whitened_operator(np.ones(3), None, np.zeros(3), np.eye(3))
    with pytest.raises(InputError, match="needs b"):
        whitened_operator(np.ones((2, 3)), np.ones(3), np.zeros(3), np.eye(3))
    with pytest.raises(InputError, match="square"):
        whitened_operator(np.ones((2, 3)), None, np.zeros(3), np.ones((3, 2)))


# --------------------------------------------------------------------------- Gram states
@st.composite
def psd_matrices(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    c = draw(st.integers(1, 12))
    rank = draw(st.integers(1, c))
    dead = draw(st.integers(0, c - 1)) if draw(st.booleans()) and c > 1 else None
    r = np.random.default_rng(seed)
    A = r.standard_normal((c, rank)) * r.uniform(1e-2, 1e2, size=(c, 1))
    if dead is not None:
        A[dead] = 0.0
    return A @ A.T, dead


def _live(G: np.ndarray) -> np.ndarray:
    """The channels the module counts as non-constant: G_ii > CONSTANT_TOL · max G_kk (documented)."""
    d = np.diag(G)
    return d > CONSTANT_TOL * max(d.max(), 1e-300)


def _normalized(G: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G_ij / √(G_ii G_jj), and a round-off bound for states built from an eigendecomposition of G: the
    round-off eigenvalues (~ε ‖G‖) add components of size √(ε ‖G‖) to every row, so the normalized
    products are off by up to ~ε ‖G‖ / min(G_ii, G_jj) (bound: 1e-12 max G_kk / min(G_ii, G_jj))."""
    d = np.where(live, np.diag(G), 1.0)
    return G / np.sqrt(np.outer(d, d)), 1e-12 * np.diag(G).max() / np.minimum.outer(d, d) + 1e-13


@HYP
@given(psd_matrices())
def test_states_from_gram_reproduce_the_normalized_gram(case):
    G, dead = case
    psi = states_from_gram(G).numpy()
    assert psi.shape == G.shape
    np.testing.assert_allclose(np.linalg.norm(psi, axis=1), 1.0, atol=1e-12)
    live = _live(G)
    ref, tol = _normalized(G, live)
    got = psi @ psi.T
    mask = np.ix_(live, live)
    assert np.all(np.abs(got - ref)[mask] <= tol[mask]), np.max(np.abs(got - ref)[mask] / tol[mask])
    for c in np.flatnonzero(~live):  # constant channels: the basis vector e_c
        assert psi[c].tolist() == np.eye(len(G))[c].tolist()
    if dead is not None:
        assert not live[dead]
    # and the explicit states (what the quantum kernels load) are at the distances gram_distances gives:
    # compared as cosines, since arccos amplifies a 1e-10 error in a cosine near 1 to ~1e-5
    D = gram_distances(G).numpy()
    off = ~np.eye(len(G), dtype=bool)
    both = np.outer(live, live) & off
    assert np.all(np.abs(np.cos(D) - np.abs(got))[both] <= 2 * tol[both])


@HYP
@given(psd_matrices())
def test_gram_distances_against_numpy_arccos(case):
    G, dead = case
    D = gram_distances(G).numpy()
    live = _live(G)
    c, _ = _normalized(G, live)
    ref = np.arccos(np.clip(np.abs(c), 0, 1))
    ref[~live, :] = HALF_PI
    ref[:, ~live] = HALF_PI
    np.fill_diagonal(ref, 0.0)
    # numpy's arccos of the cosine loses half the digits where |c| ≈ 1 (rank-deficient G): 1e-6 absolutely
    np.testing.assert_allclose(D, ref, rtol=0, atol=1e-6)
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0) and np.all((D >= 0) & (D <= HALF_PI + 1e-15))


def test_equal_gram_entries_are_at_exactly_zero():
    """G_ij = G_ii = G_jj (identical states, exact copies): the cosine is exactly 1, d = 0 (not ~1.5e-8),
    whatever the last bits of the entries; so threshold mode with tau = 0 finds exact copies."""
    for a in (0.9999999999999999, 0.9999999999999998, 1.0000000000000002, 3.7, 1e-8, 1e150):
        G = np.array([[a, a, 0.1 * a], [a, a, 0.1 * a], [0.1 * a, 0.1 * a, a]])
        D = gram_distances(G)
        assert float(D[0, 1]) == 0.0 and float(D[0, 2]) == pytest.approx(math.acos(0.1), abs=1e-12)


def test_gram_distances_bad_input():
    with pytest.raises(InputError, match="square"):
        gram_distances(np.ones((2, 3)))
    with pytest.raises(InputError, match="non-finite"):
        gram_distances(np.array([[1.0, np.inf], [np.inf, 1.0]]))


def _acos_decimal(x: float, digits: int = 40) -> Decimal:
    """arccos(x) for x in [1/2, 1] at ``digits`` digits: 2 asin(t), t = √((1 − x)/2) ≤ 1/2, by its series."""
    getcontext().prec = digits + 10
    t = ((Decimal(1) - Decimal(x)) / 2).sqrt()
    term, total, k = t, t, 0
    eps = Decimal(10) ** -(digits + 5)
    while term > eps:  # asin t = Σ (2k)! / (4^k (k!)² (2k + 1)) t^(2k+1)
        k += 1
        term = term * t * t * (2 * k - 1) * (2 * k - 1) / ((2 * k) * (2 * k + 1))
        total += term
    return 2 * total


def test_fs_from_cosine_is_accurate_near_one():
    xs = [1.0 - k * 2.0**-53 for k in (1, 2, 3, 10, 1000)] + [1 - 1e-12, 1 - 1e-9, 1 - 1e-6, 0.999, 0.9, 0.6, 0.5]
    got = fs_from_cosine(torch.tensor(xs, dtype=torch.float64)).tolist()
    for x, g in zip(xs, got):
        ref = float(_acos_decimal(x))
        assert g == pytest.approx(ref, rel=4e-16, abs=0), x
    # the sign does not matter; |c| > 1 (round-off) clips to 0
    assert fs_from_cosine(torch.tensor([-xs[3]], dtype=torch.float64)).item() == got[3]
    assert fs_from_cosine(torch.tensor([1 + 1e-15, -1 - 1e-15], dtype=torch.float64)).tolist() == [0.0, 0.0]


def test_fs_from_cosine_matches_numpy_arccos_away_from_one(rng):
    c = rng.uniform(-0.99, 0.99, 2000)
    got = fs_from_cosine(torch.from_numpy(c)).numpy()
    np.testing.assert_allclose(got, np.arccos(np.abs(c)), rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------- channel moments
class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv1 = nn.Conv2d(3, 5, 3, padding=1)
        self.conv2 = nn.Conv2d(5, 4, 3, stride=2)
        self.fc = nn.Linear(4 * 3 * 3, 6)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        h = torch.relu(self.conv2(h))
        return self.fc(torch.flatten(h, 1))


def _brute_force(model: nn.Module, batches) -> dict:
    seen: dict = {}

    def hook(mod, args, out):
        seen.setdefault(mod, {"in": [], "out": []})
        seen[mod]["in"].append(args[0].detach().double())
        seen[mod]["out"].append(out.detach().double())

    hs = [m.register_forward_hook(hook) for m in (model.conv1, model.conv2, model.fc)]
    with torch.no_grad():
        for x, _ in batches:
            model(x)
    for h in hs:
        h.remove()
    ref = {}
    for mod, d in seen.items():
        ref[mod] = {}
        for side in ("in", "out"):
            t = torch.cat(d[side])
            rows = t.reshape(-1, t.shape[1]) if t.ndim == 2 else t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
            mu = rows.mean(0)
            second = rows.T @ rows / len(rows)
            cov = torch.cov(rows.T, correction=0)
            ref[mod][side] = (len(rows), mu, second, cov)
    return ref


@pytest.mark.parametrize("chunk", [activations.CHUNK, 7])
def test_channel_moments_match_brute_force_hooks(monkeypatch, chunk):
    monkeypatch.setattr(activations, "CHUNK", chunk)  # 7: the streaming path, positions in chunks
    model = _Net()
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(6, 3, 8, 8, generator=g), None), (torch.randn(5, 3, 8, 8, generator=g), None)]
    stats = channel_moments(model, batches)
    ref = _brute_force(model, batches)
    assert set(stats) == {model.conv1, model.conv2, model.fc}
    for mod in (model.conv1, model.conv2, model.fc):
        for side, m in (("in", stats[mod].inp), ("out", stats[mod].out)):
            n, mu, second, cov = ref[mod][side]
            assert m.count == n
            torch.testing.assert_close(m.mean(), mu, rtol=1e-12, atol=1e-13)
            torch.testing.assert_close(m.second(), second, rtol=1e-12, atol=1e-13)
            torch.testing.assert_close(m.covariance(), cov, rtol=1e-9, atol=1e-12)
    # images x positions: 11 images, 8x8 after conv1 (padding 1), 3x3 after conv2; the linear layer
    # after the flatten reads every feature (4·3·3 = 36), once per image
    assert stats[model.conv1].out.count == 11 * 64 and stats[model.conv2].out.count == 11 * 9
    assert stats[model.fc].inp.count == 11 and stats[model.fc].inp.gram.shape == (36, 36)
    assert stats[model.conv1].meta["spatial"] == 64 and stats[model.conv2].meta["spatial"] == 64
    assert stats[model.fc].meta["spatial"] == 1


def test_channel_moments_sides_layers_mode_and_errors():
    model = _Net().train()
    x = torch.randn(4, 3, 8, 8)
    stats = channel_moments(model, [(x, None)], layers=[model.conv2], inputs=False)
    assert list(stats) == [model.conv2] and stats[model.conv2].inp is None and stats[model.conv2].out.count == 36
    assert model.training  # restored after the eval-mode pass
    bare = channel_moments(model, [x], outputs=False)  # a bare tensor is a batch too
    assert bare[model.fc].out is None and bare[model.fc].inp.count == 4
    with pytest.raises(InputError, match="at least one"):
        channel_moments(model, [])
    with pytest.raises(InputError, match="tensor"):
        channel_moments(model, [([1, 2], None)])


def test_moments_subset_and_covariance():
    m = Moments.empty(3)
    rows = torch.tensor([[1.0, 2.0, 0.0], [3.0, 6.0, 1.0], [5.0, 10.0, 1.0]])
    m.add(rows)
    s = m.subset([2, 0])
    assert s.count == 3 and s.mean().tolist() == [2 / 3, 3.0]
    torch.testing.assert_close(s.covariance(), torch.cov(rows[:, [2, 0]].T.double(), correction=0))
    assert float(correlation_distances(m.covariance())[0, 1]) == pytest.approx(0.0, abs=1e-7)  # column 1 = 2 · column 0


# --------------------------------------------------------------------------- the table of docs/theory.md, whole
def _white_pair(w: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """d_FS of the whitened states of two neurons (no bias) on the data X (rows)."""
    mu, S = X.mean(0), X.T @ X / len(X)
    rows = whitened_operator(np.stack([w, v]), None, mu, S)
    return float(gram_distances(rows @ rows.T)[0, 1])


def test_the_counterexample_table_neuron_rows(rng):
    """Every neuron row of the table in docs/theory.md ("The counterexamples, state by state")."""
    n = 16
    w = rng.standard_normal(n)
    X = rng.standard_normal((4000, n))  # centred, isotropic data
    perm = np.roll(np.arange(n), 1)
    ortho = _same_norm_nearly_orthogonal(rng, w, cos=0.0)
    cases = {"neg": -w, "perm": w[perm], "ortho": ortho, "scaled": 1.0001 * w}
    paper = {k: float(qkernels.fs_distance(_paper_state(w[None]), _paper_state(v[None]))) for k, v in cases.items()}
    act = {k: _pair_act_distance(X @ w, X @ v) for k, v in cases.items()}
    white = {k: _white_pair(w, v, X) for k, v in cases.items()}
    filt = {k: _pair_filter_distance(w, v) for k, v in cases.items()}
    assert max(paper["neg"], paper["perm"], paper["ortho"]) < 1e-7  # the paper's state confuses them
    assert act["neg"] < 1e-7 and white["neg"] < 1e-7 and filt["neg"] == pytest.approx(HALF_PI)
    for d in (act, white, filt):
        assert d["perm"] > 0.1 and d["ortho"] > 0.1 and d["scaled"] < 1e-6
    assert act["ortho"] == pytest.approx(HALF_PI, abs=0.05)  # uncorrelated on isotropic data
    assert filt["ortho"] == pytest.approx(math.pi / 3, abs=1e-9)
