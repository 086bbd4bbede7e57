"""The ``bounds`` section: where each form of Theorem 2.1 holds, how tight it is, where it fails.

Profiles and units: :mod:`.plan`; report part, claim and comparable numbers: :mod:`.report`.

Example:
    >>> from qkernels.suite.sections import get_section
    >>> get_section("bounds").title
    'Spectral-to-functional bounds (Theorem 2.1)'
"""

from __future__ import annotations

from qkernels.suite.sections.base import PackagedSection, PaperClaim
from qkernels.suite.sections.bounds import plan as _plan
from qkernels.suite.sections.bounds import report as _report


class BoundsSection(PackagedSection):
    name = "bounds"
    order = 30
    title = "Spectral-to-functional bounds (Theorem 2.1)"
    summary = ("Does a small spectral distance imply that two layers compute alike? For pairs of layers from "
               "eleven scenarios, the largest output gap over the input ball ‖x‖ ≤ R (estimated from below by "
               "sampling and gradient ascent, each value attained at a kept input x) against every bound: the "
               "true ones (Lipschitz, augmented, decomposed with the misalignment term A_ij) and the paper's "
               "spectral-only form.")
    plan_module, report_module = _plan, _report
    paper_claims = (PaperClaim("equivalence", "Vanishing Fubini–Study / W₂ distance implies functional closeness "
                                              "(Theorem 2.1)", 10),)


__all__ = ["BoundsSection"]
