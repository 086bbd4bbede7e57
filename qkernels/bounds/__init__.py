"""Theorem 2.1 of the paper checked: activations, the trust-region supremum, every form of the
bound with its left-hand-side search, and the scenario generators (including counterexamples).

May import :mod:`qkernels.core` and :mod:`qkernels.geometry`.
"""
