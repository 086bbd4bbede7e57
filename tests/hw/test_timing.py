"""Device-agnostic synchronization and timing."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from qkernels.core.errors import InputError
from qkernels.hw import timing
from qkernels.hw.timing import TimingResult, sync_timer, synchronize, time_callable


def test_synchronize_cpu_and_none_do_not_touch_device_modules(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("a device module was asked to synchronize for the CPU")

    monkeypatch.setattr(torch, "get_device_module", forbidden)
    synchronize("cpu")
    synchronize(None)
    synchronize(torch.device("cpu"))
    synchronize("cpu:0")


def test_synchronize_accelerator_calls_its_module(monkeypatch):
    calls = []
    fake = SimpleNamespace(synchronize=lambda dev: calls.append(dev))
    asked = []

    def get_device_module(kind):
        asked.append(kind)
        return fake

    monkeypatch.setattr(torch, "get_device_module", get_device_module)
    synchronize("cuda:1")
    synchronize(torch.device("xpu"))
    assert asked == ["cuda", "xpu"]
    assert calls == [torch.device("cuda", 1), torch.device("xpu")]


def _fake_clock(monkeypatch, durations):
    """perf_counter returning t0, t0+d1, t1, t1+d2, ...: each repetition reads the clock twice."""
    seq = []
    t = 100.0
    for d in durations:
        seq += [t, t + d]
        t += d + 50.0
    it = iter(seq)
    monkeypatch.setattr(time, "perf_counter", lambda: next(it))


def test_time_callable_statistics(monkeypatch):
    durations = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 0.5]
    _fake_clock(monkeypatch, durations)
    calls = []
    r = time_callable(lambda: calls.append(1), repeat=len(durations), warmup=2)
    monkeypatch.undo()
    assert len(calls) == 2 + len(durations)
    assert r.n == len(durations)
    assert r.times == pytest.approx(tuple(durations))
    assert r.median == pytest.approx(float(np.median(durations)))
    assert r.min == pytest.approx(min(durations))
    assert r.p90 == pytest.approx(float(np.percentile(durations, 90)))
    assert r.p99 == pytest.approx(float(np.percentile(durations, 99)))
    s = r.summary()
    assert s["median_s"] == pytest.approx(3.0) and s["n"] == 7 and s["device"] == "cpu"
    assert r.as_dict()["times"] == r.times


def test_quantiles_known_values():
    r = TimingResult((1.0, 2.0, 3.0, 4.0, 5.0), "cpu")
    assert r.median == 3.0
    assert r.p90 == pytest.approx(4.6)
    assert r.quantile(0.0) == 1.0 and r.quantile(1.0) == 5.0
    assert TimingResult((2.0,), "cpu").p99 == 2.0
    assert TimingResult((4.0, 1.0), "cpu").median == pytest.approx(2.5)


def test_time_callable_real_clock():
    r = time_callable(lambda: time.sleep(0.002), repeat=3, warmup=0)
    assert r.n == 3
    assert all(t >= 0.0015 for t in r.times)


@pytest.mark.parametrize("repeat,warmup", [(0, 1), (-1, 0), (3, -1)])
def test_time_callable_bad_arguments(repeat, warmup):
    calls = []
    with pytest.raises(InputError):
        time_callable(lambda: calls.append(1), repeat=repeat, warmup=warmup)
    assert calls == []


def test_sync_timer_increases(monkeypatch):
    monkeypatch.delenv("QK_DEVICE", raising=False)
    a = sync_timer()
    time.sleep(0.001)
    b = sync_timer()
    assert isinstance(a, float) and isinstance(b, float)
    assert b > a


def test_sync_timer_synchronizes_qk_device(monkeypatch):
    seen = []
    monkeypatch.setattr(timing, "synchronize", lambda dev: seen.append(dev))
    monkeypatch.setenv("QK_DEVICE", "cuda:0")
    sync_timer()
    monkeypatch.delenv("QK_DEVICE")
    sync_timer()
    assert seen == ["cuda:0", "cpu"]
