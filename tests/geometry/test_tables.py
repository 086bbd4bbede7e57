"""Distance tables between operators, checked pair by pair against NumPy/POT references."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.geometry.operators import extract_operators
from qkernels.geometry.tables import METRICS, distance_table, parse_metrics

ALL_METRICS = ["fs", "chord", "w2cum", "w1cum", "w2emp_psi", "w2emp_s", "spec_l2"]


def _model(seed=0):
    """float64, so that the references see exactly the package's inputs (float32 filter biases are
    spread over the rows in float32, a 1e-9 relative difference that is not what is tested here)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 4, bias=False), nn.Conv2d(2, 3, 2)).double()


def _np_matrix(module, index=None):
    """(W, b) as NumPy float64, from the documented reshapes (module docstring of operators)."""
    w = module.weight.detach().double().numpy()
    b = None if module.bias is None else module.bias.detach().double().numpy()
    if isinstance(module, nn.Conv2d):
        if index is None:
            return w.reshape(w.shape[0], -1), b
        rows = w.shape[1]
        return w[index].reshape(rows, -1), None if b is None else np.full(rows, b[index] / math.sqrt(rows))
    if index is None:
        return w, b
    return w[index : index + 1], None if b is None else b[index : index + 1]


def _np_spectrum(W, b):
    m, n = W.shape
    A = np.zeros((m + 1, n + 1))
    A[:m, :n] = W
    if b is not None:
        A[:m, n] = b
    A[m, n] = 1.0
    return np.linalg.svd(A, compute_uv=False)


def _reference(sa, sb):
    N = max(len(sa), len(sb))
    SA, SB = np.pad(sa, (0, N - len(sa))), np.pad(sb, (0, N - len(sb)))
    A, B = SA / np.linalg.norm(SA), SB / np.linalg.norm(SB)
    x = np.arange(1, N + 1) / N
    wa, wb = A**2 / np.sum(A**2), B**2 / np.sum(B**2)
    return N, np.linalg.norm(SA), np.linalg.norm(SB), {
        "fs": float(np.arccos(np.clip(abs(A @ B), 0, 1))),
        "chord": float(np.linalg.norm(A - B)),
        "w2cum": math.sqrt(max(float(ot.emd2_1d(x, x, wa, wb)), 0.0)),
        "w1cum": float(np.sum(np.abs(np.cumsum(wa) - np.cumsum(wb))) / N),
        "w2emp_psi": float(np.linalg.norm(np.sort(A) - np.sort(B)) / math.sqrt(N)),
        "w2emp_s": float(np.linalg.norm(np.sort(SA) - np.sort(SB)) / math.sqrt(N)),
        "spec_l2": float(np.linalg.norm(SA - SB)),
    }


TOL = {"fs": 2e-7, "w2cum": 2e-7}  # arccos and √ amplify roundoff near 0 in the references


def _check_row(row, sa, sb, metrics):
    N, na, nb, ref = _reference(sa, sb)
    assert row.N == N
    assert row.norm_a == pytest.approx(na, rel=1e-10) and row.norm_b == pytest.approx(nb, rel=1e-10)
    for m in metrics:
        assert getattr(row, m) == pytest.approx(ref[m], rel=1e-9, abs=TOL.get(m, 1e-10)), m


def test_layer_mode_matches_references():
    model = _model()
    mods = {"0": model[0], "2": model[2], "3": model[3]}
    df = distance_table(extract_operators(model), metrics=ALL_METRICS)
    assert list(df.columns) == ["op_a", "op_b", "layer", "shape_a", "shape_b", "N", "norm_a", "norm_b", *ALL_METRICS]
    assert list(zip(df.op_a, df.op_b)) == [("0", "2"), ("0", "3"), ("2", "3")]
    assert df.shape_a.tolist() == ["3x5", "3x5", "4x3"] and df.shape_b.tolist() == ["4x3", "3x8", "3x8"]
    for row in df.itertuples():
        _check_row(row, _np_spectrum(*_np_matrix(mods[row.op_a])), _np_spectrum(*_np_matrix(mods[row.op_b])),
                   ALL_METRICS)


def test_default_metrics_are_fs_and_w2cum():
    df = distance_table(extract_operators(_model()))
    assert list(df.columns[-2:]) == ["fs", "w2cum"]


def test_identical_operators_have_zero_distance():
    torch.manual_seed(1)
    lin = nn.Linear(6, 4)
    twin = nn.Linear(6, 4)
    twin.load_state_dict(lin.state_dict())
    df = distance_table(extract_operators(nn.Sequential(lin, twin)), metrics=ALL_METRICS)
    assert len(df) == 1
    for m in ALL_METRICS:
        assert df[m].iloc[0] == pytest.approx(0.0, abs=1e-7), m


def test_scaled_operator_states():
    # W and 2W with zero bias: different spectra, but only through the extra singular value 1
    lin = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(3))
    lin2 = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        lin2.weight.copy_(2 * torch.eye(3))
    df = distance_table(extract_operators(nn.Sequential(lin, lin2)), metrics=["fs", "spec_l2"])
    a, b = np.ones(4) / 2, np.array([2, 2, 2, 1]) / math.sqrt(13)
    assert df.fs.iloc[0] == pytest.approx(math.acos(a @ b), abs=1e-12)
    assert df.spec_l2.iloc[0] == pytest.approx(math.sqrt(3), abs=1e-12)


