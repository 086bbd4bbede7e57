"""``qkernels prune``: prune one model on the command line and report what it cost and kept.

MODEL is a built-in architecture name (then a dense model is trained on ``--data`` for
``--epochs``, once: the checkpoint cache keeps it), a checkpoint (``.pt``/``.pth``/
``.safetensors``, loaded strictly into ``--arch``; widths, class counts and input sizes are read
from the tensors), or a pruned-model file written by this command (pruned further).

Example:
    >>> infer_arch_kwargs("mlp", {"net.1.weight": torch.zeros(8, 48), "net.3.weight": torch.zeros(4, 8),
    ...                           "net.5.weight": torch.zeros(10, 4)})
    {'num_classes': 10, 'in_features': 48, 'hidden': (8, 4)}
"""

from __future__ import annotations

import argparse
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from qkernels.core.checks import check_int, check_seed
from qkernels.core.errors import InputError
from qkernels.core.memory import check_memory
from qkernels.nn.checkpoints import load_state_dict
from qkernels.nn.data import DataSplits, load_data
from qkernels.nn.models.registry import MODELS, build_model, load_into
from qkernels.nn.training import evaluate, recalibrate_bn, train
from qkernels.pruning.prune import PruneOptions, check_sparsity, prune
from qkernels.pruning.registry import Method, get_method
from qkernels.pruning.serialize import load_pruned, read_pruned_meta, save_pruned
from qkernels.suite.sweeps.pruning import TrainSetup, fit_arch_kwargs, torch_threads, train_dense


def wants_data(options: Mapping[str, Any]) -> bool:
    """Whether QM-FRG options need calibration data (a functional metric, a least-squares merge).

    Example:
        >>> wants_data({"metric": "act"}), wants_data({"merge": "fold"}), wants_data({"merge": True})
        (True, False, True)
    """
    from qkernels.pruning.qmfrg.merge import DATA_MERGES, check_merge
    from qkernels.pruning.qmfrg.states import DATA_METRICS

    merge = options.get("merge")
    return options.get("metric") in DATA_METRICS or (merge not in (None, False) and check_merge(merge) in DATA_MERGES)


def infer_arch_kwargs(arch: str, state: dict[str, torch.Tensor]) -> dict:
    """Arguments of the built-in ``arch`` that give the tensor shapes of ``state``."""
    spec = MODELS[arch]
    kw: dict = {}
    if spec.classifier in state:
        kw["num_classes"] = int(state[spec.classifier].shape[0])
    if arch.startswith("resnet18") and "conv1.weight" in state:
        w = state["conv1.weight"]
        kw["width"] = int(w.shape[0]) / 64
        kw["in_channels"] = int(w.shape[1])
    elif arch == "mlp":
        idx = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"net\.(\d+)\.weight", k)))
        if idx:
            kw["in_features"] = int(state[f"net.{idx[0]}.weight"].shape[1])
            kw["hidden"] = tuple(int(state[f"net.{i}.weight"].shape[0]) for i in idx[:-1])
    elif arch == "vit_tiny" and "pos_embed" in state and "patch_embed.weight" in state:
        n = int(state["pos_embed"].shape[1]) - 1
        patch = int(state["patch_embed.weight"].shape[-1])
        kw["image_size"] = int(round(math.sqrt(n))) * patch
        kw["in_channels"] = int(state["patch_embed.weight"].shape[1])
    return kw


def _is_pruned_file(path: Path) -> bool:
    if path.suffix != ".safetensors":
        return False
    try:
        read_pruned_meta(path)
    except InputError:
        return False
    return True


