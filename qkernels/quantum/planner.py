"""How many shots a kernel entry needs for |d̂ − d_FS| ≤ ε with probability at least 1 − δ.

Setting. One entry is S shots of a binomial experiment with success probability
p(d) = α + β·cos²d (swap test α = β = 1/2; compute-uncompute α = 0, β = 1), and the estimate is
d̂ = arccos √clip(F̂, 0, 1). The error |d̂ − d| stays within ε exactly when p̂ = k/S lies in
[p_lo, p_hi] = [p(d + ε), p(d − ε)] (a side with d + ε ≥ π/2 or d − ε ≤ 0 cannot fail).

Bounds (δ' = δ / entries when a union bound over ``entries`` entries is asked for):

* ``hoeffding``: P(p̂ − p ≤ −t) ≤ exp(−2St²) and the same for the upper side. The margins
  p − p_lo = β·sin ε·sin(2d + ε) and p_hi − p = β·sin ε·sin(2d − ε) are at least t = β·sin²ε
  for every d, so S = ⌈ln(2/δ') / (2t²)⌉ = ⌈ln(2/δ') / (2β²·sin⁴ε)⌉ suffices uniformly. Over a
  narrower ``d_range`` t is the smallest margin on it (found on a grid that includes the
  endpoints; the margins are concave in d there, so the endpoints decide).
* ``chernoff`` (default): P(p̂ ≤ p_lo) ≤ exp(−S·KL(p_lo ‖ p)) and P(p̂ ≥ p_hi) ≤ exp(−S·KL(p_hi ‖ p))
  with the binary relative entropy KL. S(d) = ⌈ln(2/δ') / min(KL_lo, KL_hi)⌉, maximized over
  d in ``d_range`` (a grid of 4,001 points, then a bounded local refinement). By Pinsker
  (KL ≥ 2t²) it never asks for more shots than Hoeffding, and far fewer where p is near 0 or 1.

Both are valid upper bounds on the shots needed, never estimates; :func:`failure_probability`
computes the exact failure probability of a plan (sum over the binomial), which is what the
tests and the ``quantum`` section check the plans against, together with simulated shot runs.

Example:
    >>> plan = plan_shots(0.1, 0.05, "compute_uncompute")
    >>> plan.shots, plan.bound
    (369, 'chernoff')
    >>> plan_shots(0.1, 0.05, "compute_uncompute", bound="hoeffding").shots
    18568
    >>> bool(failure_probability(plan.shots, 0.1, plan.worst_d, "compute_uncompute") <= 0.05)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import optimize, stats

from qkernels.core.errors import InputError
from qkernels.quantum.estimation import (
    MAX_SHOTS,
    check_method,
    fidelity_from_counts,
    fs_from_fidelity,
    success_probability,
)

BOUNDS: tuple[str, ...] = ("chernoff", "hoeffding")
_GRID = 4001


@dataclass(frozen=True)
class ShotPlan:
    """Shots per entry for |d̂ − d_FS| ≤ eps with probability ≥ 1 − delta, and how it was derived."""

    shots: int
    eps: float
    delta: float
    method: str
    bound: str
    entries: int
    d_range: tuple[float, float]
    worst_d: float

    def __str__(self) -> str:
        return (f"{self.shots} shots per entry ({self.method}, {self.bound} bound): |d̂ − d_FS| ≤ {self.eps:g} with "
                f"probability ≥ {1 - self.delta:g} for each of {self.entries} entries jointly, d_FS in "
                f"[{self.d_range[0]:.3g}, {self.d_range[1]:.3g}] (worst case at d_FS = {self.worst_d:.3g})")


def _coef(method: str) -> tuple[float, float]:
    return (0.5, 0.5) if check_method(method) == "swap" else (0.0, 1.0)


def _p(d: np.ndarray, method: str) -> np.ndarray:
    a, b = _coef(method)
    return a + b * np.cos(d) ** 2


def _kl(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Binary relative entropy KL(q ‖ p), with 0·log 0 = 0 and +inf where q is outside p's support."""
    q, p = np.asarray(q, dtype=np.float64), np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(q > 0, q * np.log(q / p), 0.0)
        t2 = np.where(q < 1, (1 - q) * np.log((1 - q) / (1 - p)), 0.0)
    out = t1 + t2
    return np.where(np.isnan(out), np.inf, out)


