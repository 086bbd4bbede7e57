"""Block-level QM-FRG: removable blocks, folded-BN block spectra, the block graph, skipping a block."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qkernels.core.errors import InputError
from qkernels.geometry.distances import pairwise_fs
from qkernels.nn.models import build_model
from qkernels.pruning.qmfrg.blocks import block_graph, block_spectrum, removable_blocks, skip_block


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    m = build_model("resnet18_small", width=0.125).eval()
    for mod in m.modules():  # non-trivial BatchNorm parameters and statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            with torch.no_grad():
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 2.0)
    return m


def test_removable_blocks_are_the_identity_shortcut_blocks(resnet):
    assert removable_blocks(resnet) == ["layer1.0", "layer1.1", "layer2.1", "layer3.1", "layer4.1"]
    assert removable_blocks(build_model("mlp")) == []


def test_block_spectrum_folds_batchnorm(resnet):
    blk = resnet.layer2[1]
    s = block_spectrum(blk)
    ref = []  # numpy SVD of the folded augmented matrices of the two layers, in float64
    for conv, bn in ((blk.conv1, blk.bn1), (blk.conv2, blk.bn2)):
        W = conv.weight.detach().double().flatten(1).numpy()
        g, beta = bn.weight.detach().double().numpy(), bn.bias.detach().double().numpy()
        mu, var = bn.running_mean.double().numpy(), bn.running_var.double().numpy()
        sc = g / np.sqrt(var + bn.eps)
        A = np.zeros((W.shape[0] + 1, W.shape[1] + 1))
        A[:-1, :-1], A[:-1, -1], A[-1, -1] = sc[:, None] * W, beta - sc * mu, 1
        ref.append(np.linalg.svd(A, compute_uv=False))
    ref = np.sort(np.concatenate(ref))[::-1]
    assert np.allclose(s.numpy(), ref, rtol=1e-9, atol=1e-12)


def test_block_graph_distances_are_padded_fs(resnet):
    g = block_graph(resnet)
    spectra = [block_spectrum(resnet.get_submodule(n)) for n in g["blocks"]]
    N = max(len(s) for s in spectra)
    P = torch.stack([torch.nn.functional.pad(s / s.norm(), (0, N - len(s))) for s in spectra])
    D = pairwise_fs(P).numpy()
    assert np.allclose(g["D"], (D + D.T) / 2, atol=1e-12)
    off = D + np.diag(np.full(5, np.inf))
    assert np.allclose(g["distance"], off.min(1)) and sorted(g["rank"]) == [0, 1, 2, 3, 4]
    assert all(n != m for n, m in zip(g["blocks"], g["nearest"]))


def test_skip_block_is_the_identity_and_leaves_the_model(resnet):
    m = skip_block(resnet, "layer3.1")
    x = torch.randn(2, 3, 16, 16)
    assert isinstance(m.layer3[1], torch.nn.Identity) and not isinstance(resnet.layer3[1], torch.nn.Identity)
    h = resnet.layer3[0](resnet.layer2(resnet.layer1(resnet.relu(resnet.bn1(resnet.conv1(x))))))
    assert torch.allclose(m.layer3(resnet.layer2(resnet.layer1(resnet.relu(resnet.bn1(resnet.conv1(x)))))), h)
    assert m(x).shape == (2, 10)


def test_bad_blocks():
    with pytest.raises(InputError, match="not a removable residual block"):
        skip_block(build_model("resnet18_small", width=0.125), "layer2.0")
    with pytest.raises(InputError, match="removable residual block"):
        block_graph(build_model("mlp"))