def load_for_pruning(spec: str, *, arch: str | None, data: DataSplits, width: float | None, epochs: float,
                     seed: int, device: torch.device, progress: bool | None) -> tuple[nn.Module, str, dict, str]:
    """``(model, arch, arch_kwargs, origin)`` for the prune command (see the module docstring)."""
    path = Path(spec)
    if spec in MODELS and not path.exists():
        if arch is not None and arch != spec:
            raise InputError(f"--arch {arch!r} conflicts with the built-in model {spec!r}")
        given = {"width": width} if width is not None and spec.startswith("resnet18") else {}
        if width is not None and not given:
            raise InputError(f"--width applies to resnet18 models, not {spec!r}")
        kw = fit_arch_kwargs(spec, given, data)
        model, info, hit = train_dense(spec, kw, data, TrainSetup(epochs=epochs), seed, device, progress)
        if info.get("pretrained"):
            return model, spec, kw, "pretrained: its authors' weights"
        return model, spec, kw, "cache" if hit else f"trained {info.get('epochs', epochs):.3g} epochs"
    if not path.exists():
        raise InputError(f"unknown model {spec!r}: not a built-in model ({', '.join(MODELS)}) and no such file")
    if _is_pruned_file(path):
        model, meta = load_pruned(path, device=device)
        return model, meta["arch"], meta.get("arch_kwargs") or {}, "pruned file"
    if arch is None:
        raise InputError(f"{spec!r}: pruning a checkpoint needs --arch NAME (one of {', '.join(MODELS)})")
    if arch not in MODELS:
        raise InputError(f"--arch: unknown architecture {arch!r}; built-in: {', '.join(MODELS)}")
    state = load_state_dict(path)
    kw = infer_arch_kwargs(arch, state)
    if width is not None:
        kw["width"] = width
    try:
        model = build_model(arch, seed=seed, **kw)
    except (TypeError, ValueError) as exc:
        raise InputError(f"checkpoint {spec!r}: cannot build {arch} from its shapes ({exc})") from None
    load_into(model, state, where=f"checkpoint {spec!r}")
    return model.to(device), arch, kw, "checkpoint"


def _fmt(n: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.3g}"


