"""Foundation shared by every layer: the input-error type, array conversion, atomic writes and size-limited reads.

Imports nothing else from qkernels.
"""
