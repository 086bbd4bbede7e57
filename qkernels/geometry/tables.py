"""Distance tables between the operators of one model or across two (cross-architecture).

Pairs: at layer granularity every pair of operators (i < j within one set, or every a × b across
two); at filter granularity the pairs of filters of the same layer (within one model: i < j; across
two models: the filters of the layers that have the same name in both). Pairs are batched by
their common (padded) spectrum length. The metrics are those of the registry
(:mod:`qkernels.geometry.metrics`; ``METRICS`` and ``parse_metrics`` are re-exported here).

Memory: :func:`iter_distance_table` yields the table in blocks of at most :data:`BLOCK_PAIRS` rows
in the order :func:`distance_table` returns them, generating the pairs as it goes, so its working
set is bounded whatever the number of pairs (the spectra are the only thing kept: one per
operator). ``qkernels distances`` writes the blocks to the CSV as they come. :func:`distance_table`
holds the whole table and first checks its estimated size (:data:`ROW_BYTES` per row) against the
memory budget (:mod:`qkernels.core.memory`), refusing with the estimate instead of exhausting memory.
Block sizes are fixed, never derived from the budget, so every block size gives the same numbers.

Example:
    >>> import torch.nn as nn
    >>> from qkernels.geometry.operators import extract_operators
    >>> ops = extract_operators(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)))
    >>> distance_table(ops, metrics=["fs"]).columns.tolist()
    ['op_a', 'op_b', 'layer', 'shape_a', 'shape_b', 'N', 'norm_a', 'norm_b', 'fs']
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from qkernels.core.arrays import pad_last
from qkernels.core.errors import InputError
from qkernels.core.memory import check_memory
from qkernels.geometry.metrics import METRICS, parse_metrics
from qkernels.geometry.operators import Operator
from qkernels.geometry.spectral import operator_spectra


def _pairs(ops_a: Sequence[Operator], ops_b: Sequence[Operator] | None) -> list[tuple[int, int]]:
    """Every pair of :func:`distance_table`, in its row order (as a list; see :func:`_iter_pairs`)."""
    return list(_iter_pairs(ops_a, ops_b))


#: rows per block of :func:`iter_distance_table`
BLOCK_PAIRS = 1 << 15

#: bytes of padded spectra per metric evaluation chunk inside a block
_CHUNK_BYTES = 8 << 20

#: estimated bytes of one row of a distance table held in memory (pandas, names included), per
#: metric column on top of the fixed columns
ROW_BYTES, ROW_METRIC_BYTES = 400, 16


def count_pairs(ops_a: Sequence[Operator], ops_b: Sequence[Operator] | None = None) -> int:
    """The number of rows :func:`distance_table` gives (without listing the pairs)."""
    filter_mode = any(op.index is not None for op in ops_a)
    ob = ops_a if ops_b is None else ops_b
    if not filter_mode:
        n = len(ops_a)
        return n * (n - 1) // 2 if ops_b is None else n * len(ob)
    size_a: dict[str, int] = {}
    size_b: dict[str, int] = {}
    for op in ops_a:
        size_a[op.layer] = size_a.get(op.layer, 0) + 1
    for op in ob:
        size_b[op.layer] = size_b.get(op.layer, 0) + 1
    if ops_b is None:
        return sum(k * (k - 1) // 2 for k in size_a.values())
    return sum(k * size_b.get(layer, 0) for layer, k in size_a.items())


def _iter_pairs(ops_a: Sequence[Operator], ops_b: Sequence[Operator] | None) -> Iterator[tuple[int, int]]:
    """The pairs of :func:`_pairs`, in the same order, one at a time."""
    filter_mode = any(op.index is not None for op in ops_a)
    same = ops_b is None
    ob = ops_a if same else ops_b
    if not filter_mode:
        if same:
            return itertools.combinations(range(len(ops_a)), 2)
        return itertools.product(range(len(ops_a)), range(len(ob)))
    by_a: dict[str, list[int]] = {}
    by_b: dict[str, list[int]] = {}
    for i, op in enumerate(ops_a):
        by_a.setdefault(op.layer, []).append(i)
    for j, op in enumerate(ob):
        by_b.setdefault(op.layer, []).append(j)
    if same:
        return itertools.chain.from_iterable(itertools.combinations(ia, 2) for ia in by_a.values())
    return itertools.chain.from_iterable(itertools.product(ia, by_b.get(layer, [])) for layer, ia in by_a.items())


def table_bytes(n_pairs: int, n_metrics: int) -> int:
    """Estimated memory of a distance table of ``n_pairs`` rows held as one DataFrame."""
    return n_pairs * (ROW_BYTES + ROW_METRIC_BYTES * n_metrics)


def iter_distance_table(
    ops_a: Sequence[Operator],
    ops_b: Sequence[Operator] | None = None,
    metrics: Sequence[str] = ("fs", "w2cum"),
    device: str | torch.device | None = None,
    *,
    block_pairs: int = BLOCK_PAIRS,
) -> Iterator[pd.DataFrame]:
    """The rows of :func:`distance_table` as DataFrames of at most ``block_pairs`` rows, in order.

    The pairs are generated block by block, so memory stays bounded for any number of pairs.

    Raises:
        InputError: unknown metric, or no pair to compare (before anything is yielded).
    """
    names = parse_metrics(metrics)
    if isinstance(block_pairs, bool) or not isinstance(block_pairs, int) or block_pairs < 1:
        raise InputError(f"block_pairs: expected a positive integer, got {block_pairs!r}")
    ob = ops_a if ops_b is None else ops_b
    if count_pairs(ops_a, ops_b) == 0:
        raise InputError("no operator pairs to compare (filter granularity across two models needs layers "
                         "with the same name in both)")
    sa_list = operator_spectra(list(ops_a), device=device)
    sb_list = sa_list if ops_b is None else operator_spectra(list(ops_b), device=device)
    na = [float(torch.linalg.vector_norm(s)) for s in sa_list]
    nb = na if ops_b is None else [float(torch.linalg.vector_norm(s)) for s in sb_list]
    shape = lambda op: "x".join(str(d) for d in op.W.shape)  # noqa: E731
    shapes_a = [shape(op) for op in ops_a]
    shapes_b = shapes_a if ops_b is None else [shape(op) for op in ob]
    it = _iter_pairs(ops_a, ops_b)
    while True:
        pairs = list(itertools.islice(it, block_pairs))
        if not pairs:
            return
        yield _block(pairs, ops_a, ob, sa_list, sb_list, na, nb, shapes_a, shapes_b, names)


def _block(pairs, ops_a, ob, sa_list, sb_list, na, nb, shapes_a, shapes_b, names) -> pd.DataFrame:
    groups: dict[int, list[int]] = {}
    for k, (i, j) in enumerate(pairs):
        groups.setdefault(max(len(sa_list[i]), len(sb_list[j])), []).append(k)
    cols = {m: np.empty(len(pairs)) for m in names}
    Ns = np.empty(len(pairs), dtype=np.int64)
    for N, ks_all in groups.items():
        step = max(1, _CHUNK_BYTES // (8 * N))
        for c in range(0, len(ks_all), step):
            ks = ks_all[c : c + step]
            SA = torch.stack([pad_last(sa_list[pairs[k][0]], N) for k in ks])
            SB = torch.stack([pad_last(sb_list[pairs[k][1]], N) for k in ks])
            PA = SA / torch.linalg.vector_norm(SA, dim=-1, keepdim=True)
            PB = SB / torch.linalg.vector_norm(SB, dim=-1, keepdim=True)
            Ns[ks] = N
            for m in names:
                cols[m][ks] = METRICS[m](PA, PB, SA, SB).numpy()
    df = pd.DataFrame({
        "op_a": [ops_a[i].name for i, _ in pairs],
        "op_b": [ob[j].name for _, j in pairs],
        "layer": [ops_a[i].layer for i, _ in pairs],
        "shape_a": [shapes_a[i] for i, _ in pairs],
        "shape_b": [shapes_b[j] for _, j in pairs],
        "N": Ns, "norm_a": np.array([na[i] for i, _ in pairs]), "norm_b": np.array([nb[j] for _, j in pairs]),
    })
    for m in names:
        df[m] = cols[m]
    return df


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

    Raises:
        InputError: unknown metric, no pair, or a table over the memory budget (then
            :func:`iter_distance_table` gives it in blocks).
    """
    names = parse_metrics(metrics)
    n = count_pairs(ops_a, ops_b)
    check_memory(f"a distance table of {n:,} operator pairs", table_bytes(n, len(names)),
                 hint="; or take it in blocks with iter_distance_table (qkernels distances streams it to the CSV)")
    return pd.concat(list(iter_distance_table(ops_a, ops_b, names, device)), ignore_index=True)


__all__ = ["METRICS", "parse_metrics", "distance_table", "iter_distance_table", "count_pairs", "table_bytes",
           "BLOCK_PAIRS"]