@dataclass(frozen=True)
class PruneRequest:
    """What ``qkernels prune`` is asked to do: the command's arguments, with their defaults.

    Attributes:
        model: a built-in architecture name, a checkpoint path or a pruned-model file.
        method: the pruning criterion (:func:`qkernels.pruning.method_names`).
        sparsity: the fraction of channels removed per group, in (0, 1).
        out: where to write the pruned model (``.safetensors``), or None.
        arch: the built-in architecture a checkpoint is loaded into.
        width: the ResNet width multiplier of a built-in resnet18 model.
        data: ``digits``, ``mnist5k``, ``tones``, ``cifar10:PATH`` or ``folder:PATH`` (None: a pretrained
            model's own data set, else ``digits``).
        size: the image side of digits and folder data (None: the data's default).
        epochs: training epochs of a built-in model.
        finetune_epochs: fine-tuning epochs after pruning (0: none).
        seed: seed of training, the calibration draw and random scores.
        device: the device to run on.
        threads: torch CPU threads (None: torch's default).
        progress: progress bars (None: torch's and tqdm's default, False: none).
        options: the criterion's keyword options (QM-FRG: ``tau``, ``merge``, ``metric``, ``shots``).
        hardware_aware: per-group widths from a cost table measured on ``device``.
        round_to: keep channel counts multiples of this.
        latency_batch: the batch size at which ``hardware_aware`` measures latency.

    Example:
        >>> r = PruneRequest("mlp", "qmfrg", 0.5, options={"tau": 0.1})
        >>> r.device, r.options, r.validated()[1]
        ('cpu', {'tau': 0.1}, 0.5)
    """

    model: str
    method: str
    sparsity: float
    out: str | None = None
    arch: str | None = None
    width: float | None = None
    data: str | None = None
    size: int | None = None
    epochs: float = 4.0
    finetune_epochs: float = 0.0
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    progress: bool | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    hardware_aware: bool = False
    round_to: int | None = None
    latency_batch: int = 8

    @classmethod
    def from_args(cls, a: argparse.Namespace) -> PruneRequest:
        """The request of parsed ``qkernels prune`` arguments (QM-FRG flags become ``options``).

        Example:
            >>> import argparse
            >>> a = argparse.Namespace(model="mlp", method="qmfrg", sparsity=0.5, out=None, arch=None, width=None,
            ...                        data="digits", size=None, epochs=4.0, finetune_epochs=0.0, seed=0,
            ...                        device="cpu", threads=None, no_progress=True, tau=None, metric="w2cum",
            ...                        shots=None, merge="ls", hardware_aware=False, round_to=None,
            ...                        latency_batch=8)
            >>> r = PruneRequest.from_args(a)
            >>> r.options, r.progress
            ({'metric': 'w2cum', 'merge': 'ls'}, False)
        """
        opts = {k: v for k, v in (("tau", a.tau), ("metric", a.metric), ("shots", a.shots)) if v is not None}
        if a.merge:
            opts["merge"] = True if a.merge is True else a.merge
        if getattr(a, "estimator", None):
            opts["estimator"] = a.estimator
        return cls(a.model, a.method, a.sparsity, out=a.out, arch=a.arch, width=a.width, data=a.data, size=a.size,
                   epochs=a.epochs, finetune_epochs=a.finetune_epochs, seed=a.seed, device=a.device,
                   threads=a.threads, progress=False if a.no_progress else None, options=opts,
                   hardware_aware=a.hardware_aware, round_to=a.round_to, latency_batch=a.latency_batch)

    def validated(self) -> tuple[Method, float]:
        """``(the method, the sparsity)`` after checking every name and number (InputError otherwise).

        Example:
            >>> PruneRequest("mlp", "l1", 0.5, threads=0).validated()
            Traceback (most recent call last):
            ...
            qkernels.core.errors.InputError: --threads must be at least 1, got 0
        """
        spec = get_method(self.method)
        p = check_sparsity(self.sparsity)
        if not self.epochs > 0 or self.finetune_epochs < 0 or (self.width is not None and not self.width > 0):
            raise InputError("--epochs and --width must be positive and --finetune-epochs non-negative")
        _check_finite_and_out(self.epochs, self.finetune_epochs, self.width, self.seed, self.size, self.out)
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads must be at least 1, got {self.threads}")
        if self.threads is not None and self.threads > 4096:
            raise InputError(f"--threads must be at most 4096, got {self.threads}")
        options = self.options
        if options and not self.method.startswith("qmfrg"):
            raise InputError(f"--{'/--'.join(options)}: options of the QM-FRG methods (qmfrg, qmfrg-aligned, ...), "
                             f"not of {self.method!r}")
        if "tau" in options:
            from qkernels.pruning.qmfrg.graph import check_tau

            check_tau(options["tau"])
        if "shots" in options:
            from qkernels.quantum.estimation import check_shots

            check_shots(options["shots"])
        if "metric" in options:
            from qkernels.pruning.qmfrg.channels import check_metric

            check_metric(options["metric"])
        if "merge" in options:
            from qkernels.pruning.qmfrg.merge import check_merge

            check_merge(options["merge"])
        if self.round_to is not None and self.round_to < 1:
            raise InputError(f"--round-to must be at least 1, got {self.round_to}")
        if self.latency_batch < 1:
            raise InputError(f"--latency-batch must be at least 1, got {self.latency_batch}")
        if options and self.hardware_aware:
            raise InputError("--hardware-aware takes no QM-FRG options (--tau, --merge, --metric, --shots)")
        return spec, p


