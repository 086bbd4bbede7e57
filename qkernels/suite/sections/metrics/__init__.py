"""The ``metrics`` section: exact spectral distances between the operators of built-in models.

Profiles and units: :mod:`.plan`; report part and comparable numbers: :mod:`.report`.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("metrics").title
    'Exact spectral metrics'
"""

from __future__ import annotations

from qkernels.suite.sections.base import PackagedSection
from qkernels.suite.sections.metrics import plan as _plan
from qkernels.suite.sections.metrics import report as _report


class MetricsSection(PackagedSection):
    name = "metrics"
    order = 10
    title = "Exact spectral metrics"
    summary = ("Fubini–Study, cumulative W₂/W₁ and empirical W₂ distances between the operators of the built-in "
               "models, each checked against an independent reference (POT, NumPy, the identities of theory.md), "
               "with the speed goals of the exact metrics.")
    plan_module, report_module = _plan, _report


__all__ = ["MetricsSection"]
