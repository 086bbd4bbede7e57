"""The ``quantum`` section: how close PennyLane-simulated kernels get to the exact d_FS, and at what cost.

Profiles and plan: :mod:`.plan`; units: :mod:`.units`; report part, claim and comparable numbers:
:mod:`.report`, with its figures in :mod:`.figures`. Definitions: docs/quantum.md.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("quantum").title
    'Quantum-kernel estimates of d_FS (PennyLane)'
"""

from __future__ import annotations

from qkernels.suite.sections.base import PackagedSection, PaperClaim
from qkernels.suite.sections.quantum import plan as _plan
from qkernels.suite.sections.quantum import report as _report


class QuantumSection(PackagedSection):
    name = "quantum"
    order = 20
    title = "Quantum-kernel estimates of d_FS (PennyLane)"
    summary = ("How close do PennyLane-simulated quantum kernels (swap test, compute-uncompute; amplitude-encoded "
               "operator states) get to the exact fidelity and Fubini–Study distance, for how many shots, qubits and "
               "how much depolarizing noise, and at what cost per kernel entry? Every estimate sits next to its exact "
               "value, its 95% Clopper–Pearson interval and a bias flag. Definitions: docs/quantum.md.")
    plan_module, report_module = _plan, _report
    paper_claims = (PaperClaim("quantum", "Quantum kernels approximate the spectral metric controllably "
                                          "(shots, noise)", 30),)


__all__ = ["QuantumSection"]
