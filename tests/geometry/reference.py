"""Independent references for the tests of qkernels.geometry.distances: NumPy closed forms,
mpmath at 50 digits (Fubini–Study near 0) and POT (``ot.emd2_1d``, ``ot.wasserstein_1d``,
``ot.emd2``), and the random states and spectra the tests draw."""

from __future__ import annotations

import mpmath
import numpy as np
import ot
from hypothesis import HealthCheck, settings

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- helpers / references

def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rand_state(rng, n: int, *, sort: bool = True, signed: bool = False) -> np.ndarray:
    v = rng.standard_normal(n)
    if not signed:
        v = np.abs(v)
    if sort:
        v = -np.sort(-v)
    return unit(v)


def spectrum_of(rng, m: int, n: int, rank: int | None = None, scale: float = 1.0) -> np.ndarray:
    """Singular values (NumPy) of a random augmented matrix [[W, b], [0, 1]]."""
    rank = min(m, n) if rank is None else rank
    W = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n)) * scale
    b = rng.standard_normal(m) * scale
    A = np.block([[W, b[:, None]], [np.zeros((1, n)), np.ones((1, 1))]])
    return np.linalg.svd(A, compute_uv=False)


def zpad(v: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([v, np.zeros(n - len(v))])


def fs_arccos(a: np.ndarray, b: np.ndarray) -> float:
    n = max(len(a), len(b))
    return float(np.arccos(np.clip(abs(zpad(a, n) @ zpad(b, n)), 0.0, 1.0)))


def fs_chord(a: np.ndarray, b: np.ndarray) -> float:
    """Difference-vector formula in NumPy (for non-negative states)."""
    n = max(len(a), len(b))
    return float(2 * np.arcsin(np.linalg.norm(zpad(a, n) - zpad(b, n)) / 2))


def fs_mp(a: np.ndarray, b: np.ndarray) -> float:
    """arccos|<a, b>| of the exactly normalized inputs, at 50 significant digits."""
    n = max(len(a), len(b))
    with mpmath.workdps(50):
        A = [mpmath.mpf(float(x)) for x in zpad(a, n)]
        B = [mpmath.mpf(float(x)) for x in zpad(b, n)]
        na = mpmath.sqrt(mpmath.fsum(x * x for x in A))
        nb = mpmath.sqrt(mpmath.fsum(x * x for x in B))
        c = abs(mpmath.fsum(x * y for x, y in zip(A, B))) / (na * nb)
        return float(mpmath.acos(min(c, mpmath.mpf(1))))


def positions(n: int) -> np.ndarray:
    return np.arange(1, n + 1) / n


def masses(psi: np.ndarray, n: int) -> np.ndarray:
    p = zpad(psi, n) ** 2
    return p / p.sum()


def pot_w2sq(a: np.ndarray, b: np.ndarray, how: str = "emd2_1d") -> float:
    n = max(len(a), len(b))
    x, p, q = positions(n), masses(a, n), masses(b, n)
    if how == "emd2_1d":
        return float(ot.emd2_1d(x, x, p, q))  # default metric: squared Euclidean
    if how == "wasserstein_1d":
        return float(ot.wasserstein_1d(x, x, p, q, p=2))  # returns W_p^p
    if how == "emd2":
        return float(ot.emd2(p, q, (x[:, None] - x[None, :]) ** 2))
    raise AssertionError(how)


def pot_w1(a: np.ndarray, b: np.ndarray) -> float:
    n = max(len(a), len(b))
    x = positions(n)
    return float(ot.wasserstein_1d(x, x, masses(a, n), masses(b, n), p=1))


def assert_w2sq_close(got: float, ref: float, *, rel: float = 1e-12, abs_: float = 1e-15):
    assert abs(got - ref) <= rel * abs(ref) + abs_, (got, ref)