def _layer_of(name):
    return name.split("[")[0]


def test_filter_mode_pairs_within_layers_only():
    model = _model()
    mods = {"0": model[0], "2": model[2], "3": model[3]}
    df = distance_table(extract_operators(model, "filter"), metrics=ALL_METRICS)
    # 3 neurons, 4 neurons, 3 filters -> C(3,2) + C(4,2) + C(3,2)
    assert len(df) == 3 + 6 + 3
    assert (df.op_a.map(_layer_of) == df.layer).all() and (df.op_b.map(_layer_of) == df.layer).all()
    assert len(set(zip(df.op_a, df.op_b))) == len(df)
    for row in df.itertuples():
        ia, ib = int(row.op_a[:-1].split("[")[1]), int(row.op_b[:-1].split("[")[1])
        assert ia < ib
        m = mods[row.layer]
        _check_row(row, _np_spectrum(*_np_matrix(m, ia)), _np_spectrum(*_np_matrix(m, ib)), ALL_METRICS)


def test_filter_mode_builtin_mlp_pair_count():
    from qkernels.nn.models import build_model

    model = build_model("mlp", seed=0)
    widths = [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    df = distance_table(extract_operators(model, "filter"), metrics=["fs"])
    assert len(df) == sum(n * (n - 1) // 2 for n in widths)


def test_cross_mode_is_a_times_b():
    a_model, b_model = _model(0), _model(1)
    ops_a = extract_operators(a_model)
    ops_b = extract_operators(nn.Sequential(b_model[0], nn.Linear(3, 2)))
    df = distance_table(ops_a, ops_b, metrics=["fs", "w2cum"])
    assert len(df) == len(ops_a) * len(ops_b) == 6
    assert set(zip(df.op_a, df.op_b)) == {(a, b) for a in ["0", "2", "3"] for b in ["0", "1"]}
    row = df[(df.op_a == "0") & (df.op_b == "0")].iloc[0]
    _, _, _, ref = _reference(_np_spectrum(*_np_matrix(a_model[0])), _np_spectrum(*_np_matrix(b_model[0])))
    assert row.fs == pytest.approx(ref["fs"], abs=1e-7) and row.w2cum == pytest.approx(ref["w2cum"], abs=1e-7)


def test_cross_mode_with_itself_has_zero_diagonal():
    ops = extract_operators(_model())
    df = distance_table(ops, ops, metrics=["fs", "w2cum"])
    assert len(df) == 9
    diag = df[df.op_a == df.op_b]
    assert len(diag) == 3
    assert np.allclose(diag.fs, 0, atol=1e-7) and np.allclose(diag.w2cum, 0, atol=1e-7)
    within = distance_table(ops, metrics=["fs"])
    cross = df.set_index(["op_a", "op_b"]).fs
    for r in within.itertuples():
        assert cross[(r.op_a, r.op_b)] == pytest.approx(r.fs, abs=1e-12)
        assert cross[(r.op_b, r.op_a)] == pytest.approx(r.fs, abs=1e-12)


def test_cross_filter_mode_matches_layers_by_name():
    a, b = _model(0), _model(1)
    ops_a, ops_b = extract_operators(a, "filter"), extract_operators(nn.Sequential(b[0]), "filter")
    df = distance_table(ops_a, ops_b, metrics=["fs"])
    assert len(df) == 3 * 3 and set(df.layer) == {"0"}
    other = extract_operators(nn.Sequential(nn.Identity(), nn.Linear(2, 2)), "filter")
    # layer "1" exists only in the second model, layer "0" only in the first: nothing to compare
    with pytest.raises(InputError, match="no operator pairs"):
        distance_table(extract_operators(nn.Sequential(nn.Linear(2, 2)), "filter"), other)


def test_single_operator_has_no_pairs():
    with pytest.raises(InputError, match="no operator pairs"):
        distance_table(extract_operators(nn.Sequential(nn.Linear(3, 3))))


@pytest.mark.parametrize("text,expected", [("fs", ["fs"]), ("fs, w2cum ,", ["fs", "w2cum"]),
                                           (["chord", "spec_l2"], ["chord", "spec_l2"]),
                                           (",".join(ALL_METRICS), ALL_METRICS)])
def test_parse_metrics(text, expected):
    assert parse_metrics(text) == expected


@pytest.mark.parametrize("text,match", [("", "no metric"), (" , ", "no metric"), ([], "no metric"),
                                        ("fs,bogus", "unknown metric 'bogus'"), ("FS", "unknown metric 'FS'")])
def test_parse_metrics_errors(text, match):
    with pytest.raises(InputError, match=match) as exc:
        parse_metrics(text)
    if "unknown" in match:
        assert all(m in str(exc.value) for m in METRICS)


def test_distance_table_rejects_unknown_metric():
    with pytest.raises(InputError, match="unknown metric"):
        distance_table(extract_operators(_model()), metrics=["fs", "nope"])
