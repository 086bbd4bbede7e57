"""Checks of the instrument: a positive and a negative control of redundancy pruning.

A control is a trained dense model of the sweep (the same model the pruning units prune, from the
same :class:`~qkernels.suite.sweeps.pruning.DenseCache`) into which k channels (:data:`PLANT_FRACTION` of
the width: 128 of 256 in quick) are **planted** in its first hidden layer: the layer is widened from n to n + k neurons, planted neuron n + j is a
transformed copy of a source neuron s_j, and the consumer's weights of the pair are split
(``C[:, s_j]`` and the new column ``C[:, n + j]`` both get half of the old ``C[:, s_j]``). The
controls differ only in the transform:

* **positive**: an exact copy (even j, kind "a") or a near copy (odd j, kind "b": Gaussian noise
  of 1% of the row's standard deviation per weight). The planted model computes the dense model's
  function (exactly, or to the noise), and each pair is redundant: a redundancy criterion that
  sees the whole operator should find the pairs, and removing one member of each pair while
  folding it into the other (``qmfrg-aligned`` with ``merge=True``, row label
  ``qmfrg-aligned-merge``) should keep the planted model's predictions, better than magnitude or
  random pruning of the same number of channels.
* **negative**: a copy with the same spectrum but a different function: the row negated with its
  bias (−w, −b; even j, kind "a") or its input weights permuted (w·Q with Q a random permutation;
  odd j, kind "b"). The paper-form d_FS is 0 for both pairs (the augmented matrices differ by an orthogonal factor),
  so the spectral criterion calls the twins redundant although removing them changes the
  function. This is the criterion's known blind spot, and the control shows the suite detects it.

Then exactly k channels of the widened layer are pruned (every other group is left whole) by each
criterion of :data:`CONTROL_METHODS`, through :func:`qkernels.pruning.prune`. One row per model ×
control × criterion × replicate, ``stage = "control"``; the columns of :data:`CONTROL_COLUMNS`
(documented in docs/pruning.md) say how many pairs were found (one member removed), the test
top-1, and how far the function moved from the planted model's (prediction agreement, relative
logit change). Only models whose first two weighted layers are ``nn.Linear`` (the MLP) have
controls. The verdicts (expected outcomes stated beforehand) are computed from the rows alone by
:func:`qkernels.suite.sections.pruning.report.control_decisions`.

Example:
    >>> from qkernels.nn.models import build_model
    >>> m = build_model("mlp", in_features=8, hidden=(6, 4), num_classes=3, seed=0).eval()
    >>> p, pairs = plant(m, "positive", 2, seed=1)
    >>> p.net[1].out_features, [t for _, t in pairs]
    (8, [6, 7])
    >>> x = torch.randn(5, 8)
    >>> bool(torch.allclose(p(x), m(x), atol=1e-2))
    True
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from qkernels.pruning.prune import count_macs_params, prunable_groups, prune
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

#: the controls, in report order
CONTROLS = ("positive", "negative")
#: criteria run on every planted model: the paper-form spectral criterion (drop and merge), the aligned
#: variant (which sees singular vectors), and the magnitude and random baselines
CONTROL_METHODS = ("qmfrg", "qmfrg-merge", "qmfrg-aligned", "qmfrg-aligned-merge", "l1", "l2", "random")
#: labels of the rows that are a registered criterion with options: label -> (criterion, options)
LABELLED = {"qmfrg-aligned-merge": ("qmfrg-aligned", {"merge": True})}
#: planted channels per control, as a fraction of the layer's width
PLANT_FRACTION = 0.5
#: relative noise of the near copies of the positive control
NEAR_NOISE = 0.01
CONTROL_COLUMNS = BASE_COLUMNS + ["control", "planted", "planted_found", "planted_found_a", "planted_found_b",
                                  "agreement", "logit_change", "planted_accuracy"]


def has_controls(setup: ModelSetup) -> bool:
    """Whether the architecture has controls (its first two weighted layers are ``nn.Linear``: the MLP)."""
    return setup.arch == "mlp"


def _linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


@torch.no_grad()
def plant(model: nn.Module, control: str, k: int, seed: int) -> tuple[nn.Module, list[tuple[int, int]]]:
    """A copy of ``model`` with ``k`` planted neurons in its first linear layer (module docstring), and
    the pairs ``(source, planted)`` by channel index (planted ones are appended: n, n + 1, ...)."""
    if control not in CONTROLS:
        raise ValueError(f"control: expected one of {CONTROLS}, got {control!r}")
    m = copy.deepcopy(model).eval()
    (pn, prod), (cn, cons) = _linears(m)[:2]
    W, b = prod.weight.detach().clone(), prod.bias.detach().clone()
    n, d = W.shape
    if not 1 <= k <= n:
        raise ValueError(f"k: expected 1..{n} planted channels, got {k}")
    g = torch.Generator().manual_seed(int(seed))
    src = torch.randperm(n, generator=g)[:k].tolist()
    rows, biases = [], []
    for j, s in enumerate(src):
        w, bb = W[s], b[s]
        if control == "positive":
            if j % 2:
                w = w + NEAR_NOISE * w.std() * torch.randn(d, generator=g, dtype=w.dtype)
        elif j % 2 == 0:
            w, bb = -w, -bb
        else:
            w = w[torch.randperm(d, generator=g)]
        rows.append(w)
        biases.append(bb)
    new_prod = nn.Linear(d, n + k, dtype=W.dtype)
    new_prod.weight.copy_(torch.cat([W, torch.stack(rows)]))
    new_prod.bias.copy_(torch.cat([b, torch.stack(biases)]))
    C = cons.weight.detach().clone()
    half = 0.5 * C[:, src]
    C[:, src] = half
    new_cons = nn.Linear(n + k, cons.out_features, dtype=C.dtype)
    new_cons.weight.copy_(torch.cat([C, half], dim=1))
    new_cons.bias.copy_(cons.bias)
    _set(m, pn, new_prod)
    _set(m, cn, new_cons)
    return m.eval(), [(s, n + j) for j, s in enumerate(src)]


@torch.no_grad()
def _logits(model: nn.Module, data, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    out, ys = [], []
    for x, y in data.batches(batch):
        out.append(model(x))
        ys.append(y)
    return torch.cat(out), torch.cat(ys)


def pairs_found(removed: list[int], pairs: list[tuple[int, int]]) -> float:
    """The fraction of planted pairs of which exactly one member was removed.

    Example:
        >>> pairs_found([1, 6, 7], [(1, 6), (2, 7), (3, 8)])  # (1, 6): both removed; (3, 8): neither
        0.3333333333333333
    """
    r = set(int(i) for i in removed)
    return sum((s in r) != (t in r) for s, t in pairs) / len(pairs) if pairs else float("nan")


def control_rows(cfg: SweepConfig, setup: ModelSetup, control: str, replicate: int, seed: int, device="cpu",
                 progress: bool | None = None, *, cache: DenseCache | None = None,
                 methods: tuple[str, ...] = CONTROL_METHODS) -> pd.DataFrame:
    """The unit of one model × control × replicate: one ``control`` row per criterion."""
    with torch_threads(cfg.cpu_threads, device):
        return _control_rows(cfg, setup, control, replicate, seed, device, progress, cache, methods)


def _control_rows(cfg, setup, control, replicate, seed, device, progress, cache, methods) -> pd.DataFrame:
    data = model_data(cfg, setup)
    dense, _, _ = dense_model(cfg, setup, seed, device, progress, cache)
    pn, prod = _linears(dense)[0]
    n = prod.out_features
    k = max(2, int(round(PLANT_FRACTION * n)))
    planted, pairs = plant(dense.cpu(), control, k, seed + 7)
    planted = planted.to(device)
    z0, y = _logits(planted, data.test, cfg.eval_batch)
    pred0 = z0.argmax(1)
    acc0 = float((pred0 == y).float().mean())
    x = data.example_inputs().to(device)
    macs0, params0 = count_macs_params(planted, x)
    key = config_key(dense_config(cfg, setup, seed))
    widths = {**prunable_groups(planted, x), pn: n}  # every other group left whole, k channels removed here
    _, batches = calib_batches(data, cfg.taylor_images, seed)  # the merges' least squares read them
    rows = []
    for method in methods:
        crit, opts = LABELLED.get(method, (method, {}))
        pm, rec = prune(planted, crit, 0.5, x, seed=seed, group_keep=widths, calib=batches, **opts)
        removed = rec["removed"].get(pn, [])
        t0 = time.perf_counter()
        z, _ = _logits(pm, data.test, cfg.eval_batch)
        pred = z.argmax(1)
        t_eval = time.perf_counter() - t0
        loss = float(nn.functional.cross_entropy(z, y))
        rows.append({
            "model": setup.name, "arch": setup.arch, "data": data.spec, "method": method, "stage": "control",
            "sparsity": k / (n + k), "replicate": replicate, "seed": seed,
            "accuracy": float((pred == y).float().mean()), "loss": loss, "n_test": int(len(y)),
            "channel_sparsity": rec["channel_sparsity"], "channels": rec["channels_after"],
            "channels_dense": rec["channels_before"], "macs": rec["macs_after"], "macs_dense": macs0,
            "macs_frac": rec["macs_after"] / macs0, "params": rec["params_after"], "params_dense": params0,
            "params_frac": rec["params_after"] / params0, "prune_time_s": rec["prune_time_s"],
            "score_time_s": rec["score_time_s"], "finetune_epochs": 0.0, "eval_time_s": t_eval,
            "threads": torch.get_num_threads(), "dense_key": key, "control": control, "planted": k,
            "planted_found": pairs_found(removed, pairs), "planted_found_a": pairs_found(removed, pairs[0::2]),
            "planted_found_b": pairs_found(removed, pairs[1::2]),
            "agreement": float((pred == pred0).float().mean()),
            "logit_change": float((z - z0).norm(dim=1).mean() / z0.norm(dim=1).mean()),
            "planted_accuracy": acc0})
    return pd.DataFrame(rows, columns=CONTROL_COLUMNS)


def control_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per control × criterion: means over replicates of the control rows (for the report)."""
    c = df[df.stage == "control"] if "stage" in df.columns else df
    if c.empty:
        return pd.DataFrame()
    return c.groupby(["model", "control", "method"], sort=False).agg(
        replicates=("replicate", "nunique"), planted=("planted", "median"),
        found=("planted_found", "mean"), top1=("accuracy", "mean"), planted_top1=("planted_accuracy", "mean"),
        agreement=("agreement", "mean"), logit_change=("logit_change", "mean")).reset_index()


def paired_values(df: pd.DataFrame, model: str, control: str, method: str, column: str) -> pd.Series:
    """``column`` of one model × control × criterion, by replicate (for paired comparisons)."""
    c = df[(df.stage == "control") & (df.model == model) & (df.control == control) & (df.method == method)]
    return c.groupby("replicate")[column].mean().astype(float)


def paired_diffs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """``a − b`` on the replicates both have."""
    j = a.index.intersection(b.index)
    return (a.loc[j] - b.loc[j]).to_numpy(dtype=float)


__all__ = ["CONTROLS", "CONTROL_METHODS", "LABELLED", "CONTROL_COLUMNS", "PLANT_FRACTION", "NEAR_NOISE", "has_controls",
           "plant", "pairs_found", "control_rows", "control_summary", "paired_values", "paired_diffs"]
