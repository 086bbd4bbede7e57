"""One-shot structured pruning through Torch-Pruning's dependency graph.

:func:`prune` removes channels for real: it traces the model into a dependency graph, takes every
group of coupled channels whose root is a convolution or a linear layer (a residual stream is
one group: every convolution adding into it, their BatchNorms and the consumers' inputs),
scores each group with the chosen criterion, and removes the lowest-scoring channels of every
group at the same ratio. The classifier's outputs are never pruned.

**Sparsity.** ``sparsity`` p is the fraction of channels removed from each group, as Torch-
Pruning's ``pruning_ratio`` with local (per-group) pruning: a group of n channels keeps
max(1, ⌊n·(1 − p)⌋) (Torch-Pruning's own rule, without its float round-off, and never 0). Every
criterion therefore gives the same architecture, MACs and parameter count at a given p, so
methods are compared at equal MACs. The record reports the measured channel sparsity (summed
over groups), the MACs and parameters before and after (``tp.utils.count_ops_and_params``, per
image), and the wall time.

**Options.** Everything else :func:`prune` takes is a :class:`PruneOptions` (calibration data,
seed, ignored layers, per-group widths, channel multiples, the criterion's own options), given
whole (``options=``) or field by field as keyword arguments; a keyword that names no field is a
criterion option. The criterion is a :class:`~qkernels.pruning.registry.Criterion`; its optional
hooks (``group_keep``, ``before_removal``, ``record``) are protocols of
:mod:`qkernels.pruning.registry`.

Example:
    >>> import torch
    >>> from qkernels.nn.models import build_model
    >>> m = build_model("resnet18_small", width=0.125)
    >>> pm, rec = prune(m, "l1", 0.5, torch.zeros(1, 3, 16, 16))
    >>> rec["channel_sparsity"], pm.fc.in_features, pm(torch.zeros(2, 3, 16, 16)).shape
    (0.5, 32, torch.Size([2, 10]))
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
import torch_pruning as tp
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.device import model_device
from qkernels.nn.training import has_batchnorm
from qkernels.pruning.registry import BeforeRemovalHook, Criterion, GroupKeepHook, PruneContext, RecordHook, get_method

ROOT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def check_sparsity(sparsity: object) -> float:
    """``sparsity`` as a float in (0, 1); InputError otherwise."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)):
        raise InputError(f"sparsity must be a number in (0, 1), got {sparsity!r}")
    p = float(sparsity)
    if not math.isfinite(p) or not 0.0 < p < 1.0:
        raise InputError(f"sparsity must be in (0, 1) (the fraction of channels removed), got {sparsity!r}")
    return p


def keep_count(n: int, sparsity: float) -> int:
    """Channels a group of ``n`` keeps at ``sparsity``: max(1, ⌊n(1 − p)⌋)."""
    return max(1, min(n, math.floor(n * (1.0 - sparsity) + 1e-9)))


def classifier_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose outputs are the model's outputs: the last Linear (``fc``/``head``/...)."""
    for name in ("fc", "head", "classifier"):
        m = getattr(model, name, None)
        if isinstance(m, nn.Linear):
            return [m]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1:]


def default_ignored_layers(model: nn.Module) -> list[nn.Module]:
    """Layers left whole: the classifier, and attention modules (whose widths are tied to heads)."""
    attn = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    return classifier_layers(model) + attn


def count_macs_params(model: nn.Module, example_inputs: torch.Tensor) -> tuple[int, int]:
    """MACs and parameters for one input (``tp.utils.count_ops_and_params`` on the first example)."""
    x = example_inputs[:1].to(model_device(model))
    macs, params = tp.utils.count_ops_and_params(model, x)
    return int(macs), int(params)


@dataclass(frozen=True)
class PruneOptions:
    """How :func:`prune` prunes, besides the method and the sparsity (every field has a default).

    Attributes:
        calib: labelled batches ``(x, y)`` for data-driven criteria (``taylor``).
        seed: seed of randomized criteria (``random``, the quantum metric's shots).
        ignored_layers: more layers to leave whole (besides the classifier): modules of the
            model or their names.
        inplace: prune the given model itself instead of a copy.
        group_keep: per-group widths (non-uniform sparsity, e.g. hardware-aware allocations): root
            layer name (as in the record's ``removed`` and :func:`prunable_groups`) -> channels
            that group keeps; groups not named keep the uniform ``sparsity`` rule.
        round_to: keep a multiple of this many channels in every group (rounded up, at most the
            group's width), for hardware that prefers channel multiples.
        criterion: the criterion's keyword options, passed to its factory as ``ctx.options``
            (QM-FRG: ``tau``, ``metric``, ``layers``, ``merge``, ``shots``, ``quantum_method``).
        task: what the model's outputs mean, for the loss of data-driven criteria
            (:mod:`qkernels.nn.tasks`; None: cross-entropy on labels).

    Example:
        >>> o = PruneOptions(seed=1).updated(round_to=8, tau=0.1)
        >>> o.seed, o.round_to, o.criterion
        (1, 8, {'tau': 0.1})
    """

    calib: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None
    seed: int = 0
    ignored_layers: Sequence[nn.Module | str] = ()
    inplace: bool = False
    group_keep: Mapping[str, int] | None = None
    round_to: int | None = None
    criterion: Mapping[str, Any] = field(default_factory=dict)
    task: Any = None

    def updated(self, **overrides: Any) -> PruneOptions:
        """A copy with the fields named in ``overrides`` replaced; other names are criterion options.

        Example:
            >>> PruneOptions(criterion={"tau": 0.1}).updated(merge=True).criterion
            {'tau': 0.1, 'merge': True}
        """
        names = {f.name for f in fields(self)}
        own = {k: v for k, v in overrides.items() if k in names}
        extra = {k: v for k, v in overrides.items() if k not in names}
        if extra:
            own["criterion"] = {**own.get("criterion", self.criterion), **extra}
        return replace(self, **own) if own else self


