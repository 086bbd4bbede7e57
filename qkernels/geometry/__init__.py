"""The spectral geometry of operators: augmented matrices, spectra and states, exact distances,
operators read from models, the metric registry and distance tables.

May import :mod:`qkernels.core` only.
"""
