"""The contention goal: each headline kernel at most ~2x slower while another process takes a core.

:func:`competing_load` starts processes that spin on one core each (plain Python loops, no
threads), and stops them on exit, whatever happens in the block. :func:`measure_contention` times
a kernel in alternating quiet and busy rounds, with the library's thread policy
(:mod:`qkernels.core.threads`), and, for comparison, with the policy switched off
(``QK_KERNEL_THREADS`` set to torch's thread count: what the kernels did before the policy).

The kernels (:data:`KERNELS`) and their workloads, ``full`` for the benchmark and small for CI:
all-pairs d_FS (4,096 × 64), all-pairs W₂cum (256 × 512), the spectra of every ResNet-18 filter,
the Theorem 2.1 checker (256 × 256 layers, tanh and ReLU, two radii) and QM-FRG's aligned distance
on one 256-channel group.

Example:
    >>> import time
    >>> with competing_load(1) as procs:
    ...     len(procs), all(p.poll() is None for p in procs)
    (1, True)
    >>> all(p.poll() is not None for p in procs)
    True
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from qkernels.core.threads import ENV, free_cores


@contextmanager
def competing_load(cores: int = 1, settle_s: float = 0.3) -> Iterator[list[subprocess.Popen]]:
    """Run the block while ``cores`` processes each spin on a core; they are killed on exit."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(cores)]
    try:
        time.sleep(settle_s)
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


@contextmanager
def _policy(on: bool) -> Iterator[None]:
    old = os.environ.get(ENV)
    if on:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = str(torch.get_num_threads())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old


def _time(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure_contention(fn: Callable[[], object], *, rounds: int = 3, repeat: int = 1, policy: bool = True,
                       cores: int = 1) -> dict:
    """Median quiet and busy times of ``fn`` over ``rounds`` alternating rounds, and their ratio.

    Returns a dict: ``quiet_s``, ``busy_s``, ``slowdown`` (busy / quiet), ``rounds``,
    ``torch_threads``, ``free_cores_quiet`` and ``free_cores_busy`` (what the policy saw).
    """
    quiet: list[float] = []
    busy: list[float] = []
    seen = {}
    with _policy(policy):
        fn()  # warm-up
        for _ in range(rounds):
            seen["quiet"] = free_cores()
            quiet += _time(fn, repeat)
            with competing_load(cores):
                seen["busy"] = free_cores()
                busy += _time(fn, repeat)
    q, b = statistics.median(quiet), statistics.median(busy)
    return {"quiet_s": q, "busy_s": b, "slowdown": b / q, "rounds": rounds, "torch_threads": torch.get_num_threads(),
            "free_cores_quiet": seen["quiet"], "free_cores_busy": seen["busy"], "policy": policy}


def kernel(name: str, full: bool = True) -> Callable[[], object]:
    """The workload of one headline kernel as a no-argument callable (see the module text)."""
    from qkernels.suite.speed.goals import random_states

    if name == "fs_allpairs":
        X = random_states(4096, 64) if full else random_states(512, 64)
        from qkernels.geometry.distances import pairwise_fs
        return lambda: pairwise_fs(X)
    if name == "w2cum_allpairs":
        X = random_states(256, 512) if full else random_states(48, 128)
        from qkernels.geometry.distances import pairwise_w2_cumulative
        return lambda: pairwise_w2_cumulative(X)
    if name == "spectra_resnet18":
        from qkernels.geometry.operators import extract_operators
        from qkernels.geometry.spectral import operator_spectra
        from qkernels.nn.models import build_model
        model = build_model("resnet18", seed=0) if full else build_model("resnet18_small", width=0.125, seed=0)
        ops = extract_operators(model, "filter")
        return lambda: operator_spectra(ops)
    if name == "bounds_checker":
        from qkernels.bounds.check import SearchConfig, check_bounds_batch
        from qkernels.bounds.scenarios import generate
        n, pairs = (256, 16) if full else (32, 4)
        ps = generate("independent", n, pairs, seed=0)
        W = [torch.stack([getattr(p, a) for p in ps]) for a in ("Wi", "bi", "Wj", "bj")]
        return lambda: check_bounds_batch(*W, ("tanh", "relu"), (1.0, 4.0), SearchConfig())
    if name == "aligned_distance":
        from qkernels.pruning.qmfrg.channels import layer_distances
        g = torch.Generator().manual_seed(0)
        k, rows = (256, 128) if full else (32, 16)
        W, b = torch.randn(k, rows, 9, generator=g, dtype=torch.float64), torch.zeros(k, rows, dtype=torch.float64)
        return lambda: layer_distances(W, b, "aligned")
    raise KeyError(name)


#: the headline kernels of the contention goal
KERNELS = ("fs_allpairs", "w2cum_allpairs", "spectra_resnet18", "bounds_checker", "aligned_distance")

__all__ = ["competing_load", "measure_contention", "kernel", "KERNELS"]
