"""The units of the ``latency`` section: each times models on one backend and returns CSV rows.

Three kinds (planned by :mod:`.plan`, which describes them): ``dense:<model>:<backend>``
(:func:`dense_unit`), ``table:<model>:<backend>`` (:func:`table_unit`: the hardware-aware cost
table, kept for the point units in a :class:`CostTables`) and ``point:<model>:<sparsity>:<backend>``
(:func:`point_unit`). ``cfg`` is a :class:`~qkernels.suite.sections.latency.plan.LatencyProfile`,
``lm`` one of its :class:`~qkernels.suite.sections.latency.plan.LatencyModel`.

Example:
    >>> len(CSV_COLUMNS), CSV_COLUMNS[:3]
    (50, ['kind', 'model', 'arch'])
"""

from __future__ import annotations

import copy
import json
import math
from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import nn

from qkernels.hw.deploy import deploy, max_abs_difference
from qkernels.hw.latency import measure_interleaved, measure_latency
from qkernels.nn.models import build_model
from qkernels.nn.training import evaluate, recalibrate_bn
from qkernels.pruning.hardware import (
    CostTable,
    allocate,
    group_importance,
    match_latency,
    measure_cost_table,
    uniform_keep,
)
from qkernels.pruning.prune import count_macs_params, prunable_groups, prune
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sweeps.pruning import (
    DenseCache,
    arch_kwargs,
    build_pruned,
    calib_batches,
    dense_model,
    model_data,
    torch_threads,
)

if TYPE_CHECKING:
    from qkernels.suite.sections.latency.plan import LatencyModel, LatencyProfile

#: the method names of uniform and hardware-aware pruning in the CSV
UNIFORM, HARDWARE = "l1", "hw-l1"

#: the columns of latency.csv, in order
CSV_COLUMNS = ["kind", "model", "arch", "weights", "method", "sparsity", "backend", "batch", "threads", "n", "rounds",
               "median_s", "p90_s", "p99_s", "min_s", "mean_s", "throughput", "dense_median_s", "speedup", "mac_ratio",
               "efficiency", "macs", "macs_dense", "macs_frac", "params", "params_frac", "channels",
               "channel_sparsity", "accuracy", "accuracy_dense", "peak_mem_bytes", "mem_kind", "error", "keep",
               "predicted_saving_s", "target_saving_s", "match_tries", "group", "group_channels", "group_keep",
               "saving_s", "cudnn_benchmark", "cuda_matmul_tf32", "replicate", "round_median_s", "mode", "bn_folded",
               "channels_last", "compiled", "deploy_max_abs_diff"]

#: the timing modes of the ``mode`` column: the model as built, and as deployed (qkernels.hw.deploy)
MODES = ("eager", "deployed")


def _input_shape(cfg: LatencyProfile, lm: LatencyModel) -> tuple[int, ...]:
    shape = model_data(cfg.pruning, lm.setup).image_shape
    if len(shape) != 3:  # signals (CREPE frames): the input shape as it is
        return tuple(shape)
    c, h, w = shape
    side = lm.input_size or h
    if lm.setup.arch == "mlp":
        return (c * side * side,) if lm.input_size else (c, h, w)
    return (c, side, side)


def _dense(cfg: LatencyProfile, lm: LatencyModel, seed: int, cache: DenseCache | None) -> nn.Module:
    data = model_data(cfg.pruning, lm.setup)
    if lm.trained:
        model, _, _ = dense_model(cfg.pruning, lm.setup, seed, "cpu", cache=cache)
        return model
    kw = arch_kwargs(lm.setup, data)
    if lm.input_size and lm.setup.arch == "mlp":
        kw["in_features"] = data.image_shape[0] * lm.input_size ** 2
    return build_model(lm.setup.arch, seed=seed, **kw).eval()


