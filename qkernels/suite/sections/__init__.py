"""The sections of ``qkernels run``, by name.

A new section is a module in this package defining a :class:`~qkernels.suite.sections.base.Section`
subclass decorated with :func:`register`, plus one import line at the bottom of this file; the
runner and the report pick it up from the registry.

Example:
    >>> section_names()
    ['metrics', 'quantum', 'bounds', 'pruning', 'latency']
"""

from __future__ import annotations

from qkernels.core.errors import InputError
from qkernels.suite.sections.base import PAPER_CLAIMS, Claim, Section, SectionContext, Unit

_REGISTRY: dict[str, Section] = {}


def register(cls: type[Section]) -> type[Section]:
    """Class decorator: add an instance of ``cls`` to the registry under ``cls.name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"section name {cls.name!r} is empty or already registered")
    _REGISTRY[cls.name] = cls()
    return cls


def section_names() -> list[str]:
    """Registered section names, in report order."""
    return list(_REGISTRY)


def get_section(name: str) -> Section:
    """The registered section ``name``; InputError naming the known ones otherwise."""
    if name not in _REGISTRY:
        raise InputError(f"unknown section {name!r}; available sections: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def parse_sections(text: str | list[str] | None) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` or None (all) -> validated names in registry order.

    An empty string or list names no section and is refused (an unset shell variable in
    ``--sections "$S"`` must not start every section).
    """
    if text is None:
        return section_names()
    items = text if isinstance(text, list) else text.split(",")
    names = [s.strip() for s in items if s.strip()]
    if not names:
        raise InputError("--sections: no section named")
    for n in names:
        get_section(n)
    return [n for n in _REGISTRY if n in names]


__all__ = ["register", "section_names", "get_section", "parse_sections", "Section", "SectionContext", "Unit",
           "Claim", "PAPER_CLAIMS"]

from qkernels.suite.sections import metrics  # noqa: E402,F401  (registers the metrics section)
from qkernels.suite.sections import quantum  # noqa: E402,F401  (registers the quantum section)
from qkernels.suite.sections import bounds  # noqa: E402,F401  (registers the bounds section)
from qkernels.suite.sections import pruning  # noqa: E402,F401  (registers the pruning section)
from qkernels.suite.sections import latency  # noqa: E402,F401  (registers the latency section)
