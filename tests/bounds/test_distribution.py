"""Tests of qkernels.bounds.distribution: the in-distribution bound of docs/theory.md#in-distribution.

Independent references: the mean gap as an explicit loop over samples of the squared norm (NumPy),
the moments as explicit sums of outer products, the whitened form with SciPy's matrix square root,
and for convolutions ``F.conv2d`` itself (the linear map on patch rows must reproduce it).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg
from torch import nn

import qkernels as qk
from qkernels.bounds.distribution import (
    augmented_moment,
    check_filter_pairs,
    check_in_distribution,
    check_in_distribution_batch,
    conv_operator,
    conv_patches,
    in_distribution_bound,
    layer_inputs,
    layer_operator,
    mean_gap,
    moments,
    whitened_operator,
)
from qkernels.core.errors import InputError
from tests.bounds.reference import NP_ACT, NP_L

ACTS = ["identity", "relu", "tanh", "sigmoid", "gelu"]


# --------------------------------------------------------------------------- NumPy references
def ref_mean_gap(Wi, bi, Wj, bj, X, act) -> float:
    """E‖σ(Wᵢx + bᵢ) − σ(Wⱼx + bⱼ)‖² as an explicit mean over the samples."""
    f = NP_ACT[act]
    return float(np.mean([np.sum((f(Wi @ x + bi) - f(Wj @ x + bj)) ** 2) for x in X]))


def ref_moments(X):
    mu = sum(X) / len(X)
    Sigma = sum(np.outer(x, x) for x in X) / len(X)
    return mu, Sigma


def ref_bound(Wi, bi, Wj, bj, mu, Sigma, L) -> float:
    dW, db = Wi - Wj, bi - bj
    return L**2 * (np.trace(dW @ Sigma @ dW.T) + 2 * db @ dW @ mu + db @ db)


def ref_whitened_distance(Wi, bi, Wj, bj, mu, Sigma) -> float:
    """‖ΔŴ Σ̂^{1/2}‖_F² with SciPy's principal square root of Σ̂."""
    n = len(mu)
    A = np.zeros((n + 1, n + 1))
    A[:n, :n], A[:n, n], A[n, :n], A[n, n] = Sigma, mu, mu, 1.0
    root = np.real(linalg.sqrtm(A))
    dWh = np.hstack([Wi - Wj, (bi - bj)[:, None]])
    return float(np.sum((dWh @ root) ** 2))


def layers(rng, m, n, scale=1.0):
    return (rng.standard_normal((m, n)) * scale / math.sqrt(n), rng.standard_normal(m) * 0.3 * scale)


def data(rng, N, n, shift=0.0):
    return rng.standard_normal((N, n)) * rng.uniform(0.2, 2.0, n) + shift * rng.standard_normal(n)


# --------------------------------------------------------------------------- against the references
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("m, n, N", [(1, 1, 1), (3, 5, 40), (7, 4, 13), (2, 9, 200)])
def test_mean_gap_and_bound_match_brute_force(act, m, n, N):
    rng = np.random.default_rng(m * 100 + n * 10 + N)
    Wi, bi = layers(rng, m, n)
    Wj, bj = layers(rng, m, n)
    X = data(rng, N, n, shift=0.5)
    lhs = mean_gap(Wi, bi, Wj, bj, X, act)
    assert lhs == pytest.approx(ref_mean_gap(Wi, bi, Wj, bj, X, act), rel=1e-12, abs=1e-15)
    mu, Sigma = moments(X)
    rmu, rSigma = ref_moments(X)
    np.testing.assert_allclose(mu, rmu, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Sigma, rSigma, rtol=1e-12, atol=1e-14)
    B = in_distribution_bound(Wi, bi, Wj, bj, mu, Sigma, NP_L[act])
    assert B == pytest.approx(ref_bound(Wi, bi, Wj, bj, rmu, rSigma, NP_L[act]), rel=1e-11)
    assert lhs <= B * (1 + 1e-9) + 1e-12
    r = check_in_distribution(Wi, bi, Wj, bj, X, act)
    assert r["lhs"] == pytest.approx(lhs, rel=1e-12, abs=1e-15) and r["bound"] == pytest.approx(B, rel=1e-11)
    assert not r["violation"] and r["L"] == NP_L[act] and r["activation"] == act
    assert (r["m"], r["n"], r["N"], r["dtype"]) == (m, n, N, "float64")
    assert r["trace"] + r["cross"] + r["bias_sq"] == pytest.approx(B / NP_L[act] ** 2, rel=1e-11)


