"""Training, evaluation, BN re-estimation and fine-tuning of image classifiers.

:func:`train` is plain SGD with momentum, weight decay and a one-cycle learning-rate schedule
(linear warm-up over the first 15% of steps, cosine decay to zero), on shuffled batches drawn
from a seeded generator; it shows a progress bar on stderr. :func:`evaluate` gives top-1
accuracy and mean cross-entropy. :func:`recalibrate_bn` re-estimates every BatchNorm's running
statistics on calibration images (a cumulative average over the batches, not a momentum
average): after channels are removed the old statistics no longer describe the activations, so
every pruned model goes through it before it is evaluated.

Example:
    >>> import torch
    >>> from qkernels.nn.data import load_data
    >>> from qkernels.nn.models import build_model
    >>> d = load_data("digits", n_train=64, n_test=32, n_calib=32, size=16)
    >>> m = build_model("mlp", in_features=3 * 16 * 16, hidden=(16,))
    >>> stats = train(m, d.train, epochs=1, batch_size=32, progress=False)
    >>> stats["steps"], 0.0 <= evaluate(m, d.test)["accuracy"] <= 1.0
    (2, True)
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from qkernels.core.errors import InputError
from qkernels.nn.data.base import ImageSet
from qkernels.nn.device import model_device
from qkernels.nn.tasks import task_of


def lr_at(step: int, total: int, lr: float, warmup: float = 0.15) -> float:
    """One-cycle schedule: linear warm-up to ``lr`` over ``warmup`` of the steps, cosine to 0."""
    w = max(1, int(round(warmup * total)))
    if step < w:
        return lr * (step + 1) / w
    return 0.5 * lr * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))


def train(
    model: nn.Module,
    data: ImageSet,
    *,
    epochs: float = 1.0,
    lr: float = 0.05,
    batch_size: int = 128,
    weight_decay: float = 5e-4,
    momentum: float = 0.9,
    label_smoothing: float = 0.0,
    seed: int = 0,
    progress: bool | None = True,
    desc: str = "train",
) -> dict:
    """Train ``model`` in place on ``data`` for ``epochs`` (a fraction is a part of one epoch).

    Returns:
        ``{"steps", "epochs", "images", "seconds", "final_loss", "loss_curve"}`` (loss averaged
        per tenth of the run).

    Raises:
        InputError: non-positive epochs, lr or batch size, or an empty data set.
    """
    if not epochs > 0 or not lr > 0 or batch_size < 1:
        raise InputError(f"train: epochs, lr and batch_size must be positive, got {epochs}, {lr}, {batch_size}")
    if len(data) == 0:
        raise InputError("train: the training set is empty")
    device = model_device(model)
    per_epoch = math.ceil(len(data) / batch_size)
    total = max(1, int(round(epochs * per_epoch)))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True)
    task = task_of(data)
    g = torch.Generator().manual_seed(seed)
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    # progress: True shows the bar, False hides it, None shows it only on a terminal
    bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, disable=None if progress is None else not progress,
               leave=False, dynamic_ncols=True)
    step, images = 0, 0
    while step < total:
        for x, y in data.batches(batch_size, shuffle=True, generator=g, device=device):
            if step >= total:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, lr)
            loss = task.loss(model(x), y, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            images += len(y)
            if step % 10 == 0 or step == total:
                bar.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.3f}", refresh=False)
            bar.update(1)
    bar.close()
    model.eval()
    tenth = max(1, len(losses) // 10)
    curve = [sum(losses[i : i + tenth]) / len(losses[i : i + tenth]) for i in range(0, len(losses), tenth)]
    return {"steps": step, "epochs": step / per_epoch, "images": images, "seconds": time.perf_counter() - t0,
            "final_loss": curve[-1], "loss_curve": curve}


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageSet, *, batch_size: int = 500, limit: int | None = None,
             per_example: bool = False, keep_outputs: bool = False) -> dict:
    """The task's metric and mean loss of ``model`` (in eval mode) on ``data``: top-1 accuracy and
    cross-entropy for classifiers, raw pitch accuracy and CREPE's loss for pitch (:mod:`qkernels.nn.tasks`).

    With ``per_example``, ``"correct"`` is also returned: a boolean NumPy array, one entry per
    example in data order (for paired per-example tests such as McNemar's). With ``keep_outputs``,
    ``"outputs"`` holds the model's outputs (CPU tensor, data order) for label-free comparisons
    (:func:`compare_outputs`).
    """
    if len(data) == 0:
        raise InputError("evaluate: the data set is empty")
    task = task_of(data)
    device = model_device(model)
    was = model.training
    model.eval()
    correct, total, loss = 0, 0, 0.0
    hits, outs = [], []
    for x, y in data.batches(batch_size, device=device, limit=limit):
        out = model(x)
        loss += float(task.loss(out, y, reduction="sum"))
        hit = task.correct(out, y)
        correct += int(hit.sum())
        total += len(y)
        if per_example:
            hits.append(hit.cpu().numpy())
        if keep_outputs:
            outs.append(out.detach().float().cpu())
    model.train(was)
    res = {"accuracy": correct / total, "loss": loss / total, "n": total}
    if per_example:
        res["correct"] = np.concatenate(hits) if hits else np.zeros(0, dtype=bool)
    if keep_outputs:
        res["outputs"] = torch.cat(outs)
    return res


def compare_outputs(out: torch.Tensor, ref: torch.Tensor, task=None) -> dict:
    """Label-free closeness of a model's outputs ``out`` to a reference model's ``ref`` (same inputs):
    ``agreement`` (fraction of inputs where the two predict the same: top-1 class, or pitch within
    50 cents), ``output_distance`` (mean ‖out − ref‖₂ over inputs / mean ‖ref‖₂) and ``kl`` (mean
    KL of the reference's output distribution to the other's, nats; :mod:`qkernels.nn.tasks`).

    Example:
        >>> import torch
        >>> r = compare_outputs(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
        >>> r["agreement"], round(r["output_distance"], 4)
        (0.5, 0.7071)
    """
    from qkernels.nn.tasks import CLASSIFICATION

    task = task or CLASSIFICATION
    if out.shape != ref.shape:
        raise InputError(f"compare_outputs: outputs of shape {tuple(out.shape)} and {tuple(ref.shape)}")
    o, r = out.double(), ref.double()
    denom = float(r.norm(dim=1).mean())
    return {"agreement": float(task.agree(o, r).double().mean()),
            "output_distance": float((o - r).norm(dim=1).mean()) / denom if denom > 0 else math.nan,
            "kl": float(task.divergence(o, r).mean())}


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def recalibrate_bn(model: nn.Module, data: ImageSet, *, images: int = 2048, batch_size: int = 256) -> int:
    """Re-estimate BatchNorm running statistics on up to ``images`` of ``data`` (cumulative mean).

    Returns the number of images used (0 when the model has no BatchNorm; nothing changes then).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    saved = [(m, m.momentum) for m in bns]
    was = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    model.train()
    n = 0
    device = model_device(model)
    try:
        for x, _ in data.batches(batch_size, device=device, limit=images):
            model(x)
            n += len(x)
    finally:
        for m, mom in saved:
            m.momentum = mom
        model.train(was)
    model.eval()
    return n


__all__ = ["train", "evaluate", "compare_outputs", "recalibrate_bn", "has_batchnorm", "lr_at"]
