"""``python -m qkernels``: the same as the ``qkernels`` command."""

from .cli import console_main

console_main()
