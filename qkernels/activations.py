"""Entrywise activations σ with their Lipschitz constants L (for the bounds of Theorem 2.1).

| name | σ | L = sup |σ'| |
|---|---|---|
| identity | x | 1 |
| relu | max(x, 0) | 1 |
| tanh | tanh x | 1 |
| sigmoid | 1/(1+e^{-x}) | 1/4 |
| gelu | x·Φ(x) (exact, erf form) | Φ(√2) + √2·φ(√2) ≈ 1.1289 (attained at x = √2) |

Example:
    >>> get_activation("gelu").lipschitz
    1.1289...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import InputError


@dataclass(frozen=True)
class Activation:
    """An entrywise activation and its Lipschitz constant."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    lipschitz: float


_GELU_L = 0.5 * (1 + math.erf(1.0)) + math.sqrt(2) * math.exp(-1.0) / math.sqrt(2 * math.pi)

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", lambda z: z, 1.0),
        Activation("relu", torch.relu, 1.0),
        Activation("tanh", torch.tanh, 1.0),
        Activation("sigmoid", torch.sigmoid, 0.25),
        Activation("gelu", lambda z: torch.nn.functional.gelu(z), _GELU_L),
    )
}


def get_activation(name: str) -> Activation:
    """The activation called ``name``; InputError listing the known ones otherwise."""
    if name not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


__all__ = ["Activation", "ACTIVATIONS", "get_activation"]
