"""``python -m qkernels``: the same as the ``qkernels`` command.

This is the command's entry point, not part of the library: ``import qkernels`` never runs it, so
it is the one module outside :mod:`qkernels.suite` that imports the suite.
"""

from qkernels.suite.cli import console_main

if __name__ == "__main__":  # not when a spawned worker process (Dask, multiprocessing) imports it
    console_main()
