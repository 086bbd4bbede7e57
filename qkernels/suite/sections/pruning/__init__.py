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

from qkernels.suite.sections.base import PackagedSection, PaperClaim
from qkernels.suite.sections.pruning import plan as _plan
from qkernels.suite.sections.pruning import report as _report


class PruningSection(PackagedSection):
    name = "pruning"
    order = 40
    title = "Structured pruning: accuracy against sparsity and MACs"
    summary = ("One-shot structured pruning of trained models with every registered criterion at several channel "
               "sparsities, replicated over seeds: top-1 accuracy without and with a short fine-tuning, against the "
               "channel sparsity and against the MACs that remain (Torch-Pruning dependency graph: channels are "
               "removed, residual couplings kept; BatchNorm statistics re-estimated on calibration images before "
               "every evaluation).")
    plan_module, report_module = _plan, _report
    paper_claims = (
        PaperClaim("qmfrg", "QM-FRG pruning beats magnitude and random pruning at high sparsity", 20),
        PaperClaim("functional", "A functional spectral criterion beats the best baseline (beyond the paper)", 25),
        PaperClaim("cross_arch", "Spectral distance identifies substitutable operators across architectures", 40),
    )


__all__ = ["PruningSection"]
