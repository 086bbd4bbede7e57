"""The helpers several modules share: the Torch-Pruning handler tables, the device of a model,
NumPy/torch hand-back."""

from __future__ import annotations

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from qkernels.core.arrays import restore
from qkernels.nn import model_device
from qkernels.nn.models import build_model, model_spec
from qkernels.pruning import criteria
from qkernels.pruning.groups import IN_FNS, OUT_FNS, by_root, is_weighted
from qkernels.pruning.qmfrg import channels, merge


def test_one_handler_table():
    assert set(OUT_FNS) == {tp.prune_conv_out_channels, tp.prune_linear_out_channels}
    assert set(IN_FNS) == {tp.prune_conv_in_channels, tp.prune_linear_in_channels}
    assert criteria.OUT_FNS is channels.OUT_FNS is OUT_FNS and merge.IN_FNS is channels.IN_FNS is IN_FNS
    assert by_root([3, 4, 5], [1, 0, 1]) == ([1, 0], [[3, 5], [4]])
    assert is_weighted(nn.Linear(2, 2)) and is_weighted(nn.Conv1d(1, 1, 1)) and not is_weighted(nn.BatchNorm2d(2))
    assert not is_weighted(nn.ConvTranspose2d(1, 1, 2))


def test_model_device():
    assert model_device(build_model("mlp", in_features=4, hidden=(2,))) == torch.device("cpu")
    assert model_device(nn.Sequential(nn.ReLU())) == torch.device("cpu")
    assert model_device(nn.Linear(2, 2).double()) == torch.device("cpu")


def test_restore_both_ways():
    t = torch.arange(3.0)
    assert isinstance(restore(t, "numpy"), np.ndarray) and restore(t, "torch") is t
    a = np.arange(3.0)
    assert restore(a, "numpy") is a
    back = restore(a, "torch")
    assert isinstance(back, torch.Tensor) and back.tolist() == [0.0, 1.0, 2.0]
    assert restore(np.array(1.5), "numpy") == 1.5 and np.ndim(restore(np.array(1.5), "numpy")) == 0
    assert restore(np.ones((2, 3))[:, ::2], "torch").shape == (2, 2)


def test_model_spec_is_public():
    assert model_spec("resnet18").classifier == "fc.weight"
