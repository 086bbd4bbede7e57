"""Tests of qkernels.geometry.operators: which modules become operators, and how they are reshaped.

The reshapes are checked against what the modules compute: a convolution applied to an input
of exactly the kernel's size is one patch, so its output must equal W @ patch + b.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.geometry.operators import (
    Operator,
    OperatorList,
    SkippedModule,
    extract_operators,
    operators_from_state_dict,
)
from qkernels.geometry.spectral import operator_spectra
from qkernels.nn.models import build_model


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def svals(W) -> np.ndarray:
    return np.linalg.svd(np.asarray(W, dtype=np.float64), compute_uv=False)


def patch_output(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Output of ``conv`` on one input patch of exactly the kernel's size (no padding): shape (out,)."""
    with torch.no_grad():
        return conv._conv_forward(x[None], conv.weight, conv.bias).reshape(-1)


# --------------------------------------------------------------------------- Linear
def test_linear_layer_and_neurons():
    lin = nn.Linear(5, 3)
    model = nn.Sequential(lin, nn.ReLU(), nn.Linear(3, 2, bias=False))
    ops = extract_operators(model)
    assert isinstance(ops, OperatorList)
    assert [op.name for op in ops] == ["0", "2"]
    op = ops[0]
    assert isinstance(op, Operator)
    assert (op.module_type, op.kind, op.shape, op.layer, op.index) == ("Linear", "linear", (3, 5), "0", None)
    assert torch.equal(op.W, lin.weight) and torch.equal(op.b, lin.bias)
    assert not op.W.requires_grad
    x = torch.randn(5)
    torch.testing.assert_close(op.W @ x + op.b, lin(x).detach())
    assert ops[1].b is None
    assert ops.layers() == ["0", "2"]
    assert ops.skipped == []  # ReLU has no parameters

    neurons = extract_operators(model, granularity="filter")
    assert [n.name for n in neurons] == ["0[0]", "0[1]", "0[2]", "2[0]", "2[1]"]
    for o, n in enumerate(neurons[:3]):
        assert n.kind == "neuron" and n.index == o and n.layer == "0"
        assert n.W.shape == (1, 5)
        torch.testing.assert_close(n.W[0], lin.weight[o].detach())
        torch.testing.assert_close(n.b, lin.bias[o : o + 1].detach())
    assert neurons[3].b is None
    assert neurons.layers() == ["0", "2"]


# --------------------------------------------------------------------------- convolutions
CONVS = [
    (nn.Conv1d, 4, 6, (3,)),
    (nn.Conv2d, 3, 5, (3, 2)),
    (nn.Conv3d, 2, 4, (2, 3, 2)),
]


@pytest.mark.parametrize("cls, cin, cout, k", CONVS, ids=lambda v: getattr(v, "__name__", None))
@pytest.mark.parametrize("bias", [True, False])
def test_conv_layer_is_patch_map(cls, cin, cout, k, bias):
    conv = cls(cin, cout, k, bias=bias)
    ops = extract_operators(nn.Sequential(conv))
    assert len(ops) == 1
    op = ops[0]
    taps = math.prod(k)
    assert op.W.shape == (cout, cin * taps)
    assert (op.kind, op.module_type, op.shape) == ("conv", cls.__name__, tuple(conv.weight.shape))
    # the operator's action on one patch equals the convolution's
    for _ in range(3):
        x = torch.randn(cin, *k)
        want = patch_output(conv, x)
        got = op.W @ x.reshape(-1) + (op.b if op.b is not None else 0)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # and by unfold (im2col) for Conv2d on a larger image
    if cls is nn.Conv2d:
        img = torch.randn(1, cin, 7, 6)
        cols = nn.functional.unfold(img, k)  # (1, cin*taps, L)
        out = (op.W @ cols[0]) + (op.b[:, None] if bias else 0)
        torch.testing.assert_close(out, conv(img).detach().reshape(cout, -1), rtol=1e-5, atol=1e-5)
    if bias:
        assert torch.equal(op.b, conv.bias)
    else:
        assert op.b is None


