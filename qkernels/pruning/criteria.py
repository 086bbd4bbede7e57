"""The baseline pruning criteria, as Torch-Pruning importances, and their registration.

Every criterion scores the channels of one dependency group (all layers whose channels must be
removed together: a convolution's filters, the following BatchNorm, the next layers' input
slices, and, on a residual stream, every convolution that adds into it). Higher = keep.

- ``random``: uniform scores from a generator seeded by the pruning seed.
- ``l1`` / ``l2``: group magnitude (Torch-Pruning's ``GroupMagnitudeImportance``, p = 1 or 2):
  Σ|w|^p over each coupled layer's slice of the channel (output filters, next layers' input
  slices, BN γ), averaged over the group's layers.
- ``fpgm``: filter pruning via the geometric median (He et al., CVPR 2019) on the **raw** filters:
  for every layer whose output channels are in the group, the score of a filter is the sum of its
  Euclidean distances to the layer's other filters (each layer's scores divided by their mean),
  averaged over those layers. Filters near the geometric median are the most replaceable and go
  first. (Torch-Pruning's unexported ``FPGMImportance`` measures distances between |w|^p instead.)
- ``bn_scale``: |γ| of the BatchNorm layers in the group (network slimming); needs BatchNorm.
- ``taylor``: first-order Taylor estimate of the loss change, Σ|w · ∂L/∂w| over each coupled
  slice, with the gradient of the cross-entropy on the calibration batches (model in eval mode).
  Unlike Torch-Pruning's ``GroupTaylorImportance``, BatchNorm γ is scored too (|γ · ∂L/∂γ|).

Example:
    >>> import torch
    >>> w = torch.tensor([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]])
    >>> filter_median_scores(w).argmin().item()  # the filter at the geometric median
    0
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.tasks import CLASSIFICATION
from qkernels.pruning.groups import IN_FNS, OUT_FNS
from qkernels.pruning.registry import PruneContext, register_method


def _out_weight(layer: nn.Module, idxs: list[int]) -> torch.Tensor:
    w = layer.weight.data
    if getattr(layer, "transposed", False):
        w = w.transpose(0, 1)
    return w[idxs].flatten(1)


def _in_slices(layer: nn.Module, tensor: torch.Tensor, idxs: list[int]) -> torch.Tensor:
    """Per-input-channel rows of ``tensor`` (a weight or its gradient), expanded for grouped convs."""
    t = tensor.flatten(1) if getattr(layer, "transposed", False) else tensor.transpose(0, 1).flatten(1)
    groups = getattr(layer, "groups", 1)
    if groups not in (1, getattr(layer, "in_channels", 1)):
        t = t.repeat(groups, 1)
    return t[idxs]


class _GroupScores(tp.importance.GroupMagnitudeImportance):
    """Base: subclasses give per-layer scores; the group score is their mean over the group's layers."""

    def __init__(self, normalize_layers: bool = False):
        super().__init__(p=1, group_reduction="mean", normalizer=None)
        self.normalize_layers = normalize_layers

    def layer_scores(self, dep, idxs: list[int]) -> torch.Tensor | None:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor | None:
        imps, roots = [], []
        for i, (dep, idxs) in enumerate(group):
            s = self.layer_scores(dep, list(idxs))
            if s is None:
                continue
            s = s.float()
            if self.normalize_layers:
                s = s / s.mean().clamp_min(1e-12)
            imps.append(s)
            roots.append(group[i].root_idxs)
        if not imps:
            return None
        return self._reduce(imps, roots)


def filter_median_scores(w: torch.Tensor) -> torch.Tensor:
    """FPGM score of each row of ``w`` (filters flattened): the sum of its distances to the others."""
    w = w.double()
    return torch.cdist(w.unsqueeze(0), w.unsqueeze(0)).squeeze(0).sum(1)


class RawFilterFPGM(_GroupScores):
    """FPGM on the raw (signed) filters of every output-channel layer of the group."""

    def __init__(self):
        super().__init__(normalize_layers=True)

    def layer_scores(self, dep, idxs):
        if dep.pruning_fn in OUT_FNS and isinstance(dep.layer, (nn.modules.conv._ConvNd, nn.Linear)):
            return filter_median_scores(_out_weight(dep.layer, idxs))
        return None


class TaylorFO(_GroupScores):
    """Σ|w · g| over the coupled slices (conv/linear outputs and inputs, BatchNorm γ)."""

    def layer_scores(self, dep, idxs):
        layer, fn = dep.layer, dep.pruning_fn
        if fn in OUT_FNS and isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear)):
            if layer.weight.grad is None:
                return None
            w, g = _out_weight(layer, idxs), layer.weight.grad
            g = (g.transpose(0, 1) if getattr(layer, "transposed", False) else g)[idxs].flatten(1)
            return (w * g).abs().sum(1)
        if fn in IN_FNS and isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear)):
            if layer.weight.grad is None:
                return None
            return (_in_slices(layer, layer.weight.data, idxs) * _in_slices(layer, layer.weight.grad, idxs)).abs().sum(1)
        if fn == tp.prune_batchnorm_out_channels and getattr(layer, "affine", False):
            if layer.weight.grad is None:
                return None
            return (layer.weight.data[idxs] * layer.weight.grad[idxs]).abs()
        return None


class SeededRandom(tp.importance.Importance):
    """Uniform random scores from a private generator (the global RNG is untouched)."""

    def __init__(self, seed: int):
        self.gen = torch.Generator().manual_seed(int(seed))

    def __call__(self, group) -> torch.Tensor:
        return torch.rand(len(group[0].idxs), generator=self.gen)


def taylor_gradients(ctx: PruneContext) -> None:
    """Fill ``.grad`` of every parameter with ∂(mean loss)/∂θ over ``ctx.calib``: cross-entropy, or the
    task's loss when ````ctx.task`` is set (:mod:`qkernels.nn.tasks`)."""
    if not ctx.calib:
        raise InputError("pruning method 'taylor' needs calibration data (labelled batches) for its gradients")
    model = ctx.model
    model.zero_grad(set_to_none=True)
    was = model.training
    model.eval()
    n = sum(len(y) for _, y in ctx.calib)
    task = ctx.task or CLASSIFICATION
    with torch.enable_grad():
        for x, y in ctx.calib:
            loss = task.loss(model(x), y, reduction="sum") / n
            loss.backward()
    model.train(was)


def _taylor(ctx: PruneContext) -> TaylorFO:
    taylor_gradients(ctx)
    return TaylorFO()


register_method("random", lambda ctx: SeededRandom(ctx.seed),
                "uniform random channel scores (seeded)")
register_method("l1", lambda ctx: tp.importance.GroupMagnitudeImportance(p=1, group_reduction="mean", normalizer="mean"),
                "group L1 magnitude: mean over coupled layers of Σ|w| of the channel's slices")
register_method("l2", lambda ctx: tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean", normalizer="mean"),
                "group L2 magnitude: mean over coupled layers of Σw² of the channel's slices")
register_method("fpgm", lambda ctx: RawFilterFPGM(),
                "geometric median of the raw filters: prune the filters with the smallest summed distance to the others")
register_method("bn_scale", lambda ctx: tp.importance.BNScaleImportance(),
                "|γ| of the BatchNorm layers of the group (network slimming)", requires_bn=True)
register_method("taylor", _taylor,
                "first-order Taylor: Σ|w·∂L/∂w| over coupled slices incl. BN γ, gradients on calibration batches",
                needs_data=True)


__all__ = ["RawFilterFPGM", "TaylorFO", "SeededRandom", "filter_median_scores", "taylor_gradients"]
