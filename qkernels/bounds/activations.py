"""Entrywise activations σ with their Lipschitz constants L (for the bounds of Theorem 2.1).

| name | σ | L = sup |σ'| |
|---|---|---|
| identity | x | 1 |
| relu | max(x, 0) | 1 |
| tanh | tanh x | 1 |
| sigmoid | 1/(1+e^{-x}) | 1/4 |
| gelu | x·Φ(x) (exact, erf form) | Φ(√2) + √2·φ(√2) ≈ 1.1289 (attained at x = √2) |

Each activation also carries its derivative σ'(z), computed from z and σ(z) (so tanh and sigmoid
reuse the value), for the analytic gradient of the bound checker's left-hand-side ascent.

Example:
    >>> get_activation("gelu").lipschitz
    1.1289...
    >>> import torch
    >>> z = torch.tensor([0.0]); get_activation("tanh").deriv(z, torch.tanh(z))
    tensor([1.])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from qkernels.core.errors import InputError


@dataclass(frozen=True)
class Activation:
    """An entrywise activation and its Lipschitz constant."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    lipschitz: float
    #: σ'(z) from (z, σ(z)); at ReLU's kink 0 it returns 0 (a subgradient)
    deriv: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


_GELU_L = 0.5 * (1 + math.erf(1.0)) + math.sqrt(2) * math.exp(-1.0) / math.sqrt(2 * math.pi)
_INV_SQRT2, _INV_SQRT_2PI = 1 / math.sqrt(2), 1 / math.sqrt(2 * math.pi)


def _gelu_deriv(z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(z * _INV_SQRT2)) + z * torch.exp(-0.5 * z * z) * _INV_SQRT_2PI

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", lambda z: z, 1.0, lambda z, s: torch.ones_like(z)),
        Activation("relu", torch.relu, 1.0, lambda z, s: (z > 0).to(z.dtype)),
        Activation("tanh", torch.tanh, 1.0, lambda z, s: 1 - s * s),
        Activation("sigmoid", torch.sigmoid, 0.25, lambda z, s: s * (1 - s)),
        Activation("gelu", lambda z: torch.nn.functional.gelu(z), _GELU_L, _gelu_deriv),
    )
}


def get_activation(name: str) -> Activation:
    """The activation called ``name``; InputError listing the known ones otherwise."""
    if name not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


__all__ = ["Activation", "ACTIVATIONS", "get_activation"]