@pytest.mark.parametrize("cls, cin, cout, k", CONVS, ids=lambda v: getattr(v, "__name__", None))
def test_conv_filters(cls, cin, cout, k):
    conv = cls(cin, cout, k)
    with torch.no_grad():
        conv.bias.copy_(torch.randn(cout) * 3)
    ops = extract_operators(nn.Sequential(conv), granularity="filter")
    taps = math.prod(k)
    assert len(ops) == cout
    for o, op in enumerate(ops):
        assert op.name == f"0[{o}]" and op.index == o and op.layer == "0" and op.kind == "filter"
        assert op.W.shape == (cin, taps)
        np.testing.assert_array_equal(op.W.numpy(), conv.weight[o].detach().numpy().reshape(cin, taps))
        bo = float(conv.bias[o].detach())
        np.testing.assert_allclose(op.b.numpy(), np.full(cin, bo / math.sqrt(cin)), rtol=1e-6)
        assert float(torch.linalg.vector_norm(op.b)) == pytest.approx(abs(bo), rel=1e-6)
        # the filter's response on a patch: sum(W_o * X) + b_o
        x = torch.randn(cin, *k)
        want = patch_output(conv, x)[o]
        got = (op.W * x.reshape(cin, taps)).sum() + op.b.sum() / math.sqrt(cin)
        assert float(got) == pytest.approx(float(want), rel=1e-5, abs=1e-5)


def test_filter_spectrum_independent_of_input_channel_order():
    conv = nn.Conv2d(4, 3, 3)
    perm = torch.tensor([2, 0, 3, 1])
    conv2 = nn.Conv2d(4, 3, 3)
    with torch.no_grad():
        conv2.weight.copy_(conv.weight[:, perm])
        conv2.bias.copy_(conv.bias)
    s1 = operator_spectra(extract_operators(conv, "filter"))
    s2 = operator_spectra(extract_operators(conv2, "filter"))
    for a, b in zip(s1, s2):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "cls, cin, cout, groups, k",
    [
        (nn.Conv2d, 6, 9, 3, (3, 3)),  # grouped
        (nn.Conv2d, 4, 8, 4, (3, 3)),  # depthwise, multiplier 2
        (nn.Conv2d, 5, 5, 5, (2, 2)),  # depthwise
        (nn.Conv1d, 4, 6, 2, (3,)),
        (nn.Conv3d, 4, 4, 2, (1, 2, 2)),
    ],
)
def test_grouped_conv_block_diagonal(cls, cin, cout, groups, k):
    conv = cls(cin, cout, k, groups=groups)
    op = extract_operators(nn.Sequential(conv))[0]
    taps = math.prod(k)
    assert op.W.shape == (cout, cin * taps)
    w = conv.weight.detach().numpy().astype(np.float64)
    og, ig = cout // groups, cin // groups
    blocks = [w[g * og : (g + 1) * og].reshape(og, ig * taps) for g in range(groups)]
    ref = scipy.linalg.block_diag(*blocks)
    np.testing.assert_array_equal(op.W.numpy().astype(np.float64), ref)
    ref_t = torch.block_diag(*[torch.from_numpy(b) for b in blocks])
    np.testing.assert_array_equal(op.W.double().numpy(), ref_t.numpy())
    # the block-diagonal matrix is the true patch map
    x = torch.randn(cin, *k)
    torch.testing.assert_close(op.W @ x.reshape(-1) + op.b, patch_output(conv, x), rtol=1e-5, atol=1e-5)
    # its spectrum is the union of the groups' spectra
    union = np.sort(np.concatenate([svals(b) for b in blocks]))[::-1]
    s = svals(op.W.double().numpy())
    assert len(s) == len(union)
    np.testing.assert_allclose(s, union, rtol=0, atol=1e-12 * union[0])
    # filter granularity: each filter sees only its group's in/groups channels
    fops = extract_operators(nn.Sequential(conv), granularity="filter")
    assert len(fops) == cout and all(f.W.shape == (ig, taps) for f in fops)
    np.testing.assert_allclose(fops[-1].b.numpy(), np.full(ig, float(conv.bias[-1].detach()) / math.sqrt(ig)), rtol=1e-6)


