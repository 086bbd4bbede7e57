"""The ``pruning`` section's block-level unit: the block graph of a dense model and each block's removal.

One unit per model × replicate (models with removable residual blocks only): the trained dense
model of the sweep, its block graph (:mod:`~qkernels.pruning.qmfrg.blocks`), and for every removable
block the model with that block replaced by the identity, BatchNorm statistics re-estimated on
the calibration split (as after any pruning), evaluated on the test split. One row per block,
``stage = "block"``, ``method = "block-skip"``.

Example:
    >>> BLOCK_COLUMNS[-4:]
    ['block', 'block_distance', 'block_nearest', 'block_rank']
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from qkernels.nn.models import build_model
from qkernels.nn.training import evaluate, recalibrate_bn
from qkernels.pruning.prune import count_macs_params
from qkernels.pruning.qmfrg.blocks import block_graph, removable_blocks, skip_block
from qkernels.suite.ckcache import config_key
from qkernels.suite.sweeps.pruning import (
    BASE_COLUMNS,
    DenseCache,
    ModelSetup,
    SweepConfig,
    calib_batches,
    dense_config,
    dense_model,
    model_data,
    torch_threads,
)

BLOCK_COLUMNS = BASE_COLUMNS + ["block", "block_distance", "block_nearest", "block_rank"]


def has_blocks(setup: ModelSetup) -> bool:
    """Whether the architecture has two or more removable residual blocks."""
    return len(removable_blocks(build_model(setup.arch))) >= 2


def block_rows(cfg: SweepConfig, setup: ModelSetup, replicate: int, seed: int, device="cpu",
               progress: bool | None = None, *, cache: DenseCache | None = None) -> pd.DataFrame:
    """The block unit of one model × replicate (see the module docstring)."""
    with torch_threads(cfg.cpu_threads, device):
        data = model_data(cfg, setup)
        dense, _, _ = dense_model(cfg, setup, seed, device, progress, cache)
        dense = dense.eval()
        g = block_graph(dense)
        x = data.example_inputs().to(device)
        macs0, params0 = count_macs_params(dense, x)
        bn_set, _ = calib_batches(data, cfg.bn_images, seed + 1)
        rows = []
        for k, name in enumerate(g["blocks"]):
            t0 = time.perf_counter()
            m = skip_block(dense, name)
            recalibrate_bn(m, bn_set)
            t_recal = time.perf_counter() - t0
            t0 = time.perf_counter()
            ev = evaluate(m, data.test, batch_size=cfg.eval_batch)
            macs, params = count_macs_params(m, x)
            rows.append({
                "model": setup.name, "arch": setup.arch, "data": data.spec, "method": "block-skip", "stage": "block",
                "sparsity": 0.0, "replicate": replicate, "seed": seed, "accuracy": ev["accuracy"], "loss": ev["loss"],
                "n_test": ev["n"], "macs": macs, "macs_dense": macs0, "macs_frac": macs / macs0, "params": params,
                "params_dense": params0, "params_frac": params / params0, "recal_time_s": t_recal,
                "eval_time_s": time.perf_counter() - t0, "threads": torch.get_num_threads(),
                "dense_key": config_key(dense_config(cfg, setup, seed)), "block": name,
                "block_distance": g["distance"][k], "block_nearest": g["nearest"][k], "block_rank": g["rank"][k]})
        return pd.DataFrame(rows, columns=BLOCK_COLUMNS)


__all__ = ["BLOCK_COLUMNS", "block_rows", "has_blocks"]