def test_identity_is_attained_and_equals_the_whitened_distance():
    rng = np.random.default_rng(5)
    for m, n in [(1, 1), (4, 3), (6, 10)]:
        Wi, bi = layers(rng, m, n)
        Wj, bj = layers(rng, m, n)
        X = data(rng, 30, n, shift=1.0)
        mu, Sigma = moments(X)
        B = in_distribution_bound(Wi, bi, Wj, bj, mu, Sigma)
        assert mean_gap(Wi, bi, Wj, bj, X, "identity") == pytest.approx(B, rel=1e-11)
        assert ref_whitened_distance(Wi, bi, Wj, bj, mu, Sigma) == pytest.approx(B, rel=1e-8)
        d = whitened_operator(Wi, bi, mu, Sigma) - whitened_operator(Wj, bj, mu, Sigma)
        assert d.shape == (m, n + 1) and float(np.sum(d**2)) == pytest.approx(B, rel=1e-9)
        A = augmented_moment(mu, Sigma)
        assert A.shape == (n + 1, n + 1) and A[n, n] == 1.0 and np.allclose(A[:n, n], mu)


def test_outputs_follow_the_input_kind_and_none_bias():
    X = np.random.default_rng(0).standard_normal((20, 3))
    mu, Sigma = moments(X)
    assert isinstance(mu, np.ndarray) and mu.dtype == np.float64 and Sigma.shape == (3, 3)
    tmu, tSigma = moments(torch.as_tensor(X, dtype=torch.float32))
    assert isinstance(tmu, torch.Tensor) and tmu.dtype == torch.float64
    np.testing.assert_allclose(tSigma.numpy(), Sigma, rtol=1e-6)
    np.testing.assert_array_equal(Sigma, Sigma.T)
    W = np.eye(3)
    assert in_distribution_bound(W, None, 0 * W, None, mu, Sigma) == pytest.approx(np.trace(Sigma), rel=1e-12)
    assert in_distribution_bound(W, None, 0 * W, None, mu, Sigma, L=0.5) == pytest.approx(np.trace(Sigma) / 4)
    assert qk.in_distribution_bound is in_distribution_bound and qk.check_in_distribution is check_in_distribution


def test_violation_flag_and_ratio_conventions():
    rng = np.random.default_rng(2)
    Wi, bi = layers(rng, 3, 4)
    Wj, bj = layers(rng, 3, 4)
    X = data(rng, 50, 4)
    mu, Sigma = moments(X)
    # moments of a shrunk distribution (0.5·x: still consistent) give a smaller right side: the flag fires
    r = check_in_distribution(Wi, bi, Wj, bj, X, "identity", stats=(0.5 * mu, 0.25 * Sigma))
    assert r["violation"] and r["ratio"] > 1
    same = check_in_distribution(Wi, bi, Wi, bi, X, "tanh")
    assert (same["lhs"], same["bound"], same["ratio"], same["violation"]) == (0.0, 0.0, 0.0, False)
    recs = check_in_distribution_batch(Wi, bi, Wj, bj, X, ["identity", "relu", "tanh"], stats=(mu, Sigma))
    assert [r["activation"] for r in recs] == ["identity", "relu", "tanh"]
    assert len({r["bound"] for r in recs}) == 1 and recs[0]["ratio"] == pytest.approx(1.0, rel=1e-12)