def _time(cfg: LatencyProfile, model: nn.Module, shape, backend: str) -> list[dict]:
    return measure_latency(copy.deepcopy(model), shape, device=backend, batch_sizes=cfg.batch_sizes,
                           warmup=cfg.warmup, min_repeat=cfg.min_repeat, max_repeat=cfg.max_repeat,
                           budget_s=cfg.budget_s, threads=cfg.cpu_threads if backend == "cpu" else None)


def _on(backend: str, model: nn.Module) -> nn.Module:
    """The model itself on the CPU; a copy for an accelerator (timing moves it there, and the
    CPU copy is still needed for pruning and evaluation)."""
    return model if backend == "cpu" else copy.deepcopy(model)


def _accuracy(cfg: LatencyProfile, lm: LatencyModel, model: nn.Module) -> float:
    if not lm.trained:
        return math.nan
    return float(evaluate(model, model_data(cfg.pruning, lm.setup).test, batch_size=cfg.pruning.eval_batch)["accuracy"])


def _rows(cfg, lm, method, sparsity, backend, timing, info, dense_times=None, replicate: int = 0) -> list[dict]:
    out = []
    for t in timing:
        d = (dense_times or {}).get(t["batch"], math.nan)
        speed = d / t["median_s"] if t.get("median_s") and not math.isnan(d) else math.nan
        ratio = info["macs_dense"] / info["macs"]
        out.append({"kind": "model", "model": lm.name, "arch": lm.setup.arch,
                    "weights": "trained" if lm.trained else "untrained", "method": method, "sparsity": sparsity,
                    "backend": backend, "batch": t["batch"], "threads": t["torch_threads"], "n": t.get("n"),
                    "rounds": t.get("rounds", 1),
                    **{k: t.get(k) for k in ("median_s", "p90_s", "p99_s", "min_s", "mean_s", "throughput",
                                             "peak_mem_bytes", "mem_kind", "error", "cudnn_benchmark",
                                             "cuda_matmul_tf32")},
                    "dense_median_s": d, "speedup": speed, "mac_ratio": ratio, "efficiency": speed / ratio,
                    "replicate": replicate,
                    "round_median_s": json.dumps(t["round_median_s"]) if t.get("round_median_s") else None,
                    "mode": "eager", **info})
    return out


def _info(model: nn.Module, shape, dense_macs: int, dense_params: int, channels0: int, acc: float,
          acc_dense: float, **extra) -> dict:
    example = torch.zeros(1, *shape)
    macs, params = count_macs_params(model, example)
    ch = sum(prunable_groups(model, example).values())
    return {"macs": macs, "macs_dense": dense_macs, "macs_frac": macs / dense_macs, "params": params,
            "params_frac": params / dense_params, "channels": ch, "channel_sparsity": 1 - ch / channels0,
            "accuracy": acc, "accuracy_dense": acc_dense, **extra}


def dense_unit(cfg: LatencyProfile, lm: LatencyModel, seed: int, backend: str, *,
               cache: DenseCache | None = None) -> pd.DataFrame:
    """Latency of the dense model at every batch size on ``backend``."""
    with torch_threads(cfg.pruning.cpu_threads, "cpu"):
        return _dense_unit(cfg, lm, seed, backend, cache)


def _dense_unit(cfg: LatencyProfile, lm: LatencyModel, seed: int, backend: str,
                cache: DenseCache | None) -> pd.DataFrame:
    shape = _input_shape(cfg, lm)
    model = _dense(cfg, lm, seed, cache)
    macs, params = count_macs_params(model, torch.zeros(1, *shape))
    ch = sum(prunable_groups(model, torch.zeros(1, *shape)).values())
    acc = _accuracy(cfg, lm, model)
    timing = _time(cfg, model, shape, backend)
    dense_times = {t["batch"]: t.get("median_s", math.nan) for t in timing}
    info = _info(model, shape, macs, params, ch, acc, acc)
    return pd.DataFrame(_rows(cfg, lm, "dense", 0.0, backend, timing, info, dense_times), columns=CSV_COLUMNS)


