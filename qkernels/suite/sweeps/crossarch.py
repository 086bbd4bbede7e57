"""Cross-architecture substitution: does the nearest operator of another architecture (by d_FS)
stand in for an operator better than a random one?

Two trained models of different architectures read the same images: the sweep's MLP and a tiny
ViT whose patch is the whole image (:func:`partner_setup`: ``vit_tiny`` with ``patch`` = image
side, trained with the MLP's training setup and seed for half its epochs). Their first layers then consist of
operators of the same kind and fan-in: a neuron of the MLP's first ``nn.Linear`` and a filter of
the ViT's patch embedding are both affine functionals of the whole image (3·H·W inputs and a
bias). Each operator is written as the matrix of its filter form, W = weight.reshape(C, H·W)
(input channels × pixels), bias b·1/√C (the library's filter reshape,
:mod:`qkernels.geometry.operators`), and gets its spectral state ψ = s/‖s‖ of Â = [[W, b], [0, 1]].

For every operator i of model A (the target), three substitutes are taken from model B (the
source): its **nearest** operator by d_FS, a **random** one (seeded), and the **farthest**. The
substitute's weights and bias replace operator i in A (one at a time), and the change of A's
output is measured on ``CROSS_IMAGES`` calibration images: the relative logit change
‖f'(x) − f(x)‖ / mean ‖f(x)‖ (mean over the images) and the fraction of predictions that flip.
Both directions are measured: MLP ← ViT and ViT ← MLP.

One row per replicate × direction × substitute (``stage = "cross_arch"``, ``method`` =
``substitute-nearest`` / ``-random`` / ``-farthest``): means over the target's operators, and the
replicate's Spearman ρ between d_FS and the logit change over all its substitutions (operators are
repeated measures within a replicate, so each replicate gives one number; the verdict compares
replicates). Columns: :data:`CROSS_COLUMNS`, documented in docs/pruning.md.

Example:
    >>> from qkernels.nn.models import build_model
    >>> m = build_model("mlp", in_features=12, hidden=(5,), num_classes=3)
    >>> first_operator_layer(m)[0], tuple(filter_form(m, (3, 2, 2))[0].shape)
    ('net.1', (5, 3, 4))
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn

from qkernels.geometry.distances import pairwise_fs
from qkernels.geometry.spectral import augmented, spectrum, state
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

#: the substitutes taken from the source model, in report order
SUBSTITUTES = ("nearest", "random", "farthest")
#: calibration images on which the output change is measured
CROSS_IMAGES = 256
#: name of the partner architecture in the CSV
PARTNER_NAME = "vit_tiny_p1"
#: the partner's training length, as a fraction of the target's epochs (quick: 3 of the MLP's 6)
PARTNER_EPOCHS = 0.5
CROSS_COLUMNS = BASE_COLUMNS + ["cross_source", "substitute", "operators", "fs_distance", "output_change",
                                "flip_rate", "spearman"]


def has_cross_arch(setup: ModelSetup) -> bool:
    """Whether ``setup`` is the target of the cross-architecture units (the MLP)."""
    return setup.arch == "mlp"


def partner_setup(setup: ModelSetup, image_side: int) -> ModelSetup:
    """The other architecture: a tiny ViT with one patch (the whole image), trained like ``setup`` for
    :data:`PARTNER_EPOCHS` of its epochs (it only has to be a trained model of another architecture)."""
    return ModelSetup(PARTNER_NAME, "vit_tiny", (("patch", int(image_side)),),
                      replace(setup.train, epochs=setup.train.epochs * PARTNER_EPOCHS))


def first_operator_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The first ``nn.Linear`` or ``nn.Conv2d`` of ``model`` (the layer that reads the image) and its name."""
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            return name, m
    raise ValueError("the model has no Linear or Conv2d layer")


