"""Shared fixtures of the bound-checker tests: generated scenario pairs and cross-shape pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qkernels.bounds.check import check_bounds
from tests.bounds.reference import ACTS, FAMILIES, FAST, RADII, SHAPES, make_pairs, ref_quantities, run_batch


@pytest.fixture(scope="module")
def generated():
    """(family, shape, pairs, rows, refs) for every family × shape: rows from one batch call."""
    out = []
    for fi, family in enumerate(FAMILIES):
        for si, (m, n) in enumerate(SHAPES):
            pairs = make_pairs(family, 3, m, n, seed=100 * fi + si)
            rows = run_batch(pairs)
            refs = [ref_quantities(*p) for p in pairs]
            out.append((family, (m, n), pairs, rows, refs))
    return out


@pytest.fixture(scope="module")
def padded():
    """Cross-shape pairs through check_bounds(pad=True): (layers_i, layers_j, padded numpy, rows)."""
    rng = np.random.default_rng(99)
    out = []
    for (mi, ni), (mj, nj) in [((8, 6), (6, 8)), ((10, 4), (10, 7)), ((5, 9), (7, 9))]:
        Wi, bi = rng.standard_normal((mi, ni)) / math.sqrt(ni), rng.standard_normal(mi) * 0.3
        Wj, bj = rng.standard_normal((mj, nj)) / math.sqrt(nj), rng.standard_normal(mj) * 0.3
        m, n = max(mi, mj), max(ni, nj)
        pad = lambda W, b: (np.pad(W, ((0, m - W.shape[0]), (0, n - W.shape[1]))), np.pad(b, (0, m - len(b))))  # noqa: E731
        P = pad(Wi, bi) + pad(Wj, bj)
        rows = [check_bounds((torch.as_tensor(Wi), torch.as_tensor(bi)), (torch.as_tensor(Wj), torch.as_tensor(bj)),
                             act, R, pad=True, **FAST) for R in RADII for act in ACTS]
        out.append(((Wi, bi), (Wj, bj), P, rows))
    return out
