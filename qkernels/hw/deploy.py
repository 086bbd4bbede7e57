"""A model as it is deployed: BatchNorm folded into the layer before it, channels_last, compiled.

Eager timing of a pruned model overstates what BatchNorm, ReLU and residual additions cost: they
are memory-bound and shrink with the channel count while the MACs shrink with its square. A
deployed model removes what it can of them. :func:`deploy` returns a copy of a model in eval
mode with:

* **BN folded**: every ``BatchNorm1d/2d`` whose only input is a ``Conv1d/2d`` or ``Linear`` output
  used by nothing else is folded into that layer (``W' = γ/σ · W``, ``b' = γ/σ · (b − μ) + β``), found
  on the ``torch.fx`` graph; a model fx cannot trace keeps its BN layers (``bn_folded`` = 0 and
  ``fold_error`` says why);
* **channels_last** memory format for models with 2-D convolutions on devices that support it;
* optionally **torch.compile** (``compile=True``): tried, and recorded as ``compiled`` = the backend
  name, or ``"no: <reason>"`` where it fails (no C++ compiler, an unsupported backend). It costs
  tens of seconds per model and input shape on a 2-core CPU, so it is off by default.

Timings run under ``torch.inference_mode()`` (:func:`qkernels.hw.latency.measure_latency`
always does). :func:`max_abs_difference` checks that the deployed copy computes what the eager
model does; the latency section records it per model.

Example:
    >>> import torch
    >>> from torch import nn
    >>> m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    >>> _ = m[1].running_mean.uniform_(), m[1].running_var.uniform_(0.5, 2), m[1].weight.data.uniform_()
    >>> d, info = deploy(m, torch.zeros(1, 3, 8, 8))
    >>> info["bn_folded"], info["channels_last"], max_abs_difference(m, d, torch.randn(2, 3, 8, 8)) < 1e-5
    (1, True, True)
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

CONVS = (nn.Conv1d, nn.Conv2d, nn.Linear)
BNS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _fold(layer: nn.Module, bn: nn.Module) -> nn.Module:
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    if isinstance(layer, nn.Linear):
        return fuse_linear_bn_eval(layer, bn)
    return fuse_conv_bn_eval(layer, bn)


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int, str]:
    """``(folded copy, number of BN layers folded, error)`` of an eval-mode model (see the module text).

    Example:
        >>> from torch import nn
        >>> m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)).eval()
        >>> _, n, err = fold_batchnorm(m)
        >>> n, err
        (1, '')
    """
    model = copy.deepcopy(model).eval()
    try:
        import torch.fx as fx

        gm = fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 - a model fx cannot trace is timed with its BN layers
        return model, 0, f"torch.fx could not trace the model ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    modules = dict(gm.named_modules())
    folded = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), BNS):
            continue
        src = node.args[0] if node.args else None
        if not (isinstance(src, fx.Node) and src.op == "call_module" and isinstance(modules.get(src.target), CONVS)
                and len(src.users) == 1):
            continue
        bn, layer = modules[node.target], modules[src.target]
        if not bn.track_running_stats or bn.running_mean is None:
            continue
        fused = _fold(layer, bn)
        parent, _, attr = src.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, attr, fused)
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
        folded += 1
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()
    return gm.eval(), folded, ""


def _has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def deploy(model: nn.Module, example: torch.Tensor, *, device: str | torch.device = "cpu",
           compile: bool = False, channels_last: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """The deployed copy of ``model`` on ``device`` and what was done (see the module text).

    Args:
        model: any module (not changed).
        example: one input batch, used to trigger compilation and to check the copy.
        device: where the copy lives.
        compile: try ``torch.compile`` (inductor) after folding.
        channels_last: use the channels_last memory format when the model has 2-D convolutions.

    Returns:
        ``(deployed, info)``: info has ``bn_folded``, ``fold_error``, ``channels_last`` (bool) and
        ``compiled`` (``"inductor"``, ``"off"`` or ``"no: <reason>"``).
    """
    dev = torch.device(device)
    folded, n_folded, err = fold_batchnorm(model)
    folded = folded.to(dev)
    cl = bool(channels_last and _has_conv2d(folded) and example.ndim == 4)
    if cl:
        folded = folded.to(memory_format=torch.channels_last)
    info: dict[str, Any] = {"bn_folded": n_folded, "fold_error": err, "channels_last": cl, "compiled": "off"}
    out: nn.Module = folded
    if compile:
        try:
            compiled = torch.compile(folded, dynamic=False)
            with torch.inference_mode():
                compiled(_as_input(example, dev, cl))
            out, info["compiled"] = compiled, "inductor"
        except Exception as exc:  # noqa: BLE001 - compile is best effort; eager-deployed is still timed
            info["compiled"] = f"no: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return out, info


def _as_input(x: torch.Tensor, dev: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(dev)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x


def max_abs_difference(eager: nn.Module, deployed: nn.Module, inputs: torch.Tensor) -> float:
    """max |eager(x) − deployed(x)| over ``inputs`` (both in eval mode, on the deployed model's device).

    Example:
        >>> from torch import nn
        >>> m = nn.Linear(3, 2).eval()
        >>> max_abs_difference(m, m, torch.zeros(1, 3))
        0.0
    """
    try:
        dev = next(deployed.parameters()).device
    except StopIteration:
        dev = inputs.device
    eager_dev = next(eager.parameters(), torch.empty(0)).device
    with torch.inference_mode():
        a = eager.eval()(inputs.to(eager_dev)).float().cpu()
        b = deployed(_as_input(inputs, dev, inputs.ndim == 4)).float().cpu()
    return float((a - b).abs().max())


__all__ = ["fold_batchnorm", "deploy", "max_abs_difference"]
