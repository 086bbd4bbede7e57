"""Pruned models on disk without pickle: channel counts plus tensors, rebuilt on load.

:func:`save_pruned` writes one ``.safetensors`` file: the state dict, and in the file's metadata
header a JSON document with the architecture (a built-in model name and its keyword arguments)
and, for every Conv/Linear/BatchNorm/LayerNorm module, its channel counts::

    {"format": "qkernels-pruned", "version": 1, "arch": "resnet18_small",
     "arch_kwargs": {"num_classes": 10, "width": 0.125},
     "channels": {"conv1": {"type": "Conv2d", "in": 3, "out": 4}, "bn1": {"type": "BatchNorm2d", "out": 4}, ...},
     "extra": {... the pruning record ...}}

:func:`load_pruned` builds a fresh model of that architecture, shrinks every recorded module to
its counts (dropping trailing channels with Torch-Pruning's layer functions), then loads the
tensors strictly: a tensor whose shape does not match is an error that names it.

Example:
    >>> import tempfile, os, torch
    >>> from qkernels.nn.models import build_model
    >>> from qkernels.pruning import prune
    >>> m = build_model("mlp", in_features=48, hidden=(8, 8))
    >>> pm, rec = prune(m, "l2", 0.5, torch.zeros(1, 3, 4, 4))
    >>> path = os.path.join(tempfile.mkdtemp(), "p.safetensors")
    >>> _ = save_pruned(pm, path, arch="mlp", arch_kwargs={"in_features": 48, "hidden": [8, 8]})
    >>> back, meta = load_pruned(path)
    >>> back.net[1].out_features, torch.equal(back.net[1].weight, pm.net[1].weight)
    (4, True)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch_pruning as tp
from torch import nn

from qkernels.core.atomic import atomic_write_bytes
from qkernels.core.errors import InputError
from qkernels.nn.models.registry import MODELS, build_model, load_into

FORMAT = "qkernels-pruned"
VERSION = 1


def channel_counts(model: nn.Module) -> dict[str, dict]:
    """Channel counts of every Conv/Linear/BatchNorm/LayerNorm module, by name."""
    out: dict[str, dict] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            out[name] = {"type": type(m).__name__, "in": m.in_channels, "out": m.out_channels}
        elif isinstance(m, nn.Linear):
            out[name] = {"type": type(m).__name__, "in": m.in_features, "out": m.out_features}
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            out[name] = {"type": type(m).__name__, "out": m.num_features}
        elif isinstance(m, nn.LayerNorm):
            out[name] = {"type": type(m).__name__, "out": int(m.normalized_shape[-1])}
    return out


def shrink_to(model: nn.Module, channels: dict[str, dict], where: str = "pruned model") -> nn.Module:
    """Shrink ``model``'s modules in place to the recorded ``channels`` (trailing channels go)."""
    mods = dict(model.named_modules())
    for name, rec in channels.items():
        if name not in mods:
            raise InputError(f"{where}: module {name!r} of the saved counts is not in the architecture")
        m = mods[name]
        now = channel_counts(nn.ModuleDict({"x": m})).get("x")
        if now is None or now["type"] != rec.get("type"):
            raise InputError(f"{where}: module {name!r} is {type(m).__name__}, the file says {rec.get('type')}")
        for side in ("out", "in"):
            if side not in rec:
                continue
            want, have = int(rec[side]), int(now[side])
            if not 1 <= want <= have:
                raise InputError(f"{where}: module {name!r} has {have} {side}put channels, the file asks for {want}")
            if want == have:
                continue
            drop = list(range(want, have))
            if isinstance(m, nn.modules.conv._ConvNd):
                (tp.prune_conv_out_channels if side == "out" else tp.prune_conv_in_channels)(m, drop)
            elif isinstance(m, nn.Linear):
                (tp.prune_linear_out_channels if side == "out" else tp.prune_linear_in_channels)(m, drop)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                tp.prune_batchnorm_out_channels(m, drop)
            else:
                tp.prune_layernorm_out_channels(m, drop)
    return model


def save_pruned(model: nn.Module, path: str | Path, *, arch: str, arch_kwargs: dict | None = None,
                extra: dict | None = None) -> Path:
    """Write ``model`` (an ``arch`` built with ``arch_kwargs``, then pruned) to ``path`` (atomic)."""
    from safetensors.torch import save

    if arch not in MODELS:
        raise InputError(f"save_pruned: unknown architecture {arch!r}; built-in: {', '.join(MODELS)}")
    meta = {"format": FORMAT, "version": VERSION, "arch": arch, "arch_kwargs": dict(arch_kwargs or {}),
            "channels": channel_counts(model), "extra": dict(extra or {})}
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    p = Path(path)
    if p.is_dir():
        raise InputError(f"save_pruned: {str(p)!r} is a folder; give a file name")
    atomic_write_bytes(p, save(state, metadata={"qkernels": json.dumps(meta, default=_jsonable)}))
    return p


def _jsonable(x):
    if isinstance(x, tuple):
        return list(x)
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def read_pruned_meta(path: str | Path) -> dict:
    """The JSON document of a pruned-model file."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise InputError(f"pruned model {str(p)!r}: no such file")
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = (f.metadata() or {}).get("qkernels")
    except Exception as exc:
        raise InputError(f"pruned model {str(p)!r}: not a readable safetensors file ({exc})") from None
    if raw is None:
        raise InputError(f"pruned model {str(p)!r}: no qkernels metadata (not written by save_pruned)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"pruned model {str(p)!r}: corrupt metadata ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise InputError(f"pruned model {str(p)!r}: format {meta.get('format')!r} v{meta.get('version')} is not "
                         f"{FORMAT} v{VERSION}")
    return meta


def load_pruned(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model written by :func:`save_pruned`; returns ``(model, metadata)``.

    Raises:
        InputError: a missing or foreign file, counts the architecture cannot have, or a tensor
            whose shape does not match the rebuilt model (named).
    """
    from safetensors.torch import load_file

    meta = read_pruned_meta(path)
    kwargs = meta.get("arch_kwargs") or {}
    if "hidden" in kwargs:
        kwargs["hidden"] = tuple(kwargs["hidden"])
    model = build_model(meta["arch"], **kwargs)
    shrink_to(model, meta.get("channels") or {}, where=f"pruned model {str(path)!r}")
    state = load_file(str(path), device="cpu")
    load_into(model, state, where=f"pruned model {str(path)!r}")
    return model.to(device).eval(), meta


__all__ = ["save_pruned", "load_pruned", "read_pruned_meta", "channel_counts", "shrink_to", "FORMAT", "VERSION"]
