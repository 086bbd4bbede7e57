"""Tests of qkernels.geometry.spectral: augmented matrices, spectra, states.

References are independent: the augmented matrix is built with ``np.block``, singular values
come from ``numpy.linalg.svd`` / ``scipy.linalg.svdvals`` or from a matrix built with known
singular values, and theory facts are checked numerically.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.geometry.spectral import (
    augmented,
    augmented_tensor,
    choose_method,
    operator_spectra,
    spectrum,
    spectrum_tensor,
    state,
)

METHODS = ("svd", "gram", "auto")
HYP = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- references
def ref_augmented(W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    m, n = W.shape
    b = np.zeros(m) if b is None else b
    return np.block([[W, b[:, None]], [np.zeros((1, n)), np.ones((1, 1))]])


def ref_svals(A: np.ndarray) -> np.ndarray:
    return np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)


def with_singular_values(rng, m: int, n: int, s: np.ndarray) -> np.ndarray:
    """An m x n matrix whose singular values are exactly ``s`` (up to rounding of the product)."""
    k = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, k)))
    V, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return (U * s) @ V.T


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# --------------------------------------------------------------------------- augmented
def test_augmented_layout_numpy(rng):
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    A = augmented(W, b)
    assert isinstance(A, np.ndarray)
    assert A.dtype == np.float64
    assert A.shape == (4, 5)
    np.testing.assert_array_equal(A, ref_augmented(W, b))
    # explicit layout, cell by cell
    np.testing.assert_array_equal(A[:3, :4], W)
    np.testing.assert_array_equal(A[:3, 4], b)
    np.testing.assert_array_equal(A[3, :4], 0.0)
    assert A[3, 4] == 1.0


def test_augmented_layout_torch_float32(rng):
    W = torch.from_numpy(rng.standard_normal((5, 2)).astype(np.float32))
    b = torch.from_numpy(rng.standard_normal(5).astype(np.float32))
    A = augmented(W, b)
    assert isinstance(A, torch.Tensor)
    assert A.dtype == torch.float32
    assert A.shape == (6, 3)
    np.testing.assert_array_equal(A.numpy(), ref_augmented(W.numpy().astype(np.float64), b.numpy().astype(np.float64)).astype(np.float32))


def test_augmented_does_not_modify_or_alias_input(rng):
    W, b = rng.standard_normal((3, 3)), rng.standard_normal(3)
    W0, b0 = W.copy(), b.copy()
    A = augmented(W, b)
    A[...] = 7.0
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_augmented_b_none_is_zero_bias(rng, kind):
    W = rng.standard_normal((4, 3))
    Win = W if kind == "numpy" else torch.from_numpy(W)
    A = augmented(Win)
    A = A if kind == "numpy" else A.numpy()
    np.testing.assert_array_equal(A, ref_augmented(W, np.zeros(4)))
    np.testing.assert_array_equal(A[:4, 3], 0.0)


def test_augmented_batched(rng):
    W, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4))
    A = augmented(W, b)
    assert A.shape == (2, 3, 5, 6)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(A[i, j], ref_augmented(W[i, j], b[i, j]))
    # b=None batched
    A0 = augmented(torch.from_numpy(W))
    assert A0.shape == (2, 3, 5, 6)
    np.testing.assert_array_equal(A0[1, 2].numpy(), ref_augmented(W[1, 2], None))


def test_augmented_batch_broadcasting(rng):
    W, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 4))
    A = augmented(W, b)
    assert A.shape == (3, 5, 6)
    for j in range(3):
        np.testing.assert_array_equal(A[j], ref_augmented(W, b[j]))
    W2 = rng.standard_normal((2, 1, 4, 5))
    A2 = augmented(W2, b)
    assert A2.shape == (2, 3, 5, 6)
    np.testing.assert_array_equal(A2[1, 2], ref_augmented(W2[1, 0], b[2]))


def test_augmented_tensor_is_the_one_builder(rng):
    W, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4))
    A = augmented_tensor(torch.from_numpy(W), torch.from_numpy(b))
    assert torch.equal(A, augmented(torch.from_numpy(W), torch.from_numpy(b)))
    for i in range(3):
        np.testing.assert_array_equal(A[i].numpy(), ref_augmented(W[i], b[i]))
    assert torch.equal(augmented_tensor(torch.from_numpy(W)), augmented(torch.from_numpy(W)))
    A32 = augmented_tensor(torch.ones(2, 2, dtype=torch.float32), torch.ones(2, dtype=torch.float64))
    assert A32.dtype == torch.float64


def test_augmented_promotes_dtypes(rng):
    W32 = torch.from_numpy(rng.standard_normal((2, 2)).astype(np.float32))
    b64 = torch.from_numpy(rng.standard_normal(2))
    A = augmented(W32, b64)
    assert A.dtype == torch.float64
    np.testing.assert_array_equal(A[:2, 2].numpy(), b64.numpy())
    # integer and boolean input become float64
    Ai = augmented(np.array([[1, 2], [3, 4]]), np.array([5, 6]))
    assert Ai.dtype == np.float64
    np.testing.assert_array_equal(Ai, [[1, 2, 5], [3, 4, 6], [0, 0, 1]])
    At = augmented(torch.tensor([[1, 0], [0, 1]]), torch.tensor([True, False]))
    assert At.dtype == torch.float64
    np.testing.assert_array_equal(At.numpy(), [[1, 0, 1], [0, 1, 0], [0, 0, 1]])
    # numpy float32 with float64 bias -> float64
    An = augmented(np.ones((2, 2), dtype=np.float32), np.ones(2))
    assert An.dtype == np.float64


@pytest.mark.parametrize(
    "W, b, name",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), None, "W"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), None, "W"),
        (np.eye(2), np.array([np.nan, 0.0]), "b"),
        (np.eye(2), np.array([-np.inf, 0.0]), "b"),
        (np.zeros((0, 3)), None, "W"),
        (np.zeros((3, 0)), None, "W"),
        (np.zeros((2, 0, 3)), None, "W"),
        (np.ones(3), None, "W"),
        (np.ones((2, 2), dtype=complex), None, "W"),
        (torch.ones(2, 2, dtype=torch.complex64), None, "W"),
        (np.eye(2), np.ones(2, dtype=complex), "b"),
        (np.eye(2), np.ones(3), "b"),
        (np.eye(2), np.ones(1), "b"),
        (np.eye(2), np.zeros(0), "b"),
        (np.ones((2, 3, 3)), np.ones((5, 3)), "W and b"),
        (np.array([["a", "b"], ["c", "d"]]), None, "W"),
    ],
)
def test_augmented_bad_input(W, b, name):
    with pytest.raises(InputError, match=rf"^{name}\b") as info:
        augmented(W, b)
    assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------- spectrum
SHAPES = [(1, 1), (1, 6), (6, 1), (5, 3), (3, 5), (8, 8), (20, 39), (20, 41), (70, 70), (40, 130), (130, 40)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", SHAPES)
def test_spectrum_matches_numpy_and_scipy(rng, method, shape):
    A = rng.standard_normal(shape) * 3.0
    ref_np = ref_svals(A)
    ref_sp = scipy.linalg.svdvals(A)
    s = spectrum(A, method=method)
    assert isinstance(s, np.ndarray) and s.dtype == np.float64
    assert s.shape == (min(shape),)
    smax = ref_np[0]
    # Gaussian matrices: the Gram route's error eps*smax^2/sigma_k stays far below 1e-10*smax
    # unless sigma_k is tiny; use the worst-case bound for the Gram route, tight for SVD.
    tol = 1e-13 * smax if method == "svd" else 1e-7 * smax
    np.testing.assert_allclose(s, ref_np, rtol=0, atol=tol)
    np.testing.assert_allclose(s, ref_sp, rtol=0, atol=tol)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (64, 80), (200, 30)])
def test_spectrum_well_conditioned_known_values(rng, method, shape):
    """A matrix built with known singular values in [1, 10]: every route is accurate to ~1e-13 relative."""
    k = min(shape)
    s_true = np.sort(rng.uniform(1.0, 10.0, k))[::-1]
    A = with_singular_values(rng, *shape, s_true)
    s = spectrum(torch.from_numpy(A), method=method)
    assert isinstance(s, torch.Tensor) and s.dtype == torch.float64
    np.testing.assert_allclose(s.numpy(), s_true, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape", [(30, 30), (50, 12), (12, 50), (100, 100)])
def test_spectrum_gram_worst_case_rank_deficient(rng, shape):
    """Rank-deficient (sigma_k = 0): the Gram route's zeros are only good to ~sqrt(eps)*smax."""
    m, n = shape
    r = min(m, n) // 3
    A = rng.standard_normal((m, r)) @ rng.standard_normal((r, n)) * 1e3
    ref = ref_svals(A)
    smax = ref[0]
    s_gram = spectrum(A, method="gram")
    s_svd = spectrum(A, method="svd")
    np.testing.assert_allclose(s_gram, ref, rtol=0, atol=1e-7 * smax)
    np.testing.assert_allclose(s_svd, ref, rtol=0, atol=1e-13 * smax)
    # the nonzero part is accurate in relative terms
    np.testing.assert_allclose(s_gram[:r], ref[:r], rtol=1e-9)
    assert np.all(s_gram >= 0)


