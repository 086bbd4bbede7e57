"""The PennyLane devices the quantum kernels run on, and whether each is usable here.

Known devices (``QUANTUM_DEVICES``):

* ``default.qubit``: PennyLane's NumPy state-vector simulator (batches natively).
* ``lightning.qubit``: the C++ state-vector simulator of ``pennylane-lightning`` (a dependency).
* ``default.mixed``: the density-matrix simulator, the only one that takes noise here
  (memory 4^wires instead of 2^wires).
* ``lightning.gpu``: NVIDIA GPUs (``pip install "qkernels[gpu]"``, i.e. pennylane-lightning-gpu,
  plus a CUDA driver).
* ``lightning.kokkos``: Kokkos build (``pip install "qkernels[kokkos]"``; the PyPI wheel runs on
  CPUs with OpenMP, GPU builds come from source or conda).

A name outside this list, or a device whose plug-in is not installed, is refused with
:class:`~qkernels.core.errors.InputError` saying what to install. A plug-in that is installed but
cannot start (lightning.gpu without a GPU) is refused with the plug-in's own reason.

Example:
    >>> check_device_name("default.qubit").kind
    'statevector'
    >>> check_device_name("default.mixed").kind
    'mixed'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any, Literal

from qkernels.core.errors import InputError


@dataclass(frozen=True)
class DeviceSpec:
    """A PennyLane device qkernels knows: its simulation kind and where it comes from."""

    name: str
    kind: Literal["statevector", "mixed"]
    distribution: str
    install: str
    accelerator: bool = False


QUANTUM_DEVICES: dict[str, DeviceSpec] = {
    s.name: s
    for s in (
        DeviceSpec("default.qubit", "statevector", "pennylane", "pip install pennylane"),
        DeviceSpec("lightning.qubit", "statevector", "pennylane-lightning", "pip install pennylane-lightning"),
        DeviceSpec("default.mixed", "mixed", "pennylane", "pip install pennylane"),
        DeviceSpec("lightning.gpu", "statevector", "pennylane-lightning-gpu",
                   'pip install "qkernels[gpu]" (pennylane-lightning-gpu; needs an NVIDIA GPU and driver)', True),
        DeviceSpec("lightning.kokkos", "statevector", "pennylane-lightning-kokkos",
                   'pip install "qkernels[kokkos]" (pennylane-lightning-kokkos)', False),
    )
}


@lru_cache(maxsize=1)
def _plugin_names() -> frozenset[str]:
    return frozenset(ep.name for ep in metadata.entry_points(group="pennylane.plugins"))


def is_installed(name: str) -> bool:
    """Whether a PennyLane plug-in registers the device ``name`` in this environment."""
    return name in _plugin_names()


def check_device_name(name: object) -> DeviceSpec:
    """The spec of a known, installed device; InputError naming the problem otherwise."""
    if not isinstance(name, str) or name not in QUANTUM_DEVICES:
        raise InputError(f"device: unknown quantum device {name!r}; known devices: {', '.join(QUANTUM_DEVICES)}")
    spec = QUANTUM_DEVICES[name]
    if not is_installed(name):
        raise InputError(f"device {name!r}: its plug-in ({spec.distribution}) is not installed; {spec.install}")
    return spec


@lru_cache(maxsize=None)
def device_usable(name: str) -> tuple[bool, str]:
    """(usable, reason) for a known device: installed, and a 1-wire instance starts."""
    if name not in QUANTUM_DEVICES:
        return False, "unknown device"
    if not is_installed(name):
        spec = QUANTUM_DEVICES[name]
        return False, f"plug-in {spec.distribution} is not installed ({spec.install})"
    try:
        import pennylane as qml

        qml.device(name, wires=1)
    except Exception as exc:  # a broken or hardware-less plug-in must not take the suite down
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    return True, "available"


def quantum_devices() -> list[dict]:
    """Every known device with ``installed``, ``usable`` and the reason (for reports and tests).

    Example:
        >>> {d["name"]: d["usable"] for d in quantum_devices()}["default.qubit"]
        True
    """
    out = []
    for name, spec in QUANTUM_DEVICES.items():
        usable, reason = device_usable(name)
        out.append({"name": name, "kind": spec.kind, "installed": is_installed(name), "usable": usable,
                    "reason": reason, "distribution": spec.distribution})
    return out


def make_device(name: str, wires: int, seed: int | None) -> Any:
    """A PennyLane device with ``wires`` wires and a sampling seed (InputError if it cannot start)."""
    spec = check_device_name(name)
    import pennylane as qml

    try:
        return qml.device(spec.name, wires=wires, seed=seed)
    except Exception as exc:
        raise InputError(f"device {name!r} could not start with {wires} wires: {type(exc).__name__}: {exc}") from None


__all__ = ["DeviceSpec", "QUANTUM_DEVICES", "check_device_name", "is_installed", "device_usable", "quantum_devices",
           "make_device"]