# --------------------------------------------------------------------------- attention
def test_multihead_attention_four_projections():
    E, H = 8, 2
    mha = nn.MultiheadAttention(E, H)
    holder = nn.Module()
    holder.pre = nn.Linear(3, E)
    holder.attn = mha
    ops = extract_operators(holder)
    names = [op.name for op in ops]
    assert names == ["pre", "attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.out_proj"]
    assert len(set(names)) == len(names)
    ipw = mha.in_proj_weight.detach().numpy()
    ipb = mha.in_proj_bias.detach().numpy()
    for i, tag in enumerate(("q", "k", "v")):
        op = ops[1 + i]
        assert op.kind == "attention" and op.module_type == "MultiheadAttention"
        np.testing.assert_array_equal(op.W.numpy(), ipw[i * E : (i + 1) * E])
        np.testing.assert_array_equal(op.b.numpy(), ipb[i * E : (i + 1) * E])
    np.testing.assert_array_equal(ops[4].W.numpy(), mha.out_proj.weight.detach().numpy())
    np.testing.assert_array_equal(ops[4].b.numpy(), mha.out_proj.bias.detach().numpy())
    # the four operators reproduce the module's output (single query, single key)
    q, kv = torch.randn(1, 1, E), torch.randn(1, 1, E)
    with torch.no_grad():
        out = mha(q, kv, kv, need_weights=False)[0].reshape(E)
        v = ops[3].W @ kv.reshape(E) + ops[3].b  # one key: attention weight 1
        torch.testing.assert_close(ops[4].W @ v + ops[4].b, out, rtol=1e-5, atol=1e-5)
    assert ops.skipped == []


def test_multihead_attention_kdim_vdim():
    E = 6
    mha = nn.MultiheadAttention(E, 3, kdim=4, vdim=5, bias=True)
    ops = extract_operators(nn.Sequential(mha))
    assert [op.name for op in ops] == ["0.q_proj", "0.k_proj", "0.v_proj", "0.out_proj"]
    assert [tuple(op.W.shape) for op in ops] == [(E, E), (E, 4), (E, 5), (E, E)]
    assert torch.equal(ops[0].W, mha.q_proj_weight)
    assert torch.equal(ops[1].W, mha.k_proj_weight)
    assert torch.equal(ops[2].W, mha.v_proj_weight)
    for i in range(3):
        assert torch.equal(ops[i].b, mha.in_proj_bias[i * E : (i + 1) * E])
    assert ops.skipped == []
    # no bias at all
    ops_nb = extract_operators(nn.Sequential(nn.MultiheadAttention(E, 2, bias=False)))
    assert [op.b for op in ops_nb] == [None] * 4


def test_multihead_attention_at_root_not_double_counted():
    mha = nn.MultiheadAttention(8, 2)
    ops = extract_operators(mha)
    assert len(ops) == 4
    assert [op.name.rsplit(".", 1)[-1] for op in ops] == ["q_proj", "k_proj", "v_proj", "out_proj"]
    assert len({op.name for op in ops}) == 4
    assert sum(torch.equal(op.W, mha.out_proj.weight) for op in ops) == 1


def test_vit_tiny_operators():
    m = build_model("vit_tiny", seed=0)
    ops = extract_operators(m)
    names = [op.name for op in ops]
    assert len(names) == len(set(names))
    want = ["patch_embed"]
    for blk in range(2):
        want += [f"blocks.{blk}.attn.{t}" for t in ("q_proj", "k_proj", "v_proj", "out_proj")]
        want += [f"blocks.{blk}.mlp.0", f"blocks.{blk}.mlp.2"]
    want += ["head"]
    assert names == want
    skipped = {s.name: s for s in ops.skipped}
    assert {"vittiny", "blocks.0.norm1", "blocks.0.norm2", "blocks.1.norm1", "blocks.1.norm2", "norm"} <= set(skipped)
    assert "cls_token" in skipped["vittiny"].reason and "pos_embed" in skipped["vittiny"].reason
    neurons = extract_operators(m, granularity="filter")
    assert sum(1 for n in neurons if n.layer == "blocks.0.attn.q_proj") == 64
    # the state dict route names the same operators, with the same tensors
    sd_ops = operators_from_state_dict(m.state_dict())
    assert [op.name for op in sd_ops] == names
    for a, b in zip(ops, sd_ops):
        assert torch.equal(a.W, b.W)
        assert (a.b is None and b.b is None) or torch.equal(a.b, b.b)