def test_filter_pairs_match_single_pair_checks():
    rng = np.random.default_rng(3)
    W, b = layers(rng, 6, 5)
    W[4] = W[1] * (1 + 1e-5)  # nearly equal filters: the Gram form cancels, the direct form is used
    b[4] = b[1]
    X = data(rng, 64, 5, shift=2.0)
    pairs = [(0, 1), (2, 5), (1, 4), (5, 0), (3, 3)]
    recs = check_filter_pairs(W, b, X, pairs, ["identity", "tanh"])
    assert len(recs) == 2 * len(pairs)
    for k, r in enumerate(recs):
        p, q = pairs[k % len(pairs)]
        assert (r["i"], r["j"], r["m"], r["activation"]) == (p, q, 1, ["identity", "tanh"][k // len(pairs)])
        one = check_in_distribution(W[p:p + 1], b[p:p + 1], W[q:q + 1], b[q:q + 1], X, r["activation"])
        assert r["lhs"] == pytest.approx(one["lhs"], rel=1e-10, abs=1e-18)
        assert r["bound"] == pytest.approx(one["bound"], rel=1e-7, abs=1e-18)
        assert not r["violation"]
        if r["activation"] == "identity" and r["bound"] > 0:
            assert r["ratio"] == pytest.approx(1.0, rel=1e-9)


# --------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 6), N=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1e-3, 1.0, 10.0]), shift=st.sampled_from([0.0, 1.0, 3.0]))
def test_bound_holds_and_identity_is_equality(m, n, N, seed, scale, shift):
    rng = np.random.default_rng(seed)
    Wi, bi = layers(rng, m, n, scale)
    Wj, bj = layers(rng, m, n, scale)
    X = data(rng, N, n, shift)
    mu, Sigma = moments(X)
    for act in ("identity", "relu", "tanh", "sigmoid", "gelu"):
        r = check_in_distribution(Wi, bi, Wj, bj, X, act, stats=(mu, Sigma))
        assert not r["violation"], (act, r["lhs"], r["bound"])
        assert r["lhs"] <= r["bound"] * (1 + 1e-9) + 1e-12
        if act == "identity":
            assert r["lhs"] == pytest.approx(r["bound"], rel=1e-9, abs=1e-300)


@settings(max_examples=25, deadline=None)
@given(C=st.integers(2, 7), n=st.integers(1, 5), N=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_filter_pairs_bound_holds(C, n, N, seed):
    rng = np.random.default_rng(seed)
    W, b = layers(rng, C, n)
    X = data(rng, N, n, 1.0)
    pairs = [(p, q) for p in range(C) for q in range(C) if p != q]
    for r in check_filter_pairs(W, b, X, pairs, ["identity", "relu", "tanh"]):
        assert not r["violation"]
        if r["activation"] == "identity":
            assert r["lhs"] == pytest.approx(r["bound"], rel=1e-9, abs=1e-300)


# --------------------------------------------------------------------------- convolutions
def _conv_from_patches(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    W, b = conv_operator(conv)
    P = conv_patches(conv, x).to(torch.float64)
    y = conv(x.to(conv.weight.dtype))
    B, out, H, Wd = y.shape
    return (P @ W.T + b).reshape(B, H * Wd, out).permute(0, 2, 1).reshape(B, out, H, Wd)


@pytest.mark.parametrize("kwargs", [
    dict(in_channels=1, out_channels=4, kernel_size=3),
    dict(in_channels=3, out_channels=5, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2)),
    dict(in_channels=2, out_channels=3, kernel_size=3, dilation=2, padding=2, bias=False),
    dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, padding=1),
    dict(in_channels=2, out_channels=2, kernel_size=(4, 3), padding="same"),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding="valid"),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode="reflect"),
    dict(in_channels=1, out_channels=2, kernel_size=(64, 1)),
], ids=lambda k: ",".join(f"{a}={v}" for a, v in k.items()))
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_patches_reproduce_the_conv(kwargs):
    torch.manual_seed(0)
    conv = nn.Conv2d(**kwargs).double()
    H = 70 if kwargs["kernel_size"] == (64, 1) else 9
    x = torch.randn(3, kwargs["in_channels"], H, 8 if H == 9 else 1, dtype=torch.float64)
    ref = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias, conv.stride, 0, conv.dilation,
                   conv.groups) if kwargs.get("padding_mode") == "reflect" else conv(x)
    torch.testing.assert_close(_conv_from_patches(conv, x), ref, rtol=1e-12, atol=1e-12)
    if conv.groups == 1:
        torch.testing.assert_close(conv_operator(conv)[0], conv.weight.flatten(1))


def test_layer_helpers_and_conv_bound_on_patches():
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 2, 6, 6)
    X = layer_inputs(conv, x)
    assert X.shape == (4 * 36, 18)
    W, b = layer_operator(conv)
    r = check_in_distribution(W, b, -W, b, X, "identity")
    assert r["ratio"] == pytest.approx(1.0, rel=1e-9)
    # the mean over patches of the identity gap is the mean over positions of the conv output gap
    with torch.no_grad():
        gap = ((2 * (conv(x) - conv.bias[None, :, None, None])) ** 2).sum(1).mean()
    assert r["lhs"] == pytest.approx(float(gap), rel=1e-5)
    lin = nn.Linear(5, 2)
    assert layer_inputs(lin, torch.zeros(2, 3, 5)).shape == (6, 5)
    torch.testing.assert_close(layer_operator(lin)[0], lin.weight.double())


