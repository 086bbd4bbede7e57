"""What a section of ``qkernels run`` is: a plan of resumable units, a report part, claims.

A section is a subpackage of :mod:`qkernels.suite.sections` whose ``__init__`` defines one
:class:`Section` subclass (found there automatically, see :mod:`qkernels.suite.sections`). The
runner asks it for a plan (a list of :class:`Unit` with stable keys) for one of its
``profiles``, runs the units that are not finished yet, writes ``<section>.csv`` from their rows,
and asks the section for its report part and its verdicts on the paper's claims, both computed
from the CSV alone (so ``qkernels report`` can rebuild them later). The claims a section gives
verdicts on are declared on the class (:class:`PaperClaim`).

Example:
    >>> @dataclass(frozen=True)
    ... class HelloProfile:
    ...     text: str
    >>> class Hello(Section):
    ...     name, title, summary, order = "hello", "Hello", "says hello", 99
    ...     profiles = {"quick": HelloProfile("hi")}
    ...     def plan(self, ctx):
    ...         text = self.profile(ctx).text
    ...         return [Unit("greeting", "greet", lambda: pd.DataFrame({"text": [text]}))]
    ...     def report(self, run, df):
    ...         return [Paragraph(df.text[0])]
    >>> ctx = SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=0)
    >>> [u.key for u in Hello().plan(ctx)], Hello().plan(ctx)[0].run().text[0]
    (['greeting'], 'hi')
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import torch

from qkernels.suite.document.blocks import Block, Paragraph
from qkernels.suite.runfolder import RunFolder

Verdict = Literal["supported", "refuted", "inconclusive", "not measured"]


@dataclass(frozen=True)
class Unit:
    """One resumable piece of a section's work: ``run()`` returns its rows.

    The optional fields tell an engine (docs/scale-out.md) how the unit may be scheduled; a
    sequential run ignores them and runs the units in plan order.

    Example:
        >>> u = Unit("speed:fs", "fs speed", lambda: pd.DataFrame(), timed=True, threads=1)
        >>> u.timed, u.threads, u.checkpoints, u.needs, u.resources
        (True, 1, (), (), ())
    """

    key: str
    label: str
    run: Callable[[], pd.DataFrame]
    #: it times something: on a cluster it runs after the parallel phase has drained, alone, on one worker
    timed: bool = False
    #: torch intra-op threads a timed unit runs with on a cluster worker (None: the worker's usable cores)
    threads: int | None = None
    #: checkpoint-cache keys (:mod:`qkernels.suite.ckcache`) the unit loads or trains: on a cluster the first
    #: unit that uses a key trains it, and the others wait for it and receive its files
    checkpoints: tuple[str, ...] = ()
    #: keys of units of the same section whose rows the unit reads back (``ctx.run.sink(section).get(key)``)
    needs: tuple[str, ...] = ()
    #: Dask resources the unit asks for besides the run device's (``(("GPU", 1),)``)
    resources: tuple[tuple[str, float], ...] = ()


def timed_unit(key: str, label: str, run: Callable[[], pd.DataFrame], threads: int | None = None) -> Unit:
    """A unit that times something (a speed row, a latency): on a cluster it runs alone, after the parallel
    phase, on one worker, with ``threads`` torch threads (None: the worker's usable cores).

    Example:
        >>> timed_unit("speed:x", "x", lambda: pd.DataFrame()).timed
        True
    """
    return Unit(key, label, run, timed=True, threads=threads)


@dataclass(frozen=True)
class PaperClaim:
    """One claim of the paper, declared by the section that measures it.

    ``order`` places it in the claims table of the report (and in
    :data:`qkernels.suite.sections.PAPER_CLAIMS`), across all sections.

    Example:
        >>> PaperClaim("hardware", "Hardware-aware pruning gives real latency gains", 50).claim_id
        'hardware'
    """

    claim_id: str
    text: str
    order: int


@dataclass(frozen=True)
class Claim:
    """A section's verdict on one of :data:`qkernels.suite.sections.PAPER_CLAIMS`, with the numbers behind it."""

    claim_id: str
    verdict: Verdict
    evidence: str
    anchor: str
    #: one number with its interval (e.g. "vs l2: −3.1 [−4.0, −2.2] points"), shown in the claims table
    headline: str = ""


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
    #: place in the list of sections (runs and the report go in increasing order)
    order: int = 0
    #: column name -> description (documented in docs/sections.md)
    columns: Mapping[str, str] = {}
    #: profile name -> the profile (a frozen dataclass of the section's plan module)
    profiles: Mapping[str, Any] = {}
    #: the paper's claims this section gives verdicts on
    paper_claims: tuple[PaperClaim, ...] = ()

    def profile(self, ctx: SectionContext) -> Any:
        """The profile ``ctx.profile`` of this section."""
        return self.profiles[ctx.profile]

    @abstractmethod
    def plan(self, ctx: SectionContext) -> list[Unit]:
        """The units of work for this profile, in the order their rows appear in the CSV."""

    def plan_with(self, ctx: SectionContext, profile: Any) -> list[Unit]:
        """The plan for an explicit profile object (what a cluster worker plans from: the driver sends
        the profile it resolved, so a worker plans exactly what the driver did). Default: :meth:`plan`."""
        return self.plan(ctx)

    def check_ready(self, profile_name: str) -> None:
        """Raise :class:`~qkernels.core.errors.InputError` when profile ``profile_name`` needs what is
        not installed (a package shipping weights or data); the runner asks every section before it
        writes anything. Default: nothing is needed."""

    @abstractmethod
    def report(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        """This section's report part from its CSV (it may write figures under run.figures)."""

    def claims(self, df: pd.DataFrame) -> list[Claim]:
        """Verdicts on :data:`PAPER_CLAIMS` that this section's results support (default none)."""
        return []

    def compare_metrics(self, df: pd.DataFrame) -> pd.DataFrame:
        """Headline numbers with their noise for ``qkernels report --compare``.

        One row per metric with the columns of :data:`COMPARE_COLUMNS` (see :func:`metric_frame`);
        the default is none.
        """
        return metric_frame([])

    def empty_report(self, why: str) -> list[Block]:
        return [Paragraph(why)]


class PackagedSection(Section):
    """A section split into a plan module and a report module (every built-in section).

    ``plan_module`` defines ``PROFILES``, ``COLUMNS`` and ``plan_units(ctx, profile)``;
    ``report_module`` defines ``report_blocks(run, df)``, ``compare_metrics(df)`` and, when the
    section judges a claim, ``claims(df)``. The subclass only names the section and the two modules.

    Example:
        >>> from types import SimpleNamespace as Module
        >>> plan = Module(PROFILES={"quick": 2}, COLUMNS={"i": "the unit"},
        ...               plan_units=lambda ctx, n: [Unit(f"i={i}", "", lambda i=i: pd.DataFrame({"i": [i]}))
        ...                                          for i in range(n)])
        >>> class Count(PackagedSection):
        ...     name, title, summary, order = "count", "Count", "counts", 99
        ...     plan_module, report_module = plan, Module(report_blocks=lambda run, df: [])
        >>> ctx = SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=0)
        >>> [u.key for u in Count().plan(ctx)], Count().columns, Count().claims(pd.DataFrame())
        (['i=0', 'i=1'], {'i': 'the unit'}, [])
    """

    plan_module: Any = None
    report_module: Any = None

    @property
    def columns(self) -> Mapping[str, str]:  # type: ignore[override]
        return self.plan_module.COLUMNS

    @property
    def profiles(self) -> Mapping[str, Any]:  # type: ignore[override]
        return self.plan_module.PROFILES

    def plan(self, ctx: SectionContext) -> list[Unit]:
        return self.plan_module.plan_units(ctx, self.profile(ctx))

    def plan_with(self, ctx: SectionContext, profile: Any) -> list[Unit]:
        return self.plan_module.plan_units(ctx, profile)

    def check_ready(self, profile_name: str) -> None:
        check = getattr(self.plan_module, "check_profile", None)
        if check is not None:
            check(self.profiles[profile_name])

    def report(self, run: RunFolder, df: pd.DataFrame) -> list[Block]:
        return [Paragraph(self.summary), *self.report_module.report_blocks(run, df)]

    def claims(self, df: pd.DataFrame) -> list[Claim]:
        judge = getattr(self.report_module, "claims", None)
        return judge(df) if judge is not None else []

    def compare_metrics(self, df: pd.DataFrame) -> pd.DataFrame:
        compare = getattr(self.report_module, "compare_metrics", None)
        return compare(df) if compare is not None else metric_frame([])


#: the columns of :meth:`Section.compare_metrics`
COMPARE_COLUMNS = ["metric", "value", "lo", "hi", "noise", "n", "better"]
#: the values of ``better`` in :func:`metric_row`: which direction of change is an improvement
BETTER = ("higher", "lower", "")


def metric_row(metric: str, value: float, lo: float = math.nan, hi: float = math.nan, noise: str = "none",
               n: int = 1, better: str = "") -> dict:
    """One headline number for ``qkernels report --compare``.

    ``metric``: a stable name, the same in every run that measures it; ``value``: the number;
    ``lo``, ``hi``: its noise interval in this run; ``noise``: ``ci`` (a 95% interval from the
    replicates the CSV carries: seeds, shot runs), ``exact`` (a deterministic result of seeded
    work: any change beyond roundoff is real) or ``none`` (one measurement without replicates,
    e.g. a median timing: no noise estimate); ``n``: the replicates behind ``value``; ``better``:
    ``higher`` (e.g. accuracy, a speed-up), ``lower`` (a latency, an error, violations) or ``""``
    (neutral: no direction is worse). ``qkernels report --compare --fail-on-regression`` calls a
    change a regression only when it is flagged ``changed`` and goes the worse way.

    Example:
        >>> metric_row("rows", 12, noise="exact")["value"]
        12.0
        >>> metric_row("top-1", 0.9, 0.88, 0.92, "ci", 3, better="higher")["better"]
        'higher'
    """
    if better not in BETTER:
        raise ValueError(f"better must be one of {BETTER}, got {better!r}")
    return {"metric": metric, "value": float(value), "lo": float(lo), "hi": float(hi), "noise": noise, "n": int(n),
            "better": better}


def metric_frame(rows: list[dict]) -> pd.DataFrame:
    """The rows of :func:`metric_row` as a frame with the columns :data:`COMPARE_COLUMNS`.

    Example:
        >>> list(metric_frame([metric_row("rows", 12, noise="exact")]).columns) == COMPARE_COLUMNS
        True
    """
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


__all__ = ["Section", "SectionContext", "Unit", "timed_unit", "Claim", "PaperClaim", "Verdict", "COMPARE_COLUMNS", "BETTER",
           "metric_row", "metric_frame"]