# --------------------------------------------------------------------------- skipped modules
class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        return self.lin(x) * self.scale


def test_skipped_modules_listed_with_reasons():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),  # 0
        nn.BatchNorm2d(4),  # 1
        nn.ReLU(),  # 2 (no parameters: not listed)
        nn.LayerNorm(4),  # 3
        nn.Embedding(10, 4),  # 4
        nn.ConvTranspose2d(4, 2, 3),  # 5
        nn.LSTM(4, 3),  # 6
        Scaled(),  # 7 (own parameter; its Linear child is an operator)
        nn.GroupNorm(2, 4),  # 8
        nn.Bilinear(2, 3, 4),  # 9
    )
    ops = extract_operators(model)
    assert [op.name for op in ops] == ["0", "7.lin"]
    sk = ops.skipped
    assert all(isinstance(s, SkippedModule) for s in sk)
    by = {s.name: s for s in sk}
    assert list(by) == ["1", "3", "4", "5", "6", "7", "8", "9"]
    assert "normalization" in by["1"].reason and by["1"].module_type == "BatchNorm2d"
    assert "normalization" in by["3"].reason
    assert "normalization" in by["8"].reason
    assert "embedding" in by["4"].reason
    assert "transposed" in by["5"].reason and by["5"].module_type == "ConvTranspose2d"
    assert "recurrent" in by["6"].reason and by["6"].module_type == "LSTM"
    assert "scale" in by["7"].reason and by["7"].module_type == "Scaled"
    assert "bilinear" in by["9"].reason
    # filter granularity lists the same skipped modules
    assert [s.name for s in extract_operators(model, "filter").skipped] == list(by)


def test_lazy_module_skipped():
    model = nn.Sequential(nn.LazyLinear(3), nn.Linear(3, 2))
    ops = extract_operators(model)
    assert [op.name for op in ops] == ["1"]
    assert ops.skipped[0].name == "0" and "lazy" in ops.skipped[0].reason


# --------------------------------------------------------------------------- errors
def test_nan_weight_names_operator():
    model = nn.Sequential(nn.Linear(2, 2), nn.Conv2d(1, 2, 2))
    with torch.no_grad():
        model[1].weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="'1'") as info:
        extract_operators(model)
    assert "NaN" in str(info.value)
    with pytest.raises(InputError, match="'1'"):
        extract_operators(model, granularity="filter")
    m2 = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        m2[0].bias[1] = float("inf")
    with pytest.raises(InputError, match=r"'0 \(bias\)'"):
        extract_operators(m2)
    att = nn.Sequential(nn.MultiheadAttention(4, 2))
    with torch.no_grad():
        att[0].in_proj_weight[5, 0] = float("nan")  # in the k projection
    with pytest.raises(InputError, match="0.k_proj"):
        extract_operators(att)


def test_no_operators():
    with pytest.raises(InputError, match="no Linear") as info:
        extract_operators(nn.Sequential(nn.ReLU(), nn.BatchNorm1d(3)))
    assert "1 (normalization" in str(info.value)
    with pytest.raises(InputError):
        extract_operators(nn.ReLU())
    with pytest.raises(InputError, match="granularity"):
        extract_operators(nn.Linear(2, 2), granularity="neuron")
    with pytest.raises(InputError, match="model"):
        extract_operators({"fc.weight": torch.ones(2, 2)})
    with pytest.raises(InputError, match="no 2-D"):
        operators_from_state_dict({"bn.weight": torch.ones(3), "x": torch.ones(2, 2)})
    with pytest.raises(InputError, match="granularity"):
        operators_from_state_dict({"fc.weight": torch.ones(2, 2)}, granularity="x")


