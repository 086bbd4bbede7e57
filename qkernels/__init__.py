"""qkernels: quantum-inspired spectral geometry of neural-network operators (arXiv 2512.00880).

The library: exact metrics between operator states (:mod:`qkernels.geometry`), the bound checker
of Theorem 2.1 (:mod:`qkernels.bounds`), quantum-kernel estimates (:mod:`qkernels.quantum`),
models, data and training (:mod:`qkernels.nn`), backends and timing (:mod:`qkernels.hw`) and
structured pruning with QM-FRG (:mod:`qkernels.pruning`). The benchmark suite (the ``qkernels``
command, run folders, sections, reports) is :mod:`qkernels.suite`; importing ``qkernels`` does
not import it.

Example:
    >>> import numpy as np, qkernels as qk
    >>> psi = qk.state(qk.spectrum(qk.augmented(np.eye(2))))
    >>> float(qk.fs_distance(psi, psi))
    0.0
"""

from __future__ import annotations

import os as _os
import warnings as _warnings

# Vendor plug-ins (torch_npu, torch_mlu) may exit the interpreter on import when their runtime is
# missing; qkernels probes them in a subprocess instead of letting torch auto-load them.
_os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")

__version__ = "0.1.0"

from qkernels.bounds.activations import ACTIVATIONS, get_activation  # noqa: E402
from qkernels.bounds.check import ALL_BOUNDS, FALSE_BOUNDS, TRUE_BOUNDS, check_bounds, check_bounds_batch, witness_gap  # noqa: E402
from qkernels.bounds.distribution import check_in_distribution, in_distribution_bound  # noqa: E402
from qkernels.core.errors import InputError  # noqa: E402
from qkernels.geometry.distances import (  # noqa: E402
    cumulative_profile,
    fs_distance,
    pairwise_fs,
    pairwise_w2_cumulative,
    w1_cumulative,
    w2_cumulative,
    w2_empirical,
)
from qkernels.geometry.functional import (  # noqa: E402
    correlation_distances,
    filter_states,
    gram_distances,
    states_from_gram,
    whitened_operator,
)
from qkernels.geometry.metrics import metric_names, register_metric  # noqa: E402
from qkernels.geometry.operators import (  # noqa: E402
    Operator,
    OperatorList,
    SkippedModule,
    extract_operators,
    operators_from_state_dict,
)
from qkernels.geometry.spectral import augmented, operator_spectra, spectrum, state  # noqa: E402
from qkernels.geometry.tables import distance_table  # noqa: E402
from qkernels.hw.backends import Backend, available_backends, resolve_device  # noqa: E402
from qkernels.hw.latency import measure_latency  # noqa: E402
from qkernels.hw.timing import synchronize, time_callable  # noqa: E402
from qkernels.nn.checkpoints import load_state_dict  # noqa: E402
from qkernels.nn.data import DataSplits, ImageSet, SignalSet, cifar10, digits, image_folder, load_data  # noqa: E402
from qkernels.nn.models import build_model, load_model, model_names, pretrained_names  # noqa: E402
from qkernels.nn.training import compare_outputs, evaluate, recalibrate_bn, train  # noqa: E402
from qkernels.pruning import (  # noqa: E402
    PruneOptions,
    get_method,
    hardware_aware_prune,
    load_pruned,
    method_names,
    prune,
    register_method,
    save_pruned,
)
from qkernels.pruning.activations import channel_moments  # noqa: E402
from qkernels.pruning.qmfrg import RedundancyGraph, redundancy_graph  # noqa: E402
from qkernels.quantum import FSEstimate, KernelEstimate, Noise, QuantumKernel, ShotPlan, plan_shots, quantum_devices  # noqa: E402

#: Helpers that were in ``__all__`` before 0.2 and are internals of :mod:`qkernels.quantum`; they
#: still import from ``qkernels`` (with a DeprecationWarning) and live on in their module.
_DEPRECATED = {
    "bias_warning": "qkernels.quantum.estimation",
    "failure_probability": "qkernels.quantum.planner",
    "fidelity_from_counts": "qkernels.quantum.estimation",
    "fidelity_interval": "qkernels.quantum.estimation",
    "fs_bias": "qkernels.quantum.estimation",
    "fs_from_fidelity": "qkernels.quantum.estimation",
    "fs_interval": "qkernels.quantum.estimation",
    "proportion_interval": "qkernels.quantum.estimation",
}


def __getattr__(name: str):
    """Deprecated top-level names: import them from the module named in the warning."""
    if name in _DEPRECATED:
        import importlib

        module = _DEPRECATED[name]
        _warnings.warn(f"qkernels.{name} is deprecated; import it from {module}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'qkernels' has no attribute {name!r}")


__all__ = [
    "__version__",
    "InputError",
    # geometry
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
    # functional states (docs/theory.md, "Functional states")
    "correlation_distances",
    "gram_distances",
    "states_from_gram",
    "whitened_operator",
    "filter_states",
    "channel_moments",
    "extract_operators",
    "operators_from_state_dict",
    "Operator",
    "OperatorList",
    "SkippedModule",
    "distance_table",
    "register_metric",
    "metric_names",
    # bounds
    "check_bounds",
    "check_bounds_batch",
    "witness_gap",
    "in_distribution_bound",
    "check_in_distribution",
    "TRUE_BOUNDS",
    "FALSE_BOUNDS",
    "ALL_BOUNDS",
    "ACTIVATIONS",
    "get_activation",
    # quantum
    "QuantumKernel",
    "KernelEstimate",
    "FSEstimate",
    "Noise",
    "plan_shots",
    "ShotPlan",
    "quantum_devices",
    # nn
    "build_model",
    "load_model",
    "model_names",
    "pretrained_names",
    "load_state_dict",
    "load_data",
    "digits",
    "cifar10",
    "image_folder",
    "DataSplits",
    "ImageSet",
    "SignalSet",
    "train",
    "evaluate",
    "compare_outputs",
    "recalibrate_bn",
    # hw
    "available_backends",
    "resolve_device",
    "Backend",
    "synchronize",
    "time_callable",
    "measure_latency",
    # pruning
    "prune",
    "PruneOptions",
    "register_method",
    "get_method",
    "method_names",
    "save_pruned",
    "load_pruned",
    "hardware_aware_prune",
    "redundancy_graph",
    "RedundancyGraph",
]