def table_key(lm: LatencyModel, backend: str) -> str:
    """The key of the cost-table unit of ``lm`` on ``backend``."""
    return f"table:{lm.name}:{backend}"


class CostTables:
    """The hardware-aware cost tables of one plan, by table-unit key.

    A table unit stores the table it measured; the point units of the same model and backend use
    it. After a resume the table unit may not run again: then its table is rebuilt from the unit's
    part file in ``run`` (:meth:`saved`).

    Example:
        >>> tables = CostTables(run=None)
        >>> "table:mlp:cpu" in tables
        False
    """

    def __init__(self, run: RunFolder | None):
        self.run = run
        self._tables: dict[str, CostTable] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._tables

    def __getitem__(self, key: str) -> CostTable:
        return self._tables[key]

    def __setitem__(self, key: str, table: CostTable) -> None:
        self._tables[key] = table

    def saved(self, key: str) -> CostTable | None:
        """The table of the finished unit ``key``, read back from its part file, or None."""
        sink = self.run.sink("latency")
        return table_from_rows(sink.get(key)) if sink.has(key) else None


def _fractions(cfg: LatencyProfile) -> tuple[float, ...]:
    return tuple(sorted({round(1 - p, 6) for p in cfg.sparsities} | {0.75, 0.5, 0.25}, reverse=True))


def table_unit(cfg: LatencyProfile, lm: LatencyModel, seed: int, backend: str, *, tables: CostTables | None = None,
               cache: DenseCache | None = None) -> pd.DataFrame:
    """Measure the hardware-aware cost table of the model on ``backend`` (rows with kind = cost),
    and keep it in ``tables`` for the point units."""
    with torch_threads(cfg.pruning.cpu_threads, "cpu"):
        return _table_unit(cfg, lm, seed, backend, tables, cache)


def _table_unit(cfg: LatencyProfile, lm: LatencyModel, seed: int, backend: str, tables: CostTables | None,
                cache: DenseCache | None) -> pd.DataFrame:
    shape = _input_shape(cfg, lm)
    model = _dense(cfg, lm, seed, cache)
    table = measure_cost_table(model, shape, device=backend, batch=cfg.table_batch, fractions=_fractions(cfg),
                               round_to=cfg.round_to, threads=cfg.cpu_threads if backend == "cpu" else None,
                               budget_s=cfg.table_budget_s, min_repeat=5, max_repeat=100)
    if tables is not None:
        tables[table_key(lm, backend)] = table
    df = table.to_frame()
    return pd.DataFrame([{"kind": "cost", "model": lm.name, "arch": lm.setup.arch,
                          "weights": "trained" if lm.trained else "untrained", "method": HARDWARE, "sparsity": 0.0,
                          "backend": backend, "batch": r.batch, "threads": torch.get_num_threads()
                          if cfg.cpu_threads is None or backend != "cpu" else cfg.cpu_threads,
                          "median_s": r.latency_s, "dense_median_s": r.dense_s, "group": r.group,
                          "group_channels": r.channels, "group_keep": r.keep, "saving_s": r.saving_s, "mode": "eager"}
                         for r in df.itertuples()], columns=CSV_COLUMNS)


def table_from_rows(df: pd.DataFrame) -> CostTable:
    """Rebuild a :class:`CostTable` from its ``kind = cost`` rows (a resumed run)."""
    df = df[df.kind == "cost"]
    groups = {str(g): int(n) for g, n in zip(df.group, df.group_channels)}
    widths = {g: tuple(int(k) for k in df[df.group == g].group_keep) for g in groups}
    lat = {g: tuple(float(t) for t in df[df.group == g].median_s) for g in groups}
    return CostTable(str(df.backend.iloc[0]), int(df.batch.iloc[0]), float(df.dense_median_s.iloc[0]), groups,
                     widths, lat)


def _table(cfg: LatencyProfile, lm: LatencyModel, seed: int, backend: str, tables: CostTables,
           cache: DenseCache | None) -> CostTable:
    key = table_key(lm, backend)
    if key not in tables:
        saved = tables.saved(key)
        if saved is not None:
            tables[key] = saved
        else:
            _table_unit(cfg, lm, seed, backend, tables, cache)
    return tables[key]


