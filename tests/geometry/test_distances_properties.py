"""Tests of qkernels.geometry.distances: output kinds and dtypes, bad input, property-based checks
(metric axioms, agreement with POT, near-duplicates) and regressions (the distances against their
references: test_distances.py)."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.geometry.distances import (
    UNIT_TOL,
    check_states,
    fs_distance,
    pairwise_fs,
    pairwise_w2_cumulative,
    w1_cumulative,
    w2_cumulative,
    w2_empirical,
)
from tests.geometry.reference import (
    HYP,
    assert_w2sq_close,
    fs_arccos,
    fs_mp,
    pot_w1,
    pot_w2sq,
    rand_state,
    spectrum_of,
    unit,
    zpad,
)


# --------------------------------------------------------------------------- kinds and dtypes
def test_output_kind_follows_input(rng):
    a, b = rand_state(rng, 5), rand_state(rng, 5)
    P = np.stack([a, b])
    for f in (fs_distance, w2_cumulative, w1_cumulative, w2_empirical):
        r_np = f(a, b)
        assert isinstance(r_np, np.ndarray | np.floating) and not isinstance(r_np, torch.Tensor)
        r_t = f(torch.from_numpy(a), torch.from_numpy(b))
        assert isinstance(r_t, torch.Tensor) and r_t.dtype == torch.float64 and r_t.ndim == 0
        assert float(r_t) == pytest.approx(float(r_np), rel=1e-15, abs=1e-300)
    for f in (pairwise_fs, pairwise_w2_cumulative):
        assert isinstance(f(P), np.ndarray)
        assert isinstance(f(torch.from_numpy(P)), torch.Tensor)


def test_float32(rng):
    A = np.stack([rand_state(rng, 7) for _ in range(5)])
    A32 = torch.from_numpy(A.astype(np.float32))
    a, b = A32[0], A32[1]
    for f, ref in [
        (fs_distance, fs_arccos(A[0], A[1])),
        (w2_cumulative, math.sqrt(pot_w2sq(A[0], A[1]))),
        (w1_cumulative, pot_w1(A[0], A[1])),
        (w2_empirical, math.sqrt(ot.wasserstein_1d(A[0], A[1], p=2))),
    ]:
        r = f(a, b)
        assert r.dtype == torch.float32
        assert float(r) == pytest.approx(ref, abs=2e-5)
    D = pairwise_fs(A32)
    assert D.dtype == torch.float32
    ref = np.array([[fs_arccos(x, y) for y in A] for x in A])
    np.testing.assert_allclose(D.numpy(), ref, atol=1e-3)  # float32 Gram + arccos away from 0
    np.testing.assert_array_equal(np.diag(D.numpy()), 0.0)
    W = pairwise_w2_cumulative(A32, squared=True)
    assert W.dtype == torch.float32
    ref = np.array([[pot_w2sq(x, y) for y in A] for x in A])
    np.testing.assert_allclose(W.numpy(), ref, atol=1e-6)
    # float32 numpy input stays float32
    assert w2_cumulative(A[0].astype(np.float32), A[1].astype(np.float32)).dtype == np.float32


def test_unit_tolerance_depends_on_dtype():
    v = np.array([1.0 + 5e-6, 0.0])  # off by 5e-6: too far in float64, fine in float32
    assert UNIT_TOL[torch.float64] < 5e-6 < UNIT_TOL[torch.float32]
    with pytest.raises(InputError, match="unit"):
        fs_distance(v, np.array([0.0, 1.0]))
    r = fs_distance(torch.tensor(v, dtype=torch.float32), torch.tensor([0.0, 1.0]))
    assert float(r) == pytest.approx(math.pi / 2, abs=1e-5)  # the input is off by 5e-6
    t, kind = check_states([0.6, 0.8], "psi")
    assert kind == "numpy" and t.dtype == torch.float64


# --------------------------------------------------------------------------- bad input
STATE_FUNCS = [fs_distance, w2_cumulative, w1_cumulative]


@pytest.mark.parametrize("f", STATE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "a, b, name",
    [
        (np.array([1.0, 1.0]), np.array([1.0, 0.0]), "psi_a"),
        (np.array([1.0, 0.0]), np.array([0.5, 0.0]), "psi_b"),
        (np.array([0.0, 0.0]), np.array([1.0, 0.0]), "psi_a"),
        (np.array([np.nan, 1.0]), np.array([1.0, 0.0]), "psi_a"),
        (np.array([1.0, 0.0]), np.array([np.inf, 0.0]), "psi_b"),
        (np.zeros(0), np.array([1.0]), "psi_a"),
        (np.array([1.0 + 0j, 0.0]), np.array([1.0, 0.0]), "psi_a"),
        (np.eye(3)[:2], np.eye(3), "psi_a and psi_b"),
        (np.array(1.0), np.array([1.0]), "psi_a"),
        (np.array(["a", "b"]), np.array([1.0, 0.0]), "psi_a"),
    ],
)
def test_state_functions_bad_input(f, a, b, name):
    with pytest.raises(InputError, match=rf"^{name}\b") as info:
        f(a, b)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("f", [pairwise_fs, pairwise_w2_cumulative], ids=lambda f: f.__name__)
def test_pairwise_bad_input(f):
    good = np.eye(3)
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.array([[1.0, 1.0]]))
    with pytest.raises(InputError, match="^Psi_b"):
        f(good, np.array([[1.0, 1.0]]))
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.array([1.0, 0.0]))  # 1-D
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.eye(2)[None])  # 3-D
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.array([[np.nan, 1.0]]))
    with pytest.raises(InputError, match="^Psi_b"):
        f(good, np.zeros((0, 3)))
    with pytest.raises(InputError, match="^Psi_a"):
        f(np.eye(2, dtype=complex))


def test_w2_empirical_bad_input():
    with pytest.raises(InputError, match=r"^u\b"):
        w2_empirical(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(InputError, match=r"^v\b"):
        w2_empirical(np.array([1.0]), np.zeros(0))
    with pytest.raises(InputError, match=r"^u\b"):
        w2_empirical(np.array([1j]), np.array([1.0]))
    with pytest.raises(InputError, match="broadcast"):
        w2_empirical(np.ones((2, 3)), np.ones((4, 3)))
    # non-unit vectors are allowed here (raw spectra)
    assert float(w2_empirical(np.array([3.0]), np.array([1.0]))) == pytest.approx(2.0)


# --------------------------------------------------------------------------- property-based
@st.composite
def spectral_states(draw, max_n: int = 12):
    """States of spectra of random low-rank operators of random shape and scale."""
    m = draw(st.integers(1, max_n - 1))
    n = draw(st.integers(1, max_n - 1))
    rank = draw(st.integers(0, min(m, n)))
    scale = 10.0 ** draw(st.floats(-3, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return unit(spectrum_of(np.random.default_rng(seed), m, n, rank=rank, scale=scale))


@st.composite
def near_duplicate(draw):
    psi = draw(spectral_states())
    eps = 10.0 ** draw(st.floats(-12, -2))
    seed = draw(st.integers(0, 2**32 - 1))
    d = np.random.default_rng(seed).standard_normal(len(psi))
    return psi, unit(np.abs(psi + eps * d))


@HYP
@given(spectral_states(), spectral_states(), spectral_states())
def test_property_metric_axioms(a, b, c):
    n = max(len(a), len(b), len(c))
    a, b, c = zpad(a, n), zpad(b, n), zpad(c, n)
    dab, dba = float(fs_distance(a, b)), float(fs_distance(b, a))
    dbc, dac = float(fs_distance(b, c)), float(fs_distance(a, c))
    assert dab == dba
    assert 0 <= dab <= math.pi / 2
    assert float(fs_distance(a, a)) == 0.0
    assert dac <= dab + dbc + 1e-12
    assert dab == pytest.approx(fs_mp(a, b), abs=1e-13)
    w = {k: float(w2_cumulative(x, y)) for k, (x, y) in {"ab": (a, b), "ba": (b, a), "bc": (b, c), "ac": (a, c)}.items()}
    assert w["ab"] == pytest.approx(w["ba"], rel=1e-12, abs=1e-15)
    assert min(w.values()) >= 0
    assert float(w2_cumulative(a, a)) == 0.0
    assert w["ac"] <= w["ab"] + w["bc"] + 1e-7  # W2 has a sqrt(roundoff) floor near 0
    w1 = {k: float(w1_cumulative(x, y)) for k, (x, y) in {"ab": (a, b), "bc": (b, c), "ac": (a, c)}.items()}
    assert w1["ac"] <= w1["ab"] + w1["bc"] + 1e-14
    # theory bounds
    tv = 0.5 * np.sum(np.abs(a**2 - b**2))
    assert tv <= math.sin(dab) * (1 + 1e-12) + 1e-15
    assert w["ab"] <= math.sqrt(math.sin(dab)) * (1 + 1e-9) + 1e-8
    # pairwise agrees with the single pairs
    D = pairwise_fs(np.stack([a, b, c]))
    np.testing.assert_allclose(D[0, 1:], [dab, dac], atol=1e-13)
    W = pairwise_w2_cumulative(np.stack([a, b, c]))
    np.testing.assert_allclose(W[0, 1:], [w["ab"], w["ac"]], rtol=1e-10, atol=1e-12)


@HYP
@given(spectral_states(), spectral_states())
def test_property_agreement_with_pot(a, b):
    got = float(w2_cumulative(a, b, squared=True))
    assert_w2sq_close(got, pot_w2sq(a, b, "wasserstein_1d"))
    assert_w2sq_close(got, pot_w2sq(a, b, "emd2_1d"))
    assert float(w1_cumulative(a, b)) == pytest.approx(pot_w1(a, b), rel=1e-12, abs=1e-15)
    n = max(len(a), len(b))
    assert float(w2_empirical(a, b)) == pytest.approx(
        math.sqrt(ot.wasserstein_1d(zpad(a, n), zpad(b, n), p=2)), rel=1e-12, abs=1e-15
    )


@HYP
@given(near_duplicate())
def test_property_near_duplicates(pair):
    a, b = pair
    ref = fs_mp(a, b)
    assume(ref > 0)
    got = float(fs_distance(a, b))
    assert abs(got - ref) <= 1e-15 + 1e-6 * ref
    D = pairwise_fs(np.stack([a, b]))
    assert abs(D[0, 1] - ref) <= 1e-15 + 1e-6 * ref
    assert D[0, 1] == D[1, 0]
    w2sq = float(w2_cumulative(a, b, squared=True))
    ref_w = pot_w2sq(a, b, "wasserstein_1d")
    assert abs(w2sq - ref_w) <= 1e-12 * ref_w + 1e-15


def test_pairwise_fs_row_first_search_finds_every_near_duplicate():
    """Near-duplicates off the diagonal (and the diagonal) are refined exactly as one pair at a time."""
    from qkernels.geometry.distances import _near_one

    g = torch.Generator().manual_seed(5)
    base = torch.randn(6, 9, dtype=torch.float64, generator=g).abs()
    rows = [base[0], base[0] + 1e-9, base[1], base[2], base[2] * 3, base[3] + 1e-6, base[4], base[5]]
    P = torch.stack([r / r.norm() for r in rows])
    D = pairwise_fs(P)
    for i in range(len(P)):
        for j in range(len(P)):
            assert float(D[i, j]) == pytest.approx(float(fs_distance(P[i], P[j])), abs=1e-13)
    assert float(D.diagonal().abs().max()) == 0.0
    G = (P @ P.T).abs()
    for thr in (0.5, 0.99, 1 - 1e-4):
        got = {tuple(x) for x in _near_one(G, thr).tolist()}
        assert got == {tuple(x) for x in (G > thr).nonzero().tolist()}
    assert _near_one(torch.zeros(3, 4, dtype=torch.float64), 0.5).shape == (0, 2)
    D2 = pairwise_fs(P, P[:3])  # not symmetric: the diagonal is refined like every near pair
    assert float(D2[0, 0]) == 0.0 and float(D2[1, 0]) == pytest.approx(float(fs_distance(P[1], P[0])), abs=1e-13)


def test_w2_symmetric_when_cdf_ties_differ_in_low_part():
    # Found by hypothesis: b's CDF reaches 1 only in its low part, so sorting by the high part
    # alone ordered ties differently for (a, b) and (b, a) and gave W₂² asymmetric.
    a = np.eye(8)[0]
    b = np.array([0.9999991157541385, 9.654287231280872e-05, 0.000667939322168443, 0.0009940779626827455,
                  0.00023676628668840169, 0.0005184382380776359, 1.1120903913900046e-18, 1.3446534880410004e-19])
    ab, ba = float(w2_cumulative(a, b, squared=True)), float(w2_cumulative(b, a, squared=True))
    assert ab == pytest.approx(ba, rel=1e-14, abs=0)  # 3.9e-10 apart (relative) before the fix
    assert float(pairwise_w2_cumulative(np.stack([a, b]), squared=True)[0, 1]) == pytest.approx(ab, rel=1e-13, abs=0)
