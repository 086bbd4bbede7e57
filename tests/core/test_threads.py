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


def test_adaptive_takes_the_free_cores(two_threads, monkeypatch):
    monkeypatch.setattr(threads, "_allowed_cores", lambda: 2)
    monkeypatch.setattr(threads, "other_runnable", lambda: 0)
    assert policy_threads("adaptive") == 2
    monkeypatch.setattr(threads, "other_runnable", lambda: 1)  # one core taken by another process
    assert policy_threads("adaptive") == 1
    monkeypatch.setattr(threads, "other_runnable", lambda: 5)  # never below one
    assert policy_threads("adaptive") == 1
    monkeypatch.setattr(threads, "other_runnable", lambda: None)  # unreadable: torch's count
    assert policy_threads("adaptive") == 2
    assert policy_threads("adaptive", work=10) == 1  # small work: no probe, one thread


def test_never_above_torch_threads(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(threads, "_allowed_cores", lambda: 64)
    monkeypatch.setattr(threads, "other_runnable", lambda: 0)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert policy_threads("adaptive") == 1
    finally:
        torch.set_num_threads(old)


def test_environment_fixes_the_count_and_a_bad_value_is_an_error(two_threads, monkeypatch):
    monkeypatch.setenv(ENV, "2")
    assert policy_threads("serial") == 2
    monkeypatch.setenv(ENV, "0")
    assert policy_threads("serial") == 1
    for bad in ("two", "-1"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(InputError, match=ENV):
            policy_threads("adaptive")
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
