"""Extraction of the affine operators (W, b) of a PyTorch model.

Reshapes (documented contract; docs/metrics.md, "Which operators a model has", has the same table):

* ``nn.Linear``: W is the weight (out × in), b the bias.
* ``nn.Conv1d/2d/3d`` with ``groups=1``, layer granularity: W = weight.reshape(out, in·∏k), the
  map on flattened input patches (im2col columns), b the bias.
* Grouped and depthwise convolutions, layer granularity: the true patch map is block diagonal,
  W = blockdiag(W_1, …, W_g) of shape out × (in·∏k), where W_g = weight of group g reshaped to
  (out/g) × (in/g·∏k). Its spectrum is the union of the groups' spectra.
* Filter granularity (convolutions): filter o is W_o = weight[o].reshape(in/groups, ∏k) (input
  channels × kernel taps). Its scalar bias b_o is spread evenly over the rows,
  b = (b_o/√rows)·1, so ‖b‖ = |b_o| and the spectrum does not depend on the order of the input
  channels.
* Filter granularity (linear layers and attention projections): neuron o is the 1 × in row
  weight[o] with bias b[o].
* ``nn.MultiheadAttention``: the q, k and v projections (slices of ``in_proj_weight``, or
  ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when kdim/vdim differ) and the output
  projection are four operators named ``<name>.q_proj``, ``.k_proj``, ``.v_proj``, ``.out_proj``.

Modules with parameters of their own that are not operators (normalization layers, embeddings,
transposed convolutions, recurrent layers, ...) are listed in ``OperatorList.skipped`` with the
reason, never silently dropped. Embedding tables (``nn.Embedding``, or in a bare state dict a 2-D
``*.weight`` without a bias whose name says embedding: ``word_embeddings``, ``embed_tokens``,
``wte`` ...) are lookup tables, not operators, in both routes; ``embeddings=True`` takes them as
``num × dim`` matrices (at filter granularity, one row per token) when their geometry is wanted.

Example:
    >>> import torch.nn as nn
    >>> ops = extract_operators(nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3)))
    >>> [(op.name, tuple(op.W.shape)) for op in ops]
    [('0', (3, 4))]
    >>> ops.skipped[0].name, ops.skipped[0].reason
    ('1', 'normalization layer: a per-channel affine map, not a matrix operator')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, Mapping

import torch
from torch import nn

from qkernels.core.arrays import check_finite
from qkernels.core.errors import InputError

Granularity = Literal["layer", "filter"]


@dataclass(frozen=True)
class Operator:
    """One affine operator x -> Wx + b taken from a model.

    Attributes:
        name: unique name (module path; filters add ``[o]``; attention adds ``.q_proj`` ...).
        module_type: class name of the module it came from.
        kind: "linear", "conv", "attention" (layer granularity) or "filter"/"neuron".
        shape: shape of the original parameter (e.g. the conv weight out × in/g × k × k).
        W: the 2-D matrix as reshaped above (a view of the parameter where possible, detached).
        b: 1-D bias of length W.shape[0], or None.
        layer: name of the layer it belongs to (equal to ``name`` at layer granularity).
        index: filter/neuron index within its layer, or None at layer granularity.
    """

    name: str
    module_type: str
    kind: str
    shape: tuple[int, ...]
    W: torch.Tensor
    b: torch.Tensor | None
    layer: str
    index: int | None = None


@dataclass(frozen=True)
class SkippedModule:
    """A module with parameters that was not turned into an operator, and why."""

    name: str
    module_type: str
    reason: str


class OperatorList(list):
    """A list of :class:`Operator` records with ``skipped`` modules attached."""

    def __init__(self, items=(), skipped=()):
        super().__init__(items)
        self.skipped: list[SkippedModule] = list(skipped)

    def layers(self) -> list[str]:
        """Layer names in order of first appearance."""
        seen: dict[str, None] = {}
        for op in self:
            seen.setdefault(op.layer, None)
        return list(seen)


#: a 2-D state-dict weight without bias whose name matches this is an embedding table
EMBEDDING_NAME = re.compile(r"(^|[._])(\w*embed\w*|wte|wpe|shared|tok_embeddings|word_embeddings|lookup)([._]|$)",
                            re.IGNORECASE)

_EMBEDDING_REASON = ("embedding: a lookup table, not an affine operator "
                     "(embeddings=True, or --embeddings on the command line, compares its rows)")


_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
_SKIP_REASONS: list[tuple[tuple[type, ...], str]] = [
    (_NORM_TYPES, "normalization layer: a per-channel affine map, not a matrix operator"),
    ((nn.Embedding, nn.EmbeddingBag), _EMBEDDING_REASON),
    ((nn.modules.conv._ConvTransposeNd,), "transposed convolution: not supported yet"),
    ((nn.RNNBase,), "recurrent layer: not supported yet"),
    ((nn.Bilinear,), "bilinear layer: not an affine operator"),
]


def is_embedding_name(name: str) -> bool:
    """Whether a state-dict weight name (without ``.weight``) names an embedding table.

    Example:
        >>> [is_embedding_name(n) for n in ("embeddings.word_embeddings", "model.embed_tokens", "encoder.layer.0.fc")]
        [True, True, False]
    """
    return bool(EMBEDDING_NAME.search(name))


def _check_weight(name: str, t: torch.Tensor) -> torch.Tensor:
    if t.is_complex():
        raise InputError(f"operator {name!r}: complex weights ({t.dtype}) are not supported")
    if not t.is_floating_point():
        raise InputError(f"operator {name!r}: expected floating-point weights, got {t.dtype}")
    if t.numel() == 0:
        raise InputError(f"operator {name!r}: empty weight of shape {tuple(t.shape)}")
    check_finite(t, f"operator {name!r}")
    return t.detach()


def _linear_ops(name, mtype, kind, weight, bias, granularity) -> list[Operator]:
    W = _check_weight(name, weight)
    b = _check_weight(name + " (bias)", bias) if bias is not None else None
    shape = tuple(W.shape)
    if granularity == "layer":
        return [Operator(name, mtype, kind, shape, W, b, name)]
    return [
        Operator(f"{name}[{o}]", mtype, "neuron", shape, W[o : o + 1], None if b is None else b[o : o + 1], name, o)
        for o in range(W.shape[0])
    ]


def _conv_ops(name: str, module, granularity: Granularity, mtype: str | None = None) -> list[Operator]:
    mtype = mtype or type(module).__name__
    w = _check_weight(name, module.weight)
    bias = _check_weight(name + " (bias)", module.bias) if module.bias is not None else None
    out, in_g = w.shape[0], w.shape[1]
    taps = int(math.prod(w.shape[2:]))
    g = module.groups
    shape = tuple(w.shape)
    if granularity == "filter":
        ops = []
        scale = 1.0 / math.sqrt(in_g)
        for o in range(out):
            b = None if bias is None else bias[o].expand(in_g) * scale
            ops.append(Operator(f"{name}[{o}]", mtype, "filter", shape, w[o].reshape(in_g, taps), b, name, o))
        return ops
    if g == 1:
        W = w.reshape(out, in_g * taps)
    else:
        W = torch.block_diag(*w.reshape(g, out // g, in_g * taps).unbind(0))
    return [Operator(name, mtype, "conv", shape, W, bias, name)]


def _mha_ops(name: str, m: nn.MultiheadAttention, granularity: Granularity) -> list[Operator]:
    mtype = type(m).__name__
    E = m.embed_dim
    if m.in_proj_weight is not None:
        weights = list(m.in_proj_weight.split(E, dim=0))
    else:
        weights = [m.q_proj_weight, m.k_proj_weight, m.v_proj_weight]
    biases = list(m.in_proj_bias.split(E)) if m.in_proj_bias is not None else [None] * 3
    ops: list[Operator] = []
    for tag, w, b in zip(("q_proj", "k_proj", "v_proj"), weights, biases):
        ops += _linear_ops(f"{name}.{tag}", mtype, "attention", w, b, granularity)
    ops += _linear_ops(f"{name}.out_proj", mtype, "attention", m.out_proj.weight, m.out_proj.bias, granularity)
    return ops


def extract_operators(model: nn.Module, granularity: Granularity = "layer", *, embeddings: bool = False) -> OperatorList:
    """The affine operators of ``model`` in module order (see the module docstring for reshapes).

    Args:
        model: any ``nn.Module``.
        granularity: "layer" (one operator per layer/projection) or "filter" (one per conv
            filter or output neuron).
        embeddings: also take embedding tables (``num × dim``; one row per token at filter
            granularity); by default they are skipped.

    Returns:
        An :class:`OperatorList`; ``.skipped`` lists modules with parameters that were not used.

    Raises:
        InputError: unknown granularity, a model without any operator, or weights that are
            NaN/Inf, complex or empty (the message names the operator).

    Example:
        >>> import torch.nn as nn
        >>> ops = extract_operators(nn.Conv2d(3, 8, 3), granularity="filter")
        >>> len(ops), tuple(ops[0].W.shape)
        (8, (3, 9))
    """
    if granularity not in ("layer", "filter"):
        raise InputError(f"granularity: expected 'layer' or 'filter', got {granularity!r}")
    if not isinstance(model, nn.Module):
        raise InputError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    ops: list[Operator] = []
    skipped: list[SkippedModule] = []
    inside_mha: list[str] = []
    for raw, module in model.named_modules():
        # match on the raw module path: a root MultiheadAttention has path "" (all others are inside it)
        if any(p == "" or raw.startswith(p + ".") for p in inside_mha):
            continue  # out_proj etc. are handled with their attention module
        name = raw or type(module).__name__.lower()
        mtype = type(module).__name__
        if isinstance(module, nn.MultiheadAttention):
            inside_mha.append(raw)
            ops += _mha_ops(name, module, granularity)
        elif isinstance(module, nn.modules.conv._ConvNd) and not isinstance(module, nn.modules.conv._ConvTransposeNd):
            if isinstance(module.weight, nn.parameter.UninitializedParameter):
                skipped.append(SkippedModule(name, mtype, "lazy module not initialized yet: run one forward pass first"))
            else:
                ops += _conv_ops(name, module, granularity)
        elif embeddings and isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
            ops += _linear_ops(name, mtype, "embedding", module.weight, None, granularity)
        elif isinstance(module, nn.Linear):
            if isinstance(module.weight, nn.parameter.UninitializedParameter):
                skipped.append(SkippedModule(name, mtype, "lazy module not initialized yet: run one forward pass first"))
            else:
                ops += _linear_ops(name, mtype, "linear", module.weight, module.bias, granularity)
        elif own := [n for n, _ in module.named_parameters(recurse=False)]:
            reason = next((r for types, r in _SKIP_REASONS if isinstance(module, types)), None)
            reason = reason or f"parameters {', '.join(own)} of {mtype} are not weights of a supported operator module"
            skipped.append(SkippedModule(name, mtype, reason))
    if not ops:
        what = f"; skipped: {', '.join(f'{s.name} ({s.reason})' for s in skipped)}" if skipped else ""
        raise InputError(f"model: no Linear, Conv or MultiheadAttention operator found{what}")
    return OperatorList(ops, skipped)


def operators_from_state_dict(state: Mapping[str, torch.Tensor], granularity: Granularity = "layer", *,
                              embeddings: bool = False) -> OperatorList:
    """Operators read from a bare state dict, by tensor shapes (no model class needed).

    ``<p>.weight`` with 2 dimensions is a linear layer, with 3 to 5 a convolution (treated as
    ``groups=1``: a state dict does not record groups; load into the model class for grouped
    convs); ``<p>.bias`` is its bias, and a bias whose shape does not fit its weight is an error
    naming both tensors (never dropped). ``<p>.in_proj_weight`` is split into q/k/v projections.
    1-D weights (normalization scales) are listed as skipped, and so are 2-D weights without a
    bias named like embedding tables (:func:`is_embedding_name`), unless ``embeddings``.

    Example:
        >>> import torch
        >>> sd = {"fc.weight": torch.ones(2, 3), "fc.bias": torch.zeros(2), "bn.weight": torch.ones(2)}
        >>> ops = operators_from_state_dict(sd)
        >>> [op.name for op in ops], [s.name for s in ops.skipped]
        (['fc'], ['bn'])
    """
    if granularity not in ("layer", "filter"):
        raise InputError(f"granularity: expected 'layer' or 'filter', got {granularity!r}")
    ops: list[Operator] = []
    skipped: list[SkippedModule] = []
    for key, w in state.items():
        if not isinstance(w, torch.Tensor):
            continue
        if key.endswith("in_proj_weight") and (key == "in_proj_weight" or key.endswith(".in_proj_weight")):
            prefix = key[: -len("in_proj_weight")]
            E = w.shape[0] // 3
            if w.ndim != 2 or w.shape[0] != 3 * E or E == 0:
                raise InputError(f"checkpoint tensor {key!r}: shape {tuple(w.shape)} is not three stacked "
                                 "projections (3·E × in)")
            bias = _bias_for(state, f"{prefix}in_proj_bias", key, 3 * E)
            bs = list(bias.split(E)) if bias is not None else [None] * 3
            for tag, wi, bi in zip(("q_proj", "k_proj", "v_proj"), w.split(E, dim=0), bs):
                ops += _linear_ops(f"{prefix}{tag}", "state_dict", "attention", wi, bi, granularity)
            continue
        sep = next((t for t in ("q_proj_weight", "k_proj_weight", "v_proj_weight")
                    if key == t or key.endswith("." + t)), None)
        if sep is not None:  # attention with kdim/vdim != embed_dim: separate q/k/v weights
            prefix = key[: -len(sep)]
            k = ("q_proj_weight", "k_proj_weight", "v_proj_weight").index(sep)
            E = w.shape[0]
            bias = _bias_for(state, f"{prefix}in_proj_bias", key, 3 * E)
            bi = bias[k * E : (k + 1) * E] if bias is not None else None
            ops += _linear_ops(f"{prefix}{sep[:-len('_weight')]}", "state_dict", "attention", w, bi, granularity)
            continue
        if not key.endswith("weight") or key.endswith("_weight"):
            continue
        prefix = key[: -len("weight")].rstrip(".")
        name = prefix or "weight"
        bias_key = f"{prefix}.bias" if prefix else "bias"
        b = _bias_for(state, bias_key, key, w.shape[0]) if 2 <= w.ndim <= 5 else None
        if w.ndim == 2 and b is None and not embeddings and bias_key not in state and is_embedding_name(name):
            skipped.append(SkippedModule(name, "state_dict", _EMBEDDING_REASON))
            continue
        if w.ndim == 1:
            skipped.append(SkippedModule(name, "state_dict", "1-D weight (a normalization scale), not a matrix operator"))
        elif w.ndim == 2:
            ops += _linear_ops(name, "state_dict", "linear", w, b, granularity)
        elif 3 <= w.ndim <= 5:
            ops += _conv_ops(name, _ParamView(w, b), granularity, mtype="state_dict")
        else:
            skipped.append(SkippedModule(name, "state_dict", f"{w.ndim}-D weight: not an operator"))
    if not ops:
        raise InputError("state dict: no 2-D to 5-D '*.weight' tensor found (is this a model checkpoint?)")
    return OperatorList(ops, skipped)


def _bias_for(state: Mapping[str, torch.Tensor], bias_key: str, weight_key: str, rows: int) -> torch.Tensor | None:
    """The bias ``state[bias_key]`` of a weight with ``rows`` outputs; an error if it does not fit."""
    b = state.get(bias_key)
    if b is None:
        return None
    if not isinstance(b, torch.Tensor) or b.ndim != 1 or b.shape[0] != rows:
        shape = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
        raise InputError(f"checkpoint tensor {bias_key!r}: shape {shape} does not fit {weight_key!r}, whose bias "
                         f"needs {rows} entries (a weight stored transposed, e.g. GPT-2's Conv1D, needs its model "
                         "class: load it with --arch or extract_operators)")
    return b


@dataclass
class _ParamView:
    """Duck-typed stand-in for a conv module built from state-dict tensors (groups=1)."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    groups: int = 1


__all__ = ["Operator", "OperatorList", "SkippedModule", "extract_operators", "operators_from_state_dict", "Granularity",
           "is_embedding_name", "EMBEDDING_NAME"]
