"""Data sets of float signals with float targets (audio frames and their pitch), held in memory.

A :class:`SignalSet` is to 1-D signals what :class:`~qkernels.nn.data.base.ImageSet` is to images:
one split, batched on the fly, with the same methods (``batches``, ``subset``, ``fingerprint``), so
training, evaluation, BN re-estimation and pruning take either. Inputs are float32 ``(N, L)``
(already normalized: CREPE's frames are normalized per frame), targets float ``(N,)`` (f0 in
cents), and the split carries its task (:data:`qkernels.nn.tasks.PITCH` by default).

Example:
    >>> import torch
    >>> s = SignalSet(torch.zeros(5, 8), torch.arange(5.0))
    >>> [tuple(x.shape) for x, y in s.batches(2)], s.image_shape, s.task.name
    ([(2, 8), (2, 8), (1, 8)], (8,), 'pitch')
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from qkernels.core.errors import InputError
from qkernels.nn.data.base import batch_indices
from qkernels.nn.tasks import PITCH, Classification


@dataclass(frozen=True, eq=False)
class SignalSet:
    """One split: ``inputs`` float32 ``(N, L)``, ``targets`` ``(N,)``, the task that reads them."""

    inputs: torch.Tensor
    targets: torch.Tensor
    task: Classification = PITCH
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.inputs.is_floating_point() or self.inputs.ndim != 2:
            raise InputError(f"SignalSet: inputs must be float (N, L), got {self.inputs.dtype} {tuple(self.inputs.shape)}")
        if self.targets.shape != (self.inputs.shape[0],):
            raise InputError(f"SignalSet: {self.inputs.shape[0]} inputs but targets of shape {tuple(self.targets.shape)}")

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def labels(self) -> torch.Tensor:
        return self.targets

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one input (named like ImageSet's so callers need not tell them apart)."""
        return tuple(int(d) for d in self.inputs.shape[1:])

    def subset(self, index: torch.Tensor | Sequence[int]) -> "SignalSet":
        idx = torch.as_tensor(index, dtype=torch.long)
        return SignalSet(self.inputs[idx], self.targets[idx], self.task, self.classes)

    def batches(self, batch_size: int, *, shuffle: bool = False, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", limit: int | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``(x, y)`` on ``device``; at most ``limit`` inputs."""
        for idx in batch_indices(len(self), batch_size, shuffle=shuffle, generator=generator, limit=limit):
            yield self.inputs[idx].to(device), self.targets[idx].to(device)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(repr((tuple(self.inputs.shape), self.task.name, self.classes)).encode())
        h.update(self.inputs.contiguous().numpy().tobytes())
        h.update(self.targets.contiguous().numpy().tobytes())
        return h.hexdigest()


__all__ = ["SignalSet"]
