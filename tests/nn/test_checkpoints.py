"""Tests of qkernels.nn.checkpoints.load_state_dict: round trips, wrappers, and refusals."""

from __future__ import annotations

import collections
import os
import random

import pytest
import torch
from safetensors.torch import save_file

from qkernels.core.errors import InputError
from qkernels.nn.checkpoints import load_state_dict


def sample_state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "conv.bias": torch.randn(4, generator=g),
        "bn.running_mean": torch.randn(4, generator=g, dtype=torch.float64),
        "bn.num_batches_tracked": torch.tensor(5),
        "fc.weight": torch.randn(2, 4, generator=g).half(),
    }


def assert_same(got: dict, want: dict):
    assert isinstance(got, dict)
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert torch.equal(got[k], want[k]), k
        assert got[k].device.type == "cpu"


class WritesMarker:
    """Unpickling this object opens (creates) a marker file: harmless, but code from the file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


# --------------------------------------------------------------------------- round trips
def test_round_trip_pt(tmp_path):
    sd = sample_state()
    p = tmp_path / "m.pt"
    torch.save(sd, p)
    assert_same(load_state_dict(p), sd)
    assert_same(load_state_dict(str(p)), sd)


def test_round_trip_legacy_format(tmp_path):
    sd = sample_state()
    p = tmp_path / "m.pth"
    torch.save(sd, p, _use_new_zipfile_serialization=False)
    assert_same(load_state_dict(p), sd)


def test_round_trip_ordered_dict_any_suffix(tmp_path):
    sd = collections.OrderedDict(sample_state())
    p = tmp_path / "weights.bin"
    torch.save(sd, p)
    assert_same(load_state_dict(p), dict(sd))


def test_round_trip_safetensors(tmp_path):
    sd = {k: v.contiguous() for k, v in sample_state().items()}
    p = tmp_path / "m.safetensors"
    save_file(sd, str(p))
    got = load_state_dict(p)
    assert set(got) == set(sd)
    for k in sd:
        assert got[k].dtype == sd[k].dtype and torch.equal(got[k], sd[k]), k


# --------------------------------------------------------------------------- wrappers
@pytest.mark.parametrize("key", ["state_dict", "model_state_dict", "model", "module", "net", "weights"])
def test_wrapper_unwrapped(tmp_path, key):
    sd = sample_state()
    p = tmp_path / "w.pt"
    torch.save({key: sd, "epoch": 3, "note": "x"}, p)
    assert_same(load_state_dict(p), sd)


def test_nested_wrapper_and_module_prefix(tmp_path):
    sd = sample_state()
    prefixed = {f"module.{k}": v for k, v in sd.items()}
    p = tmp_path / "dp.pt"
    torch.save({"model": {"state_dict": prefixed}, "optimizer_name": "sgd"}, p)
    assert_same(load_state_dict(p), sd)
    p2 = tmp_path / "dp2.pt"
    torch.save(prefixed, p2)
    assert_same(load_state_dict(p2), sd)


def test_partial_module_prefix_kept(tmp_path):
    """Only a prefix shared by every key is DataParallel's; otherwise names are left alone."""
    sd = {"module.a": torch.ones(2), "b": torch.zeros(2)}
    p = tmp_path / "p.pt"
    torch.save(sd, p)
    assert list(load_state_dict(p)) == ["module.a", "b"]


def test_non_tensor_entries_dropped(tmp_path):
    sd = sample_state()
    p = tmp_path / "mixed.pt"
    torch.save({**sd, "epoch": 3, "names": ["a", "b"]}, p)
    assert_same(load_state_dict(p), sd)


# --------------------------------------------------------------------------- refusals
def test_malicious_pickle_refused(tmp_path):
    marker = tmp_path / "marker_refused"
    p = tmp_path / "evil.pt"
    torch.save({"fc.weight": torch.ones(2, 2), "payload": WritesMarker(str(marker))}, p)
    assert not marker.exists()  # saving runs nothing
    with pytest.raises(InputError, match="refused") as info:
        load_state_dict(p)
    assert isinstance(info.value, ValueError)
    assert str(p) in str(info.value)
    assert not marker.exists()
    # control: an unsafe load of an identical file does run the payload (the test can fail)
    marker2 = tmp_path / "marker_control"
    p2 = tmp_path / "evil2.pt"
    torch.save({"fc.weight": torch.ones(2, 2), "payload": WritesMarker(str(marker2))}, p2)
    torch.load(p2, weights_only=False)
    assert marker2.exists()


def test_malicious_pickle_os_system_refused(tmp_path):
    marker = tmp_path / "marker_system"

    class SystemCall:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    p = tmp_path / "evil_system.pt"
    torch.save({"payload": SystemCall(), "w": torch.ones(1)}, p)
    with pytest.raises(InputError):
        load_state_dict(p)
    assert not marker.exists()


def test_truncated_file(tmp_path):
    p = tmp_path / "m.pt"
    torch.save(sample_state(), p)
    data = p.read_bytes()
    for cut in (len(data) // 2, 10, len(data) - 30):
        t = tmp_path / f"trunc_{cut}.pt"
        t.write_bytes(data[:cut])
        with pytest.raises(InputError, match="trunc_"):
            load_state_dict(t)


def test_corrupted_file(tmp_path):
    p = tmp_path / "garbage.pt"
    p.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(InputError, match="garbage"):
        load_state_dict(p)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(InputError):
        load_state_dict(empty)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(InputError):
        load_state_dict(text)


def test_corrupted_safetensors(tmp_path):
    p = tmp_path / "m.safetensors"
    save_file({"a": torch.ones(100, 10)}, str(p))
    data = p.read_bytes()
    t = tmp_path / "trunc.safetensors"
    t.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="safetensors"):
        load_state_dict(t)
    g = tmp_path / "garbage.safetensors"
    g.write_bytes(b"\xff" * 64)
    with pytest.raises(InputError, match="safetensors"):
        load_state_dict(g)
    # a torch pickle with a .safetensors name is not readable as safetensors
    wrong = tmp_path / "wrong.safetensors"
    torch.save({"a": torch.ones(2)}, wrong)
    with pytest.raises(InputError):
        load_state_dict(wrong)


def test_directory_and_missing_path(tmp_path):
    with pytest.raises(InputError, match="not a regular file"):
        load_state_dict(tmp_path)
    d = tmp_path / "dir.pt"
    d.mkdir()
    with pytest.raises(InputError, match="not a regular file"):
        load_state_dict(d)
    missing = tmp_path / "nope.pt"
    with pytest.raises(InputError, match="no such file") as info:
        load_state_dict(missing)
    assert "nope.pt" in str(info.value)


@pytest.mark.parametrize(
    "obj",
    [{"a": 1, "b": "x"}, {}, [torch.ones(2)], torch.ones(3), 42, {"state_dict": {"epoch": 1}}, {"state_dict": [torch.ones(2)]}],
    ids=["no-tensors", "empty-dict", "list", "bare-tensor", "int", "wrapper-without-tensors", "wrapper-list"],
)
def test_file_without_state_dict(tmp_path, obj):
    p = tmp_path / "x.pt"
    torch.save(obj, p)
    with pytest.raises(InputError, match="x.pt"):
        load_state_dict(p)
