"""``python -m qkernels``: the same as the ``qkernels`` command."""

from qkernels.suite.cli import console_main

console_main()