def prune_command(request: PruneRequest | str, **fields: Any) -> tuple[str, dict]:
    """Run the prune command; returns the one-line summary and the record.

    Args:
        request: a :class:`PruneRequest`, or the MODEL argument with the other fields of
            :class:`PruneRequest` as keyword arguments (``method=`` and ``sparsity=`` are required).
        fields: fields of :class:`PruneRequest` that replace the request's.

    ``options`` are the criterion's keyword options (QM-FRG: ``tau``, ``merge``, ``metric``,
    ``shots``); other criteria take none.

    With ``hardware_aware`` the widths come from a cost table measured on ``device`` at
    ``latency_batch`` (:func:`qkernels.pruning.hardware.hardware_aware_prune`): as fast as uniform
    pruning at ``sparsity``, with the channels removed where they cost the most time for the least
    importance. ``round_to`` keeps channel counts multiples of it (both modes).
    """
    from qkernels.hw.backends import resolve_device

    if isinstance(request, PruneRequest):
        req = replace(request, **fields) if fields else request
    else:
        req = PruneRequest(request, **fields)
    req = replace(req, options=dict(req.options or {}))
    spec, p = req.validated()  # names and numbers before any work
    dev = resolve_device(req.device)
    with torch_threads(req.threads, dev):
        return _prune_command(req, spec, p, dev)


def _request_data(req: PruneRequest) -> DataSplits:
    """The data of the request: ``--data``, else a pretrained model's own data set (normalized as its
    inputs were), else ``digits``."""
    ms = MODELS.get(req.model) if not Path(req.model).exists() else MODELS.get(req.arch or "")
    name = req.data or (ms.data if ms is not None and ms.pretrained else None) or "digits"
    d = load_data(name, **({"size": req.size} if req.size is not None else {}))
    if ms is not None and ms.pretrained and tuple(d.image_shape) != tuple(ms.input_shape):
        raise InputError(f"{ms.name} takes inputs of shape {tuple(ms.input_shape)}; {d.spec} gives "
                         f"{tuple(d.image_shape)} (use --data {ms.data}, its own data set)")
    if ms is not None and ms.input_stats is not None and d.task.name == "classification":
        d = d.with_stats(*ms.input_stats)
    return d


