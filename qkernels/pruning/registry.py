"""The registry of pruning criteria: method name -> importance factory, description, needs.

A criterion is a factory that receives a :class:`PruneContext` (the model about to be pruned,
example inputs, a seed, optional calibration data) and returns a :class:`Criterion`: a
Torch-Pruning importance, i.e. a callable ``group -> 1-D tensor`` of per-channel scores
(higher = keep), or None to leave the group whole. :func:`qkernels.pruning.prune` also calls
three optional hooks when the criterion has them, each a protocol of its own:

* :class:`GroupKeepHook` ``group_keep(group, n, keep) -> int``: keep more channels of a group
  than the sparsity asks (QM-FRG's threshold mode);
* :class:`BeforeRemovalHook` ``before_removal(pruning_group)``: called just before the channels
  of a group are removed (QM-FRG's merge folds them into the kept ones);
* :class:`RecordHook` ``record() -> dict``: what the criterion did, stored as the record's
  ``criterion`` (JSON-ready).

Adding a criterion is one call, anywhere that is imported with :mod:`qkernels.pruning`::

    register_method("qmfrg", lambda ctx: MyImportance(...), "what it measures", needs_data=False)

The ``pruning`` section sweeps every method registered with ``sweep=True`` and
:func:`qkernels.pruning.prune` accepts every registered name.

Example:
    >>> from qkernels.pruning import method_names, get_method
    >>> method_names()  # doctest: +NORMALIZE_WHITESPACE
    ['random', 'l1', 'l2', 'fpgm', 'bn_scale', 'taylor', 'activation', 'thinet', 'qmfrg', 'qmfrg-aligned',
     'qmfrg-merge', 'qmfrg-quantum', 'qmfrg-act', 'qmfrg-white', 'qmfrg-filter', 'qmfrg-act-ls', 'qmfrg-act-ls-kept',
     'qmfrg-act-ot', 'qmfrg-white-ls', 'qmfrg-white-ls-kept', 'qmfrg-white-ot', 'qmfrg-filter-ls',
     'qmfrg-filter-ls-kept', 'qmfrg-filter-ot', 'qmfrg-act-quantum', 'qmfrg-span', 'l1-ls-kept', 'taylor-ls-kept',
     'thinet-ls-kept', 'activation-ls-kept']
    >>> get_method("taylor").needs_data
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from qkernels.core.errors import InputError


@dataclass
class PruneContext:
    """What a criterion's factory may use.

    ``calib`` is a list of calibration batches ``(inputs, labels)`` on the model's device (None
    when the caller has no data); ``options`` carries method-specific keyword options; ``task``
    gives the loss of data-driven criteria (None: cross-entropy).
    """

    model: nn.Module
    example_inputs: torch.Tensor
    seed: int = 0
    calib: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    options: dict = field(default_factory=dict)
    #: what the model's outputs mean (:mod:`qkernels.nn.tasks`; None: classification), for losses
    task: object = None


@runtime_checkable
class Criterion(Protocol):
    """What a criterion's factory returns: per-channel scores of a Torch-Pruning group.

    ``criterion(group)`` is a 1-D tensor with one finite score per channel of the group (higher =
    keep), or None to leave the group whole.

    Example:
        >>> import torch
        >>> isinstance(lambda group: torch.ones(len(group[0].idxs)), Criterion)
        True
    """

    def __call__(self, group: Any) -> torch.Tensor | None: ...


@runtime_checkable
class GroupKeepHook(Protocol):
    """Optional hook: how many channels of a group to keep, at least the sparsity's ``keep``.

    Called after the group was scored, with its ``n`` channels and the ``keep`` that the sparsity
    (or ``group_keep=``) asks for; the result is clipped to [keep, n].

    Example:
        >>> class KeepAll:
        ...     def __call__(self, group): ...
        ...     def group_keep(self, group, n, keep): return n
        >>> isinstance(KeepAll(), GroupKeepHook), isinstance(lambda g: None, GroupKeepHook)
        (True, False)
    """

    def group_keep(self, group: Any, n: int, keep: int) -> int: ...


@runtime_checkable
class BeforeRemovalHook(Protocol):
    """Optional hook: called with each Torch-Pruning pruning group just before its channels go.

    Example:
        >>> class Log:
        ...     def __call__(self, group): ...
        ...     def before_removal(self, pruning_group): print("removing")
        >>> isinstance(Log(), BeforeRemovalHook)
        True
    """

    def before_removal(self, pruning_group: Any) -> None: ...


@runtime_checkable
class RecordHook(Protocol):
    """Optional hook: what the criterion did, stored as the pruning record's ``criterion`` entry.

    Example:
        >>> class Counted:
        ...     def __call__(self, group): ...
        ...     def record(self): return {"groups": 0}
        >>> isinstance(Counted(), RecordHook)
        True
    """

    def record(self) -> dict: ...


@dataclass(frozen=True)
class Method:
    """A registered pruning criterion."""

    name: str
    factory: Callable[[PruneContext], Criterion]
    description: str
    needs_data: bool = False  # needs labelled calibration batches (e.g. gradients)
    requires_bn: bool = False  # scores only BatchNorm scales (not applicable without BN)
    sweep: bool = True  # included in the pruning section's default sweep


_METHODS: dict[str, Method] = {}


def register_method(
    name: str,
    factory: Callable[[PruneContext], Criterion],
    description: str,
    *,
    needs_data: bool = False,
    requires_bn: bool = False,
    sweep: bool = True,
    replace: bool = False,
) -> Method:
    """Register a criterion under ``name`` (ValueError if taken, unless ``replace``)."""
    if not name or not name.replace("-", "_").replace("_", "a").isalnum():
        raise InputError(f"method name {name!r}: use letters, digits, '-' and '_'")
    if name in _METHODS and not replace:
        raise InputError(f"pruning method {name!r} is already registered")
    m = Method(name, factory, description, needs_data, requires_bn, sweep)
    _METHODS[name] = m
    return m


def unregister_method(name: str) -> None:
    """Remove ``name`` from the registry (for tests and plug-ins)."""
    _METHODS.pop(name, None)


def method_names(*, sweep_only: bool = False) -> list[str]:
    """Registered method names, in registration order."""
    return [n for n, m in _METHODS.items() if m.sweep or not sweep_only]


def get_method(name: str) -> Method:
    """The registered method ``name``; InputError listing the known ones otherwise."""
    if name not in _METHODS:
        raise InputError(f"unknown pruning method {name!r}; available: {', '.join(_METHODS)}")
    return _METHODS[name]


def methods() -> dict[str, Method]:
    """A copy of the registry."""
    return dict(_METHODS)


__all__ = ["PruneContext", "Criterion", "GroupKeepHook", "BeforeRemovalHook", "RecordHook", "Method", "register_method", "unregister_method", "method_names", "get_method", "methods"]
