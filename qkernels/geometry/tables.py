"""Distance tables between the operators of one model or across two (cross-architecture).

Pairs: at layer granularity every pair of operators (i < j within one set, or every a × b across
two); at filter granularity the pairs of filters of the same layer (within one model: i < j; across
two models: the filters of the layers that have the same name in both). Pairs are batched by
their common (padded) spectrum length. The metrics are those of the registry
(:mod:`qkernels.geometry.metrics`; ``METRICS`` and ``parse_metrics`` are re-exported here).

Example:
    >>> import torch.nn as nn
    >>> from qkernels.geometry.operators import extract_operators
    >>> ops = extract_operators(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)))
    >>> distance_table(ops, metrics=["fs"]).columns.tolist()
    ['op_a', 'op_b', 'layer', 'shape_a', 'shape_b', 'N', 'norm_a', 'norm_b', 'fs']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from qkernels.core.arrays import pad_last
from qkernels.core.errors import InputError
from qkernels.geometry.metrics import METRICS, get_metric, parse_metrics
from qkernels.geometry.operators import Operator
from qkernels.geometry.spectral import operator_spectra


def _pairs(ops_a: Sequence[Operator], ops_b: Sequence[Operator] | None) -> list[tuple[int, int]]:
    filter_mode = any(op.index is not None for op in ops_a)
    same = ops_b is None
    ob = ops_a if same else ops_b
    if not filter_mode:
        if same:
            return [(i, j) for i in range(len(ops_a)) for j in range(i + 1, len(ops_a))]
        return [(i, j) for i in range(len(ops_a)) for j in range(len(ob))]
    by_a: dict[str, list[int]] = {}
    by_b: dict[str, list[int]] = {}
    for i, op in enumerate(ops_a):
        by_a.setdefault(op.layer, []).append(i)
    for j, op in enumerate(ob):
        by_b.setdefault(op.layer, []).append(j)
    out = []
    for layer, ia in by_a.items():
        jb = by_b.get(layer, [])
        if same:
            out += [(ia[x], ia[y]) for x in range(len(ia)) for y in range(x + 1, len(ia))]
        else:
            out += [(i, j) for i in ia for j in jb]
    return out


def distance_table(
    ops_a: Sequence[Operator],
    ops_b: Sequence[Operator] | None = None,
    metrics: Sequence[str] = ("fs", "w2cum"),
    device: str | torch.device | None = None,
) -> pd.DataFrame:
    """One row per operator pair with the chosen metrics (see the module docstring for pairs).

    Args:
        ops_a: the operators of one model (layer or filter granularity).
        ops_b: the operators of a second model for cross-model pairs, or None.
        metrics: registered metric names (:func:`qkernels.geometry.metrics.metric_names`).
        device: device for the spectra (default: the CPU).

    Returns:
        DataFrame with columns op_a, op_b, layer, shape_a, shape_b, N, norm_a, norm_b and one
        column per metric.
    """
    names = parse_metrics(metrics)
    fns = {m: get_metric(m) for m in names}
    sa_list = operator_spectra(list(ops_a), device=device)
    sb_list = sa_list if ops_b is None else operator_spectra(list(ops_b), device=device)
    ob = ops_a if ops_b is None else ops_b
    pairs = _pairs(ops_a, ops_b)
    if not pairs:
        raise InputError("no operator pairs to compare (filter granularity across two models needs layers "
                         "with the same name in both)")
    groups: dict[int, list[int]] = {}
    for k, (i, j) in enumerate(pairs):
        groups.setdefault(max(len(sa_list[i]), len(sb_list[j])), []).append(k)
    cols = {m: np.empty(len(pairs)) for m in names}
    Ns = np.empty(len(pairs), dtype=np.int64)
    norm_a = np.array([float(torch.linalg.vector_norm(sa_list[i])) for i, _ in pairs])
    norm_b = np.array([float(torch.linalg.vector_norm(sb_list[j])) for _, j in pairs])
    for N, ks in groups.items():
        SA = torch.stack([pad_last(sa_list[pairs[k][0]], N) for k in ks])
        SB = torch.stack([pad_last(sb_list[pairs[k][1]], N) for k in ks])
        PA = SA / torch.linalg.vector_norm(SA, dim=-1, keepdim=True)
        PB = SB / torch.linalg.vector_norm(SB, dim=-1, keepdim=True)
        Ns[ks] = N
        for m in names:
            cols[m][ks] = fns[m](PA, PB, SA, SB).numpy()
    shape = lambda op: "x".join(str(d) for d in op.W.shape)  # noqa: E731
    df = pd.DataFrame({
        "op_a": [ops_a[i].name for i, _ in pairs],
        "op_b": [ob[j].name for _, j in pairs],
        "layer": [ops_a[i].layer for i, _ in pairs],
        "shape_a": [shape(ops_a[i]) for i, _ in pairs],
        "shape_b": [shape(ob[j]) for _, j in pairs],
        "N": Ns, "norm_a": norm_a, "norm_b": norm_b,
    })
    for m in names:
        df[m] = cols[m]
    return df


__all__ = ["METRICS", "parse_metrics", "distance_table"]
