"""The metric registry: every distance between operator spectra, by name.

A metric is a batched function of operator pairs, ``pairs(ψ_a, ψ_b, s_a, s_b) -> d`` (P pairs as
rows of shape (P, N), states ψ = s/‖s‖ and spectra s zero-padded to a common N; d of shape (P,)).
Registering one makes it a column of :func:`~qkernels.geometry.tables.distance_table`, a value of
``qkernels distances --metric`` and an edge distance of QM-FRG
(``prune(..., "qmfrg", ..., metric=NAME)``, :mod:`qkernels.pruning.qmfrg.channels`)::

    register_metric("linf", lambda pa, pb, sa, sb: (pa - pb).abs().amax(-1), "largest entry of ψ_a − ψ_b")

A metric may also carry ``matrix``, a faster all-pairs form ``(Ψ, S) -> (k, k)`` for the k
operators of one layer (QM-FRG uses it; without it the all-pairs matrix is built from ``pairs``),
and ``reference``, an independent implementation of one pair on NumPy vectors with the name of
what it is (``reference_name``) for the checks of the metrics section and the tests.

The built-in metrics (docs/theory.md):

* ``fs``: Fubini–Study θ = arccos|⟨ψ_a, ψ_b⟩|;
* ``chord``: ‖ψ_a − ψ_b‖₂ = 2·sin(θ/2);
* ``w2cum`` / ``w1cum``: W₂ / W₁ between the cumulative profiles of the states;
* ``w2emp_psi`` / ``w2emp_s``: W₂ between the empirical measures of the states / the raw spectra;
* ``spec_l2``: ‖s_a − s_b‖₂ (raw spectra).

Example:
    >>> metric_names()
    ['fs', 'chord', 'w2cum', 'w1cum', 'w2emp_psi', 'w2emp_s', 'spec_l2']
    >>> import torch
    >>> psi = torch.eye(2, dtype=torch.float64)
    >>> get_metric("chord").matrix_of(psi, psi).tolist()
    [[0.0, 1.4142135623730951], [1.4142135623730951, 0.0]]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from qkernels.core.errors import InputError
from qkernels.geometry.distances import (
    fs_distance,
    pairwise_fs,
    pairwise_w2_cumulative,
    w1_cumulative,
    w2_cumulative,
    w2_empirical,
)

#: ``(ψ_a, ψ_b, s_a, s_b) -> d``: P pairs as rows (P, N), all zero-padded to one N; d of shape (P,).
PairsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
#: ``(Ψ, S) -> D``: the states and spectra of k operators (k, N) -> the (k, k) distance matrix.
MatrixFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``(ψ_a, ψ_b, s_a, s_b) -> d`` for one pair of zero-padded float64 NumPy vectors.
ReferenceFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float]

#: Names a metric cannot take: the other columns of a distance table, and QM-FRG's own edge
#: distances (``aligned`` sees singular vectors, ``quantum`` is a circuit estimate).
RESERVED = ("op_a", "op_b", "layer", "shape_a", "shape_b", "N", "norm_a", "norm_b", "aligned", "quantum")


@dataclass(frozen=True)
class Metric:
    """A registered distance between operator spectra (see the module docstring).

    Calling it is calling ``pairs``.

    Example:
        >>> import torch
        >>> m = get_metric("spec_l2")
        >>> m(None, None, torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 4.0]]))
        tensor([5.])
    """

    name: str
    pairs: PairsFn
    description: str
    matrix: MatrixFn | None = None
    reference: ReferenceFn | None = None
    reference_name: str = ""

    def __call__(self, psi_a: torch.Tensor, psi_b: torch.Tensor, s_a: torch.Tensor, s_b: torch.Tensor) -> torch.Tensor:
        """The distances of P pairs given as rows (``pairs``)."""
        return self.pairs(psi_a, psi_b, s_a, s_b)

    def matrix_of(self, psi: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """The (k, k) distance matrix of k operators with states ``psi`` and spectra ``s`` (k, N).

        ``matrix`` if the metric has one; otherwise ``pairs`` over the pairs i < j, mirrored,
        with a zero diagonal.

        Example:
            >>> import torch
            >>> s = torch.tensor([[1.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
            >>> get_metric("spec_l2").matrix_of(s / s.norm(dim=1, keepdim=True), s).tolist()
            [[0.0, 4.47213595499958], [4.47213595499958, 0.0]]
        """
        if self.matrix is not None:
            return self.matrix(psi, s)
        k = psi.shape[0]
        D = torch.zeros(k, k, dtype=psi.dtype, device=psi.device)
        if k > 1:
            i, j = torch.triu_indices(k, k, 1, device=psi.device)
            d = self.pairs(psi[i], psi[j], s[i], s[j]).to(psi.dtype)
            D[i, j] = d
            D[j, i] = d
        return D


_METRICS: dict[str, Metric] = {}
#: The registry, read-only and live: name -> :class:`Metric`, in registration order.
METRICS: Mapping[str, Metric] = MappingProxyType(_METRICS)


def register_metric(
    name: str,
    pairs: PairsFn,
    description: str,
    *,
    matrix: MatrixFn | None = None,
    reference: ReferenceFn | None = None,
    reference_name: str = "",
    replace: bool = False,
) -> Metric:
    """Register a distance under ``name`` (see the module docstring); InputError if it is taken.

    Args:
        name: letters, digits and ``_`` (it becomes a CSV column and a ``--metric`` value); not
            one of :data:`RESERVED`.
        pairs: the batched distance of pairs given as rows, ``(ψ_a, ψ_b, s_a, s_b) -> (P,)``.
        description: one line saying what it measures.
        matrix: an optional faster all-pairs form ``(Ψ, S) -> (k, k)``.
        reference: an optional independent implementation of one pair on NumPy vectors.
        reference_name: what ``reference`` is (e.g. ``"ot.wasserstein_1d p=1"``).
        replace: overwrite an existing registration instead of refusing.

    Returns:
        The registered :class:`Metric`.

    Example:
        >>> m = register_metric("linf", lambda pa, pb, sa, sb: (pa - pb).abs().amax(-1), "largest |ψ_a − ψ_b|")
        >>> "linf" in metric_names(), m.name
        (True, 'linf')
        >>> unregister_metric("linf")
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise InputError(f"metric name {name!r}: use letters, digits and '_'")
    if name in RESERVED:
        raise InputError(f"metric name {name!r} is reserved ({', '.join(RESERVED)})")
    if name in _METRICS and not replace:
        raise InputError(f"metric {name!r} is already registered")
    if not callable(pairs):
        raise InputError(f"metric {name!r}: pairs must be callable, got {type(pairs).__name__}")
    metric = Metric(name, pairs, description, matrix, reference, reference_name)
    _METRICS[name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove ``name`` from the registry (for tests and plug-ins).

    Example:
        >>> unregister_metric("no_such_metric")  # absent names are ignored
    """
    _METRICS.pop(name, None)


def metric_names() -> list[str]:
    """The registered metric names, in registration order.

    Example:
        >>> metric_names()[:2]
        ['fs', 'chord']
    """
    return list(_METRICS)


def get_metric(name: str) -> Metric:
    """The registered metric ``name``; InputError listing the known ones otherwise.

    Example:
        >>> get_metric("w2cum").reference_name
        'sqrt(ot.emd2_1d)'
    """
    if name not in _METRICS:
        raise InputError(f"unknown metric {name!r}; choose from {', '.join(_METRICS)}")
    return _METRICS[name]


def parse_metrics(text: str | Sequence[str]) -> list[str]:
    """``"fs,w2cum"`` or a list -> validated metric names.

    Example:
        >>> parse_metrics("fs, w2cum ,")
        ['fs', 'w2cum']
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [m.strip() for m in items if m.strip()]
    if not names:
        raise InputError(f"--metric: no metric named; choose from {', '.join(_METRICS)}")
    bad = [m for m in names if m not in _METRICS]
    if bad:
        raise InputError(f"--metric: unknown metric {bad[0]!r}; choose from {', '.join(_METRICS)}")
    return names


def _positions(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.float64) / n


def _masses(psi: np.ndarray) -> np.ndarray:
    return psi * psi / np.sum(psi * psi)


def _ref_fs(pa, pb, sa, sb) -> float:
    return float(np.arccos(min(1.0, abs(float(pa @ pb)))))


def _ref_chord(pa, pb, sa, sb) -> float:
    return 2 * math.sin(float(fs_distance(pa, pb)) / 2)


def _ref_w2cum(pa, pb, sa, sb) -> float:
    import ot

    x = _positions(len(pa))
    return math.sqrt(max(float(ot.emd2_1d(x, x, _masses(pa), _masses(pb))), 0.0))


def _ref_w1cum(pa, pb, sa, sb) -> float:
    import ot

    x = _positions(len(pa))
    return float(ot.wasserstein_1d(x, x, _masses(pa), _masses(pb), p=1))


def _ref_w2emp(u, v) -> float:
    import ot

    return math.sqrt(max(float(ot.wasserstein_1d(u, v, p=2)), 0.0))


def _ref_spec_l2(pa, pb, sa, sb) -> float:
    na, nb = float(np.linalg.norm(sa)), float(np.linalg.norm(sb))
    theta = float(fs_distance(pa, pb))
    return math.sqrt((na - nb) ** 2 + 4 * na * nb * math.sin(theta / 2) ** 2)


register_metric("fs", lambda pa, pb, sa, sb: fs_distance(pa, pb),
                "Fubini-Study distance arccos|<psi_a, psi_b>| between the states",
                matrix=lambda psi, s: pairwise_fs(psi), reference=_ref_fs, reference_name="numpy arccos|<a,b>|")
register_metric("chord", lambda pa, pb, sa, sb: torch.linalg.vector_norm(pa - pb, dim=-1),
                "chordal distance ||psi_a - psi_b|| = 2 sin(theta/2)",
                reference=_ref_chord, reference_name="identity 2·sin(θ/2)")
register_metric("w2cum", lambda pa, pb, sa, sb: w2_cumulative(pa, pb),
                "W2 between the cumulative singular-value profiles of the states",
                matrix=lambda psi, s: pairwise_w2_cumulative(psi), reference=_ref_w2cum,
                reference_name="sqrt(ot.emd2_1d)")
register_metric("w1cum", lambda pa, pb, sa, sb: w1_cumulative(pa, pb),
                "W1 between the cumulative singular-value profiles of the states",
                reference=_ref_w1cum, reference_name="ot.wasserstein_1d p=1")
register_metric("w2emp_psi", lambda pa, pb, sa, sb: w2_empirical(pa, pb),
                "W2 between the empirical measures of the states' entries",
                reference=lambda pa, pb, sa, sb: _ref_w2emp(pa, pb), reference_name="sqrt(ot.wasserstein_1d p=2)")
register_metric("w2emp_s", lambda pa, pb, sa, sb: w2_empirical(sa, sb),
                "W2 between the empirical measures of the raw singular values",
                reference=lambda pa, pb, sa, sb: _ref_w2emp(sa, sb), reference_name="sqrt(ot.wasserstein_1d p=2)")
register_metric("spec_l2", lambda pa, pb, sa, sb: torch.linalg.vector_norm(sa - sb, dim=-1),
                "Euclidean distance ||s_a - s_b|| between the raw spectra",
                reference=_ref_spec_l2, reference_name="identity sqrt((a−b)²+4ab·sin²(θ/2))")


__all__ = ["Metric", "METRICS", "RESERVED", "PairsFn", "MatrixFn", "ReferenceFn", "register_metric",
           "unregister_metric", "metric_names", "get_metric", "parse_metrics"]
