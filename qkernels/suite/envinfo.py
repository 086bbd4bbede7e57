"""The environment record (``env.json``) written beside every run's results.

Example:
    >>> env = collect_env(seed=0, profile="quick", device="cpu")
    >>> sorted(env)[:4]
    ['argv', 'cpu', 'device', 'devices']
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch

from qkernels.hw.backends import available_backends

#: Distributions whose versions every run records (None when not installed).
TRACKED_PACKAGES = ("qkernels", "torch", "pennylane", "pennylane-lightning", "pennylane-lightning-gpu",
                    "pennylane-lightning-kokkos", "POT", "numpy", "scipy", "pandas", "torch-pruning", "pytest-benchmark",
                    "matplotlib", "safetensors", "threadpoolctl", "scikit-learn", "Pillow")

_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONHASHSEED", "CUDA_VISIBLE_DEVICES",
             "ASCEND_RT_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG", "TORCH_DEVICE_BACKEND_AUTOLOAD", "QK_DEVICE",
             "QK_REQUIRE_DEVICE", "QK_KERNEL_THREADS", "QK_QDEVICE")


def utc_now() -> str:
    """The current UTC time in ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    """Installed versions of :data:`TRACKED_PACKAGES`."""
    out: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: str | Path | None = None) -> dict[str, str | bool | None]:
    """The git commit (and whether the tree is dirty) of the checkout holding ``path``."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _quantum_devices() -> list[dict]:
    """The PennyLane devices of the quantum kernels, usable or not (empty if PennyLane cannot load)."""
    try:
        from qkernels.quantum.devices import quantum_devices

        return quantum_devices()
    except Exception as exc:  # noqa: BLE001 - the record must not fail a run
        return [{"name": "pennylane", "usable": False, "reason": f"{type(exc).__name__}: {exc}"}]


def collect_env(*, seed: int, profile: str, device: str, extra: dict | None = None) -> dict:
    """Everything needed to reproduce a run: versions, machine, devices, seeds, settings."""
    cpu = next(b for b in available_backends() if b.name == "cpu")
    env = {
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "os": platform.platform(),
        "cpu": cpu.device_names[0] if cpu.device_names else platform.processor(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "device": device,
        "devices": [b.as_dict() for b in available_backends()],
        "quantum_devices": _quantum_devices(),
        "torch_flags": {
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cuda_matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_tf32": torch.backends.cudnn.allow_tf32,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        },
        "seeds": {"seed": seed},
        "profile": profile,
        "git": git_commit(),
        "argv": sys.argv,
        "env_vars": {k: os.environ[k] for k in _ENV_VARS if k in os.environ},
    }
    if extra:
        env.update(extra)
    return env


__all__ = ["collect_env", "package_versions", "git_commit", "utc_now", "TRACKED_PACKAGES"]