def _kl_shift(p: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """KL(p + delta ‖ p) computed from the shift itself (log1p), accurate for tiny shifts.

    The plain form q·log(q/p) + (1 − q)·log((1 − q)/(1 − p)) subtracts two terms of size
    ~|delta| to get one of size ~delta², and for delta below ~1e-8 rounding makes it negative
    (a negative shot count); from the shift each term keeps its relative accuracy.
    """
    p, delta = np.asarray(p, dtype=np.float64), np.asarray(delta, dtype=np.float64)
    q = p + delta
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(q > 0, q * np.log1p(delta / p), 0.0)
        t2 = np.where(q < 1, (1 - q) * np.log1p(-delta / (1 - p)), 0.0)
    out = t1 + t2
    return np.where(np.isnan(out), np.inf, out)


def _margins(d: np.ndarray, eps: float, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """p, the margins p − p_lo = β·sin ε·sin(2d + ε) and p_hi − p = β·sin ε·sin(2d − ε) in closed
    form (no cancellation), and masks of the sides that can fail."""
    _, b = _coef(method)
    p = _p(d, method)
    lo_ok = d + eps < math.pi / 2
    hi_ok = d - eps > 0
    m_lo = b * math.sin(eps) * np.sin(2 * d + eps)
    m_hi = b * math.sin(eps) * np.sin(2 * d - eps)
    return p, m_lo, m_hi, lo_ok, hi_ok


def _chernoff_rate(d: np.ndarray, eps: float, method: str) -> np.ndarray:
    p, m_lo, m_hi, lo_ok, hi_ok = _margins(d, eps, method)
    # Pinsker (KL ≥ 2m²) as a floor: exact in real arithmetic, and a guard against rounding
    kl_lo = np.where(lo_ok, np.maximum(_kl_shift(p, -m_lo), 2 * m_lo * m_lo), np.inf)
    kl_hi = np.where(hi_ok, np.maximum(_kl_shift(p, m_hi), 2 * m_hi * m_hi), np.inf)
    return np.minimum(kl_lo, kl_hi)


def _hoeffding_rate(d: np.ndarray, eps: float, method: str) -> np.ndarray:
    p, m_lo, m_hi, lo_ok, hi_ok = _margins(d, eps, method)
    t = np.minimum(np.where(lo_ok, m_lo, np.inf), np.where(hi_ok, m_hi, np.inf))
    return 2.0 * t * t


def _check_plan_args(eps: object, delta: object, entries: object, d_range: object) -> tuple[float, float, int, tuple]:
    if isinstance(eps, bool) or not isinstance(eps, Real) or not 0 < float(eps) < math.pi / 2:
        raise InputError(f"eps: expected a target error in (0, π/2) radians, got {eps!r}")
    if isinstance(delta, bool) or not isinstance(delta, Real) or not 0 < float(delta) < 1:
        raise InputError(f"delta: expected a failure probability in (0, 1), got {delta!r}")
    if isinstance(entries, bool) or not isinstance(entries, Integral) or entries < 1:
        raise InputError(f"entries: expected a positive integer, got {entries!r}")
    try:
        lo, hi = (float(x) for x in d_range)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InputError(f"d_range: expected (low, high) in [0, π/2], got {d_range!r}") from None
    if not 0 <= lo <= hi <= math.pi / 2 + 1e-12:
        raise InputError(f"d_range: expected 0 ≤ low ≤ high ≤ π/2, got {d_range!r}")
    return float(eps), float(delta), int(entries), (lo, min(hi, math.pi / 2))


def plan_shots(eps: float, delta: float = 0.05, method: str = "swap", *, bound: str = "chernoff",
               d_range: tuple[float, float] = (0.0, math.pi / 2), entries: int = 1) -> ShotPlan:
    """Shots per entry so that |d̂ − d_FS| ≤ eps with probability ≥ 1 − delta (see module docstring).

    Args:
        eps: target error on d_FS in radians, in (0, π/2).
        delta: allowed failure probability, in (0, 1).
        method: "swap" or "compute_uncompute".
        bound: "chernoff" (default, tighter) or "hoeffding" (closed form).
        d_range: the range the true d_FS is known to lie in (default: anywhere, [0, π/2]).
        entries: entries that must all meet the target jointly (union bound: delta / entries each).

    Raises:
        InputError: eps, delta, entries, d_range, method or bound out of range, or a plan that
            would need more than 2**63-1 shots per entry.
    """
    eps, delta, entries, (lo, hi) = _check_plan_args(eps, delta, entries, d_range)
    check_method(method)
    if bound not in BOUNDS:
        raise InputError(f"bound: expected one of {', '.join(BOUNDS)}, got {bound!r}")
    rate_fn = _chernoff_rate if bound == "chernoff" else _hoeffding_rate
    grid = np.unique(np.concatenate([np.linspace(lo, hi, _GRID), [lo, hi]]))
    rates = rate_fn(grid, eps, method)
    k = int(np.argmin(rates))
    worst, rate = float(grid[k]), float(rates[k])
    if np.isfinite(rate) and hi > lo and bound == "chernoff":
        step = (hi - lo) / (_GRID - 1)
        a, b = max(lo, worst - step), min(hi, worst + step)
        with np.errstate(all="ignore"):  # an infinite rate beside the minimum is expected, not an error
            res = optimize.minimize_scalar(lambda x: float(rate_fn(np.array([x]), eps, method)[0]), bounds=(a, b),
                                           method="bounded", options={"xatol": 1e-12})
        if res.fun < rate:
            worst, rate = float(res.x), float(res.fun)
    if not np.isfinite(rate):  # no d in the range can fail: one shot is enough
        return ShotPlan(1, eps, delta, method, bound, entries, (lo, hi), worst)
    need = math.log(2 * entries / delta) / rate * (1 + 1e-9)
    if not need < MAX_SHOTS:
        raise InputError(f"eps={eps:g}, delta={delta:g}: the {bound} bound needs about {need:.3g} shots per entry, "
                         f"more than the 2**63-1 a count can hold; ask for a larger eps or delta")
    shots = max(1, math.ceil(need))
    return ShotPlan(int(shots), eps, delta, method, bound, entries, (lo, hi), worst)


def failure_probability(shots: int, eps: float, d: float | np.ndarray, method: str) -> np.ndarray:
    """Exact P(|d̂ − d| > eps) with ``shots`` shots at true distance d (sum over the binomial).

    Example:
        >>> round(float(failure_probability(1000, 0.05, 0.5, "swap")), 4)
        0.0373
    """
    k = np.arange(int(shots) + 1, dtype=np.float64)
    d_hat = fs_from_fidelity(fidelity_from_counts(k, int(shots), method))
    d = np.asarray(d, dtype=np.float64)
    flat = d.ravel()
    out = np.empty(flat.shape, dtype=np.float64)
    for i, dd in enumerate(flat):
        p = float(success_probability(math.cos(dd) ** 2, method))
        bad = np.abs(d_hat - dd) > eps
        out[i] = float(stats.binom.pmf(k[bad], int(shots), p).sum())
    return out.reshape(d.shape)


def worst_failure(shots: int, eps: float, method: str, d_grid: np.ndarray | None = None) -> tuple[float, float]:
    """(max over d of the exact failure probability, the d attaining it) on a grid of d_FS."""
    grid = np.linspace(0.0, math.pi / 2, 201) if d_grid is None else np.asarray(d_grid, dtype=np.float64)
    f = failure_probability(shots, eps, grid, method)
    k = int(np.argmax(f))
    return float(f[k]), float(grid[k])


__all__ = ["ShotPlan", "BOUNDS", "plan_shots", "failure_probability", "worst_failure"]
