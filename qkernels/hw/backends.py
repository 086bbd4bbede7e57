"""Discovery of compute backends (cpu, cuda, npu, mlu, xpu, mps) and device resolution.

Vendor plug-ins such as Ascend's ``torch_npu`` call ``sys.exit()`` on import when their runtime
is missing, so they are first probed in a subprocess; only a probe that succeeds lets the plug-in
be imported here. ``qkernels/__init__`` sets ``TORCH_DEVICE_BACKEND_AUTOLOAD=0`` (unless the user
set it) so that importing torch does not auto-load such plug-ins either.

Example:
    >>> [b.name for b in available_backends()][:2]
    ['cpu', 'cuda']
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import torch

from qkernels.core.errors import InputError

#: Backends the suite knows, in the order ``auto`` prefers them (cpu last).
KNOWN_BACKENDS = ("cuda", "npu", "mlu", "xpu", "mps", "cpu")

_PLUGINS = {"npu": "torch_npu", "mlu": "torch_mlu"}


@dataclass(frozen=True)
class Backend:
    """One backend: whether it is usable here and, if not, why."""

    name: str
    usable: bool
    reason: str
    device_count: int = 0
    device_names: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Plain-data form (for JSON)."""
        d = asdict(self)
        d["device_names"] = list(self.device_names)
        return d


def _cpu() -> Backend:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            name = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), name)
    except OSError:
        pass
    return Backend("cpu", True, "always available", 1, (name,),
                   {"logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads()})


def _cuda() -> Backend:
    if not torch.cuda.is_available():
        why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA device or driver found"
        return Backend("cuda", False, why)
    n = torch.cuda.device_count()
    names = tuple(torch.cuda.get_device_name(i) for i in range(n))
    return Backend("cuda", True, "available", n, names, {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()})


def _probe_plugin(name: str) -> Backend:
    module = _PLUGINS[name]
    if importlib.util.find_spec(module) is None:
        return Backend(name, False, f"{module} is not installed")
    code = (
        f"import torch, {module}; m = torch.{name}; "
        "print(int(m.is_available()), m.device_count() if m.is_available() else 0)"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return Backend(name, False, f"probing {module} timed out after 120 s")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return Backend(name, False, f"{module} failed to initialize: {last}")
    avail, count = proc.stdout.split()[-2:]
    if avail != "1":
        return Backend(name, False, f"{module} is installed but reports no {name} device")
    importlib.import_module(module)  # safe now: the probe showed it initializes
    dev = getattr(torch, name)
    n = int(count)
    names = tuple(str(dev.get_device_name(i)) if hasattr(dev, "get_device_name") else name for i in range(n))
    return Backend(name, True, "available", n, names)


def _xpu() -> Backend:
    if not hasattr(torch, "xpu") or not torch.xpu.is_available():
        return Backend("xpu", False, "no Intel XPU device (or torch built without XPU)")
    n = torch.xpu.device_count()
    return Backend("xpu", True, "available", n, tuple(torch.xpu.get_device_name(i) for i in range(n)))


def _mps() -> Backend:
    if not torch.backends.mps.is_available():
        why = "not macOS on Apple silicon" if sys.platform != "darwin" else "MPS not available in this torch build"
        return Backend("mps", False, why)
    return Backend("mps", True, "available", 1, ("Apple GPU",))


@lru_cache(maxsize=1)
def _discover() -> tuple[Backend, ...]:
    probes = {"cpu": _cpu, "cuda": _cuda, "npu": lambda: _probe_plugin("npu"), "mlu": lambda: _probe_plugin("mlu"),
              "xpu": _xpu, "mps": _mps}
    out = []
    for name in ("cpu", "cuda", "npu", "mlu", "xpu", "mps"):
        try:
            out.append(probes[name]())
        except Exception as exc:  # a broken plug-in must not take the suite down
            out.append(Backend(name, False, f"probe failed: {type(exc).__name__}: {exc}"))
    return tuple(out)


def available_backends(refresh: bool = False) -> list[Backend]:
    """Every backend the suite knows, with ``usable`` and the reason (probed once, cached)."""
    if refresh:
        _discover.cache_clear()
    return list(_discover())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``npu`` ... into a usable torch.device.

    ``auto`` takes the first usable accelerator (cuda, npu, mlu, xpu, mps), else the CPU.

    Raises:
        InputError: an unknown backend, or one that is not usable here (with the reason).
    """
    text = str(name).strip().lower()
    backends = {b.name: b for b in available_backends()}
    if text == "auto":
        for cand in KNOWN_BACKENDS:
            if backends[cand].usable:
                return torch.device(cand)
        return torch.device("cpu")  # pragma: no cover - cpu is always usable
    kind, _, index = text.partition(":")
    if kind not in backends:
        raise InputError(f"unknown device {name!r}; known backends: auto, {', '.join(sorted(backends))}")
    b = backends[kind]
    if not b.usable:
        raise InputError(f"device {name!r} is not usable here: {b.reason}")
    if index:
        if not index.isdigit() or int(index) >= max(1, b.device_count):
            raise InputError(f"device {name!r}: index out of range ({b.device_count} {kind} device(s))")
        return torch.device(kind, int(index))
    return torch.device(kind)


__all__ = ["Backend", "KNOWN_BACKENDS", "available_backends", "resolve_device"]
