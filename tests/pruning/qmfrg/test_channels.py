"""Channel operators of a pruning group and their distance matrices, against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch_pruning as tp
from torch import nn

from qkernels.bounds.check import parameter_quantities
from qkernels.core.errors import InputError
from qkernels.geometry.distances import pairwise_w2_cumulative
from qkernels.geometry.operators import extract_operators
from qkernels.pruning.qmfrg.channels import group_distances, group_operators, layer_distances, misalignment
from qkernels.quantum import QuantumKernel


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, bias=True), nn.ReLU(), nn.Conv2d(6, 4, 3), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 5))


def _group(model, layer):
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, 8, 8))
    return dg.get_pruning_group(layer, tp.prune_conv_out_channels, list(range(layer.out_channels)))


def _fs_reference(mats: list[np.ndarray]) -> np.ndarray:
    """arccos of state overlaps, from numpy's SVD of explicitly built augmented matrices."""
    psi = []
    for W, b in mats:
        m, n = W.shape
        A = np.zeros((m + 1, n + 1))
        A[:m, :n], A[:m, n], A[m, n] = W, b, 1
        s = np.linalg.svd(A, compute_uv=False)
        psi.append(s / np.linalg.norm(s))
    P = np.array(psi)
    return np.arccos(np.clip(P @ P.T, -1, 1))


def test_operators_follow_the_filter_reshape_of_qkernels_operators():
    net = _net()
    ops = group_operators(_group(net, net[0]), layers="all")
    assert [lo.role for lo in ops] == ["out", "in"]
    out, inp = ops
    filters = [op for op in extract_operators(net, granularity="filter") if op.layer == "0"]
    for c, op in enumerate(filters):  # same W and spread bias as the filter-granularity operators
        assert torch.allclose(out.W[c], op.W.double()) and torch.allclose(out.b[c], op.b.double())
        assert torch.equal(inp.W[c], net[2].weight.detach().double()[:, c].reshape(4, 9))
        assert inp.b[c].abs().sum() == 0


def test_fs_distances_match_numpy_reference():
    net = _net()
    ops = group_operators(_group(net, net[0]), layers="all")
    refs = [_fs_reference([(lo.W[c].numpy(), lo.b[c].numpy()) for c in range(6)]) for lo in ops]
    for lo, ref in zip(ops, refs):
        assert np.allclose(layer_distances(lo.W, lo.b, "fs"), ref, atol=1e-7)
    D, strength, n_layers = group_distances(_group(net, net[0]), layers="all")
    assert n_layers == 2 and np.allclose(D, (refs[0] + refs[1]) / 2, atol=1e-7)
    assert np.allclose(strength, (net[0].weight.detach().double() ** 2).sum((1, 2, 3)).numpy()
                       + (net[2].weight.detach().double() ** 2).sum((0, 2, 3)).numpy())
    D_out, _, k = group_distances(_group(net, net[0]))
    assert k == 1 and np.allclose(D_out, refs[0], atol=1e-7)


def test_flatten_consumer_stacks_the_slices_of_a_channel():
    net = _net()
    ops = group_operators(_group(net, net[2]), layers="all")
    lin = [lo for lo in ops if lo.role == "in"][0]
    assert lin.W.shape == (4, 5, 16)  # channel c feeds 16 inputs of the linear layer
    assert torch.equal(lin.W[1], net[4].weight.detach().double()[:, 16:32])


def test_w2cum_matches_the_distances_module():
    W, b = torch.randn(5, 4, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    A = torch.zeros(5, 5, 4, dtype=torch.float64)
    A[:, :4, :3], A[:, :4, 3], A[:, 4, 3] = W, b, 1
    s = torch.linalg.svdvals(A)
    ref = pairwise_w2_cumulative(s / s.norm(dim=-1, keepdim=True)).numpy()
    assert np.allclose(layer_distances(W, b, "w2cum"), ref, atol=1e-10)


def test_aligned_distance_matches_the_bound_checker():
    W, b = torch.randn(4, 3, 5, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    D = layer_distances(W, b, "aligned")
    a = []
    for i in range(4):
        A = torch.zeros(4, 6, dtype=torch.float64)
        A[:3, :5], A[:3, 5], A[3, 5] = W[i], b[i], 1
        a.append(float(torch.linalg.matrix_norm(A)))
    for i in range(4):
        for j in range(i + 1, 4):
            q = parameter_quantities(W[[i]], b[[i]], W[[j]], b[[j]])["q"]
            ref = (float(q["sdiff_2"][0]) + float(q["A_ij"][0])) / np.mean(a)
            assert D[i, j] == pytest.approx(ref, rel=1e-7, abs=1e-7)


def test_aligned_sees_sign_and_permutation_that_spectra_miss():
    W = torch.randn(1, 4, 6, dtype=torch.float64)
    trio = torch.cat([W, -W, W[:, [1, 0, 3, 2]]])  # W, -W and permuted rows: identical spectra
    zero = torch.zeros(3, 4, dtype=torch.float64)
    assert np.abs(layer_distances(trio, zero, "fs")).max() < 1e-7
    Da = layer_distances(trio, zero, "aligned")
    assert Da[0, 1] > 0.1 and Da[0, 2] > 0.1
    assert np.allclose(misalignment(torch.stack([torch.eye(3), torch.eye(3)]).double()), 0, atol=1e-7)


@pytest.mark.parametrize("shape", [(5, 7, 3), (5, 3, 7), (4, 4, 4)])
def test_misalignment_matches_a_direct_computation(shape):
    A = torch.randn(*shape, dtype=torch.float64)
    U, S, Vh = torch.linalg.svd(A, full_matrices=False)
    ref = torch.zeros(shape[0], shape[0], dtype=torch.float64)
    for i in range(shape[0]):
        for j in range(shape[0]):
            ref[i, j] = torch.linalg.matrix_norm(U[i] @ torch.diag(S[j]) @ Vh[i] - A[j], ord=2)
    ref = torch.minimum(ref, ref.T).fill_diagonal_(0)
    assert torch.allclose(misalignment(A, block=2), ref, atol=1e-7)


def test_quantum_metric_is_exact_without_shots_and_noisy_with_them():
    W, b = torch.randn(6, 3, 3, dtype=torch.float64), torch.zeros(6, 3, dtype=torch.float64)
    exact = layer_distances(W, b, "fs")
    analytic = layer_distances(W, b, "quantum", kernel=QuantumKernel("compute_uncompute"))
    assert np.allclose(analytic, exact, atol=1e-6)
    noisy = layer_distances(W, b, "quantum", kernel=QuantumKernel("compute_uncompute", shots=50, seed=1))
    assert np.allclose(noisy, noisy.T) and np.all(np.diag(noisy) == 0) and not np.allclose(noisy, exact, atol=1e-3)
    with pytest.raises(InputError, match="QuantumKernel"):
        layer_distances(W, b, "quantum")


def test_bad_metric_and_layer_set():
    with pytest.raises(InputError, match="metric"):
        layer_distances(torch.zeros(2, 1, 1), torch.zeros(2, 1), "cosine")
    net = _net()
    with pytest.raises(InputError, match="layers"):
        group_operators(_group(net, net[0]), layers="some")
