"""Latency of a model's forward pass on one backend: percentiles, throughput, memory peak.

The rules (docs/latency.md): every timed call is bracketed by a device synchronization
(:func:`qkernels.hw.timing.time_callable`), warm-up calls come first, the number of timed calls is
chosen so that they fill a time budget (between ``min_repeat`` and ``max_repeat``), the thread
count is recorded and can be set, and the memory peak comes from the device's allocator
(``max_memory_allocated``) or, on the CPU, from the growth of the process's peak resident set
size (``ru_maxrss``; 0 when the run stayed below an earlier peak). A batch that does not fit in
the device's memory gives a row with ``error`` set instead of stopping the sweep.

Example:
    >>> import torch
    >>> rows = measure_latency(torch.nn.Linear(8, 4), (8,), batch_sizes=(1, 4), min_repeat=3, max_repeat=3,
    ...                        warmup=1, budget_s=0.0)
    >>> [(r["batch"], r["n"], r["error"]) for r in rows]
    [(1, 3, ''), (4, 3, '')]
    >>> rows[1]["throughput"] == 4 / rows[1]["median_s"]
    True
"""

from __future__ import annotations

import contextlib
import math
import resource
import sys
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.hw.backends import resolve_device
from qkernels.hw.device_errors import is_out_of_memory
from qkernels.hw.timing import TimingResult, synchronize, time_callable


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(n)`` (None: leave it), then restore it.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with num_threads(1) as k:
        ...     k, torch.get_num_threads()
        (1, 1)
        >>> torch.get_num_threads() == before
        True
    """
    old = torch.get_num_threads()
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"threads: expected a positive integer, got {n!r}")
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def backend_flags() -> dict[str, object]:
    """The settings that change what a timing means: threads, cuDNN and TF32 flags, matmul precision."""
    return {
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cuda_matmul_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_tf32": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


class _MemoryPeak:
    """The memory peak of a block: the device allocator's, or the growth of the CPU process peak."""

    def __init__(self, device: torch.device):
        self.device = device
        self.module = None if device.type == "cpu" else torch.get_device_module(device.type)
        self.kind = "process_peak_rss_growth" if self.module is None else "allocator_peak"

    def __enter__(self) -> "_MemoryPeak":
        if self.module is not None and hasattr(self.module, "reset_peak_memory_stats"):
            self.module.reset_peak_memory_stats(self.device)
        else:
            self.start = _peak_rss_bytes()
        return self

    def __exit__(self, *exc) -> None:
        if self.module is not None and hasattr(self.module, "max_memory_allocated"):
            self.peak = int(self.module.max_memory_allocated(self.device))
        elif self.module is not None:
            self.peak, self.kind = -1, "unavailable"
        else:
            self.peak = _peak_rss_bytes() - self.start


def _check_positive_int(name: str, v: object, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise InputError(f"{name}: expected an integer >= {minimum}, got {v!r}")
    return v


def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    device: str | torch.device = "cpu",
    batch_sizes: Sequence[int] = (1, 8, 32),
    warmup: int = 5,
    min_repeat: int = 20,
    max_repeat: int = 200,
    budget_s: float = 2.0,
    threads: int | None = None,
    dtype: torch.dtype = torch.float32,
    keep_times: bool = False,
    channels_last: bool = False,
) -> list[dict]:
    """Time ``model(x)`` for x of shape (batch, *input_shape) at each batch size on ``device``.

    Args:
        model: the model (moved to ``device`` and put in eval mode; the caller's copy is not changed
            when it is already there).
        input_shape: shape of one input without the batch dimension.
        device: a backend name (``cpu``, ``cuda``, ``cuda:1``, ``npu``, ...) or torch.device.
        batch_sizes: batch 1 gives the latency percentiles; larger batches the throughput.
        warmup: untimed calls first (cuDNN autotuning, allocator warm-up, lazy init); then one
            more untimed call that measures the speed used to size the run.
        min_repeat, max_repeat: bounds on the number of timed calls; within them, as many as fill
            ``budget_s`` seconds at that speed.
        threads: torch intra-op threads for the measurement (None: as set now); recorded per row.
        keep_times: add the raw times (``times``, a tuple of seconds) to every timed row.
        channels_last: give 4-D inputs in the channels_last memory format (for a model converted
            with ``model.to(memory_format=torch.channels_last)``, e.g. by :func:`qkernels.hw.deploy.deploy`).

    Returns:
        One dict per batch size: batch, n (timed calls), median_s, p90_s, p99_s, min_s, mean_s,
        throughput (inputs/s at the median), peak_mem_bytes, mem_kind, device, error ('' or why
        the row failed, e.g. out of memory), and the :func:`backend_flags`.

    Raises:
        InputError: an unknown or unusable device, batch sizes or repeat counts that are not
            positive integers, an empty input shape entry.
    """
    dev = resolve_device(device)
    batches = [_check_positive_int("batch size", b) for b in batch_sizes]
    if not batches:
        raise InputError("batch_sizes: give at least one batch size")
    _check_positive_int("warmup", warmup, 0)
    _check_positive_int("min_repeat", min_repeat)
    _check_positive_int("max_repeat", max_repeat, min_repeat)
    shape = tuple(int(s) for s in input_shape)
    if any(s < 1 for s in shape):
        raise InputError(f"input_shape: every dimension must be >= 1, got {shape}")
    if not (isinstance(budget_s, (int, float)) and math.isfinite(budget_s) and budget_s >= 0):
        raise InputError(f"budget_s: expected a finite number >= 0, got {budget_s!r}")
    model = model.to(dev).eval()
    rows: list[dict] = []
    with num_threads(threads), torch.inference_mode():
        for batch in batches:
            row: dict = {"batch": batch, "device": str(dev), "error": ""}
            try:
                x = torch.randn(batch, *shape, device=dev, dtype=dtype)
                if channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _MemoryPeak(dev) as mem:
                    probe = time_callable(lambda inp=x: model(inp), device=dev, repeat=1, warmup=warmup)
                    per_call = max(probe.median, 1e-9)
                    repeat = int(min(max_repeat, max(min_repeat, math.ceil(budget_s / per_call))))
                    res = time_callable(lambda inp=x: model(inp), device=dev, repeat=repeat, warmup=0)
                row.update({"n": res.n, "median_s": res.median, "p90_s": res.p90, "p99_s": res.p99,
                            "min_s": res.min, "mean_s": sum(res.times) / res.n,
                            "throughput": batch / res.median, "peak_mem_bytes": mem.peak, "mem_kind": mem.kind})
                if keep_times:
                    row["times"] = res.times
                del x
            except Exception as exc:  # noqa: BLE001 - one failing row must not stop the sweep
                if not is_out_of_memory(exc):
                    raise
                row.update({"n": 0, "error": f"out of memory: {str(exc).splitlines()[0][:200]}"})
                _empty_cache(dev)
            row.update(backend_flags())
            rows.append(row)
    synchronize(dev)
    return rows


