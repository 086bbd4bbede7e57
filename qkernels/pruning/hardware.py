"""Hardware-aware pruning: a measured per-group cost table and a greedy allocation of widths.

Uniform pruning removes the same fraction of every group, but the time a group costs depends
on the hardware (kernel shapes, memory-bound layers, channel multiples the kernels prefer).
Here the cost of every prunable group (:func:`qkernels.pruning.prune.prunable_groups`) is
**measured on the target backend**: the model is pruned with only that group narrowed to each
candidate width (multiples of ``round_to``) and its forward pass is timed at one batch size
(:func:`qkernels.hw.latency.measure_latency`). The saving of a group at a width is the dense median
latency minus that model's median, clipped at 0 and made non-decreasing as the width shrinks
(timing noise would otherwise make removing channels look slower).

The allocation (:func:`allocate`) predicts a configuration's saving as the sum of its groups'
savings (an additive model: it ignores that narrowing two adjacent groups shrinks their shared
layer twice, so it over-predicts; both uniform and hardware-aware configurations are predicted
with the same model) and the importance lost as, per group, the share of the group's criterion
scores (e.g. L1 norms) that is removed. Starting dense, it repeatedly narrows the group whose
next step (to any narrower candidate width) buys the most predicted seconds per unit of
importance lost, until the predicted saving reaches the target: by default the saving predicted
for uniform pruning at the same sparsity, so the two are compared at equal predicted latency.
:func:`hardware_aware_keep` runs the whole chain; :func:`qkernels.pruning.prune` with
``group_keep=`` applies the result.

Example:
    >>> table = CostTable("cpu", 8, 1.0, {"a": 8, "b": 8}, {"a": (8, 4), "b": (8, 4)},
    ...                   {"a": (1.0, 0.6), "b": (1.0, 0.95)})
    >>> imp = {"a": (0.1, 0.1, 0.1, 0.1, 0.15, 0.15, 0.15, 0.15), "b": (0.125,) * 8}
    >>> allocate(table, imp, target_saving_s=0.3)
    {'a': 4, 'b': 8}
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch_pruning as tp
from torch import nn

from qkernels.core.errors import InputError
from qkernels.hw.latency import measure_latency
from qkernels.nn.device import model_device
from qkernels.pruning.prune import ROOT_TYPES, default_ignored_layers, keep_count, prunable_groups, prune
from qkernels.pruning.registry import PruneContext, get_method


@dataclass(frozen=True)
class CostTable:
    """Median latencies of the model with one group narrowed at a time (seconds, one batch size).

    ``widths[g]`` are the candidate channel counts of group g, widest (= dense) first, and
    ``latency_s[g][i]`` the measured median with g at ``widths[g][i]`` and every other group dense.
    """

    device: str
    batch: int
    dense_s: float
    groups: dict[str, int]
    widths: dict[str, tuple[int, ...]]
    latency_s: dict[str, tuple[float, ...]]

    def savings(self, group: str) -> tuple[float, ...]:
        """Seconds saved at each candidate width: clipped at 0, non-decreasing as the width shrinks."""
        out, best = [], 0.0
        for t in self.latency_s[group]:
            best = max(best, self.dense_s - t)
            out.append(best)
        return tuple(out)

    def predict_saving(self, keep: Mapping[str, int]) -> float:
        """Predicted seconds saved by a configuration (sum over groups; a width between candidates
        takes the saving of the next wider candidate)."""
        total = 0.0
        for g, k in keep.items():
            ws, sv = self.widths[g], self.savings(g)
            total += max((s for w, s in zip(ws, sv) if w >= k), default=0.0)
        return total

    def to_frame(self) -> pd.DataFrame:
        """One row per group × candidate width: channels, keep, latency_s, saving_s."""
        rows = [{"group": g, "channels": self.groups[g], "keep": w, "latency_s": t, "saving_s": s,
                 "dense_s": self.dense_s, "batch": self.batch, "device": self.device}
                for g in self.groups for w, t, s in zip(self.widths[g], self.latency_s[g], self.savings(g))]
        return pd.DataFrame(rows)


def candidate_widths(n: int, fractions: Sequence[float], round_to: int | None = None) -> tuple[int, ...]:
    """Channel counts to try for a group of ``n``: ``n`` and round(n·f) for each fraction, rounded up
    to multiples of ``round_to`` (at least one multiple), distinct, widest first.

    Example:
        >>> candidate_widths(24, (0.75, 0.5, 0.25, 0.1), round_to=8)
        (24, 16, 8)
    """
    r = max(1, int(round_to or 1))
    out = {n}
    for f in fractions:
        if not 0.0 < f < 1.0:
            raise InputError(f"candidate width fractions must be in (0, 1), got {f!r}")
        k = max(1, round(n * f))
        k = min(n, max(r, -(-k // r) * r))
        out.add(k)
    return tuple(sorted(out, reverse=True))


def measure_cost_table(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    device: str | torch.device = "cpu",
    batch: int = 8,
    fractions: Sequence[float] = (0.75, 0.5, 0.25),
    round_to: int | None = None,
    ignored_layers: Sequence[nn.Module] = (),
    threads: int | None = None,
    budget_s: float = 0.2,
    min_repeat: int = 10,
    max_repeat: int = 100,
    progress: Callable[[str], None] | None = None,
) -> CostTable:
    """Measure the :class:`CostTable` of ``model`` on ``device`` at batch ``batch``.

    Every candidate model is a real pruned copy (channels removed with :func:`prune`), so the
    table includes what the backend does with odd channel counts. The dense model is timed
    before and after the groups; their mean is the reference.

    Raises:
        InputError: a bad device, batch, fraction or ``round_to`` (as for :func:`measure_latency`).
    """
    example = torch.zeros(1, *input_shape, device=model_device(model))
    groups = prunable_groups(model, example, ignored_layers)

    def time_it(m: nn.Module) -> float:
        row = measure_latency(m, input_shape, device=device, batch_sizes=(batch,), warmup=2, min_repeat=min_repeat,
                              max_repeat=max_repeat, budget_s=budget_s, threads=threads)[0]
        if row["error"]:
            raise InputError(f"cost table: the dense model does not run at batch {batch}: {row['error']}")
        return float(row["median_s"])

    dense = copy.deepcopy(model)
    t_before = time_it(dense)
    widths = {g: candidate_widths(n, fractions, round_to) for g, n in groups.items()}
    lat: dict[str, tuple[float, ...]] = {}
    for g, n in groups.items():
        if progress:
            progress(f"cost table: {g} ({n} channels)")
        ts = [math.nan]
        for k in widths[g][1:]:
            keep = {h: m for h, m in groups.items()}
            keep[g] = k
            pm, _ = prune(model, "l1", 0.5, example, group_keep=keep, ignored_layers=ignored_layers)
            ts.append(time_it(pm))
        lat[g] = tuple(ts)
    t_dense = (t_before + time_it(dense)) / 2
    lat = {g: (t_dense,) + ts[1:] for g, ts in lat.items()}
    return CostTable(str(device), int(batch), t_dense, groups, widths, lat)


def group_importance(model: nn.Module, example_inputs: torch.Tensor, method: str = "l1", *,
                     calib=None, seed: int = 0, ignored_layers: Sequence[nn.Module] = ()) -> dict[str, tuple[float, ...]]:
    """Per group, its channels' criterion scores as shares of the group's total (ascending, sum 1)."""
    spec = get_method(method)
    work = copy.deepcopy(model).eval()
    dev = model_device(work)
    x = example_inputs.to(dev)
    names = {m: n for n, m in work.named_modules()}
    imp_fn = spec.factory(PruneContext(work, x, int(seed), calib, {}))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
        dg = tp.DependencyGraph().build_dependency(work, example_inputs=x)
    given = {m: n for n, m in model.named_modules()}
    extra = [work.get_submodule(given[m]) for m in ignored_layers if m in given]
    ign = [m for layer in default_ignored_layers(work) + extra for m in layer.modules()]
    out = {}
    for group in dg.get_all_groups(ignored_layers=ign, root_module_types=ROOT_TYPES):
        n = len(group[0].idxs)
        scores = imp_fn(group)
        s = torch.ones(n, dtype=torch.float64) if scores is None else scores.detach().cpu().double().clamp_min(0)
        s = s / s.sum() if float(s.sum()) > 0 else torch.full((n,), 1.0 / n, dtype=torch.float64)
        out[names.get(group[0].dep.target.module, "?")] = tuple(float(v) for v in torch.sort(s).values)
    return out


def _lost(shares: Sequence[float], keep: int) -> float:
    return float(sum(shares[: len(shares) - keep]))


def uniform_keep(groups: Mapping[str, int], sparsity: float, round_to: int | None = None) -> dict[str, int]:
    """The widths of uniform pruning at ``sparsity`` (the :func:`prune` rule, rounded up to ``round_to``)."""
    r = max(1, int(round_to or 1))
    return {g: min(n, -(-keep_count(n, sparsity) // r) * r) for g, n in groups.items()}


def allocate(table: CostTable, importance: Mapping[str, Sequence[float]], target_saving_s: float) -> dict[str, int]:
    """Greedy widths that reach ``target_saving_s`` predicted seconds saved for little importance lost.

    Each step narrows one group from its current candidate width to a narrower candidate, the
    move with the most predicted seconds saved per unit of importance share lost (ties: more
    seconds); it stops when the target is reached or nothing is left to narrow.
    """
    level = {g: 0 for g in table.groups}
    saved = 0.0
    sv = {g: table.savings(g) for g in table.groups}
    while saved < target_saving_s - 1e-15:
        best = None
        for g, i in level.items():
            ws = table.widths[g]
            for j in range(i + 1, len(ws)):
                gain = sv[g][j] - sv[g][i]
                if gain <= 0:
                    continue
                cost = _lost(importance[g], ws[j]) - _lost(importance[g], ws[i])
                key = (gain / (cost + 1e-12), gain)
                if best is None or key > best[0]:
                    best = (key, g, j, gain)
        if best is None:
            break
        _, g, j, gain = best
        level[g] = j
        saved += gain
    return {g: table.widths[g][i] for g, i in level.items()}


def hardware_aware_keep(model: nn.Module, input_shape: Sequence[int], sparsity: float, *, method: str = "l1",
                        table: CostTable | None = None, device: str | torch.device = "cpu", batch: int = 8,
                        round_to: int | None = None, calib=None, seed: int = 0,
                        **table_options) -> tuple[dict[str, int], dict]:
    """Widths for hardware-aware pruning at the predicted latency of uniform ``sparsity``.

    Returns ``(group_keep, info)`` for ``prune(..., group_keep=...)``; ``info`` holds the target
    and predicted savings, the importance lost by both allocations, and the cost table.
    """
    if table is None:
        table = measure_cost_table(model, input_shape, device=device, batch=batch, round_to=round_to,
                                   fractions=table_options.pop("fractions", (0.75, 0.5, 0.25)), **table_options)
    example = torch.zeros(1, *input_shape, device=model_device(model))
    imp = group_importance(model, example, method, calib=calib, seed=seed)
    uni = uniform_keep(table.groups, sparsity, round_to)
    target = table.predict_saving(uni)
    keep = allocate(table, imp, target)
    info = {"target_saving_s": target, "predicted_saving_s": table.predict_saving(keep),
            "lost_uniform": sum(_lost(imp[g], k) for g, k in uni.items()),
            "lost_hardware": sum(_lost(imp[g], k) for g, k in keep.items()), "table": table}
    return keep, info


def match_latency(table: CostTable, importance: Mapping[str, Sequence[float]], target_s: float,
                  measure: Callable[[dict[str, int]], float], *, start_saving_s: float | None = None,
                  tol: float = 0.03, max_iter: int = 4) -> tuple[dict[str, int], dict]:
    """Widths from :func:`allocate` whose **measured** latency matches ``target_s``.

    The additive cost model mispredicts whole configurations (it over-predicts where narrowed
    groups share layers), so the predicted-saving target is corrected by measurement: the target
    is scaled by (saving needed) / (saving obtained) after each try (a secant step through 0),
    until the measured latency ``measure(keep)`` is within ``tol`` (relative) of ``target_s`` or
    ``max_iter`` tries were made; the try closest to ``target_s`` is returned, with
    ``info = {"tries": [(predicted saving target, measured s), ...], "measured_s": ...}``.

    Example:
        >>> t = CostTable("cpu", 1, 1.0, {"a": 4}, {"a": (4, 3, 2, 1)}, {"a": (1.0, 0.9, 0.8, 0.7)})
        >>> keep, info = match_latency(t, {"a": (0.25,) * 4}, 0.8, lambda k: 1.0 - 0.05 * (4 - k["a"]))
        >>> keep, len(info["tries"]) > 1
        ({'a': 1}, True)
    """
    dense = table.dense_s
    need = dense - target_s
    tau = max(need, 0.0) if start_saving_s is None else start_saving_s
    tries: list[tuple[float, float, dict[str, int]]] = []
    for _ in range(max_iter):
        keep = allocate(table, importance, tau)
        t = float(measure(keep))
        tries.append((tau, t, keep))
        if abs(t - target_s) <= tol * target_s:
            break
        got = dense - t
        if got <= 0:
            tau = tau * 2 if tau > 0 else need
        else:
            tau = tau * need / got
    best = min(tries, key=lambda r: abs(r[1] - target_s))
    return best[2], {"tries": [(a, b) for a, b, _ in tries], "measured_s": best[1],
                     "predicted_saving_s": table.predict_saving(best[2])}


def hardware_aware_prune(model: nn.Module, sparsity: float, example_inputs: torch.Tensor, *, method: str = "l1",
                         device: str | torch.device = "cpu", batch: int = 8, round_to: int | None = None,
                         calib=None, seed: int = 0, threads: int | None = None, budget_s: float = 0.2,
                         match_tries: int = 4, progress: Callable[[str], None] | None = None) -> tuple[nn.Module, dict]:
    """Hardware-aware one-shot pruning: as fast on ``device`` as uniform pruning at ``sparsity``.

    Measures the cost table on ``device`` at ``batch``, allocates widths with the ``method``
    criterion's importance shares, corrects the target until the pruned model's measured latency
    matches the uniformly pruned one's (:func:`match_latency`; both timed in alternating rounds),
    and prunes with those widths. Returns ``(model, record)``: :func:`prune`'s record plus
    ``hardware_aware`` (device, batch, the uniform and the hardware-aware medians, the widths, the
    tries) and ``uniform_macs``.
    """
    from qkernels.hw.latency import measure_interleaved

    shape = tuple(example_inputs.shape[1:])
    table = measure_cost_table(model, shape, device=device, batch=batch, round_to=round_to, threads=threads,
                               budget_s=budget_s, progress=progress)
    imp = group_importance(model, example_inputs, method, calib=calib, seed=seed)
    uni, urec = prune(model, method, sparsity, example_inputs, calib=calib, seed=seed, round_to=round_to)

    def pair(m: nn.Module) -> tuple[float, float]:
        got = measure_interleaved({"m": copy.deepcopy(m), "u": copy.deepcopy(uni)}, shape, rounds=2, device=device,
                                  batch_sizes=(batch,), warmup=2, min_repeat=10, max_repeat=200, budget_s=2 * budget_s,
                                  threads=threads)
        return got["m"][0].get("median_s", math.nan), got["u"][0].get("median_s", math.nan)

    ref = pair(model)[1]

    def measure(keep: dict[str, int]) -> float:
        m, _ = prune(model, method, sparsity, example_inputs, calib=calib, seed=seed, group_keep=keep)
        t, u = pair(m)
        return t * ref / u

    start = table.predict_saving(uniform_keep(table.groups, sparsity, round_to))
    keep, info = match_latency(table, imp, ref, measure, start_saving_s=start, max_iter=match_tries)
    pm, rec = prune(model, method, sparsity, example_inputs, calib=calib, seed=seed, group_keep=keep)
    rec["uniform_macs"] = urec["macs_after"]
    rec["hardware_aware"] = {"device": str(device), "batch": int(batch), "uniform_median_s": ref,
                             "median_s": info["measured_s"], "keep": keep, "tries": info["tries"],
                             "round_to": round_to}
    return pm, rec


__all__ = ["CostTable", "match_latency", "hardware_aware_prune", "candidate_widths", "measure_cost_table", "group_importance", "uniform_keep", "allocate",
           "hardware_aware_keep"]
