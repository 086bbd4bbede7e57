"""Where a model lives.

Example:
    >>> import torch
    >>> model_device(torch.nn.Linear(2, 2))
    device(type='cpu')
"""

from __future__ import annotations

import torch
from torch import nn


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter; the CPU for a model without parameters.

    Example:
        >>> import torch
        >>> model_device(torch.nn.ReLU())
        device(type='cpu')
    """
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


__all__ = ["model_device"]