def _empty_cache(dev: torch.device) -> None:
    if dev.type != "cpu":
        module = torch.get_device_module(dev.type)
        if hasattr(module, "empty_cache"):
            module.empty_cache()


def measure_interleaved(models: Mapping[str, nn.Module], input_shape: Sequence[int], *, rounds: int = 3,
                        min_repeat: int = 20, max_repeat: int = 200, budget_s: float = 2.0,
                        **options) -> dict[str, list[dict]]:
    """:func:`measure_latency` of several models in ``rounds`` alternating rounds (A B C A B C ...).

    On a machine whose speed drifts (other jobs, frequency scaling) timing one model after the
    other biases their ratio; alternating short rounds spreads the drift over all of them. Each
    round gets ``1/rounds`` of the budget and repeat bounds; a model's rows pool the times of all
    its rounds (``n`` counts them all), and ``rounds`` is recorded, with the median of each round
    (``round_median_s``, a list): the repeated measurements that paired tests of a speed-up use
    (models timed in the same round are paired).

    Example:
        >>> import torch
        >>> out = measure_interleaved({"a": torch.nn.Linear(4, 4), "b": torch.nn.Linear(4, 2)}, (4,), rounds=2,
        ...                           batch_sizes=(2,), min_repeat=4, max_repeat=4, budget_s=0.0, warmup=0)
        >>> [(k, r[0]["n"], r[0]["rounds"], len(r[0]["round_median_s"])) for k, r in out.items()]
        [('a', 4, 2, 2), ('b', 4, 2, 2)]
    """
    _check_positive_int("rounds", rounds)
    per_min = max(1, math.ceil(min_repeat / rounds))
    per_max = max(per_min, math.ceil(max_repeat / rounds))
    got: dict[str, list[list[dict]]] = {k: [] for k in models}
    for _ in range(rounds):
        for name, model in models.items():
            got[name].append(measure_latency(model, input_shape, min_repeat=per_min, max_repeat=per_max,
                                             budget_s=budget_s / rounds, keep_times=True, **options))
    out: dict[str, list[dict]] = {}
    for name, per_round in got.items():
        rows = []
        for i, first in enumerate(per_round[0]):
            row = dict(first)
            row["rounds"] = rounds
            parts = [r[i] for r in per_round]
            if not any(p["error"] for p in parts):
                res = TimingResult(tuple(t for p in parts for t in p["times"]), first["device"])
                row.update({"n": res.n, "median_s": res.median, "p90_s": res.p90, "p99_s": res.p99, "min_s": res.min,
                            "mean_s": sum(res.times) / res.n, "throughput": row["batch"] / res.median,
                            "peak_mem_bytes": max(p["peak_mem_bytes"] for p in parts),
                            "round_median_s": [TimingResult(tuple(p["times"]), first["device"]).median
                                               for p in parts]})
            else:
                row.update(next(p for p in parts if p["error"]))
                row["rounds"] = rounds
            row.pop("times", None)
            rows.append(row)
        out[name] = rows
    return out


__all__ = ["measure_latency", "measure_interleaved", "num_threads", "backend_flags"]