def prune(
    model: nn.Module,
    method: str,
    sparsity: float,
    example_inputs: torch.Tensor,
    options: PruneOptions | None = None,
    **overrides: Any,
) -> tuple[nn.Module, dict]:
    """Prune ``model`` one-shot with the registered criterion ``method`` at ``sparsity``.

    Args:
        model: the trained model (left untouched unless ``inplace``).
        method: a registered criterion (:func:`qkernels.pruning.method_names`).
        sparsity: fraction of channels removed from every group, in (0, 1).
        example_inputs: a batch of inputs for tracing (one image is enough).
        options: everything else (:class:`PruneOptions`; default: its defaults).
        overrides: fields of :class:`PruneOptions` by name (``calib=``, ``seed=``,
            ``ignored_layers=``, ``inplace=``, ``group_keep=``, ``round_to=``), replacing those of
            ``options``; any other name is a criterion option (``tau=0.1`` is
            ``criterion={"tau": 0.1}``).

    Returns:
        ``(pruned_model, record)``; the record holds ``method``, ``sparsity``,
        ``channel_sparsity``, ``channels_before/after``, ``macs_before/after``,
        ``params_before/after``, ``groups`` (pruned groups), ``prune_time_s``, ``score_time_s``
        and ``removed`` (root layer name -> removed channel indices), and ``criterion`` when the
        criterion reports itself (:class:`~qkernels.pruning.registry.RecordHook`).

    Raises:
        InputError: an unknown method, sparsity outside (0, 1), a method that needs data given
            none, BN scaling on a model without BatchNorm, a ``group_keep`` naming no prunable
            group or asking for fewer than 1 channel, ``round_to`` < 1.
    """
    if options is None:
        options = PruneOptions()
    elif not isinstance(options, PruneOptions):
        raise InputError(f"options must be a PruneOptions, got {type(options).__name__} (criterion options go "
                         "in PruneOptions(criterion=...) or as keyword arguments)")
    o = options.updated(**overrides)
    p = check_sparsity(sparsity)
    round_to = o.round_to
    if round_to is not None and (isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1):
        raise InputError(f"round_to must be a positive integer, got {round_to!r}")
    spec = get_method(method)
    if spec.requires_bn and not has_batchnorm(model):
        raise InputError(f"pruning method {method!r} scores BatchNorm scales, and this model has no BatchNorm layer")
    if spec.needs_data and not o.calib:
        raise InputError(f"pruning method {method!r} needs calibration data (labelled batches)")
    if not isinstance(example_inputs, torch.Tensor) or example_inputs.ndim < 2:
        raise InputError("example_inputs must be a batch tensor (N, ...)")
    work = model if o.inplace else copy.deepcopy(model)
    work.eval()
    dev = model_device(work)
    x = example_inputs.to(dev)
    calib_dev = [(a.to(dev), b.to(dev)) for a, b in o.calib] if o.calib else None
    macs0, params0 = count_macs_params(work, x)
    names = {m: n for n, m in work.named_modules()}
    given = {m: n for n, m in model.named_modules()}
    extra = [work.get_submodule(given[m]) if isinstance(m, nn.Module) and m in given else names_to_module(work, m)
             for m in o.ignored_layers]
    ignored = default_ignored_layers(work) + extra

    t0 = time.perf_counter()
    importance = spec.factory(PruneContext(work, x, int(o.seed), calib_dev, dict(o.criterion), o.task))
    dg = _dependency_graph(work, x)
    ign = [m for layer in ignored for m in layer.modules()]
    plans, total0, total1 = [], 0, 0
    wanted = dict(o.group_keep or {})
    t_score = time.perf_counter()
    for group in dg.get_all_groups(ignored_layers=ign, root_module_types=ROOT_TYPES):
        root, handler = group[0].dep.target.module, group[0].dep.handler
        n = len(group[0].idxs)
        keep = _group_width(n, p, wanted.pop(names.get(root), None), round_to, names.get(root))
        total0 += n
        if keep >= n:
            total1 += n
            continue
        imp = importance(group)
        if imp is None:
            total1 += n
            continue
        if imp.shape != (n,) or not bool(torch.isfinite(imp).all()):
            raise RuntimeError(f"criterion {method!r} returned scores of shape {tuple(imp.shape)} (or non-finite) "
                               f"for a group of {n} channels rooted at {names.get(root)}")
        keep = criterion_keep(importance, group, n, keep)
        if keep >= n:
            total1 += n
            continue
        drop = torch.argsort(imp.detach().cpu().double(), stable=True)[: n - keep]
        plans.append((root, handler, sorted(int(i) for i in drop)))
        total1 += keep
    t_score = time.perf_counter() - t_score
    if wanted:
        raise InputError(f"group_keep names no prunable group: {', '.join(sorted(wanted))}")
    for root, handler, idxs in plans:
        g = dg.get_pruning_group(root, handler, idxs)
        if isinstance(importance, BeforeRemovalHook):
            importance.before_removal(g)
        g.prune()
    work.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - t0
    macs1, params1 = count_macs_params(work, x)
    record = {
        "method": method, "sparsity": p, "seed": int(o.seed),
        "channel_sparsity": 1.0 - total1 / total0 if total0 else 0.0,
        "channels_before": total0, "channels_after": total1,
        "macs_before": macs0, "macs_after": macs1, "params_before": params0, "params_after": params1,
        "groups": len(plans), "prune_time_s": elapsed, "score_time_s": t_score,
        "removed": {names.get(r, "?"): idxs for r, _, idxs in plans},
    }
    if isinstance(importance, RecordHook):
        record["criterion"] = importance.record()
    return work.eval(), record