def point_unit(cfg: LatencyProfile, lm: LatencyModel, sparsity: float, backend: str, seed: int, *,
               tables: CostTables, cache: DenseCache | None = None, replicate: int = 0,
               table_seed: int | None = None) -> pd.DataFrame:
    """Dense, uniform and hardware-aware models at ``sparsity`` on ``backend``, timed back to back
    (the hardware-aware widths from the cost table in ``tables``).

    ``replicate`` > 0: the dense model of that replicate (``seed``), with the cost table of
    replicate 0 (``table_seed``: latency depends on the widths, not on the weights); the rows
    carry the replicate."""
    with torch_threads(cfg.pruning.cpu_threads, "cpu"):
        return _point_unit(cfg, lm, sparsity, backend, seed, tables, cache, replicate,
                           seed if table_seed is None else table_seed)


def _point_unit(cfg: LatencyProfile, lm: LatencyModel, sparsity: float, backend: str, seed: int, tables: CostTables,
                cache: DenseCache | None, replicate: int = 0, table_seed: int | None = None) -> pd.DataFrame:
    shape = _input_shape(cfg, lm)
    example = torch.zeros(1, *shape)
    dense = _dense(cfg, lm, seed, cache)
    macs0, params0 = count_macs_params(dense, example)
    ch0 = sum(prunable_groups(dense, example).values())
    acc0 = _accuracy(cfg, lm, dense)
    if lm.trained:
        uni, _ = build_pruned(cfg.pruning, lm.setup, UNIFORM, sparsity, seed, "cpu", cache=cache)
    else:
        uni, _ = prune(dense, UNIFORM, sparsity, example)
    table = _table(cfg, lm, seed if table_seed is None else table_seed, backend, tables, cache)
    imp = group_importance(dense, example, UNIFORM)
    start = table.predict_saving(uniform_keep(table.groups, sparsity, cfg.round_to))
    threads = cfg.cpu_threads if backend == "cpu" else None

    def pair(hw_model: nn.Module) -> tuple[float, float]:
        """(hardware-aware, uniform) medians at the table's batch, interleaved."""
        got = measure_interleaved({"hw": _on(backend, hw_model), "uni": _on(backend, uni)}, shape, rounds=2,
                                  device=backend, batch_sizes=(cfg.table_batch,), warmup=cfg.warmup,
                                  min_repeat=cfg.min_repeat, max_repeat=cfg.max_repeat,
                                  budget_s=2 * cfg.table_budget_s, threads=threads)
        return got["hw"][0].get("median_s", math.nan), got["uni"][0].get("median_s", math.nan)

    ref = pair(dense)[1]  # the uniform model's latency: the target

    def measure(keep: dict[str, int]) -> float:
        m, _ = prune(dense, UNIFORM, sparsity, example, group_keep=keep)
        t_hw, t_uni = pair(m)
        return t_hw * ref / t_uni  # drift-corrected: as if the uniform model still ran at ref

    if not math.isfinite(ref):
        keep, hw_info = allocate(table, imp, start), {"tries": []}
    else:
        keep, hw_info = match_latency(table, imp, ref, measure, start_saving_s=start, max_iter=cfg.match_tries)
    hw, _ = prune(dense, UNIFORM, sparsity, example, group_keep=keep)
    if lm.trained:
        bn_set, _ = calib_batches(model_data(cfg.pruning, lm.setup), cfg.pruning.bn_images, seed + 1)
        recalibrate_bn(hw, bn_set)
    models = {k: _on(backend, m) for k, m in (("dense", dense), ("uni", uni), ("hw", hw))}
    timed = measure_interleaved(models, shape, rounds=cfg.rounds, device=backend, batch_sizes=cfg.batch_sizes,
                                warmup=cfg.warmup, min_repeat=cfg.min_repeat, max_repeat=cfg.max_repeat,
                                budget_s=cfg.budget_s, threads=threads)
    infos = {"dense": _info(dense, shape, macs0, params0, ch0, acc0, acc0),
             "uni": _info(uni, shape, macs0, params0, ch0, _accuracy(cfg, lm, uni), acc0),
             "hw": _info(hw, shape, macs0, params0, ch0, _accuracy(cfg, lm, hw), acc0,
                         keep=json.dumps(keep, sort_keys=True), predicted_saving_s=table.predict_saving(keep),
                         target_saving_s=start, match_tries=json.dumps(hw_info["tries"]))}
    rows = _unit_rows(cfg, lm, sparsity, backend, timed, infos, replicate)
    if cfg.deployed and replicate == 0:
        rows += _deployed_rows(cfg, lm, sparsity, backend, shape, {"dense": dense, "uni": uni, "hw": hw}, infos,
                               threads)
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def _unit_rows(cfg, lm, sparsity, backend, timed: dict, infos: dict, replicate: int) -> list[dict]:
    """The rows of one point unit's timed models: the dense reference, uniform and hardware-aware."""
    dense_times = {t["batch"]: t.get("median_s", math.nan) for t in timed["dense"]}
    rows = _rows(cfg, lm, "dense", 0.0, backend, timed["dense"], infos["dense"], dense_times, replicate)
    for r in rows:
        r["kind"] = "reference"  # the dense model re-timed next to this sparsity's models
    rows += _rows(cfg, lm, UNIFORM, sparsity, backend, timed["uni"], infos["uni"], dense_times, replicate)
    rows += _rows(cfg, lm, HARDWARE, sparsity, backend, timed["hw"], infos["hw"], dense_times, replicate)
    return rows


