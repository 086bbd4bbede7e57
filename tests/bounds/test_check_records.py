"""Tests of qkernels.bounds.check: the record's contents, input validation, determinism and the
analytic gradient of the left-hand-side search (the bounds themselves: test_check.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from qkernels.bounds.check import ALL_BOUNDS, FALSE_BOUNDS, TRUE_BOUNDS, check_bounds, check_bounds_batch
from qkernels.core.errors import InputError
from tests.bounds.reference import ACTS, CFG, FAST, NP_L, RECORD_COLUMNS, make_pairs, np_gap, ref_quantities, run_batch


# --------------------------------------------------------------------------- record contents
def test_record_has_all_columns(generated):
    r = generated[0][3][0]
    for k in RECORD_COLUMNS:
        assert k in r, k
    for name in ALL_BOUNDS:
        for k in (name, f"ratio_{name}", f"viol_{name}"):
            assert k in r, k
        assert isinstance(r[f"viol_{name}"], bool)
    assert set(TRUE_BOUNDS) == {"lipschitz", "lipschitz_op", "augmented", "decomposed_inf", "decomposed_2",
                                "decomposed_theta"}
    assert set(FALSE_BOUNDS) == {"paper_spectral", "paper_generous"}
    assert r["dtype"] == "float64" and r["L"] == NP_L[r["activation"]]
    assert isinstance(r["x"], torch.Tensor) and r["x"].dtype == torch.float64 and r["x"].ndim == 1
    for k in RECORD_COLUMNS:
        if k not in ("activation", "dtype", "x"):
            assert math.isfinite(float(r[k])), k


def test_batch_order_and_chunking():
    pairs = make_pairs("independent", 5, 6, 5, seed=12)
    acts, radii = ["tanh", "relu"], [0.5, 3.0]
    rows = run_batch(pairs, acts=acts, radii=radii)
    assert len(rows) == len(pairs) * len(acts) * len(radii)
    i = 0
    for R in radii:
        for act in acts:
            for p in range(len(pairs)):
                r = rows[i]
                assert (r["R"], r["activation"], r["pair"]) == (R, act, p)
                q = ref_quantities(*pairs[p])
                assert r["a_i"] == pytest.approx(q["a_i"], rel=1e-12) and r["dA_op"] == pytest.approx(q["dA_op"], rel=1e-10)
                assert np_gap(*pairs[p], act, r["x"].numpy()) == pytest.approx(r["lhs"], rel=1e-9)
                i += 1
    # chunking (one pair per sampling sub-chunk, two per ascent chunk) gives the same records
    t = lambda k: torch.as_tensor(np.stack([p[k] for p in pairs]))  # noqa: E731
    rows2 = check_bounds_batch(t(0), t(1), t(2), t(3), acts, radii, CFG, chunk_elems=1, ascent_pairs=2)
    for a, b in zip(rows, rows2, strict=True):
        assert (a["R"], a["activation"], a["pair"]) == (b["R"], b["activation"], b["pair"])
        for k in ("a_i", "a_j", "d_fs", "A_ij", "S_aff", "dA_op"):
            assert a[k] == pytest.approx(b[k], rel=1e-10, abs=1e-13), k
        assert np_gap(*pairs[b["pair"]], b["activation"], b["x"].numpy()) == pytest.approx(b["lhs"], rel=1e-9)


def test_single_pair_matches_batch_row():
    pairs = make_pairs("perturb_1e-1", 3, 7, 5, seed=13)
    rows = run_batch(pairs, acts=["gelu"], radii=[2.0])
    for p, (Wi, bi, Wj, bj) in enumerate(pairs):
        r = check_bounds((torch.as_tensor(Wi), torch.as_tensor(bi)), (torch.as_tensor(Wj), torch.as_tensor(bj)),
                         "gelu", 2.0, **FAST)
        for k in ("a_i", "d_fs", "w2_cum", "A_ij", "S_aff", "paper_spectral", "lipschitz"):
            assert r[k] == pytest.approx(rows[p][k], rel=1e-9, abs=1e-12), k
        assert r["lhs"] == pytest.approx(rows[p]["lhs"], rel=1e-6)


# --------------------------------------------------------------------------- inputs
def test_accepts_linear_and_none_bias():
    torch.manual_seed(0)
    lin_i, lin_j = nn.Linear(6, 4), nn.Linear(6, 4, bias=False)
    r1 = check_bounds(lin_i, lin_j, "tanh", 1.5, **FAST)
    Wi, bi = lin_i.weight.detach().double(), lin_i.bias.detach().double()
    Wj = lin_j.weight.detach().double()
    r2 = check_bounds((Wi, bi), (Wj, None), "tanh", 1.5, **FAST)
    r3 = check_bounds((Wi, bi), (Wj, torch.zeros(4, dtype=torch.float64)), "tanh", 1.5, **FAST)
    for r in (r2, r3):
        for k in ("a_i", "a_j", "d_fs", "A_ij", "S_aff", "lhs", "db_norm"):
            assert r1[k] == pytest.approx(r[k], rel=1e-12, abs=1e-15), k
    assert r1["db_norm"] == pytest.approx(float(torch.linalg.vector_norm(bi)), rel=1e-12)
    assert np_gap(Wi.numpy(), bi.numpy(), Wj.numpy(), np.zeros(4), "tanh", r1["x"].numpy()) == pytest.approx(r1["lhs"], rel=1e-9)
    # NumPy arrays, float32 and plain lists work too
    r4 = check_bounds((Wi.numpy(), bi.numpy()), (Wj.numpy().astype(np.float32), None), "tanh", 1.5, **FAST)
    assert r4["dtype"] == "float64" and r4["a_i"] == pytest.approx(r1["a_i"], rel=1e-12)
    r5 = check_bounds(([[1.0, 2.0], [3.0, 4.0]], None), ([[1.0, 2.0], [3.0, 5.0]], [0.0, 1.0]), "relu", 1.0, **FAST)
    assert r5["db_norm"] == pytest.approx(1.0)


def _W(*shape, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


@pytest.mark.parametrize("case", [
    "shape_mismatch", "R_zero", "R_negative", "R_nan", "R_inf", "unknown_activation", "nan_W", "inf_b",
    "one_d_W", "complex_W", "complex_b", "bad_bias_shape", "not_a_layer", "empty_W", "three_d_W", "string_W",
])
def test_bad_input_raises_input_error(case):
    W = _W(4, 3)
    li, lj, act, R, kw = (W, None), (W.clone(), None), "tanh", 1.0, {}
    if case == "shape_mismatch":
        lj = (_W(4, 5), None)
    elif case == "R_zero":
        R = 0.0
    elif case == "R_negative":
        R = -2.0
    elif case == "R_nan":
        R = float("nan")
    elif case == "R_inf":
        R = float("inf")
    elif case == "unknown_activation":
        act = "softplus"
    elif case == "nan_W":
        W2 = W.clone()
        W2[1, 1] = float("nan")
        lj = (W2, None)
    elif case == "inf_b":
        lj = (W, torch.tensor([0.0, float("inf"), 0.0, 0.0], dtype=torch.float64))
    elif case == "one_d_W":
        li = (torch.ones(3, dtype=torch.float64), None)
    elif case == "complex_W":
        li = (_W(4, 3, dtype=torch.complex128), None)
    elif case == "complex_b":
        li = (W, torch.ones(4, dtype=torch.complex128) * (1 + 1j))
    elif case == "bad_bias_shape":
        li = (W, torch.ones(3, dtype=torch.float64))
    elif case == "not_a_layer":
        li = W
    elif case == "empty_W":
        li, lj = (torch.zeros(0, 3, dtype=torch.float64), None), (torch.zeros(0, 3, dtype=torch.float64), None)
    elif case == "three_d_W":
        li = (_W(2, 4, 3), None)
    elif case == "string_W":
        li = (np.array([["a", "b", "c"]] * 4), None)
    with pytest.raises(InputError) as exc:
        check_bounds(li, lj, act, R, **kw, **FAST)
    assert isinstance(exc.value, ValueError)


def test_pad_allows_mismatched_shapes():
    r = check_bounds((_W(4, 3), None), (_W(5, 6), None), "relu", 1.0, pad=True, **FAST)
    assert (r["m"], r["n"], r["N"]) == (5, 6, 6)
    assert r["x"].shape == (6,)


def test_radius_may_be_a_numpy_scalar():
    W = _W(4, 3)
    r1 = check_bounds((W, None), (-W, None), "tanh", 2.0, **FAST)
    r2 = check_bounds((W, None), (-W, None), "tanh", np.float32(2.0), **FAST)
    r3 = check_bounds((W, None), (-W, None), "tanh", np.int64(2), **FAST)
    assert r1["lhs"] == r2["lhs"] == r3["lhs"]
    assert r2["R"] == 2.0 and isinstance(r2["R"], float)


def test_bad_search_config_rejected():
    W = _W(4, 3)
    for kw in (dict(samples=0), dict(restarts=3), dict(steps=-1)):
        with pytest.raises(InputError):
            check_bounds((W, None), (-W, None), "tanh", 1.0, **kw)


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_records():
    rng = np.random.default_rng(21)
    Wi, Wj = torch.as_tensor(rng.standard_normal((9, 7))), torch.as_tensor(rng.standard_normal((9, 7)))
    bi = torch.as_tensor(rng.standard_normal(9))
    for act in ("relu", "gelu"):
        a = check_bounds((Wi, bi), (Wj, None), act, 2.0, seed=5, **FAST)
        b = check_bounds((Wi, bi), (Wj, None), act, 2.0, seed=5, **FAST)
        assert a.keys() == b.keys()
        for k in a:
            if k == "x":
                assert torch.equal(a["x"], b["x"])
            elif isinstance(a[k], float) and math.isnan(a[k]):
                assert math.isnan(b[k])
            else:
                assert a[k] == b[k], k
    pairs = make_pairs("independent", 3, 6, 6, seed=3)
    r1, r2 = run_batch(pairs, acts=["tanh"], radii=[1.0]), run_batch(pairs, acts=["tanh"], radii=[1.0])
    for a, b in zip(r1, r2, strict=True):
        assert a["lhs"] == b["lhs"] and torch.equal(a["x"], b["x"])


def test_seed_controls_the_samples():
    rng = np.random.default_rng(22)
    Wi, Wj = torch.as_tensor(rng.standard_normal((9, 7))), torch.as_tensor(rng.standard_normal((9, 7)))
    a = check_bounds((Wi, None), (Wj, None), "tanh", 2.0, seed=5, samples=64, steps=0)
    b = check_bounds((Wi, None), (Wj, None), "tanh", 2.0, seed=6, samples=64, steps=0)
    assert a["lhs_sample"] != b["lhs_sample"]
    assert a["a_i"] == b["a_i"] and a["S_aff"] == b["S_aff"]  # parameter-level columns do not depend on it


def test_boolean_radius_is_refused():
    import torch

    from qkernels.bounds.check import check_bounds
    from qkernels.core.errors import InputError

    W = torch.eye(3, dtype=torch.float64)
    with pytest.raises(InputError, match="R"):
        check_bounds((W, None), (2 * W, None), "tanh", True)


@pytest.mark.parametrize("act", ACTS)
def test_ascent_direction_is_the_autograd_gradient(act):
    """The analytic ascent direction equals autograd's gradient of the gap times the gap."""
    from qkernels.bounds.activations import get_activation
    from qkernels.bounds.check import _gap, _stacked

    g = torch.Generator().manual_seed(3)
    Wi, Wj = torch.randn(2, 7, 5, dtype=torch.float64, generator=g), torch.randn(2, 7, 5, dtype=torch.float64, generator=g)
    bi, bj = torch.randn(2, 7, dtype=torch.float64, generator=g), torch.randn(2, 7, dtype=torch.float64, generator=g)
    X = torch.randn(2, 6, 5, dtype=torch.float64, generator=g).requires_grad_(True)
    a = get_activation(act)
    W2, b2 = _stacked(Wi, bi, Wj, bj)
    f, direction = _gap(a, W2, b2, X.detach(), direction=True)
    ref = torch.linalg.vector_norm(a.fn(X @ Wi.mT + bi[:, None]) - a.fn(X @ Wj.mT + bj[:, None]), dim=-1)
    (grad,) = torch.autograd.grad(ref.sum(), X)
    torch.testing.assert_close(f, ref.detach(), rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(direction, grad * ref.detach()[..., None], rtol=1e-10, atol=1e-12)
