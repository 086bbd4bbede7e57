"""Neural networks: built-in models, data sets, training and evaluation, checkpoint reading.

May import :mod:`qkernels.core` only.
"""