def filter_form(model: nn.Module, image_shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first layer's operators as (n, C, H·W) matrices and their biases (n,), float64.

    A Conv2d whose kernel is the whole image and a Linear on the flattened image (C, H, W order)
    give the same form.
    """
    c, h, w = image_shape
    _, layer = first_operator_layer(model)
    W = layer.weight.detach().double()
    if W.shape[1:].numel() != c * h * w:
        raise ValueError(f"first layer reads {W.shape[1:].numel()} inputs, not the image's {c * h * w}")
    b = layer.bias.detach().double() if layer.bias is not None else torch.zeros(W.shape[0], dtype=torch.float64)
    return W.reshape(W.shape[0], c, h * w), b


def operator_states(W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spectral states (n, C + 1) of the filter-form operators (bias spread as b/√C over the rows)."""
    rows = W.shape[1]
    bb = (b / rows ** 0.5)[:, None].expand(-1, rows)
    return state(spectrum(augmented(W, bb)))


class _Fixed(nn.Module):
    """Stands in for a layer: returns a given tensor, whatever its input."""

    def __init__(self, out: torch.Tensor):
        super().__init__()
        self.out = out

    def forward(self, x):  # noqa: ARG002
        return self.out


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


@torch.no_grad()
def substitution_effects(target: nn.Module, source_W: torch.Tensor, source_b: torch.Tensor, x: torch.Tensor,
                         subs: list[tuple[int, int]], chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """For each ``(i, j)`` of ``subs``: the relative logit change and the flip rate of ``target`` on
    ``x`` when its first-layer operator i is replaced by the source's operator j (filter form)."""
    target = target.eval()
    name, layer = first_operator_layer(target)
    base_first = layer(x.reshape(len(x), -1) if isinstance(layer, nn.Linear) else x)  # (N, n) or (N, n, 1, 1)
    z0 = target(x)
    pred0 = z0.argmax(1)
    scale = float(z0.norm(dim=1).mean())
    xf = x.reshape(len(x), -1).to(source_W.dtype)
    sub_out = (xf @ source_W.reshape(len(source_W), -1).T + source_b).to(base_first.dtype)  # (N, n_source)
    n_img = len(x)
    per = max(1, chunk // n_img)
    change, flips = np.zeros(len(subs)), np.zeros(len(subs))
    try:
        for s0 in range(0, len(subs), per):
            part = subs[s0: s0 + per]
            big = base_first.repeat(len(part), *([1] * (base_first.ndim - 1)))
            for k, (i, j) in enumerate(part):
                big[k * n_img: (k + 1) * n_img, i] = sub_out[:, j].reshape(-1, *([1] * (base_first.ndim - 2)))
            _set(target, name, _Fixed(big))
            z = target(x[:1]).reshape(len(part), n_img, -1)
            change[s0: s0 + len(part)] = ((z - z0).norm(dim=2).mean(dim=1) / scale).numpy()
            flips[s0: s0 + len(part)] = (z.argmax(2) != pred0).double().mean(dim=1).numpy()
    finally:
        _set(target, name, layer)
    return change, flips


def cross_direction_rows(target: nn.Module, source: nn.Module, image_shape, x: torch.Tensor, seed: int) -> list[dict]:
    """The three rows (nearest, random, farthest) of one direction ``target ← source``."""
    WA, bA = filter_form(target, image_shape)
    WB, bB = filter_form(source, image_shape)
    D = pairwise_fs(operator_states(WA, bA), operator_states(WB, bB)).numpy()
    nA, nB = D.shape
    g = np.random.default_rng(int(seed))
    pick = {"nearest": D.argmin(1), "random": g.integers(0, nB, nA), "farthest": D.argmax(1)}
    subs = [(i, int(pick[s][i])) for s in SUBSTITUTES for i in range(nA)]
    change, flips = substitution_effects(target, WB, bB, x, subs)
    dist = np.array([D[i, j] for i, j in subs])
    rho = float(spearmanr(dist, change)[0]) if np.ptp(dist) > 0 and np.ptp(change) > 0 else float("nan")
    rows = []
    for k, s in enumerate(SUBSTITUTES):
        sl = slice(k * nA, (k + 1) * nA)
        rows.append({"substitute": s, "operators": nA, "fs_distance": float(dist[sl].mean()),
                     "output_change": float(change[sl].mean()), "flip_rate": float(flips[sl].mean()),
                     "spearman": rho})
    return rows


def cross_arch_rows(cfg: SweepConfig, setup: ModelSetup, replicate: int, seed: int, device="cpu",
                    progress: bool | None = None, *, cache: DenseCache | None = None) -> pd.DataFrame:
    """The unit of one replicate: both directions between ``setup`` (the MLP) and its partner ViT."""
    with torch_threads(cfg.cpu_threads, device):
        data = model_data(cfg, setup)
        partner = partner_setup(setup, data.image_shape[1])
        a, _, _ = dense_model(cfg, setup, seed, device, progress, cache)
        b, info_b, hit_b = dense_model(cfg, partner, seed, device, progress, cache)
        a, b = a.cpu().eval(), b.cpu().eval()
        sub, _ = calib_batches(data, CROSS_IMAGES, seed + 3)
        x = next(sub.batches(CROSS_IMAGES))[0]
        rows = []
        for tgt_setup, tgt, src_setup, src in ((setup, a, partner, b), (partner, b, setup, a)):
            t0 = time.perf_counter()
            res = cross_direction_rows(tgt, src, data.image_shape, x, seed + 5)
            dt = time.perf_counter() - t0
            for r in res:
                rows.append({
                    "model": tgt_setup.name, "arch": tgt_setup.arch, "data": data.spec,
                    "method": f"substitute-{r['substitute']}", "stage": "cross_arch", "sparsity": 0.0,
                    "replicate": replicate, "seed": seed, "n_test": int(len(x)), "eval_time_s": dt / len(res),
                    "threads": torch.get_num_threads(), "dense_key": config_key(dense_config(cfg, tgt_setup, seed)),
                    "train_time_s": info_b.get("seconds") if tgt_setup is partner else None,
                    "cached": hit_b if tgt_setup is partner else None, "cross_source": src_setup.name, **r})
        return pd.DataFrame(rows, columns=CROSS_COLUMNS)


def replicate_reductions(df: pd.DataFrame, baseline: str = "random") -> pd.DataFrame:
    """Per direction (target ← source) and replicate: the fractional reduction of the output change
    by the nearest substitute against ``baseline``, 1 − change(nearest) / change(baseline)."""
    c = df[df.stage == "cross_arch"] if "stage" in df.columns else df
    if c.empty:
        return pd.DataFrame(columns=["model", "cross_source", "replicate", "reduction", "spearman"])
    p = c.pivot_table(index=["model", "cross_source", "replicate"], columns="substitute", values="output_change",
                      aggfunc="mean")
    rho = c.groupby(["model", "cross_source", "replicate"]).spearman.mean()
    out = pd.DataFrame({"reduction": 1.0 - p["nearest"] / p[baseline], "spearman": rho}).reset_index()
    return out.dropna(subset=["reduction"])


__all__ = ["SUBSTITUTES", "CROSS_IMAGES", "PARTNER_NAME", "PARTNER_EPOCHS", "CROSS_COLUMNS", "has_cross_arch", "partner_setup",
           "first_operator_layer", "filter_form", "operator_states", "substitution_effects", "cross_direction_rows",
           "cross_arch_rows", "replicate_reductions"]