def criterion_keep(importance: Criterion, group: Any, n: int, keep: int) -> int:
    """Channels a group keeps: ``keep``, or more when the criterion says so (its
    :class:`~qkernels.pruning.registry.GroupKeepHook`, e.g. QM-FRG's threshold mode); never fewer
    than ``keep`` nor more than ``n``.

    Example:
        >>> criterion_keep(lambda group: None, None, 8, 4)
        4
    """
    if not isinstance(importance, GroupKeepHook):
        return keep
    return max(keep, min(n, int(importance.group_keep(group, n, keep))))


def _dependency_graph(model: nn.Module, x: torch.Tensor) -> tp.DependencyGraph:
    with warnings.catch_warnings():
        # bare nn.Parameters (a ViT's class token and position embedding) sit on the residual
        # stream, whose group holds the attention modules and is left whole
        warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
        return tp.DependencyGraph().build_dependency(model, example_inputs=x)


def _group_width(n: int, p: float, wanted: int | None, round_to: int | None, name: str | None) -> int:
    """Channels a group of ``n`` keeps: ``wanted`` if given, else the uniform rule; then rounded up
    to a multiple of ``round_to`` (capped at ``n``)."""
    if wanted is None:
        keep = keep_count(n, p)
    else:
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
            raise InputError(f"group_keep[{name!r}]: expected a channel count >= 1, got {wanted!r}")
        keep = min(n, wanted)
    if round_to is not None and round_to > 1:
        keep = min(n, -(-keep // round_to) * round_to)
    return keep


def prunable_groups(model: nn.Module, example_inputs: torch.Tensor,
                    ignored_layers: Sequence[nn.Module] = ()) -> dict[str, int]:
    """The groups :func:`prune` prunes: root layer name -> channels, in dependency-graph order.

    Example:
        >>> import torch
        >>> from qkernels.nn.models import build_model
        >>> prunable_groups(build_model("mlp", in_features=12, hidden=(8, 4)), torch.zeros(1, 12))
        {'net.3': 4, 'net.1': 8}
    """
    model.eval()
    x = example_inputs.to(model_device(model))
    names = {m: n for n, m in model.named_modules()}
    ign = [m for layer in list(default_ignored_layers(model)) + list(ignored_layers) for m in layer.modules()]
    dg = _dependency_graph(model, x)
    return {names.get(g[0].dep.target.module, "?"): len(g[0].idxs)
            for g in dg.get_all_groups(ignored_layers=ign, root_module_types=ROOT_TYPES)}


def names_to_module(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    """A layer of ``model`` given by its name (or as the module itself)."""
    if isinstance(layer, nn.Module):
        if not any(layer is m for m in model.modules()):
            raise InputError("ignored layer: a module that is not part of the model")
        return layer
    try:
        return model.get_submodule(str(layer))
    except AttributeError:
        raise InputError(f"ignored layer {layer!r}: no such module in the model") from None


__all__ = ["prune", "PruneOptions", "criterion_keep", "prunable_groups", "check_sparsity", "keep_count",
           "count_macs_params", "classifier_layers", "default_ignored_layers", "names_to_module", "ROOT_TYPES"]
