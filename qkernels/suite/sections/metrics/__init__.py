"""The ``metrics`` section: exact spectral distances between the operators of built-in models.

Profiles and units: :mod:`.plan`; report part and comparable numbers: :mod:`.report`.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("metrics").title
    'Exact spectral metrics'
"""

from __future__ import annotations

import pandas as pd

from qkernels.suite.document.blocks import Block, Paragraph
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections.base import Section, SectionContext, Unit
from qkernels.suite.sections.metrics import plan as _plan
from qkernels.suite.sections.metrics import report as _report


class MetricsSection(Section):
    name = "metrics"
    order = 10
    title = "Exact spectral metrics"
    summary = ("Fubini–Study, cumulative W₂/W₁ and empirical W₂ distances between the operators of the built-in "
               "models, each checked against an independent reference (POT, NumPy, the identities of theory.md), "
               "with the speed goals of the exact metrics.")
    columns = _plan.COLUMNS
    profiles = _plan.PROFILES

    def plan(self, ctx: SectionContext) -> list[Unit]:
        return _plan.plan_units(ctx, self.profile(ctx))

    def report(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        return [Paragraph(self.summary), *_report.report_blocks(run, df)]

    def compare_metrics(self, df: pd.DataFrame) -> pd.DataFrame:
        return _report.compare_metrics(df)


__all__ = ["MetricsSection"]
