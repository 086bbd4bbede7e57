"""From measured counts to fidelity and Fubini–Study estimates, with honest uncertainty.

Each kernel entry is a binomial experiment: S shots, k of them give the outcome 0 (the swap
test's ancilla reads 0; compute-uncompute reads 0…0), with probability

* swap test:          p = (1 + F)/2,  F̂ = 2k/S − 1,  Var F̂ = (1 − F²)/S;
* compute-uncompute:  p = F,          F̂ = k/S,       Var F̂ = F(1 − F)/S.

F̂ is unbiased (and may leave [0, 1] by shot noise for the swap test). The distance estimate
d̂ = arccos √clip(F̂, 0, 1) is not: near F = 1 it is pulled towards 0, and the relative bias
depends on S(1 − F) only (:func:`fs_bias` computes it exactly by summing over the binomial).
:func:`bias_warning` flags entries with S(1 − F̂) < 10, where it exceeds a few percent.

Confidence intervals: a two-sided interval for p at level 1 − δ (Clopper–Pearson by default,
which is exact: its coverage is at least 1 − δ for every p and S; Wilson on request), mapped to
F (clipped to [0, 1]) and through the decreasing map F -> arccos √F to d_FS. The map is monotone,
so the d_FS interval covers the true d_FS exactly when the p interval covers the true p.
Without noise the true p is the one of the exact fidelity; with noise it is the noisy circuit's,
so the interval then covers the noisy value, not the exact d_FS.

Example:
    >>> import numpy as np
    >>> F = fidelity_from_counts(np.array([750]), 1000, "swap")
    >>> F.tolist()
    [0.5]
    >>> lo, hi = fs_interval(np.array([750]), 1000, "swap", 0.95)
    >>> bool(lo[0] < np.pi / 4 < hi[0])
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Literal

import numpy as np
from scipy import stats

from qkernels.core.errors import InputError

Method = Literal["swap", "compute_uncompute"]
METHODS: tuple[str, ...] = ("swap", "compute_uncompute")
INTERVALS: tuple[str, ...] = ("clopper-pearson", "wilson")

#: flag entries with S·(1 − F̂) below this: the bias of d̂ exceeds a few percent there
BIAS_THRESHOLD = 10.0


def check_method(method: object) -> str:
    """``method`` if it names an estimator; InputError otherwise."""
    if method not in METHODS:
        raise InputError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    return str(method)


#: largest shot count per entry (counts are 64-bit integers)
MAX_SHOTS = 2**63 - 1


def check_shots(shots: object, *, allow_none: bool = True) -> int | None:
    """A positive integer shot count (or None: analytic); InputError otherwise."""
    if shots is None and allow_none:
        return None
    if isinstance(shots, bool) or not isinstance(shots, Integral):
        if isinstance(shots, Real) and float(shots).is_integer() and not isinstance(shots, bool):
            raise InputError(f"shots: expected an integer, got the float {shots!r}; pass int({shots!r})")
        raise InputError(f"shots: expected a positive integer{' or None (analytic)' if allow_none else ''}, "
                         f"got {shots!r}")
    if shots <= 0:
        raise InputError(f"shots: must be positive, got {shots}")
    if shots > MAX_SHOTS:
        raise InputError(f"shots: at most 2**63-1 per entry (a 64-bit count), got {shots}")
    return int(shots)


def check_counts(k: object, shots: int) -> np.ndarray:
    """Counts as a float64 array of whole numbers in [0, shots]; InputError otherwise."""
    try:
        arr = np.asarray(k, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"counts: expected whole numbers in [0, {shots}], got {type(k).__name__}") from None
    if not np.isfinite(arr).all() or (arr != np.round(arr)).any() or (arr < 0).any() or (arr > shots).any():
        raise InputError(f"counts: expected whole numbers in [0, shots={shots}]")
    return arr


def check_fidelity(F: object) -> np.ndarray:
    """Fidelities as a finite float64 array (values outside [0, 1] are clipped by the callers)."""
    try:
        arr = np.asarray(F, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"fidelity: expected finite real numbers, got {type(F).__name__}") from None
    if not np.isfinite(arr).all():
        raise InputError("fidelity: expected finite real numbers, got NaN or Inf")
    return arr


def check_confidence(confidence: object) -> float:
    """A confidence level in (0, 1); InputError otherwise."""
    if isinstance(confidence, bool) or not isinstance(confidence, Real) or not 0 < float(confidence) < 1:
        raise InputError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    return float(confidence)


def success_probability(F: np.ndarray | float, method: str) -> np.ndarray:
    """Probability of the counted outcome: (1 + F)/2 for the swap test, F for compute-uncompute."""
    F = np.asarray(F, dtype=np.float64)
    return (1.0 + F) / 2.0 if check_method(method) == "swap" else F.copy()


def fidelity_from_probability(p: np.ndarray | float, method: str) -> np.ndarray:
    """Inverse of :func:`success_probability` (no clipping)."""
    p = np.asarray(p, dtype=np.float64)
    return 2.0 * p - 1.0 if check_method(method) == "swap" else p.copy()


def fidelity_from_counts(k: np.ndarray, shots: int, method: str) -> np.ndarray:
    """The unbiased fidelity estimate from counts k of the outcome 0 in ``shots`` shots."""
    shots = check_shots(shots, allow_none=False)
    return fidelity_from_probability(check_counts(k, shots) / shots, check_method(method))


def fs_from_fidelity(F: np.ndarray | float) -> np.ndarray:
    """d = arccos √clip(F, 0, 1), computed as atan2(√(1 − F), √F) (accurate at both ends).

    Example:
        >>> float(fs_from_fidelity(0.5).round(6))  # π/4
        0.785398
    """
    Fc = np.clip(check_fidelity(F), 0.0, 1.0)
    return np.arctan2(np.sqrt(1.0 - Fc), np.sqrt(Fc))


def fidelity_std(F: np.ndarray | float, shots: int, method: str) -> np.ndarray:
    """Standard deviation of F̂ with ``shots`` shots: √((1 − F²)/S) or √(F(1 − F)/S)."""
    F = np.clip(np.asarray(F, dtype=np.float64), 0.0, 1.0)
    var = (1.0 - F * F) if check_method(method) == "swap" else F * (1.0 - F)
    return np.sqrt(var / shots)


def proportion_interval(k: np.ndarray, n: int, confidence: float = 0.95,
                        interval: str = "clopper-pearson") -> tuple[np.ndarray, np.ndarray]:
    """Two-sided interval for a binomial proportion from k successes in n trials.

    ``clopper-pearson`` (exact, coverage ≥ confidence for every p) or ``wilson`` (score
    interval, coverage close to the nominal level on average, sometimes below it).

    Example:
        >>> lo, hi = proportion_interval(np.array([0, 5]), 10)
        >>> lo.round(4).tolist(), hi.round(4).tolist()
        ([0.0, 0.1871], [0.3085, 0.8129])
    """
    conf = check_confidence(confidence)
    n = check_shots(n, allow_none=False)
    k = check_counts(k, n)
    alpha = 1.0 - conf
    if interval == "clopper-pearson":
        with np.errstate(invalid="ignore"):
            lo = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
            hi = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    elif interval == "wilson":
        z = stats.norm.ppf(1 - alpha / 2)
        center = (k + z * z / 2) / (n + z * z)
        half = z / (n + z * z) * np.sqrt(k * (n - k) / n + z * z / 4)
        lo, hi = np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)
    else:
        raise InputError(f"interval: expected one of {', '.join(INTERVALS)}, got {interval!r}")
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def fidelity_interval(k: np.ndarray, shots: int, method: str, confidence: float = 0.95,
                      interval: str = "clopper-pearson") -> tuple[np.ndarray, np.ndarray]:
    """Interval for F from counts: the proportion interval mapped to F, clipped to [0, 1]."""
    lo, hi = proportion_interval(k, shots, confidence, interval)
    Flo = np.clip(fidelity_from_probability(lo, method), 0.0, 1.0)
    Fhi = np.clip(fidelity_from_probability(hi, method), 0.0, 1.0)
    return Flo, Fhi


def fs_interval(k: np.ndarray, shots: int, method: str, confidence: float = 0.95,
                interval: str = "clopper-pearson") -> tuple[np.ndarray, np.ndarray]:
    """Interval for d_FS from counts: (arccos √F_hi, arccos √F_lo)."""
    Flo, Fhi = fidelity_interval(k, shots, method, confidence, interval)
    return fs_from_fidelity(Fhi), fs_from_fidelity(Flo)


def bias_warning(F_hat: np.ndarray, shots: int | None, threshold: float = BIAS_THRESHOLD) -> np.ndarray:
    """True where S·(1 − F̂) < threshold: d̂ is biased low there by more than a few percent."""
    F_hat = check_fidelity(F_hat)
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 <= float(threshold) < math.inf:
        raise InputError(f"threshold: expected a non-negative number, got {threshold!r}")
    shots = check_shots(shots)
    if shots is None:
        return np.zeros(F_hat.shape, dtype=bool)
    return shots * (1.0 - np.minimum(F_hat, 1.0)) < threshold


def fs_bias(F: np.ndarray | float, shots: int, method: str) -> np.ndarray:
    """Exact bias E[d̂] − d of d̂ = arccos √clip(F̂) at true fidelity F (sum over the binomial).

    Example:
        >>> b = fs_bias(1 - 1 / 1000, 1000, "compute_uncompute")   # S(1 − F) = 1
        >>> round(float(b / fs_from_fidelity(1 - 1 / 1000)), 2)
        -0.23
    """
    shots = check_shots(shots, allow_none=False)
    F = np.asarray(F, dtype=np.float64)
    k = np.arange(shots + 1, dtype=np.float64)
    d_hat = fs_from_fidelity(fidelity_from_counts(k, shots, method))
    flat = F.ravel()
    out = np.empty(flat.shape, dtype=np.float64)
    for i, f in enumerate(flat):
        pmf = stats.binom.pmf(k, shots, float(success_probability(f, method)))
        out[i] = float(pmf @ d_hat) - float(fs_from_fidelity(f))
    return out.reshape(F.shape)


@dataclass(frozen=True)
class FSEstimate:
    """d_FS estimates with a confidence interval and the bias flag (arrays, or floats for a pair)."""

    estimate: np.ndarray | float
    lower: np.ndarray | float
    upper: np.ndarray | float
    confidence: float
    bias_warning: np.ndarray | bool


@dataclass(frozen=True)
class KernelEstimate:
    """The result of a kernel job: F̂ per entry, the counts behind it and how they were made.

    ``fidelity`` is F̂ (analytic runs: the circuit's exact outcome probability mapped to F);
    ``counts`` holds k (outcome-0 counts) per entry for finite shots and is None when analytic.
    """

    fidelity: np.ndarray
    counts: np.ndarray | None
    shots: int | None
    method: str
    mode: str = ""
    device: str = ""
    noise: str = ""
    qubits: int = 0
    seconds: float = math.nan
    meta: dict = field(default_factory=dict)

    @property
    def entries(self) -> int:
        return int(self.fidelity.size)

    def fs_distance(self) -> np.ndarray:
        """d̂ = arccos √clip(F̂, 0, 1) per entry."""
        return fs_from_fidelity(self.fidelity)

    def fidelity_interval(self, confidence: float = 0.95,
                          interval: str = "clopper-pearson") -> tuple[np.ndarray, np.ndarray]:
        """Per-entry interval for F (degenerate [F̂, F̂] clipped to [0, 1] when analytic)."""
        if self.counts is None:
            check_confidence(confidence)
            F = np.clip(self.fidelity, 0.0, 1.0)
            return F.copy(), F.copy()
        return fidelity_interval(self.counts, self.shots, self.method, confidence, interval)

    def fs_interval(self, confidence: float = 0.95, interval: str = "clopper-pearson") -> tuple[np.ndarray, np.ndarray]:
        """Per-entry interval for d_FS."""
        Flo, Fhi = self.fidelity_interval(confidence, interval)
        return fs_from_fidelity(Fhi), fs_from_fidelity(Flo)

    def bias_warning(self, threshold: float = BIAS_THRESHOLD) -> np.ndarray:
        """Per-entry flag S·(1 − F̂) < threshold (all False when analytic)."""
        return bias_warning(self.fidelity, self.shots, threshold)

    def fs(self, confidence: float = 0.95, interval: str = "clopper-pearson") -> FSEstimate:
        """d̂ with its interval and bias flag, as one :class:`FSEstimate`."""
        lo, hi = self.fs_interval(confidence, interval)
        return FSEstimate(self.fs_distance(), lo, hi, float(confidence), self.bias_warning())


__all__ = ["METHODS", "INTERVALS", "BIAS_THRESHOLD", "check_method", "check_shots", "check_confidence",
           "success_probability", "fidelity_from_probability", "fidelity_from_counts", "fs_from_fidelity",
           "fidelity_std", "proportion_interval", "fidelity_interval", "fs_interval", "bias_warning", "fs_bias",
           "FSEstimate", "KernelEstimate"]
