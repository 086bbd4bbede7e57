"""The thread policy of the kernels (qkernels.core.threads)."""

from __future__ import annotations

import os

import pytest
import torch

from qkernels.core import threads
from qkernels.core.errors import InputError
from qkernels.core.threads import ENV, free_cores, kernel_threads, other_runnable, policy_threads


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def test_serial_is_one_thread_and_the_count_is_restored(two_threads):
    with kernel_threads("serial") as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), kernel_threads("serial"):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


def test_shared_leaves_half_the_cores_and_full_keeps_torchs(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "_allowed_cores", lambda: 2)
    monkeypatch.setattr(threads, "other_runnable", lambda probes=3: 1)  # the load must not matter
    assert policy_threads("shared") == 1 and policy_threads("full") == 2
    monkeypatch.setattr(threads, "_allowed_cores", lambda: 16)
    assert policy_threads("shared") == 2  # never above torch's count
    torch.set_num_threads(16)
    assert policy_threads("shared") == 8 and policy_threads("full") == 16
    assert policy_threads("shared", work=10) == policy_threads("full", work=10) == 1  # small work: one thread


def test_auto_takes_the_free_cores(two_threads, monkeypatch):
    monkeypatch.setenv(ENV, "auto")
    monkeypatch.setattr(threads, "_allowed_cores", lambda: 2)
    monkeypatch.setattr(threads, "other_runnable", lambda probes=3: 0)
    assert policy_threads("shared") == policy_threads("full") == 2
    monkeypatch.setattr(threads, "other_runnable", lambda probes=3: 1)  # one core taken by another process
    assert policy_threads("full") == 1
    monkeypatch.setattr(threads, "other_runnable", lambda probes=3: 5)  # never below one
    assert policy_threads("full") == 1
    monkeypatch.setattr(threads, "other_runnable", lambda probes=3: None)  # unreadable: torch's count
    assert policy_threads("full") == 2


def test_never_above_torch_threads(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(threads, "_allowed_cores", lambda: 64)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert policy_threads("shared") == policy_threads("full") == 1
    finally:
        torch.set_num_threads(old)


def test_same_bits_under_load():
    """The policy depends on the machine, not on the load: a kernel gives the same bits busy or quiet."""
    from qkernels import extract_operators, operator_spectra, pairwise_w2_cumulative, state
    from qkernels.nn.models import build_model
    from qkernels.suite.speed.contention import competing_load

    ops = extract_operators(build_model("mlp", seed=0))
    quiet = operator_spectra(ops)
    X = torch.stack([state(torch.nn.functional.pad(s, (0, 300 - len(s)))) for s in quiet])
    wq = pairwise_w2_cumulative(X)
    with competing_load(1):
        busy = operator_spectra(ops)
        wb = pairwise_w2_cumulative(X)
    assert all(torch.equal(a, b) for a, b in zip(quiet, busy)) and torch.equal(wq, wb)


def test_environment_fixes_the_count_and_a_bad_value_is_an_error(two_threads, monkeypatch):
    monkeypatch.setenv(ENV, "2")
    assert policy_threads("serial") == 2
    monkeypatch.setenv(ENV, "0")
    assert policy_threads("serial") == 1
    for bad in ("two", "-1"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(InputError, match=ENV):
            policy_threads("shared")
    with pytest.raises(InputError, match="policy"):
        policy_threads("fast")  # type: ignore[arg-type]


def test_other_devices_are_left_alone(two_threads):
    with kernel_threads("serial", device="cuda") as n:
        assert n == 2 == torch.get_num_threads()


@pytest.mark.skipif(not os.path.exists("/proc/loadavg") or threads._allowed_cores() < 2,
                    reason="needs Linux /proc and two cores")
def test_a_spinning_process_is_seen():
    from qkernels.suite.speed.contention import competing_load

    assert other_runnable() is not None
    with competing_load(1):
        seen = min(free_cores() for _ in range(5))
    assert seen < threads._allowed_cores()


def test_kernels_restore_the_thread_count(two_threads):
    import numpy as np

    from qkernels import pairwise_fs, pairwise_w2_cumulative

    X = np.eye(4)
    pairwise_fs(X), pairwise_w2_cumulative(X)
    assert torch.get_num_threads() == 2


def test_check_environment_refuses_a_bad_thread_count(monkeypatch):
    from qkernels.core.envvars import check_environment

    monkeypatch.setenv(ENV, "many")
    with pytest.raises(InputError, match=ENV):
        check_environment()
    monkeypatch.setenv(ENV, "1")
    check_environment()