def test_spectrum_gram_tiny_and_huge_scales(rng):
    A = rng.standard_normal((7, 5))
    for scale in (1e-150, 1e-30, 1e30, 1e150):
        ref = ref_svals(A * scale)
        for method in METHODS:
            s = spectrum(A * scale, method=method)
            np.testing.assert_allclose(s, ref, rtol=1e-10, err_msg=f"{method} at scale {scale}")


@pytest.mark.parametrize("method", METHODS)
def test_spectrum_descending_nonnegative(rng, method):
    A = rng.standard_normal((4, 40, 25))
    s = spectrum(A, method=method)
    assert np.all(np.diff(s, axis=-1) <= 0)
    assert np.all(s >= 0)
    # a diagonal matrix given in ascending order comes back descending
    d = np.arange(1.0, 9.0)
    np.testing.assert_allclose(spectrum(np.diag(d), method=method), d[::-1], rtol=1e-14)


@pytest.mark.parametrize("method", METHODS)
def test_spectrum_batched(rng, method):
    A = rng.standard_normal((2, 3, 6, 4))
    s = spectrum(torch.from_numpy(A), method=method)
    assert s.shape == (2, 3, 4)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(s[i, j].numpy(), ref_svals(A[i, j]), rtol=0, atol=1e-12 * ref_svals(A[i, j])[0])


