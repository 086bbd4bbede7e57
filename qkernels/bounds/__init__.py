"""Theorem 2.1 of the paper checked: activations, the trust-region supremum, every form of the
bound with its left-hand-side search, the scenario generators (including counterexamples), and the
in-distribution bound on the mean squared gap over data (:mod:`qkernels.bounds.distribution`).

May import :mod:`qkernels.core` and :mod:`qkernels.geometry`.
"""
