"""The ``latency`` section: how fast dense and pruned models run, against the MACs they save.

For every model of the profile and every backend of the run (the run's device, and the CPU too
when that is an accelerator) it times the dense model, uniform ``l1`` pruning and hardware-aware
pruning (``hw-l1``: per-group widths chosen from a cost table measured on that backend, see
:mod:`qkernels.pruning.hardware`) at each sparsity and batch size: median, p90 and p99 latency
with the number of timed calls, throughput, memory peak, threads and the cuDNN/TF32 flags
(:func:`qkernels.hw.latency.measure_latency`). The achieved speed-up (dense median / pruned median,
both measured in the same unit) is set against the ideal one, the MAC ratio. Profiles and plan:
:mod:`.plan`; units: :mod:`.units`; report part, claim and comparable numbers: :mod:`.report`
(figures: :mod:`.figures`); docs/latency.md.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("latency").title
    'Latency of dense and pruned models'
"""

from __future__ import annotations

from qkernels.suite.sections.base import PackagedSection, PaperClaim
from qkernels.suite.sections.latency import plan as _plan
from qkernels.suite.sections.latency import report as _report


class LatencySection(PackagedSection):
    name = "latency"
    order = 50
    title = "Latency of dense and pruned models"
    summary = ("Median, p90 and p99 forward latency, throughput and memory of dense, uniformly pruned and "
               "hardware-aware pruned models on every backend of the run, the achieved speed-up against the MAC "
               "ratio, and hardware-aware against uniform pruning at equal latency and at equal accuracy.")
    plan_module, report_module = _plan, _report
    paper_claims = (PaperClaim("hardware", "Hardware-aware pruning gives real latency gains", 50),)


__all__ = ["LatencySection"]