def test_integer_weights_refused():
    with pytest.raises(InputError, match="'fc'"):
        operators_from_state_dict({"fc.weight": torch.ones(2, 2, dtype=torch.int64)})


# --------------------------------------------------------------------------- state dict route
def test_state_dict_matches_model_resnet18():
    model = build_model("resnet18", seed=1)
    for gran in ("layer", "filter"):
        a = extract_operators(model, granularity=gran)
        b = operators_from_state_dict(model.state_dict(), granularity=gran)
        assert [op.name for op in a] == [op.name for op in b]
        assert [op.layer for op in a] == [op.layer for op in b]
        assert [op.shape for op in a] == [op.shape for op in b]
        for x, y in zip(a, b):
            assert x.W.shape == y.W.shape and torch.equal(x.W, y.W), x.name
            if x.b is None:
                assert y.b is None, x.name
            else:
                assert torch.equal(x.b, y.b), x.name
        assert [s.name for s in a.skipped] == [s.name for s in b.skipped]
    ops = extract_operators(model)
    assert len(ops) == 21  # 20 convolutions + fc
    assert ops[0].name == "conv1" and ops[0].W.shape == (64, 3 * 49)
    assert ops[-1].name == "fc" and ops[-1].W.shape == (1000, 512) and ops[-1].b.shape == (1000,)
    assert "layer2.0.downsample.0" in [op.name for op in ops]
    assert len(ops.skipped) == 20  # batch norms


def test_state_dict_spectra_match_numpy():
    model = build_model("resnet18_small", seed=0, width=0.25)
    ops = operators_from_state_dict(model.state_dict())
    spectra = operator_spectra(ops, method="svd")
    for op, s in list(zip(ops, spectra))[::5]:
        W = op.W.double().numpy()
        m, n = W.shape
        b = np.zeros(m) if op.b is None else op.b.double().numpy()
        A = np.block([[W, b[:, None]], [np.zeros((1, n)), np.ones((1, 1))]])
        np.testing.assert_allclose(s.numpy(), svals(A), rtol=0, atol=1e-12 * svals(A)[0])


def test_state_dict_odd_entries():
    sd = {
        "fc.weight": torch.randn(3, 4),
        "bn.weight": torch.ones(3),
        "big.weight": torch.ones(1, 1, 1, 1, 1, 1),
        "step": 7,  # not a tensor
        "conv.weight": torch.randn(2, 3, 3),
    }
    ops = operators_from_state_dict(sd)
    assert [op.name for op in ops] == ["fc", "conv"]
    assert ops[0].b is None
    assert ops[1].W.shape == (2, 9)
    assert [s.name for s in ops.skipped] == ["bn", "big"]


@pytest.mark.parametrize("bias", [torch.randn(5), torch.randn(3, 1), torch.randn(2)], ids=["long", "2-D", "short"])
def test_state_dict_bias_that_does_not_fit_is_an_error_naming_it(bias):
    """No silent repair: a bias of the wrong shape used to be dropped (rc 0); it names both tensors now."""
    sd = {"enc.fc.weight": torch.randn(3, 4), "enc.fc.bias": bias}
    with pytest.raises(InputError, match=r"'enc\.fc\.bias'.*'enc\.fc\.weight'.*3 entries"):
        operators_from_state_dict(sd)
    conv = {"c.weight": torch.randn(3, 2, 3, 3), "c.bias": bias}
    with pytest.raises(InputError, match="'c.bias'"):
        operators_from_state_dict(conv, "filter")
    mha = {"attn.in_proj_weight": torch.randn(12, 4), "attn.in_proj_bias": torch.randn(11)}
    with pytest.raises(InputError, match="'attn.in_proj_bias'"):
        operators_from_state_dict(mha)
