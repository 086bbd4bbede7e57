"""The public API: every name of 0.1's ``qkernels.__all__`` still imports from ``qkernels``; the
internals dropped from ``__all__`` warn; the names the README imports are at the top level.
"""

from __future__ import annotations

import warnings

import pytest

import qkernels as qk

ALL_0_1 = [
    "ACTIVATIONS", "ALL_BOUNDS", "Backend", "DataSplits", "FALSE_BOUNDS", "FSEstimate", "ImageSet", "InputError",
    "KernelEstimate", "Noise", "Operator", "OperatorList", "QuantumKernel", "ShotPlan", "SkippedModule",
    "TRUE_BOUNDS", "__version__", "augmented", "available_backends", "bias_warning", "build_model", "check_bounds",
    "check_bounds_batch", "cifar10", "cumulative_profile", "digits", "distance_table", "evaluate",
    "extract_operators", "failure_probability", "fidelity_from_counts", "fidelity_interval", "fs_bias",
    "fs_distance", "fs_from_fidelity", "fs_interval", "get_activation", "get_method", "image_folder", "load_data",
    "load_model", "load_pruned", "load_state_dict", "method_names", "model_names", "operator_spectra",
    "operators_from_state_dict", "pairwise_fs", "pairwise_w2_cumulative", "plan_shots", "proportion_interval",
    "prune", "quantum_devices", "recalibrate_bn", "register_method", "resolve_device", "save_pruned", "spectrum",
    "state", "synchronize", "time_callable", "train", "w1_cumulative", "w2_cumulative", "w2_empirical",
    "witness_gap",
]


@pytest.mark.parametrize("name", ALL_0_1)
def test_every_old_name_still_imports(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(f"from qkernels import {name}", {})


@pytest.mark.parametrize("name", sorted(qk._DEPRECATED))
def test_internals_left_all_with_a_deprecation(name):
    assert name not in qk.__all__
    with pytest.warns(DeprecationWarning, match=qk._DEPRECATED[name]):
        obj = getattr(qk, name)
    module = __import__(qk._DEPRECATED[name], fromlist=[name])
    assert obj is getattr(module, name)


def test_all_names_resolve_and_are_unique():
    assert len(set(qk.__all__)) == len(qk.__all__)
    for name in qk.__all__:
        assert hasattr(qk, name), name


@pytest.mark.parametrize("name", ["measure_latency", "hardware_aware_prune", "redundancy_graph", "RedundancyGraph"])
def test_readme_names_at_top_level(name):
    assert name in qk.__all__


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        qk.no_such_name  # noqa: B018
