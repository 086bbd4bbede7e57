"""Tests of the latency harness qkernels.hw.latency (CPU here; accelerators via QK_DEVICE)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.hw import latency
from qkernels.hw.latency import backend_flags, measure_latency, num_threads

FAST = dict(warmup=1, min_repeat=3, max_repeat=3, budget_s=0.0)


class Counting(nn.Module):
    """A linear layer that counts its calls and can run out of memory above a batch size."""

    def __init__(self, oom_above: int | None = None, error: Exception | None = None):
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.calls = 0
        self.oom_above = oom_above
        self.error = error

    def forward(self, x):
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.oom_above is not None and x.shape[0] > self.oom_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return self.lin(x)


def test_rows_statistics_and_call_count(qk_device):
    m = Counting()
    rows = measure_latency(m, (6,), device=qk_device, batch_sizes=(1, 5), warmup=2, min_repeat=4, max_repeat=4,
                           budget_s=0.0)
    assert [r["batch"] for r in rows] == [1, 5]
    assert m.calls == 2 * (2 + 1 + 4)  # per batch: warm-up, one probe call that sizes the run, the timed calls
    for r in rows:
        assert r["n"] == 4 and r["error"] == ""
        assert 0 < r["min_s"] <= r["median_s"] <= r["p90_s"] <= r["p99_s"]
        assert r["min_s"] <= r["mean_s"]
        assert r["throughput"] == pytest.approx(r["batch"] / r["median_s"])
        assert r["device"] == str(qk_device)
        assert r["torch_threads"] >= 1 and isinstance(r["cudnn_benchmark"], bool)
        assert isinstance(r["peak_mem_bytes"], int) and r["peak_mem_bytes"] >= 0


def test_percentiles_match_numpy(monkeypatch):
    """The reported percentiles are those of the timed calls (linear interpolation, as NumPy)."""
    seen = {}
    real = latency.time_callable

    def spy(fn, **kw):
        res = real(fn, **kw)
        seen[kw["repeat"]] = res.times
        return res

    monkeypatch.setattr(latency, "time_callable", spy)
    (row,) = measure_latency(nn.Linear(4, 4), (4,), batch_sizes=(2,), warmup=0, min_repeat=37, max_repeat=37,
                             budget_s=0.0)
    t = np.array(seen[37])
    assert row["median_s"] == pytest.approx(np.quantile(t, 0.5), rel=1e-12)
    assert row["p90_s"] == pytest.approx(np.quantile(t, 0.9), rel=1e-12)
    assert row["p99_s"] == pytest.approx(np.quantile(t, 0.99), rel=1e-12)


def test_repeat_count_fills_the_budget_within_bounds(monkeypatch):
    """At 10 ms a call, a 0.25 s budget asks for 25 calls; the bounds clip it."""
    clock = iter(np.arange(0, 1e4, 0.01))
    monkeypatch.setattr(latency, "time_callable", _fake_time_callable(clock))
    r = measure_latency(nn.Linear(2, 2), (2,), batch_sizes=(1,), warmup=0, min_repeat=5, max_repeat=100,
                        budget_s=0.25)[0]
    assert r["n"] == 25
    r = measure_latency(nn.Linear(2, 2), (2,), batch_sizes=(1,), warmup=0, min_repeat=5, max_repeat=10,
                        budget_s=0.25)[0]
    assert r["n"] == 10
    r = measure_latency(nn.Linear(2, 2), (2,), batch_sizes=(1,), warmup=0, min_repeat=40, max_repeat=100,
                        budget_s=0.25)[0]
    assert r["n"] == 40


def _fake_time_callable(clock):
    from qkernels.hw.timing import TimingResult

    def fake(fn, *, device=None, repeat=5, warmup=1):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeat):
            fn()
            times.append(0.01)
        next(clock)
        return TimingResult(tuple(times), str(device))

    return fake


def test_out_of_memory_gives_an_error_row_and_the_sweep_goes_on():
    rows = measure_latency(Counting(oom_above=4), (6,), batch_sizes=(1, 8, 2), **FAST)
    assert [r["error"] == "" for r in rows] == [True, False, True]
    assert rows[1]["error"].startswith("out of memory") and rows[1]["n"] == 0
    assert "median_s" not in rows[1]


def test_other_errors_are_not_swallowed():
    with pytest.raises(ValueError, match="boom"):
        measure_latency(Counting(error=ValueError("boom")), (6,), batch_sizes=(1,), **FAST)


def test_threads_are_set_recorded_and_restored():
    before = torch.get_num_threads()
    (row,) = measure_latency(nn.Linear(3, 3), (3,), batch_sizes=(1,), threads=1, **FAST)
    assert row["torch_threads"] == 1
    assert torch.get_num_threads() == before


def test_num_threads_restores_after_an_exception():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with num_threads(1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_sizes=(0,)), "batch size"),
    (dict(batch_sizes=(-2,)), "batch size"),
    (dict(batch_sizes=(1.5,)), "batch size"),
    (dict(batch_sizes=(True,)), "batch size"),
    (dict(batch_sizes=()), "at least one"),
    (dict(warmup=-1), "warmup"),
    (dict(min_repeat=0), "min_repeat"),
    (dict(min_repeat=5, max_repeat=4), "max_repeat"),
    (dict(threads=0), "threads"),
    (dict(budget_s=float("nan")), "budget_s"),
    (dict(device="tpu"), "unknown device"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        measure_latency(nn.Linear(3, 3), (3,), **{**FAST, **kwargs})


def test_bad_input_shape():
    with pytest.raises(InputError, match="input_shape"):
        measure_latency(nn.Linear(3, 3), (0,), **FAST)


def test_unusable_backend_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is usable here")
    with pytest.raises(InputError, match="not usable"):
        measure_latency(nn.Linear(3, 3), (3,), device="cuda", **FAST)


def test_backend_flags_reflect_torch_settings():
    old = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = not old
        assert backend_flags()["cudnn_benchmark"] == (not old)
    finally:
        torch.backends.cudnn.benchmark = old
    assert backend_flags()["float32_matmul_precision"] in ("highest", "high", "medium")