# --------------------------------------------------------------------------- trained layers
def _lenet_inputs(n_images: int):
    from qkernels.nn.data import load_data
    from qkernels.nn.models import build_model

    net = build_model("lenet5-mnist")
    x = next(load_data("mnist5k").calib.with_stats((0.0,), (1.0,)).batches(n_images))[0]
    seen = {}
    mods = {k: m for k, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    hs = [m.register_forward_hook(lambda mod, a, o, k=k: seen.__setitem__(k, a[0].detach()) or None)
          for k, m in mods.items()]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    return mods, seen


def test_no_violation_on_trained_lenet_layers():
    mods, seen = _lenet_inputs(12)
    gen = torch.Generator().manual_seed(0)
    total = 0
    for name, mod in mods.items():
        X = layer_inputs(mod, seen[name]).double()
        if X.shape[0] > 1500:
            X = X[torch.randperm(X.shape[0], generator=gen)[:1500]]
        W, b = layer_operator(mod)
        st_ = moments(X)
        C = W.shape[0]
        pairs = [(p, q) for p in range(min(C, 12)) for q in range(p + 1, min(C, 12))]
        recs = check_filter_pairs(W, b, X, pairs, ["identity", "relu", "tanh"], stats=st_)
        noisy = W + 0.05 * W.std() * torch.randn(W.shape, generator=gen, dtype=torch.float64)
        recs += check_in_distribution_batch(W, b, noisy, b, X, ["identity", "relu", "tanh"], stats=st_)
        for r in recs:
            total += 1
            assert not r["violation"], (name, r)
            if r["activation"] == "identity":
                assert r["ratio"] == pytest.approx(1.0, rel=1e-9), (name, r)
            else:
                assert 0.0 <= r["ratio"] <= 1.0 + 1e-9
    assert total > 100


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("X, match", [
    (np.zeros(3), "at least 2 dimension"),
    (np.zeros((2, 3, 4)), r"shape \(N, n\)"),
    (np.zeros((0, 3)), "empty"),
    (np.zeros((3, 0)), "empty"),
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([[1.0, np.inf]]), "Inf"),
    (np.array([["a", "b"]]), "real numbers"),
    (np.zeros((2, 2), dtype=complex), "complex"),
])
def test_moments_refuses_bad_data(X, match):
    with pytest.raises(InputError, match=match):
        moments(X)


def test_bad_shapes_and_values_are_input_errors():
    rng = np.random.default_rng(0)
    W, b = layers(rng, 3, 4)
    X = data(rng, 10, 4)
    mu, Sigma = moments(X)
    cases = [
        (lambda: in_distribution_bound(W, b, W[:2], b[:2], mu, Sigma), "one shape"),
        (lambda: in_distribution_bound(W, b[:2], W, b, mu, Sigma), r"b must have shape \(3,\)"),
        (lambda: in_distribution_bound(W, b, W, b, mu[:3], Sigma), r"mu: expected shape \(4,\)"),
        (lambda: in_distribution_bound(W, b, W, b, mu, Sigma[:3, :3]), r"Sigma: expected shape \(4, 4\)"),
        (lambda: in_distribution_bound(W, b, W, b, mu, Sigma + np.triu(np.ones((4, 4)), 1)), "symmetric"),
        (lambda: in_distribution_bound(W, b, W, b, mu, Sigma, L=-1.0), "Lipschitz"),
        (lambda: in_distribution_bound(W, b, W, b, mu, Sigma * np.nan), "non-finite"),
        # a covariance passed as Σ with a large mean: Δb = −ΔW μ makes the right side negative
        (lambda: in_distribution_bound(W, -W @ (10 * np.ones(4)), 0 * W, 0 * b, 10 * np.ones(4),
                                       Sigma - np.outer(mu, mu)), "covariance"),
        (lambda: mean_gap(W, b, W, b, X[:, :3], "relu"), "rows of length 3"),
        (lambda: mean_gap(W, b, W, b, X, "swish"), "unknown activation"),
        (lambda: check_in_distribution(W, b, W, b, X, "relu", stats=(mu,)), "stats"),
        (lambda: check_filter_pairs(W, b, X, [(0, 3)], ["relu"]), "row indices"),
        (lambda: conv_patches(nn.Linear(2, 2), torch.zeros(1, 2)), "Conv2d"),
        (lambda: conv_patches(nn.Conv2d(2, 2, 1), torch.zeros(1, 3, 4, 4)), r"\(B, 2, H, W\)"),
        (lambda: layer_operator(nn.ReLU()), "Linear or nn.Conv2d"),
        (lambda: layer_inputs(nn.Linear(3, 2), torch.zeros(2, 4)), r"\(\.\.\., 3\)"),
    ]
    for fn, match in cases:
        with pytest.raises(InputError, match=match):
            fn()
