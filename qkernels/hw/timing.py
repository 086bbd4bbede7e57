"""One device-agnostic way to synchronize and time work on any backend.

Accelerator work is asynchronous: a clock read without synchronizing measures the launch, not
the work. :func:`synchronize` works for every backend torch exposes a device module for
(cpu is a no-op; cuda, npu, mlu, xpu, mps call their ``synchronize``). :func:`time_callable`
warms up, synchronizes around every repetition and reports percentiles; :func:`sync_timer` is a
clock for ``pytest --benchmark-timer=qkernels.hw.timing.sync_timer`` that synchronizes the device
named by ``QK_DEVICE`` before reading ``time.perf_counter``.

Example:
    >>> r = time_callable(lambda: sum(range(1000)), repeat=5, warmup=1)
    >>> r.n, r.median > 0
    (5, True)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from qkernels.core.errors import InputError


def synchronize(device: str | torch.device | None = None) -> None:
    """Wait for all queued work on ``device`` (no-op on the CPU or for None)."""
    if device is None:
        return
    dev = torch.device(device)
    if dev.type == "cpu":
        return
    torch.get_device_module(dev.type).synchronize(dev)


@dataclass(frozen=True)
class TimingResult:
    """Wall times of repeated calls (seconds) and their summary statistics."""

    times: tuple[float, ...]
    device: str

    @property
    def n(self) -> int:
        return len(self.times)

    def quantile(self, q: float) -> float:
        """Linear-interpolated quantile of the times (q in [0, 1])."""
        xs = sorted(self.times)
        pos = q * (len(xs) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def p90(self) -> float:
        return self.quantile(0.9)

    @property
    def p99(self) -> float:
        return self.quantile(0.99)

    def summary(self) -> dict:
        """median, min, p90, p99, n and device as a dict."""
        return {"median_s": self.median, "min_s": self.min, "p90_s": self.p90, "p99_s": self.p99, "n": self.n,
                "device": self.device}

    def as_dict(self) -> dict:
        return {**asdict(self), **self.summary()}


def time_callable(
    fn: Callable[[], object],
    *,
    device: str | torch.device | None = "cpu",
    repeat: int = 5,
    warmup: int = 1,
) -> TimingResult:
    """Time ``fn()`` ``repeat`` times after ``warmup`` calls, synchronizing ``device`` around each.

    Raises:
        InputError: repeat < 1 or warmup < 0.
    """
    if not callable(fn):
        raise InputError(f"time_callable: fn must be callable, got {type(fn).__name__}")
    if repeat < 1 or warmup < 0:
        raise InputError(f"time_callable: need repeat >= 1 and warmup >= 0, got {repeat}, {warmup}")
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return TimingResult(tuple(times), str(device))


def sync_timer() -> float:
    """``time.perf_counter()`` after synchronizing the device in ``QK_DEVICE`` (default cpu)."""
    synchronize(os.environ.get("QK_DEVICE", "cpu"))
    return time.perf_counter()


__all__ = ["synchronize", "TimingResult", "time_callable", "sync_timer"]
