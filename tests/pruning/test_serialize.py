"""Pruned models on disk: exact round trip without pickle, and clear errors for bad files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from qkernels.core.errors import InputError
from qkernels.nn.models import build_model
from qkernels.pruning import load_pruned, prune, save_pruned
from qkernels.pruning.serialize import read_pruned_meta

X = torch.randn(2, 3, 16, 16)


@pytest.mark.parametrize("arch,kwargs", [
    ("resnet18_small", {"width": 0.25, "num_classes": 10}),
    ("mlp", {"in_features": 768, "hidden": (32, 16), "num_classes": 10}),
    ("vit_tiny", {"image_size": 16, "num_classes": 10}),
])
def test_round_trip_is_exact(tmp_path, arch, kwargs):
    model = build_model(arch, **kwargs)
    pm, rec = prune(model, "l2", 0.6, X[:1])
    path = tmp_path / "m.safetensors"
    save_pruned(pm, path, arch=arch, arch_kwargs=kwargs, extra={k: v for k, v in rec.items() if k != "removed"})
    back, meta = load_pruned(path)
    a, b = pm.state_dict(), back.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(pm(X), back(X))
    assert meta["extra"]["method"] == "l2" and meta["arch"] == arch
    assert b"pickle" not in path.read_bytes()[:200]  # safetensors header, JSON metadata


def test_file_format_is_json_counts_plus_tensors(tmp_path):
    pm, _ = prune(build_model("resnet18_small", width=0.125), "l1", 0.5, X[:1])
    path = save_pruned(pm, tmp_path / "r.safetensors", arch="resnet18_small", arch_kwargs={"width": 0.125})
    meta = read_pruned_meta(path)
    assert meta["format"] == "qkernels-pruned" and meta["channels"]["conv1"] == {"type": "Conv2d", "in": 3, "out": 4}
    assert meta["channels"]["fc"]["out"] == 10
    assert set(load_file(str(path))) == set(pm.state_dict())


def test_tampered_counts_name_the_tensor(tmp_path):
    pm, _ = prune(build_model("mlp", in_features=768, hidden=(32,)), "l1", 0.5, X[:1])
    path = save_pruned(pm, tmp_path / "m.safetensors", arch="mlp", arch_kwargs={"in_features": 768, "hidden": [32]})
    meta = read_pruned_meta(path)
    meta["channels"]["net.1"]["out"] = 20  # the tensors say 16
    meta["channels"]["net.3"]["in"] = 20
    save_file(load_file(str(path)), str(path), metadata={"qkernels": json.dumps(meta)})
    with pytest.raises(InputError, match="'net.1.weight' has shape"):
        load_pruned(path)


def test_counts_larger_than_the_architecture(tmp_path):
    pm, _ = prune(build_model("mlp", in_features=768, hidden=(32,)), "l1", 0.5, X[:1])
    path = save_pruned(pm, tmp_path / "m.safetensors", arch="mlp", arch_kwargs={"in_features": 768, "hidden": [8]})
    with pytest.raises(InputError, match="net.1.*asks for 16"):
        load_pruned(path)


def test_foreign_and_missing_files(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(InputError, match="no qkernels metadata"):
        load_pruned(plain)
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable safetensors"):
        load_pruned(tmp_path / "junk.safetensors")
    with pytest.raises(InputError, match="no such file"):
        load_pruned(tmp_path / "absent.safetensors")
    with pytest.raises(InputError, match="unknown architecture"):
        save_pruned(build_model("mlp"), tmp_path / "x.safetensors", arch="alexnet")