def _check_inputs(cfg: LatencyProfile, lm: LatencyModel, shape, n: int = 256) -> torch.Tensor:
    """The inputs on which a deployed model is checked against the eager one: the first ``n`` test
    inputs of a trained model's data, random inputs (seed 0) for a latency-only model."""
    if lm.trained:
        x, _ = next(iter(model_data(cfg.pruning, lm.setup).test.batches(n, limit=n)))
        return x.reshape(-1, *shape)
    return torch.randn(min(n, 64), *shape, generator=torch.Generator().manual_seed(0))


def _deployed_rows(cfg, lm, sparsity, backend, shape, models: dict, infos: dict, threads) -> list[dict]:
    """The same three models deployed (BN folded, channels_last, compiled when the profile says so),
    timed interleaved, each checked against its eager self on the test inputs."""
    x = _check_inputs(cfg, lm, shape)
    deployed, notes = {}, {}
    for k, m in models.items():
        deployed[k], info = deploy(m, x[:1], device=backend, compile=cfg.compile)
        info["deploy_max_abs_diff"] = max_abs_difference(m, deployed[k], x.to(backend))
        notes[k] = {c: info[c] for c in ("bn_folded", "channels_last", "compiled", "deploy_max_abs_diff")}
    timed = measure_interleaved(deployed, shape, rounds=cfg.rounds, device=backend, batch_sizes=cfg.batch_sizes,
                                warmup=cfg.warmup, min_repeat=cfg.min_repeat, max_repeat=cfg.max_repeat,
                                budget_s=cfg.budget_s, threads=threads, channels_last=any(
                                    n["channels_last"] for n in notes.values()))
    rows = _unit_rows(cfg, lm, sparsity, backend, timed, infos, 0)
    name_of = {"reference": "dense", UNIFORM: "uni", HARDWARE: "hw"}
    for r in rows:
        r.update(mode="deployed", **notes[name_of[r["kind"]] if r["kind"] == "reference" else name_of[r["method"]]])
    return rows


__all__ = ["UNIFORM", "HARDWARE", "CSV_COLUMNS", "MODES", "CostTables", "table_key", "table_from_rows", "dense_unit",
           "table_unit", "point_unit"]
