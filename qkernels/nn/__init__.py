"""Neural networks: built-in models, data sets, training and evaluation, checkpoint reading.

May import :mod:`qkernels.core` only.
"""

from qkernels.nn.device import model_device

__all__ = ["model_device"]
