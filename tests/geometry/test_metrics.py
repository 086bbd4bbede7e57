"""The metric registry: built-in entries, registration, and every reader of it (distance tables,
``--metric``, QM-FRG's edge distances) seeing a new metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import qkernels as qk
from qkernels.core.errors import InputError
from qkernels.geometry import metrics as reg
from qkernels.geometry.metrics import METRICS, get_metric, metric_names, parse_metrics, register_metric
from qkernels.geometry.operators import extract_operators
from qkernels.geometry.spectral import augmented, augmented_tensor, spectrum
from qkernels.geometry.tables import METRICS as TABLE_METRICS
from qkernels.geometry.tables import distance_table
from qkernels.pruning.qmfrg.channels import check_metric, edge_metrics, layer_distances
from qkernels.suite.cli import main

BUILTIN = ["fs", "chord", "w2cum", "w1cum", "w2emp_psi", "w2emp_s", "spec_l2"]


def _linf(pa, pb, sa, sb):
    return (pa - pb).abs().amax(-1)


@pytest.fixture
def linf():
    m = register_metric("linf_test", _linf, "largest |psi_a - psi_b|",
                        reference=lambda pa, pb, sa, sb: float(np.max(np.abs(pa - pb))), reference_name="numpy max")
    yield m
    reg.unregister_metric("linf_test")


def _states(k=5, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.stack([spectrum(augmented(torch.randn(n, n, generator=g, dtype=torch.float64))) for _ in range(k)])
    return s / torch.linalg.vector_norm(s, dim=-1, keepdim=True), s


def test_builtin_metrics_in_order_and_the_table_view_is_the_registry():
    assert metric_names()[: len(BUILTIN)] == BUILTIN
    assert TABLE_METRICS is METRICS and list(METRICS) == metric_names()
    with pytest.raises(TypeError):
        METRICS["x"] = None  # read-only  # type: ignore[index]
    assert qk.register_metric is register_metric and qk.metric_names is metric_names
    assert "register_metric" in qk.__all__ and "metric_names" in qk.__all__


@pytest.mark.parametrize("name", BUILTIN)
def test_matrix_of_agrees_with_the_pair_function(name):
    psi, s = _states()
    m = get_metric(name)
    D = m.matrix_of(psi, s)
    i, j = torch.triu_indices(len(psi), len(psi), 1)
    np.testing.assert_allclose(D[i, j].numpy(), m(psi[i], psi[j], s[i], s[j]).numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(D.numpy(), D.numpy().T, atol=1e-12)


@pytest.mark.parametrize("name", BUILTIN)
def test_reference_agrees(name):
    psi, s = _states(k=2, seed=3)
    m = get_metric(name)
    assert m.reference is not None and m.reference_name
    value = float(m(psi[:1], psi[1:], s[:1], s[1:])[0])
    ref = m.reference(psi[0].numpy(), psi[1].numpy(), s[0].numpy(), s[1].numpy())
    assert value == pytest.approx(ref, rel=1e-7, abs=1e-9)


def test_registration_rules(linf):
    assert get_metric("linf_test") is linf and metric_names()[-1] == "linf_test"
    with pytest.raises(InputError, match="already registered"):
        register_metric("linf_test", _linf, "again")
    register_metric("linf_test", _linf, "replaced", replace=True)
    assert get_metric("linf_test").description == "replaced"
    for bad in ("", "a,b", "has space", "w-2"):
        with pytest.raises(InputError, match="letters, digits"):
            register_metric(bad, _linf, "bad name")
    for reserved in ("N", "norm_a", "aligned", "quantum"):
        with pytest.raises(InputError, match="reserved"):
            register_metric(reserved, _linf, "reserved")
    with pytest.raises(InputError, match="callable"):
        register_metric("not_callable", 3, "no function")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown metric 'nope'"):
        get_metric("nope")


def test_a_new_metric_reaches_every_reader(linf, capsys, tmp_path):
    ops = extract_operators(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 4)).double())
    df = distance_table(ops, metrics=["fs", "linf_test"])
    assert list(df.columns)[-2:] == ["fs", "linf_test"] and (df["linf_test"] >= 0).all()
    assert parse_metrics("linf_test,fs") == ["linf_test", "fs"]
    out = tmp_path / "d.csv"
    assert main(["distances", "resnet18_small", "--metric", "linf_test", "--out", str(out)]) == 0
    assert "linf_test" in out.read_text().splitlines()[0]
    assert "linf_test" in edge_metrics() and check_metric("linf_test") == "linf_test"
    W = torch.tensor([[[1.0, 0.0]], [[2.0, 0.0]], [[0.0, 1.0]]], dtype=torch.float64)
    D = layer_distances(W, torch.zeros(3, 1), "linf_test")
    assert D.shape == (3, 3) and D[0, 0] == 0 and D[0, 1] > 0 and D[0, 2] == 0  # same spectra: distance 0
    pm, rec = qk.prune(qk.build_model("mlp", in_features=8, hidden=(6,), num_classes=3), "qmfrg", 0.5,
                       torch.zeros(1, 8), metric="linf_test")
    assert rec["criterion"]["metric"] == "linf_test" and rec["channels_after"] == 3


def test_qmfrg_edge_metrics_and_their_errors():
    assert edge_metrics()[:2] == ["fs", "chord"] and edge_metrics()[-2:] == ["aligned", "quantum"]
    with pytest.raises(InputError, match="metric: expected one of fs, chord"):
        check_metric("cosine")


def test_qmfrg_fs_and_w2cum_matrices_are_the_pairwise_functions():
    g = torch.Generator().manual_seed(1)
    W, b = torch.randn(6, 3, 4, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    s = torch.linalg.svdvals(augmented_tensor(W, b))
    for name, fn in (("fs", qk.pairwise_fs), ("w2cum", qk.pairwise_w2_cumulative)):
        D = layer_distances(W, b, name)
        assert D.dtype == np.float64 and np.all(np.diag(D) == 0)
        np.testing.assert_allclose(D, fn(s / torch.linalg.vector_norm(s, dim=-1, keepdim=True)).numpy(), atol=1e-12)
