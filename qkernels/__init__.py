"""qkernels: quantum-inspired spectral geometry of neural-network operators (arXiv 2512.00880).

Exact metrics between operator states, quantum-kernel estimates of them (PennyLane), the bound
checker of Theorem 2.1, structured pruning with its benchmark harness, the ``qkernels`` command
and its run folders.

Example:
    >>> import numpy as np, qkernels as qk
    >>> psi = qk.state(qk.spectrum(qk.augmented(np.eye(2))))
    >>> float(qk.fs_distance(psi, psi))
    0.0
"""

from __future__ import annotations

import os as _os

# Vendor plug-ins (torch_npu, torch_mlu) may exit the interpreter on import when their runtime is
# missing; qkernels probes them in a subprocess instead of letting torch auto-load them.
_os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")

__version__ = "0.1.0"

from qkernels.bounds.activations import ACTIVATIONS, get_activation  # noqa: E402
from qkernels.hw.backends import Backend, available_backends, resolve_device  # noqa: E402
from qkernels.bounds.check import (
    ALL_BOUNDS,
    FALSE_BOUNDS,
    TRUE_BOUNDS,
    check_bounds,
    check_bounds_batch,
    witness_gap,
)  # noqa: E402
from qkernels.nn.checkpoints import load_state_dict  # noqa: E402
from qkernels.geometry.distances import (
    cumulative_profile,
    fs_distance,
    pairwise_fs,
    pairwise_w2_cumulative,
    w1_cumulative,
    w2_cumulative,
    w2_empirical,
)
from qkernels.core.errors import InputError  # noqa: E402
from qkernels.nn.models import build_model, load_model, model_names  # noqa: E402
from qkernels.geometry.operators import (
    Operator,
    OperatorList,
    SkippedModule,
    extract_operators,
    operators_from_state_dict,
)  # noqa: E402
from qkernels.geometry.tables import distance_table  # noqa: E402
from qkernels.quantum import (
    FSEstimate,
    KernelEstimate,
    Noise,
    QuantumKernel,
    ShotPlan,
    bias_warning,
    failure_probability,
    fidelity_from_counts,
    fidelity_interval,
    fs_bias,
    fs_from_fidelity,
    fs_interval,
    plan_shots,
    proportion_interval,
    quantum_devices,
)
from qkernels.geometry.spectral import augmented, operator_spectra, spectrum, state  # noqa: E402
from qkernels.hw.timing import synchronize, time_callable  # noqa: E402
from qkernels.nn.data import DataSplits, ImageSet, cifar10, digits, image_folder, load_data  # noqa: E402
from qkernels.nn.training import evaluate, recalibrate_bn, train  # noqa: E402
from qkernels.pruning import get_method, load_pruned, method_names, prune, register_method, save_pruned

__all__ = [
    "__version__",
    "InputError",
    "augmented",
    "spectrum",
    "state",
    "operator_spectra",
    "fs_distance",
    "pairwise_fs",
    "w2_cumulative",
    "pairwise_w2_cumulative",
    "w1_cumulative",
    "w2_empirical",
    "cumulative_profile",
    "extract_operators",
    "operators_from_state_dict",
    "Operator",
    "OperatorList",
    "SkippedModule",
    "distance_table",
    "check_bounds",
    "check_bounds_batch",
    "witness_gap",
    "TRUE_BOUNDS",
    "FALSE_BOUNDS",
    "ALL_BOUNDS",
    "ACTIVATIONS",
    "get_activation",
    "build_model",
    "load_model",
    "model_names",
    "load_state_dict",
    "available_backends",
    "resolve_device",
    "Backend",
    "synchronize",
    "time_callable",
    "QuantumKernel",
    "KernelEstimate",
    "FSEstimate",
    "Noise",
    "plan_shots",
    "ShotPlan",
    "failure_probability",
    "fidelity_from_counts",
    "fidelity_interval",
    "fs_interval",
    "fs_from_fidelity",
    "proportion_interval",
    "bias_warning",
    "fs_bias",
    "quantum_devices",
    "load_data",
    "digits",
    "cifar10",
    "image_folder",
    "DataSplits",
    "ImageSet",
    "train",
    "evaluate",
    "recalibrate_bn",
    "prune",
    "register_method",
    "get_method",
    "method_names",
    "save_pruned",
    "load_pruned",
]