def _prune_command(req: PruneRequest, spec: Method, p: float, dev: torch.device) -> tuple[str, dict]:
    out, model, seed = req.out, req.model, req.seed
    if out is not None and Path(out).is_dir():
        raise InputError(f"--out {out!r} is a folder; give a file name (.safetensors)")
    d = _request_data(req)
    net, arch_name, kw, origin = load_for_pruning(model, arch=req.arch, data=d, width=req.width, epochs=req.epochs,
                                                  seed=seed, device=dev, progress=req.progress)
    if req.hardware_aware:  # the latency batches: inputs and (roughly) the activations they make
        check_memory(f"--latency-batch {req.latency_batch}",
                     16 * 4 * req.latency_batch * math.prod(d.image_shape))
    x = d.example_inputs().to(dev)
    try:
        with torch.no_grad():
            logits = net.eval()(x)
    except RuntimeError as exc:
        raise InputError(f"model {model!r} does not accept the data's images {d.image_shape} "
                         f"({str(exc).splitlines()[0]})") from None
    same = d.task.name != "classification" or logits.shape[-1] == d.num_classes
    acc0 = evaluate(net, d.test)["accuracy"] if same else None
    g = torch.Generator().manual_seed(seed)
    calib = d.calib.subset(torch.randperm(len(d.calib), generator=g)[:256])
    batches = list(calib.batches(128)) if spec.needs_data or wants_data(req.options) else None
    if req.hardware_aware:
        from qkernels.pruning.hardware import hardware_aware_prune

        pm, rec = hardware_aware_prune(net, p, x, method=req.method, device=dev, batch=req.latency_batch,
                                       round_to=req.round_to, calib=batches, seed=seed)
    else:
        pm, rec = prune(net, req.method, p, x, PruneOptions(calib=batches, seed=seed, round_to=req.round_to,
                                                            criterion=dict(req.options), task=d.task))
    recalibrate_bn(pm, d.calib)
    acc1 = evaluate(pm, d.test)["accuracy"] if same else None
    acc2 = None
    finetune_epochs = req.finetune_epochs
    if finetune_epochs > 0:
        if not same:
            raise InputError(f"--finetune-epochs: the model has {logits.shape[-1]} outputs and {d.spec} has "
                             f"{d.num_classes} classes")
        t0 = time.perf_counter()
        # CREPE (trained by its authors with Adam) diverges at the SGD rate that suits the models trained here
        train(pm, d.train, epochs=finetune_epochs, lr=0.001 if d.task.name == "pitch" else 0.01, seed=seed,
              progress=req.progress, desc="finetune")
        recalibrate_bn(pm, d.calib)  # CREPE's BatchNorm has momentum 0: training leaves stale statistics
        rec["finetune_time_s"] = time.perf_counter() - t0
        acc2 = evaluate(pm, d.test)["accuracy"]
    rec.update({"model": model, "arch": arch_name, "origin": origin, "data": d.spec, "accuracy_dense": acc0,
                "accuracy_oneshot": acc1, "accuracy_finetuned": acc2, "finetune_epochs": finetune_epochs})
    if out is not None:
        extra = {k: v for k, v in rec.items() if k != "removed"}
        save_pruned(pm, out, arch=arch_name, arch_kwargs=kw, extra=extra)
    name = "top-1" if d.task.name == "classification" else "raw pitch accuracy"
    acc = ("top-1 n/a (the model's outputs do not match the data's classes)" if acc0 is None else
           f"{name} {acc0:.4f} -> {acc1:.4f} one-shot (BN re-estimated)"
           + (f" -> {acc2:.4f} after {finetune_epochs:g} epoch{'' if finetune_epochs == 1 else 's'} of fine-tuning"
              if acc2 is not None else ""))
    line = (f"{req.method} p={p:g} on {arch_name} ({origin}), data {d.spec}: {acc}; "
            f"MACs {_fmt(rec['macs_before'])} -> {_fmt(rec['macs_after'])} "
            f"({rec['macs_after'] / rec['macs_before']:.3f}x); params {_fmt(rec['params_before'])} -> "
            f"{_fmt(rec['params_after'])} ({rec['params_after'] / rec['params_before']:.3f}x); channel sparsity "
            f"{rec['channel_sparsity']:.3f}; pruned in {rec['prune_time_s']:.2f} s"
            + (_hw_text(rec) if "hardware_aware" in rec else "")
            + (f"; wrote {out}" if out else ""))
    return line, rec


#: the file format ``--out`` writes, and so the suffix it must have
OUT_SUFFIX = ".safetensors"


def _check_finite_and_out(epochs, finetune_epochs, width, seed, size, out) -> None:
    """The checks of prune_command beyond the ranges: finite numbers, seed, size, --out's suffix."""
    for name, v in (("--epochs", epochs), ("--finetune-epochs", finetune_epochs), ("--width", width)):
        if v is not None and not math.isfinite(float(v)):
            raise InputError(f"{name}: expected a finite number, got {v!r}")
    check_seed(seed, "--seed")
    if size is not None:
        check_int(size, "--size", 1)
    if out is not None and Path(out).exists() and not Path(out).is_file() and not Path(out).is_dir():
        raise InputError(f"--out {str(out)!r} exists and is not a regular file (a device or pipe is not replaced)")
    if out is not None and Path(out).suffix != OUT_SUFFIX and not Path(out).is_dir():
        raise InputError(f"--out {str(out)!r}: the pruned model is written as safetensors (channel counts and "
                         f"tensors, no pickle); name the file *{OUT_SUFFIX}")


def _hw_text(rec: dict) -> str:
    h = rec["hardware_aware"]
    return (f"; hardware-aware on {h['device']} at batch {h['batch']}: {1e3 * h['median_s']:.3g} ms vs uniform "
            f"{1e3 * h['uniform_median_s']:.3g} ms (uniform MACs {_fmt(rec['uniform_macs'])})")


__all__ = ["PruneRequest", "prune_command", "load_for_pruning", "infer_arch_kwargs"]
