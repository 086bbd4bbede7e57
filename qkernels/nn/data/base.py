"""Image data sets held in memory: uint8 images, integer labels, normalization, batches.

Every data set of :mod:`qkernels.nn.data` (the embedded digits, a local CIFAR-10 folder, a folder of
class-named image folders) is an :class:`ImageSet` per split, gathered in a :class:`DataSplits`:
``train`` (for training and fine-tuning), ``calib`` (drawn from the training sources, for BN
re-estimation and data-driven pruning criteria) and ``test`` (for every reported accuracy).
Images are kept as ``uint8`` tensors ``(N, C, H, W)`` and turned into normalized float batches on
the fly, so 20,000 images of 32 x 32 take 60 MB.

Example:
    >>> import torch
    >>> s = ImageSet(torch.zeros(5, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 0, 1, 1]), ("a", "b"))
    >>> [tuple(x.shape) for x, y in s.batches(2)]
    [(2, 3, 4, 4), (2, 3, 4, 4), (1, 3, 4, 4)]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from qkernels.core.errors import InputError
from qkernels.nn.tasks import CLASSIFICATION, Classification


def batch_indices(length: int, batch_size: int, *, shuffle: bool = False, generator: torch.Generator | None = None,
                  limit: int | None = None) -> Iterator[torch.Tensor]:
    """Index batches over a split of ``length`` items: in order, or shuffled by ``generator``; at most ``limit``.

    Example:
        >>> [t.tolist() for t in batch_indices(5, 2)]
        [[0, 1], [2, 3], [4]]
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    n = length if limit is None else min(length, int(limit))
    order = torch.randperm(length, generator=generator)[:n] if shuffle else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


@dataclass(frozen=True, eq=False)
class ImageSet:
    """One split: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)``, class names.

    ``mean``/``std`` (per channel, on the 0..1 scale) normalize every batch; the loaders set them
    from the training split so that all splits share them.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.25, 0.25, 0.25)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise InputError(f"ImageSet: images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise InputError(f"ImageSet: {self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}")
        if len(self.mean) != self.images.shape[1] or len(self.std) != self.images.shape[1]:
            raise InputError("ImageSet: mean/std need one value per channel")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def task(self) -> Classification:
        """Images are classified: top-1 accuracy, cross-entropy (:mod:`qkernels.nn.tasks`)."""
        return CLASSIFICATION

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.images.shape[1:])  # type: ignore[return-value]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> float, scaled to 0..1, then (x - mean) / std per channel."""
        x = images.float().div_(255.0)
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x.sub_(m).div_(s)

    def subset(self, index: torch.Tensor | Sequence[int]) -> "ImageSet":
        """The images at ``index`` (same classes and normalization)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return ImageSet(self.images[idx], self.labels[idx], self.classes, self.mean, self.std)

    def with_stats(self, mean: Sequence[float], std: Sequence[float]) -> "ImageSet":
        return ImageSet(self.images, self.labels, self.classes, tuple(map(float, mean)), tuple(map(float, std)))

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        limit: int | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalized float batches ``(x, y)`` on ``device``; at most ``limit`` images."""
        for idx in batch_indices(len(self), batch_size, shuffle=shuffle, generator=generator, limit=limit):
            x = self.normalize(self.images[idx].to(device))
            yield x, self.labels[idx].to(device)

    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the images (0..1 scale)."""
        x = self.images.float().div(255.0).transpose(0, 1).reshape(self.images.shape[1], -1)
        return tuple(x.mean(1).tolist()), tuple(x.std(1).clamp_min(1e-3).tolist())

    def fingerprint(self) -> str:
        """SHA-256 of the images, labels and class names (identifies the data in cache keys)."""
        h = hashlib.sha256()
        h.update(repr((tuple(self.images.shape), self.classes)).encode())
        h.update(self.images.contiguous().numpy().tobytes())
        h.update(self.labels.contiguous().numpy().tobytes())
        return h.hexdigest()


@dataclass(frozen=True, eq=False)
class DataSplits:
    """The splits of one data set, and how it was made (``spec``, ``info``)."""

    name: str
    train: ImageSet
    test: ImageSet
    calib: ImageSet
    spec: str
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.image_shape

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes

    @property
    def task(self) -> Classification:
        """What the model's outputs mean (:mod:`qkernels.nn.tasks`): the training split's task."""
        return self.train.task

    @property
    def chance(self) -> float:
        """The metric's chance level (1 / classes; for pitch, the share of the f0 range within ±50 cents)."""
        return self.task.chance(self.num_classes, self.info)

    def with_stats(self, mean: Sequence[float], std: Sequence[float]) -> "DataSplits":
        """The same splits normalized by ``mean``/``std`` (e.g. as a pretrained model's inputs were)."""
        return DataSplits(self.name, self.train.with_stats(mean, std), self.test.with_stats(mean, std),
                          self.calib.with_stats(mean, std), self.spec,
                          {**self.info, "mean": list(map(float, mean)), "std": list(map(float, std))})

    def fingerprint(self) -> str:
        """One hash of all three splits (computed once)."""
        fp = self.__dict__.get("_fingerprint")
        if fp is None:
            fp = hashlib.sha256("".join(s.fingerprint() for s in (self.train, self.test, self.calib)).encode()).hexdigest()
            object.__setattr__(self, "_fingerprint", fp)
        return fp

    def example_inputs(self, n: int = 1) -> torch.Tensor:
        """A normalized batch of ``n`` calibration images (for tracing and MAC counting)."""
        return next(self.calib.batches(n))[0]


def finish_splits(name: str, spec: str, train: ImageSet, test: ImageSet, calib: ImageSet, info: dict) -> DataSplits:
    """Check the splits agree and give them the training split's normalization."""
    if len(train) == 0 or len(test) == 0:
        raise InputError(f"{spec}: needs training and test images, got {len(train)} and {len(test)}")
    if len(train.classes) < 2:
        raise InputError(f"{spec}: needs at least 2 classes, found {len(train.classes)} ({', '.join(train.classes)})")
    for other, what in ((test, "test"), (calib, "calibration")):
        if other.image_shape != train.image_shape:
            raise InputError(f"{spec}: {what} images are {other.image_shape}, training images {train.image_shape}")
    mean, std = train.stats()
    return DataSplits(name, train.with_stats(mean, std), test.with_stats(mean, std), calib.with_stats(mean, std),
                      spec, {**info, "mean": list(mean), "std": list(std)})


__all__ = ["ImageSet", "DataSplits", "finish_splits", "batch_indices"]
