"""What a section of ``qkernels run`` is: a plan of resumable units, a report part, claims.

A section is a subclass of :class:`Section` registered with :func:`register`. The runner asks it
for a plan (a list of :class:`Unit` with stable keys), runs the units that are not finished yet,
writes ``<section>.csv`` from their rows, and asks the section for its report part and its
verdicts on the paper's claims, both computed from the CSV alone (so ``qkernels report`` can
rebuild them later).

Example:
    >>> class Hello(Section):
    ...     name, title, summary = "hello", "Hello", "says hello"
    ...     def plan(self, ctx):
    ...         return [Unit("greeting", "greet", lambda: pd.DataFrame({"text": ["hi"]}))]
    ...     def report(self, run, df):
    ...         return [Paragraph(df.text[0])]
    >>> [u.key for u in Hello().plan(None)]
    ['greeting']
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch

from qkernels.suite.document.blocks import Block, Paragraph
from qkernels.suite.runfolder import RunFolder

Verdict = Literal["supported", "refuted", "inconclusive", "not measured"]

#: The paper's claims, in the order of the claims table: id -> (claim, section that measures it).
PAPER_CLAIMS: dict[str, tuple[str, str]] = {
    "equivalence": ("Vanishing Fubini–Study / W₂ distance implies functional closeness (Theorem 2.1)", "bounds"),
    "qmfrg": ("QM-FRG pruning beats magnitude and random pruning at high sparsity", "pruning"),
    "quantum": ("Quantum kernels approximate the spectral metric controllably (shots, noise)", "quantum"),
    "cross_arch": ("Spectral distance identifies substitutable operators across architectures", "pruning"),
    "hardware": ("Hardware-aware pruning gives real latency gains", "latency"),
}


@dataclass(frozen=True)
class Unit:
    """One resumable piece of a section's work: ``run()`` returns its rows."""

    key: str
    label: str
    run: Callable[[], pd.DataFrame]


@dataclass(frozen=True)
class Claim:
    """A section's verdict on one of :data:`PAPER_CLAIMS`, with the numbers behind it."""

    claim_id: str
    verdict: Verdict
    evidence: str
    anchor: str


@dataclass(frozen=True)
class SectionContext:
    """What a section gets from the runner."""

    run: RunFolder
    profile: str
    device: torch.device
    seed: int

    def seed_for(self, key: str) -> int:
        """A seed derived from the run seed and a unit key (stable across resumes)."""
        digest = hashlib.sha256(f"{self.seed}:{key}".encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "little")


class Section(ABC):
    """Base class of the sections of ``qkernels run``."""

    #: short name used on the command line and for ``<name>.csv``
    name: str = ""
    #: heading of the section's part of the report
    title: str = ""
    #: one sentence on what it measures
    summary: str = ""
    #: column name -> description (documented in docs/sections.md)
    columns: dict[str, str] = {}
    #: profiles the section supports
    profiles: tuple[str, ...] = ("quick", "full")

    @abstractmethod
    def plan(self, ctx: SectionContext) -> list[Unit]:
        """The units of work for this profile, in the order their rows appear in the CSV."""

    @abstractmethod
    def report(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        """This section's report part from its CSV (it may write figures under run.figures)."""

    def claims(self, df: pd.DataFrame) -> list[Claim]:
        """Verdicts on :data:`PAPER_CLAIMS` that this section's results support (default none)."""
        return []

    def compare_metrics(self, df: pd.DataFrame) -> pd.DataFrame:
        """Headline numbers with their noise for ``qkernels report --compare``.

        One row per metric with the columns of :data:`qkernels.suite.sections.comparable.COMPARE_COLUMNS`
        (metric, value, lo, hi, noise, n); the default is none.
        """
        return pd.DataFrame(columns=["metric", "value", "lo", "hi", "noise", "n"])

    def empty_report(self, why: str) -> list[Block]:
        return [Paragraph(why)]


__all__ = ["Section", "SectionContext", "Unit", "Claim", "Verdict", "PAPER_CLAIMS"]