@pytest.mark.parametrize("method", METHODS)
def test_spectrum_float32(rng, method):
    A = rng.standard_normal((9, 17)).astype(np.float32)
    s = spectrum(A, method=method)
    assert s.dtype == np.float32
    ref = ref_svals(A.astype(np.float64))
    np.testing.assert_allclose(s, ref, rtol=0, atol=1e-5 * ref[0])
    st_ = spectrum(torch.from_numpy(A), method=method)
    assert st_.dtype == torch.float32


def test_spectrum_tensor_matches(rng):
    A = torch.from_numpy(rng.standard_normal((3, 12, 5)))
    for method in METHODS:
        np.testing.assert_allclose(
            spectrum_tensor(A, method).numpy(), np.stack([ref_svals(a) for a in A.numpy()]), atol=1e-7 * 10
        )
    with pytest.raises(InputError, match="method"):
        spectrum_tensor(A, "eig")


def test_choose_method_thresholds():
    assert choose_method(513, 4609) == "gram"
    assert choose_method(4609, 513) == "gram"
    assert choose_method(10, 10) == "svd"
    assert choose_method(63, 63) == "svd"
    assert choose_method(64, 64) == "gram"
    assert choose_method(20, 40) == "gram"
    assert choose_method(20, 39) == "svd"
    assert choose_method(1, 2) == "gram"
    assert choose_method(1, 1) == "svd"


@pytest.mark.parametrize(
    "A, method, name",
    [
        (np.array([[np.nan, 1.0], [0.0, 1.0]]), "auto", "A"),
        (np.array([[np.inf, 1.0], [0.0, 1.0]]), "svd", "A"),
        (np.zeros((0, 2)), "auto", "A"),
        (np.ones(4), "auto", "A"),
        (np.ones((2, 2), dtype=np.complex128), "auto", "A"),
        (torch.ones(2, 2, dtype=torch.complex128), "svd", "A"),
        (np.eye(3), "eig", "method"),
        (np.eye(3), "SVD", "method"),
        (np.eye(3), None, "method"),
    ],
)
def test_spectrum_bad_input(A, method, name):
    with pytest.raises(InputError, match=rf"^{name}\b") as info:
        spectrum(A, method=method)
    assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------- state
