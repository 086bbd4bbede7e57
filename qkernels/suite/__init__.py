"""The benchmark suite built on the library: the ``qkernels`` command, the runner, run folders,
sections, sweeps, speed goals, statistics and reports.

The suite may import everything; nothing in the library imports the suite.
"""
