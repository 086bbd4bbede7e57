"""The speed goals of the exact metrics: their workloads and how they are measured.

Shared by ``bench/`` (pytest-benchmark) and the ``metrics`` section of ``qkernels run``, so both
time the same work. The targets are stated once, in :mod:`qkernels.suite.speed.targets`; the
goals (issue: foundation) are:

* ``fs_allpairs``: all-pairs Fubini–Study for 4,096 states of length 64 within 3x of a bare
  ``torch.mm`` of that shape.
* ``w2cum_allpairs``: all-pairs W₂cum among 256 profiles of length 512 at least 1,000x faster than
  an ``ot.emd2`` loop and 5x faster than an ``ot.emd2_1d`` loop, agreeing to 1e-12 relative on W₂².
  The POT loops are timed on a random sample of pairs and scaled to all n(n−1)/2 pairs.
* ``spectra_resnet18``: spectra of every operator of ResNet-18, per layer and per filter, in
  under 2 s.

The workload states are sorted |N(0,1)| vectors, normalized: non-negative and descending like
real spectra, and spread out enough that the exact refinement of near-duplicates is rare.

Example:
    >>> r = measure_fs_allpairs(n=64, d=8, repeat=1)
    >>> r["ratio"] > 0, r["max_abs_err_vs_gemm"] < 1e-10
    (True, True)
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from qkernels.geometry.distances import pairwise_fs, pairwise_w2_cumulative
from qkernels.geometry.operators import extract_operators
from qkernels.geometry.spectral import operator_spectra
from qkernels.hw.timing import synchronize, time_callable
from qkernels.suite.speed.targets import legacy_goals

#: goal id -> (description, target, what the number is): the ``metrics`` goals of
#: :data:`qkernels.suite.speed.targets.SPEED_GOALS`, where the targets are stated.
GOALS: dict[str, tuple[str, float, str]] = legacy_goals("metrics")


def random_states(n: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n sorted, normalized |N(0,1)| vectors of length d (spectrum-like states)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype).abs().sort(dim=1, descending=True).values
    return x / torch.linalg.vector_norm(x, dim=1, keepdim=True)


def measure_fs_allpairs(n: int = 4096, d: int = 64, repeat: int = 3, device: str | torch.device = "cpu") -> dict:
    """Median times of ``pairwise_fs`` and of ``torch.mm`` on the same (n, d) states."""
    X = random_states(n, d).to(device)
    ours = time_callable(lambda: pairwise_fs(X), device=device, repeat=repeat, warmup=1)
    mm = time_callable(lambda: torch.mm(X, X.T), device=device, repeat=repeat, warmup=1)
    D = pairwise_fs(X)
    ref = torch.mm(X, X.T).abs().clamp(max=1).acos()
    off = ~torch.eye(n, dtype=torch.bool, device=X.device)
    return {"ours_s": ours.median, "mm_s": mm.median, "ratio": ours.median / mm.median,
            "max_abs_err_vs_gemm": float((D - ref)[off].abs().max()), "n": n, "d": d}


def pot_inputs(X: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """POT's inputs for the cumulative profiles of states X (n, d): masses ψ²/Σψ² and positions k/d."""
    P = (X * X).numpy()
    return P / P.sum(1, keepdims=True), np.arange(1, X.shape[1] + 1, dtype=np.float64) / X.shape[1]


def sample_pairs(n: int, k: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """k random ordered pairs (i, j), i != j, of range(n)."""
    out: list[tuple[int, int]] = []
    while len(out) < k:
        i, j = rng.integers(0, n, size=2)
        if i != j:
            out.append((int(i), int(j)))
    return out


def measure_w2cum_allpairs(
    n: int = 256, d: int = 512, n_emd2_1d: int = 200, n_emd2: int = 3, repeat: int = 3, seed: int = 0
) -> dict:
    """Times of ``pairwise_w2_cumulative`` (all pairs) and POT loops (sampled, scaled up)."""
    import ot

    X = random_states(n, d, seed=seed)
    pairs_total = n * (n - 1) // 2
    ours = time_callable(lambda: pairwise_w2_cumulative(X, squared=True), repeat=repeat, warmup=1)
    W2 = pairwise_w2_cumulative(X, squared=True).numpy()
    P, x = pot_inputs(X)
    rng = np.random.default_rng(seed)
    sample = lambda k: sample_pairs(n, k, rng)  # noqa: E731

    s1 = sample(n_emd2_1d)
    t0 = time.perf_counter()
    ref1 = [ot.emd2_1d(x, x, P[i], P[j]) for i, j in s1]
    per_1d = (time.perf_counter() - t0) / len(s1)
    M = (x[:, None] - x[None, :]) ** 2
    s2 = sample(n_emd2)
    t0 = time.perf_counter()
    ref2 = [ot.emd2(P[i], P[j], M) for i, j in s2]
    per_lp = (time.perf_counter() - t0) / len(s2)
    rel = [abs(W2[i, j] - r) / r for (i, j), r in zip(s1 + s2, ref1 + ref2) if r > 0]
    return {
        "ours_s": ours.median,
        "emd2_1d_per_pair_s": per_1d,
        "emd2_per_pair_s": per_lp,
        "emd2_1d_loop_s_est": per_1d * pairs_total,
        "emd2_loop_s_est": per_lp * pairs_total,
        "speedup_vs_emd2_1d": per_1d * pairs_total / ours.median,
        "speedup_vs_emd2": per_lp * pairs_total / ours.median,
        "max_rel_err_w2sq": max(rel) if rel else math.nan,
        "pairs": pairs_total,
        "sampled_emd2_1d": len(s1),
        "sampled_emd2": len(s2),
    }


def measure_spectra_resnet18(repeat: int = 3, device: str | torch.device = "cpu") -> dict:
    """Time to extract and compute the spectra of all ResNet-18 operators (layer and filter)."""
    from qkernels.nn.models import build_model

    model = build_model("resnet18", seed=0)

    def work() -> int:
        n = 0
        for gran in ("layer", "filter"):
            n += len(operator_spectra(extract_operators(model, gran), device=device))
        synchronize(device)
        return n

    n_ops = work()
    t = time_callable(work, device=device, repeat=repeat, warmup=0)
    return {"total_s": t.median, "operators": n_ops}


__all__ = ["GOALS", "random_states", "pot_inputs", "sample_pairs", "measure_fs_allpairs", "measure_w2cum_allpairs",
           "measure_spectra_resnet18"]