def test_state_unit_norm_and_direction(rng):
    s = np.abs(rng.standard_normal((3, 4, 7))) * 5
    psi = state(s)
    assert isinstance(psi, np.ndarray)
    np.testing.assert_allclose(np.linalg.norm(psi, axis=-1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(psi, s / np.linalg.norm(s, axis=-1, keepdims=True), rtol=1e-15)
    pt = state(torch.tensor([3.0, 4.0]))
    assert isinstance(pt, torch.Tensor) and pt.dtype == torch.float32
    np.testing.assert_allclose(pt.numpy(), [0.6, 0.8], rtol=1e-7)
    # extreme scales do not overflow/underflow
    for scale in (1e-200, 1e200):
        np.testing.assert_allclose(state(np.array([3.0, 4.0]) * scale), [0.6, 0.8], rtol=1e-14)


@pytest.mark.parametrize("s", [np.array(5.0), torch.tensor(5.0), np.zeros(3), np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([np.nan, 1.0]), np.zeros(0), np.array([1j, 1.0])])
def test_state_bad_input(s):
    with pytest.raises(InputError, match=r"^s\b"):
        state(s)


# --------------------------------------------------------------------------- theory facts
@pytest.mark.parametrize("method", METHODS)
def test_augmented_spectrum_never_all_zero(rng, method):
    cases = [(np.zeros((3, 4)), np.zeros(3)), (np.zeros((1, 1)), None)]
    cases += [(rng.standard_normal((m, n)) * sc, rng.standard_normal(m) * sc) for m, n, sc in [(3, 5, 1e-12), (6, 2, 1.0), (4, 4, 1e6)]]
    for W, b in cases:
        s = spectrum(augmented(W, b), method=method)
        # smax(Â) >= ‖Â e_{n+1}‖ >= 1
        assert s[0] >= 1 - 1e-12
        np.testing.assert_allclose(s, ref_svals(ref_augmented(W, b)), rtol=0, atol=1e-7 * s[0])
    # zero operator: spectrum is exactly (1, 0, ..., 0) up to rounding
    s0 = spectrum(augmented(np.zeros((3, 4))), method=method)
    np.testing.assert_allclose(s0, [1, 0, 0, 0], atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_norm_of_spectrum_is_frobenius(rng, method):
    for m, n in [(3, 7), (16, 16), (50, 9)]:
        W, b = rng.standard_normal((m, n)), rng.standard_normal(m)
        s = spectrum(augmented(W, b), method=method)
        fro = np.linalg.norm(ref_augmented(W, b), "fro")
        assert np.linalg.norm(s) == pytest.approx(fro, rel=1e-13)
        psi = state(s)
        np.testing.assert_allclose(psi, s / fro, rtol=1e-12)


@pytest.mark.parametrize("pad", [(0, 3), (2, 0), (5, 7)])
def test_zero_padding_leaves_norm_and_fs_unchanged(rng, pad):
    m, n = 4, 6
    W, b = rng.standard_normal((m, n)), rng.standard_normal(m)
    W3, b3 = rng.standard_normal((m + pad[0], n + pad[1])), rng.standard_normal(m + pad[0])
    Wp = np.zeros((m + pad[0], n + pad[1]))
    Wp[:m, :n] = W
    bp = np.zeros(m + pad[0])
    bp[:m] = b
    s = spectrum(augmented(W, b), method="svd")
    sp = spectrum(augmented(Wp, bp), method="svd")
    k = len(s)
    assert len(sp) == min(m + pad[0], n + pad[1]) + 1
    # spectrum = s followed by zeros
    np.testing.assert_allclose(sp[:k], s, rtol=1e-13)
    np.testing.assert_allclose(sp[k:], 0.0, atol=1e-13 * s[0])
    # the auto route (possibly Gram) has zeros only to ~sqrt(eps)*smax
    np.testing.assert_allclose(spectrum(augmented(Wp, bp))[k:], 0.0, atol=1e-7 * s[0])
    assert np.linalg.norm(sp) == pytest.approx(np.linalg.norm(s), rel=1e-14)
    # d_FS to a third operator of the padded shape is unchanged (numpy arccos reference)
    s3 = ref_svals(ref_augmented(W3, b3))
    psi, psip, psi3 = s / np.linalg.norm(s), sp / np.linalg.norm(sp), s3 / np.linalg.norm(s3)
    psi_zp = np.concatenate([psi, np.zeros(len(psi3) - len(psi))])
    th = np.arccos(np.clip(psi_zp @ psi3, -1, 1))
    thp = np.arccos(np.clip(psip @ psi3, -1, 1))
    assert thp == pytest.approx(th, abs=1e-12)
    # and the padded operator is at distance 0 from the original
    assert np.linalg.norm(psi_zp - psip) < 1e-13


# --------------------------------------------------------------------------- operator_spectra
def test_operator_spectra_matches_reference(rng):
    ops = [
        SimpleNamespace(name="a", W=torch.from_numpy(rng.standard_normal((3, 5))), b=torch.from_numpy(rng.standard_normal(3))),
        SimpleNamespace(name="b", W=torch.from_numpy(rng.standard_normal((8, 2))), b=None),
        SimpleNamespace(name="c", W=torch.from_numpy(rng.standard_normal((3, 5))), b=None),
        SimpleNamespace(name="d", W=torch.from_numpy(rng.standard_normal((3, 5)).astype(np.float32)),
                        b=torch.from_numpy(rng.standard_normal(3).astype(np.float32))),
        SimpleNamespace(name="e", W=torch.from_numpy(rng.standard_normal((70, 90))), b=torch.from_numpy(rng.standard_normal(70))),
    ]
    for method in METHODS:
        out = operator_spectra(ops, method=method)
        assert len(out) == len(ops)
        for op, s in zip(ops, out):
            assert isinstance(s, torch.Tensor) and s.dtype == torch.float64 and s.device.type == "cpu"
            Wn = op.W.double().numpy()
            bn = None if op.b is None else op.b.double().numpy()
            ref = ref_svals(ref_augmented(Wn, bn))
            tol = 1e-13 if method == "svd" else 1e-7
            np.testing.assert_allclose(s.numpy(), ref, rtol=0, atol=tol * ref[0], err_msg=op.name)
            # and the same as the single-operator route
            single = spectrum(augmented(op.W.double(), None if op.b is None else op.b.double()), method=method)
            np.testing.assert_allclose(s.numpy(), single.numpy(), rtol=0, atol=1e-12 * ref[0])
    out32 = operator_spectra(ops, dtype=torch.float32)
    assert all(s.dtype == torch.float32 for s in out32)
    np.testing.assert_allclose(out32[0].numpy(), ref_svals(ref_augmented(ops[0].W.numpy(), ops[0].b.numpy())), rtol=1e-5)


def test_operator_spectra_bad_input(rng):
    good = SimpleNamespace(name="good", W=torch.ones(2, 2), b=None)
    W = torch.ones(2, 2)
    W[0, 1] = float("nan")
    with pytest.raises(InputError, match="'nanop'"):
        operator_spectra([good, SimpleNamespace(name="nanop", W=W, b=None)])
    with pytest.raises(InputError, match="'infbias'"):
        operator_spectra([good, SimpleNamespace(name="infbias", W=torch.ones(2, 2), b=torch.tensor([0.0, float("inf")]))])
    with pytest.raises(InputError, match="'vec'"):
        operator_spectra([SimpleNamespace(name="vec", W=torch.ones(3), b=None)])
    with pytest.raises(InputError, match="'empty'"):
        operator_spectra([SimpleNamespace(name="empty", W=torch.ones(0, 3), b=None)])
    with pytest.raises(InputError, match="'cplx'"):
        operator_spectra([SimpleNamespace(name="cplx", W=torch.ones(2, 2, dtype=torch.complex64), b=None)])
    with pytest.raises(InputError, match="method"):
        operator_spectra([good], method="qr")


# --------------------------------------------------------------------------- property-based
@st.composite
def matrices(draw):
    m = draw(st.integers(1, 12))
    n = draw(st.integers(1, 12))
    rank = draw(st.integers(0, min(m, n)))
    log_scale = draw(st.floats(-4, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    W = r.standard_normal((m, rank)) @ r.standard_normal((rank, n)) * 10.0**log_scale
    b = r.standard_normal(m) * 10.0 ** draw(st.floats(-4, 4)) if draw(st.booleans()) else None
    return W, b


@HYP
@given(matrices())
def test_property_spectrum_of_augmented(Wb):
    W, b = Wb
    A_ref = ref_augmented(W, b)
    ref = ref_svals(A_ref)
    fro = np.linalg.norm(A_ref, "fro")
    A = augmented(W, b)
    np.testing.assert_array_equal(A, A_ref)
    for method in METHODS:
        s = spectrum(A, method=method)
        tol = 1e-13 if method == "svd" else 1e-7
        np.testing.assert_allclose(s, ref, rtol=0, atol=tol * ref[0])
        assert s[0] >= 1 - 1e-12
        assert np.all(np.diff(s) <= 0)
        assert np.linalg.norm(s) == pytest.approx(fro, rel=1e-12)
        psi = state(s)
        assert np.linalg.norm(psi) == pytest.approx(1.0, abs=1e-14)
