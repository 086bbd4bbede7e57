"""Hardware: backends (CPU, CUDA, NPU, ...), the one device-agnostic synchronize/timer helper,
latency measurement and the classification of device errors.

May import :mod:`qkernels.core` only.
"""
