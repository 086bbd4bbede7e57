"""The sections of ``qkernels run``, by name.

A section is a subpackage of this package: its ``__init__`` defines one
:class:`~qkernels.suite.sections.base.Section` subclass (name, title, ``order``, profiles, the
paper's claims it judges), its ``plan`` module the profiles and the units of work, its ``report``
module the tables, figures, claims and comparable numbers. The subpackages are found here with
:mod:`pkgutil` the first time a section is asked for, and listed in increasing ``order``; nothing
in this file names them.

Example:
    >>> section_names()
    ['metrics', 'quantum', 'bounds', 'pruning', 'latency']
    >>> list(paper_claims())
    ['equivalence', 'qmfrg', 'functional', 'quantum', 'cross_arch', 'hardware']
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache

from qkernels.core.errors import InputError
from qkernels.suite.sections.base import Claim, PaperClaim, Section, SectionContext, Unit


def _section_classes(module) -> list[type[Section]]:
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Section) and obj.__module__ == module.__name__
            and not inspect.isabstract(obj)]


@lru_cache(maxsize=None)
def _registry() -> dict[str, Section]:
    """Every section subpackage's Section, instantiated once, in ``order``."""
    found: list[Section] = []
    for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        if not info.ispkg:
            continue
        module = importlib.import_module(info.name)
        classes = _section_classes(module)
        if len(classes) != 1:
            raise RuntimeError(f"{info.name} must define exactly one Section subclass, found {len(classes)}")
        found.append(classes[0]())
    found.sort(key=lambda s: (s.order, s.name))
    names = [s.name for s in found]
    if "" in names or len(set(names)) != len(names):
        raise RuntimeError(f"section names must be unique and non-empty: {names}")
    claim_ids = [c.claim_id for s in found for c in s.paper_claims]
    if len(set(claim_ids)) != len(claim_ids):
        raise RuntimeError(f"a paper claim is declared by two sections: {claim_ids}")
    return {s.name: s for s in found}


def section_names() -> list[str]:
    """Section names, in report order."""
    return list(_registry())


def get_section(name: str) -> Section:
    """The section ``name``; InputError naming the known ones otherwise."""
    registry = _registry()
    if name not in registry:
        raise InputError(f"unknown section {name!r}; available sections: {', '.join(registry)}")
    return registry[name]


def parse_sections(text: str | list[str] | None) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` or None (all) -> validated names in report order.

    An empty string or list names no section and is refused (an unset shell variable in
    ``--sections "$S"`` must not start every section).

    Example:
        >>> parse_sections("latency, metrics")
        ['metrics', 'latency']
    """
    if text is None:
        return section_names()
    items = text if isinstance(text, list) else text.split(",")
    names = [s.strip() for s in items if s.strip()]
    if not names:
        raise InputError("--sections: no section named")
    for n in names:
        get_section(n)
    return [n for n in section_names() if n in names]


@lru_cache(maxsize=None)
def _paper_claims() -> dict[str, tuple[str, str]]:
    declared = [(c, s.name) for s in _registry().values() for c in s.paper_claims]
    return {c.claim_id: (c.text, name) for c, name in sorted(declared, key=lambda cs: cs[0].order)}


def paper_claims() -> dict[str, tuple[str, str]]:
    """The paper's claims in the order of the claims table: id -> (claim, section that measures it).

    Each section declares its own (:attr:`Section.paper_claims`); this collects them.

    Example:
        >>> paper_claims()["hardware"]
        ('Hardware-aware pruning gives real latency gains', 'latency')
    """
    return dict(_paper_claims())


def __getattr__(name: str):
    if name == "PAPER_CLAIMS":  # computed on first use: the sections are imported then
        return paper_claims()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["section_names", "get_section", "parse_sections", "paper_claims", "PAPER_CLAIMS", "Section",
           "SectionContext", "Unit", "Claim", "PaperClaim"]
