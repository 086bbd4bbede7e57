"""The ``quantum`` section: how close PennyLane-simulated kernels get to the exact d_FS, and at what cost.

Profiles and plan: :mod:`.plan`; units: :mod:`.units`; report part, claim and comparable numbers:
:mod:`.report`, with its figures in :mod:`.figures`. Definitions: docs/quantum.md.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("quantum").title
    'Quantum-kernel estimates of d_FS (PennyLane)'
"""

from __future__ import annotations

import pandas as pd

from qkernels.suite.document.blocks import Block, Paragraph
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections.base import Claim, PaperClaim, Section, SectionContext, Unit
from qkernels.suite.sections.quantum import plan as _plan
from qkernels.suite.sections.quantum import report as _report


class QuantumSection(Section):
    name = "quantum"
    order = 20
    title = "Quantum-kernel estimates of d_FS (PennyLane)"
    summary = ("How close do PennyLane-simulated quantum kernels (swap test, compute-uncompute; amplitude-encoded "
               "operator states) get to the exact fidelity and Fubini–Study distance, for how many shots, qubits and "
               "how much depolarizing noise, and at what cost per kernel entry? Every estimate sits next to its exact "
               "value, its 95% Clopper–Pearson interval and a bias flag. Definitions: docs/quantum.md.")
    columns = _plan.COLUMNS
    profiles = _plan.PROFILES
    paper_claims = (PaperClaim("quantum", "Quantum kernels approximate the spectral metric controllably "
                                          "(shots, noise)", 30),)

    def plan(self, ctx: SectionContext) -> list[Unit]:
        return _plan.plan_units(ctx, self.profile(ctx))

    def report(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        return [Paragraph(self.summary), *_report.report_blocks(run, df)]

    def claims(self, df: pd.DataFrame) -> list[Claim]:
        return _report.claims(df)

    def compare_metrics(self, df: pd.DataFrame) -> pd.DataFrame:
        return _report.compare_metrics(df)


__all__ = ["QuantumSection"]
