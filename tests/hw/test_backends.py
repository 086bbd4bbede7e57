"""Backend discovery (including a vendor plug-in that exits on import) and device resolution."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys

import pytest
import torch

from qkernels.core.errors import InputError
from qkernels.hw import backends
from qkernels.hw.backends import KNOWN_BACKENDS, Backend, available_backends, resolve_device

ALL = ["cpu", "cuda", "npu", "mlu", "xpu", "mps"]


@pytest.fixture
def fresh_backends():
    """Re-probe after the test so a fake plug-in never leaks into other tests' cached result.

    Tests list it before ``monkeypatch`` so that it is torn down after monkeypatch's undo.
    """
    yield
    importlib.invalidate_caches()
    available_backends(refresh=True)


def _by_name():
    return {b.name: b for b in available_backends()}


def test_lists_every_known_backend():
    bs = available_backends()
    assert [b.name for b in bs] == ALL
    assert set(KNOWN_BACKENDS) == set(ALL)
    for b in bs:
        assert isinstance(b.reason, str) and b.reason.strip()
        if not b.usable:
            assert b.device_count == 0 and b.device_names == ()
        else:
            assert b.device_count >= 1 and len(b.device_names) == b.device_count


def test_cpu_is_usable_with_details():
    cpu = _by_name()["cpu"]
    assert cpu.usable and cpu.device_count == 1
    assert cpu.device_names[0]
    assert cpu.details["logical_cores"] == os.cpu_count()
    assert cpu.details["torch_threads"] == torch.get_num_threads()


def test_unusable_backends_say_why_on_this_machine():
    bs = _by_name()
    if not torch.cuda.is_available():
        assert not bs["cuda"].usable and "CUDA" in bs["cuda"].reason
    if importlib.util.find_spec("torch_npu") is None:
        assert not bs["npu"].usable and "torch_npu" in bs["npu"].reason and "not installed" in bs["npu"].reason
    if importlib.util.find_spec("torch_mlu") is None:
        assert not bs["mlu"].usable and "torch_mlu" in bs["mlu"].reason
    if sys.platform != "darwin":
        assert not bs["mps"].usable and "macOS" in bs["mps"].reason


def test_as_dict_is_json_serializable():
    data = json.loads(json.dumps([b.as_dict() for b in available_backends()]))
    assert [d["name"] for d in data] == ALL
    assert all(isinstance(d["device_names"], list) for d in data)
    assert {"name", "usable", "reason", "device_count", "device_names", "details"} <= set(data[0])


def test_results_are_cached_until_refresh(fresh_backends, monkeypatch):
    first = available_backends()
    calls = []
    monkeypatch.setattr(backends, "_cpu", lambda: calls.append(1) or Backend("cpu", True, "fake", 1, ("fake cpu",)))
    assert available_backends() == first and calls == []
    refreshed = available_backends(refresh=True)
    assert calls == [1] and refreshed[0].reason == "fake"


def test_a_crashing_probe_is_reported_not_raised(fresh_backends, monkeypatch):
    def broken():
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(backends, "_xpu", broken)
    xpu = {b.name: b for b in available_backends(refresh=True)}["xpu"]
    assert not xpu.usable and "driver exploded" in xpu.reason


# ---- fake vendor plug-ins -----------------------------------------------------------------------
def _plugin(tmp_path, monkeypatch, body: str):
    pkg = tmp_path / "plugins" / "torch_npu"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body)
    site = str(tmp_path / "plugins")
    monkeypatch.syspath_prepend(site)  # for find_spec in this process
    monkeypatch.setenv("PYTHONPATH", site + os.pathsep + os.environ.get("PYTHONPATH", ""))  # for the probe
    importlib.invalidate_caches()
    return pkg


def test_plugin_that_exits_on_import_is_probed_safely(fresh_backends, tmp_path, monkeypatch):
    before = sys.modules.get("torch_npu")
    baseline = {b.name: b for b in available_backends(refresh=True)}["npu"]  # without the fake plug-in
    pkg = _plugin(tmp_path, monkeypatch, "import sys\nsys.stderr.write('no Ascend runtime\\n')\nsys.exit(1)\n")
    npu = {b.name: b for b in available_backends(refresh=True)}["npu"]
    # we are still here: the plug-in ran in a subprocess only
    assert not npu.usable
    assert "torch_npu failed to initialize" in npu.reason and "no Ascend runtime" in npu.reason
    assert sys.modules.get("torch_npu") is before  # never imported here
    with pytest.raises(InputError, match="not usable here: torch_npu failed"):
        resolve_device("npu")
    assert resolve_device("auto") == resolve_device("auto")  # auto never picks the broken plug-in
    assert resolve_device("auto").type != "npu"

    shutil.rmtree(pkg)
    importlib.invalidate_caches()
    npu = {b.name: b for b in available_backends(refresh=True)}["npu"]
    assert npu == baseline  # "not installed", or the real torch_npu's own failure (tox -e py311-npu)


def test_plugin_that_exits_silently(fresh_backends, tmp_path, monkeypatch):
    before = sys.modules.get("torch_npu")
    _plugin(tmp_path, monkeypatch, "raise SystemExit(3)\n")
    npu = {b.name: b for b in available_backends(refresh=True)}["npu"]
    assert not npu.usable and "torch_npu failed to initialize" in npu.reason
    assert sys.modules.get("torch_npu") is before


def test_plugin_without_device(fresh_backends, tmp_path, monkeypatch):
    before, before_attr = sys.modules.get("torch_npu"), getattr(torch, "npu", None)
    _plugin(tmp_path, monkeypatch, (
        "import types, torch\n"
        "torch.npu = types.SimpleNamespace(is_available=lambda: False, device_count=lambda: 0)\n"))
    npu = {b.name: b for b in available_backends(refresh=True)}["npu"]
    assert not npu.usable and "reports no npu device" in npu.reason
    assert sys.modules.get("torch_npu") is before and getattr(torch, "npu", None) is before_attr


# ---- resolve_device -----------------------------------------------------------------------------
def test_resolve_auto_here():
    usable_acc = [b.name for b in available_backends() if b.usable and b.name != "cpu"]
    dev = resolve_device("auto")
    if usable_acc:
        assert dev.type in usable_acc
    else:
        assert dev == torch.device("cpu")


@pytest.mark.parametrize("text", ["cpu", "CPU", " cpu ", "cpu:0"])
def test_resolve_cpu_spellings(text):
    dev = resolve_device(text)
    assert dev.type == "cpu"
    if text.endswith(":0"):
        assert dev.index == 0


def test_resolve_accepts_torch_device():
    assert resolve_device(torch.device("cpu")).type == "cpu"


@pytest.mark.parametrize("text,match", [("tpu", "unknown device 'tpu'"), ("gpu", "unknown device"),
                                        ("", "unknown device"), ("cpu:1", "index out of range"),
                                        ("cpu:x", "index out of range"), ("cpu:-1", "index out of range")])
def test_resolve_bad_names(text, match):
    with pytest.raises(InputError, match=match):
        resolve_device(text)


def test_unknown_device_message_lists_known_backends():
    with pytest.raises(InputError) as exc:
        resolve_device("tpu")
    for name in ALL:
        assert name in str(exc.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_resolve_unusable_cuda_gives_reason():
    with pytest.raises(InputError, match="not usable here") as exc:
        resolve_device("cuda")
    assert _by_name()["cuda"].reason in str(exc.value)
    with pytest.raises(InputError, match="not usable"):
        resolve_device("cuda:0")


def _fake(**usable):
    out = []
    for name in ALL:
        n = usable.get(name, 1 if name == "cpu" else 0)
        out.append(Backend(name, n > 0, "available" if n else "fake: absent", n, tuple(f"{name}{i}" for i in range(n))))
    return out


def test_auto_prefers_accelerators_in_documented_order(monkeypatch):
    monkeypatch.setattr(backends, "available_backends", lambda refresh=False: _fake(xpu=1, mps=1))
    assert resolve_device("auto") == torch.device("xpu")
    monkeypatch.setattr(backends, "available_backends", lambda refresh=False: _fake(cuda=2, xpu=1, mps=1))
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(backends, "available_backends", lambda refresh=False: _fake())
    assert resolve_device("auto") == torch.device("cpu")


def test_device_index_checked_against_count(monkeypatch):
    monkeypatch.setattr(backends, "available_backends", lambda refresh=False: _fake(cuda=2))
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda")
    with pytest.raises(InputError, match="index out of range"):
        resolve_device("cuda:2")
