"""The ``pruning`` section: top-1 accuracy against channel sparsity and MACs, per criterion.

Profiles and units: :mod:`.plan` (the work: :mod:`qkernels.suite.sweeps.pruning`); report part,
claims and comparable numbers: :mod:`.report`. Definitions, the data set and the profiles:
docs/pruning.md.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("pruning").title
    'Structured pruning: accuracy against sparsity and MACs'
"""

from __future__ import annotations

import pandas as pd

from qkernels.suite.document.blocks import Block, Paragraph
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections.base import Claim, PaperClaim, Section, SectionContext, Unit
from qkernels.suite.sections.pruning import plan as _plan
from qkernels.suite.sections.pruning import report as _report


class PruningSection(Section):
    name = "pruning"
    order = 40
    title = "Structured pruning: accuracy against sparsity and MACs"
    summary = ("One-shot structured pruning of trained models with every registered criterion at several channel "
               "sparsities, replicated over seeds: top-1 accuracy without and with a short fine-tuning, against the "
               "channel sparsity and against the MACs that remain (Torch-Pruning dependency graph: channels are "
               "removed, residual couplings kept; BatchNorm statistics re-estimated on calibration images before "
               "every evaluation).")
    columns = _plan.COLUMNS
    profiles = _plan.PROFILES
    paper_claims = (
        PaperClaim("qmfrg", "QM-FRG pruning beats magnitude and random pruning at high sparsity", 20),
        PaperClaim("cross_arch", "Spectral distance identifies substitutable operators across architectures", 40),
    )

    def plan(self, ctx: SectionContext) -> list[Unit]:
        return _plan.plan_units(ctx, self.profile(ctx))

    def report(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        return [Paragraph(self.summary), *_report.report_blocks(run, df)]

    def claims(self, df: pd.DataFrame) -> list[Claim]:
        return _report.claims(df)

    def compare_metrics(self, df: pd.DataFrame) -> pd.DataFrame:
        return _report.compare_metrics(df)


__all__ = ["PruningSection"]
