"""QM-FRG: quantum-metric functional redundancy graphs and one-shot pruning by spectral geometry.

- :mod:`~qkernels.pruning.qmfrg.graph`: the redundancy graph at a threshold τ, single-linkage clusters,
  representatives and the importance order they induce.
- :mod:`~qkernels.pruning.qmfrg.channels`: the channels of a Torch-Pruning group as operators, their
  states and the distance matrices (d_FS, W₂cum, spectral + misalignment, quantum estimate).
- :mod:`~qkernels.pruning.qmfrg.importance`: the ``qmfrg`` criteria of the pruning registry.

Example:
    >>> import numpy as np
    >>> redundancy_graph(np.zeros((3, 3)), tau=0.0).redundant  # all equal: one cluster
    2
"""

from __future__ import annotations

from qkernels.pruning.qmfrg.graph import Dendrogram, RedundancyGraph, check_tau, redundancy_graph, single_linkage

__all__ = ["Dendrogram", "RedundancyGraph", "check_tau", "redundancy_graph", "single_linkage"]
